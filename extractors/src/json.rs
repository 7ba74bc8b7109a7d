//! JSON values to Arrow: the kinds of column the web extractors produce,
//! and each value normalised into the shape the Arrow JSON decoder reads for
//! its column, or refused (the caller stores null and counts it).

use std::sync::Arc;

use chrono::{DateTime, NaiveDate};
use etl_core::arrow::array::RecordBatch;
use etl_core::arrow::datatypes::{DataType, Field, Fields, SchemaRef, TimeUnit};
use etl_core::arrow::json::ReaderBuilder;
use serde_json::{Map, Value};

/// What a column holds: the shapes of JSON value an extractor maps to Arrow.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Text,
    Float,
    Int,
    /// A checkbox: absent means false.
    Checkbox,
    Bool,
    Date,
    DateTime,
    /// Values of one kind, in order.
    List(Box<Kind>),
    /// An object with these keys, each of a kind.
    Struct(Vec<(String, Kind)>),
    /// Text, numbers and booleans as their text: a column whose values were
    /// seen with more than one scalar type.
    Scalar,
    /// Kept as its JSON text.
    Json,
}

impl Kind {
    pub(crate) fn data_type(&self) -> DataType {
        match self {
            Kind::Text | Kind::Scalar | Kind::Json => DataType::Utf8,
            Kind::Float => DataType::Float64,
            Kind::Int => DataType::Int64,
            Kind::Checkbox | Kind::Bool => DataType::Boolean,
            Kind::Date => DataType::Date32,
            Kind::DateTime => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            Kind::List(item) => {
                DataType::List(Arc::new(Field::new("item", item.data_type(), true)))
            }
            Kind::Struct(fields) => DataType::Struct(Fields::from(
                fields
                    .iter()
                    .map(|(name, kind)| Field::new(name, kind.data_type(), true))
                    .collect::<Vec<_>>(),
            )),
        }
    }
}

/// Normalises one cell for its column: `Some(value)` in the shape the Arrow
/// JSON decoder reads for the column's type, or `None` when the value does not
/// match (the caller counts it and stores null).
pub(crate) fn conform(kind: &Kind, value: &Value) -> Option<Value> {
    match (kind, value) {
        (_, Value::Null) => Some(Value::Null),
        (Kind::Json, v) => Some(Value::String(v.to_string())),
        (Kind::Text | Kind::Scalar, Value::String(_)) => Some(value.clone()),
        (Kind::Scalar, Value::Number(_) | Value::Bool(_)) => Some(Value::String(value.to_string())),
        (Kind::Float, Value::Number(n)) => n.as_f64().map(Value::from),
        (Kind::Int, Value::Number(n)) => match n.as_i64() {
            Some(i) => Some(Value::from(i)),
            None => n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| Value::from(f as i64)),
        },
        (Kind::Checkbox | Kind::Bool, Value::Bool(_)) => Some(value.clone()),
        (Kind::Date, Value::String(s)) => {
            let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
            Some(Value::from((date - epoch).num_days()))
        }
        (Kind::DateTime, Value::String(s)) => {
            let at = DateTime::parse_from_rfc3339(s).ok()?;
            Some(Value::from(at.timestamp_millis()))
        }
        (Kind::List(item), Value::Array(values)) => {
            // One bad element spoils the list: a list with holes would lie about the record.
            let values: Option<Vec<Value>> = values
                .iter()
                .map(|v| match v {
                    Value::Null => None,
                    v => conform(item, v),
                })
                .collect();
            values.map(Value::Array)
        }
        (Kind::Struct(fields), Value::Object(object)) => {
            let mut out = Map::with_capacity(fields.len());
            for (name, kind) in fields {
                if let Some(v) = object.get(name) {
                    out.insert(name.clone(), conform(kind, v)?);
                }
            }
            Some(Value::Object(out))
        }
        _ => None,
    }
}

/// The shape of JSON values, merged over many records to infer a column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shape {
    /// Only nulls seen so far.
    Null,
    Bool,
    Int,
    Float,
    Text,
    /// Scalars of more than one type.
    Mixed,
    List(Box<Shape>),
    /// Keys in the order first seen.
    Object(Vec<(String, Shape)>),
    /// Objects or lists mixed with other shapes.
    Json,
}

impl Shape {
    /// The shape of one value.
    pub(crate) fn of(value: &Value) -> Shape {
        match value {
            Value::Null => Shape::Null,
            Value::Bool(_) => Shape::Bool,
            Value::Number(n) if n.is_i64() => Shape::Int,
            Value::Number(_) => Shape::Float,
            Value::String(_) => Shape::Text,
            Value::Array(items) => Shape::List(Box::new(
                items.iter().map(Shape::of).fold(Shape::Null, Shape::merge),
            )),
            Value::Object(map) => {
                Shape::Object(map.iter().map(|(k, v)| (k.clone(), Shape::of(v))).collect())
            }
        }
    }

    /// The narrowest shape holding both: ints and floats widen to floats,
    /// other scalars to text, lists and objects merge, anything else is JSON.
    pub(crate) fn merge(self, other: Shape) -> Shape {
        use Shape::*;
        match (self, other) {
            (Null, x) | (x, Null) => x,
            (Int, Float) | (Float, Int) => Float,
            (List(a), List(b)) => List(Box::new(a.merge(*b))),
            (Object(mut a), Object(b)) => {
                for (key, shape) in b {
                    match a.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, existing)) => {
                            let old = std::mem::replace(existing, Null);
                            *existing = old.merge(shape);
                        }
                        None => a.push((key, shape)),
                    }
                }
                Object(a)
            }
            (a, b) if a == b => a,
            (Bool | Int | Float | Text | Mixed, Bool | Int | Float | Text | Mixed) => Mixed,
            _ => Json,
        }
    }

    /// The column kind for values of this shape.
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Shape::Null | Shape::Text => Kind::Text,
            Shape::Bool => Kind::Bool,
            Shape::Int => Kind::Int,
            Shape::Float => Kind::Float,
            Shape::Mixed => Kind::Scalar,
            Shape::List(item) => Kind::List(Box::new(item.kind())),
            Shape::Object(fields) if fields.is_empty() => Kind::Json,
            Shape::Object(fields) => {
                Kind::Struct(fields.iter().map(|(k, s)| (k.clone(), s.kind())).collect())
            }
            Shape::Json => Kind::Json,
        }
    }
}

/// Decodes rows already normalised by [`conform`] into one batch of `schema`.
pub(crate) fn decode(schema: &SchemaRef, rows: &[Value]) -> Result<RecordBatch, String> {
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.len().max(1))
        .build_decoder()
        .map_err(|e| e.to_string())?;
    decoder.serialize(rows).map_err(|e| e.to_string())?;
    decoder
        .flush()
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no rows decoded".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn infer(values: &[Value]) -> Kind {
        values
            .iter()
            .map(Shape::of)
            .fold(Shape::Null, Shape::merge)
            .kind()
    }

    #[test]
    fn shapes_widen_as_documented() {
        assert_eq!(infer(&[json!(1), json!(null), json!(2.5)]), Kind::Float);
        assert_eq!(infer(&[json!(1), json!("a")]), Kind::Scalar);
        assert_eq!(
            infer(&[json!([1]), json!([])]),
            Kind::List(Box::new(Kind::Int))
        );
        assert_eq!(infer(&[json!({"a": 1}), json!(3)]), Kind::Json);
        assert_eq!(
            infer(&[json!({"b": 1}), json!({"a": "x", "b": 2.0})]),
            Kind::Struct(vec![("b".into(), Kind::Float), ("a".into(), Kind::Text)])
        );
        assert_eq!(infer(&[json!(null)]), Kind::Text);
    }

    #[test]
    fn mixed_scalars_load_as_their_text() {
        assert_eq!(conform(&Kind::Scalar, &json!(12)), Some(json!("12")));
        assert_eq!(conform(&Kind::Scalar, &json!(true)), Some(json!("true")));
        assert_eq!(conform(&Kind::Scalar, &json!([1])), None);
    }
}
