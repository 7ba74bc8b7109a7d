//! Arrow ↔ PostgreSQL column types: what a load declares, which changes of
//! type a table accepts, and what each column reads back as. The table in
//! the module docs of [`super`] is the contract this file keeps.

use std::fmt;
use std::sync::Arc;

use etl_core::arrow::datatypes::{DataType, Field, IntervalUnit, TimeUnit};
use etl_core::{Error, Result};

const WAREHOUSE: &str = "postgres";

/// Arrow's widest decimal precision in 128 bits.
const DECIMAL128_DIGITS: u8 = 38;

/// A PostgreSQL column type, as far as etl writes or reads it natively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PgType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    /// `numeric(p, s)`; `None`: unconstrained `numeric`.
    Numeric(Option<(u8, i8)>),
    Text,
    Bytea,
    Date,
    /// `time` (microseconds, no zone).
    Time,
    /// `timestamp` (microseconds, no zone).
    Timestamp,
    /// `timestamptz` (the instant, microseconds).
    TimestampTz,
    Interval,
    Jsonb,
    /// A one-dimensional array of a scalar type.
    Array(Box<PgType>),
    /// Any other type (`uuid`, `json`, enums, ranges, `varchar(n)`…), as
    /// `format_type` spells it: read as its text, never written by etl.
    Other(String),
}

impl fmt::Display for PgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgType::Bool => f.write_str("boolean"),
            PgType::Int2 => f.write_str("smallint"),
            PgType::Int4 => f.write_str("integer"),
            PgType::Int8 => f.write_str("bigint"),
            PgType::Float4 => f.write_str("real"),
            PgType::Float8 => f.write_str("double precision"),
            PgType::Numeric(Some((p, s))) => write!(f, "numeric({p},{s})"),
            PgType::Numeric(None) => f.write_str("numeric"),
            PgType::Text => f.write_str("text"),
            PgType::Bytea => f.write_str("bytea"),
            PgType::Date => f.write_str("date"),
            PgType::Time => f.write_str("time without time zone"),
            PgType::Timestamp => f.write_str("timestamp without time zone"),
            PgType::TimestampTz => f.write_str("timestamp with time zone"),
            PgType::Interval => f.write_str("interval"),
            PgType::Jsonb => f.write_str("jsonb"),
            PgType::Array(element) => write!(f, "{element}[]"),
            PgType::Other(name) => f.write_str(name),
        }
    }
}

impl PgType {
    /// The type `format_type()` names (`numeric(10,2)`, `integer[]`).
    pub(crate) fn parse(name: &str) -> PgType {
        if let Some(element) = name.strip_suffix("[]") {
            return match PgType::parse(element) {
                scalar if scalar.is_array_element() => PgType::Array(Box::new(scalar)),
                _ => PgType::Other(name.to_owned()),
            };
        }
        match name {
            "boolean" => PgType::Bool,
            "smallint" => PgType::Int2,
            "integer" => PgType::Int4,
            "bigint" => PgType::Int8,
            "real" => PgType::Float4,
            "double precision" => PgType::Float8,
            "numeric" => PgType::Numeric(None),
            "text" => PgType::Text,
            "bytea" => PgType::Bytea,
            "date" => PgType::Date,
            "time without time zone" => PgType::Time,
            "timestamp without time zone" => PgType::Timestamp,
            "timestamp with time zone" => PgType::TimestampTz,
            "interval" => PgType::Interval,
            "jsonb" => PgType::Jsonb,
            _ => numeric(name).unwrap_or_else(|| PgType::Other(name.to_owned())),
        }
    }

    /// Whether etl reads and writes arrays of this type natively.
    fn is_array_element(&self) -> bool {
        !matches!(
            self,
            PgType::Array(_) | PgType::Other(_) | PgType::Jsonb | PgType::Numeric(None)
        )
    }

    /// The element type's OID, for the binary array format.
    pub(crate) fn oid(&self) -> u32 {
        match self {
            PgType::Bool => 16,
            PgType::Bytea => 17,
            PgType::Int8 => 20,
            PgType::Int2 => 21,
            PgType::Int4 => 23,
            PgType::Text => 25,
            PgType::Float4 => 700,
            PgType::Float8 => 701,
            PgType::Date => 1082,
            PgType::Time => 1083,
            PgType::Timestamp => 1114,
            PgType::TimestampTz => 1184,
            PgType::Interval => 1186,
            PgType::Numeric(_) => 1700,
            PgType::Jsonb => 3802,
            PgType::Array(_) | PgType::Other(_) => 0,
        }
    }

    /// The Arrow type a column of this type reads back as, and the type a
    /// load's values are cast to before they are written.
    pub(crate) fn arrow(&self) -> DataType {
        match self {
            PgType::Bool => DataType::Boolean,
            PgType::Int2 => DataType::Int16,
            PgType::Int4 => DataType::Int32,
            PgType::Int8 => DataType::Int64,
            PgType::Float4 => DataType::Float32,
            PgType::Float8 => DataType::Float64,
            PgType::Numeric(Some((p, s))) if *p <= DECIMAL128_DIGITS && *s >= 0 => {
                DataType::Decimal128(*p, *s)
            }
            PgType::Numeric(_) => DataType::Utf8,
            PgType::Bytea => DataType::Binary,
            PgType::Date => DataType::Date32,
            PgType::Time => DataType::Time64(TimeUnit::Microsecond),
            PgType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            PgType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            PgType::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
            PgType::Array(element) => {
                DataType::List(Arc::new(Field::new("item", element.arrow(), true)))
            }
            PgType::Text | PgType::Jsonb | PgType::Other(_) => DataType::Utf8,
        }
    }

    /// Whether a column of this type reads natively in binary (else as its text).
    pub(crate) fn reads_binary(&self) -> bool {
        match self {
            PgType::Numeric(Some((p, s))) => *p <= DECIMAL128_DIGITS && *s >= 0,
            PgType::Numeric(None) | PgType::Jsonb | PgType::Other(_) => false,
            PgType::Array(element) => element.reads_binary(),
            _ => true,
        }
    }

    /// Whether values of type `incoming` may go into a column of this type
    /// unchanged in value.
    pub(crate) fn accepts(&self, incoming: &PgType) -> bool {
        use PgType::*;
        if self == incoming {
            return true;
        }
        let int_digits = |t: &PgType| match t {
            Int2 => Some(5),
            Int4 => Some(10),
            Int8 => Some(19),
            _ => None,
        };
        match (self, incoming) {
            (Int4, Int2) | (Int8, Int2 | Int4) => true,
            (Float4, Int2) | (Float8, Float4 | Int2 | Int4 | Int8) => true,
            (Numeric(None), Numeric(_) | Int2 | Int4 | Int8) => true,
            (Numeric(Some((p, s))), other) if int_digits(other).is_some() => {
                i16::from(*p) - i16::from(*s) >= int_digits(other).unwrap_or(0)
            }
            (Numeric(Some((ep, es))), Numeric(Some((ip, is)))) => {
                es >= is && i16::from(*ep) - i16::from(*es) >= i16::from(*ip) - i16::from(*is)
            }
            (Array(e), Array(i)) => e.accepts(i) && e.arrow() == i.arrow(),
            _ => false,
        }
    }
}

/// `numeric(p,s)` or `numeric(p)`.
fn numeric(name: &str) -> Option<PgType> {
    let inner = name.strip_prefix("numeric(")?.strip_suffix(')')?;
    let (p, s) = match inner.split_once(',') {
        Some((p, s)) => (p.trim().parse().ok()?, s.trim().parse().ok()?),
        None => (inner.trim().parse().ok()?, 0),
    };
    Some(PgType::Numeric(Some((p, s))))
}

/// The PostgreSQL type a load's Arrow field declares, or an error naming
/// table and column.
pub(crate) fn column_type(table: &str, field: &Field) -> Result<PgType> {
    type_of(field.data_type()).ok_or_else(|| Error::UnsupportedType {
        table: table.to_owned(),
        column: field.name().clone(),
        data_type: field.data_type().clone(),
        warehouse: WAREHOUSE,
    })
}

fn type_of(data_type: &DataType) -> Option<PgType> {
    use DataType::*;
    Some(match data_type {
        Boolean => PgType::Bool,
        Int8 | Int16 | UInt8 => PgType::Int2,
        Int32 | UInt16 => PgType::Int4,
        Int64 | UInt32 => PgType::Int8,
        UInt64 => PgType::Numeric(Some((20, 0))),
        Float16 | Float32 => PgType::Float4,
        Float64 => PgType::Float8,
        Decimal32(p, s) | Decimal64(p, s) | Decimal128(p, s) | Decimal256(p, s)
            if *s >= 0 && *p >= 1 && *s as u8 <= *p =>
        {
            PgType::Numeric(Some((*p, *s)))
        }
        Null | Utf8 | LargeUtf8 | Utf8View => PgType::Text,
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => PgType::Bytea,
        Date32 | Date64 => PgType::Date,
        Time32(_) | Time64(_) => PgType::Time,
        Timestamp(_, None) => PgType::Timestamp,
        Timestamp(_, Some(_)) => PgType::TimestampTz,
        Duration(_) | Interval(_) => PgType::Interval,
        List(child) | LargeList(child) | FixedSizeList(child, _) => {
            match type_of(child.data_type())? {
                element if element.is_array_element() => PgType::Array(Box::new(element)),
                _ => PgType::Jsonb,
            }
        }
        Struct(fields) if !fields.is_empty() => {
            fields
                .iter()
                .try_for_each(|f| type_of(f.data_type()).map(|_| ()))?;
            PgType::Jsonb
        }
        Map(entries, _) => {
            type_of(entries.data_type())?;
            PgType::Jsonb
        }
        Dictionary(_, value) => return type_of(value),
        _ => return None,
    })
}

/// The Arrow type the encoder of `target` takes a column of `incoming` in,
/// when the column must be cast first (`None`: the encoder takes it as it is).
pub(crate) fn cast_target(incoming: &DataType, target: &PgType) -> Option<DataType> {
    use DataType::*;
    if let Dictionary(_, value) = incoming {
        let value = value.as_ref();
        return Some(cast_target(value, target).unwrap_or_else(|| value.clone()));
    }
    let wanted = match target {
        PgType::Bool
        | PgType::Int2
        | PgType::Int4
        | PgType::Int8
        | PgType::Float4
        | PgType::Float8
        | PgType::Date => target.arrow(),
        PgType::Numeric(Some((p, s))) if *p <= DECIMAL128_DIGITS => Decimal128(*p, *s),
        PgType::Numeric(Some((p, s))) => Decimal256(*p, *s),
        PgType::Numeric(None) => match incoming {
            Decimal32(p, s) | Decimal64(p, s) => Decimal128(*p, *s),
            Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 => Decimal128(20, 0),
            _ => return None,
        },
        PgType::Array(element) => {
            let child = match incoming {
                List(c) | LargeList(c) | FixedSizeList(c, _) => c,
                _ => return None,
            };
            let element_type = cast_target(child.data_type(), element);
            if element_type.is_none() && matches!(incoming, List(_)) {
                return None;
            }
            List(Arc::new(Field::new(
                "item",
                element_type.unwrap_or_else(|| child.data_type().clone()),
                true,
            )))
        }
        // Null columns: nulls of the target's type.
        _ if incoming == &Null => target.arrow(),
        _ => return None,
    };
    (incoming != &wanted).then_some(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_type_names_parse_back() {
        for t in [
            PgType::Bool,
            PgType::Int2,
            PgType::Int4,
            PgType::Int8,
            PgType::Float4,
            PgType::Float8,
            PgType::Numeric(Some((38, 10))),
            PgType::Numeric(None),
            PgType::Text,
            PgType::Bytea,
            PgType::Date,
            PgType::Time,
            PgType::Timestamp,
            PgType::TimestampTz,
            PgType::Interval,
            PgType::Jsonb,
            PgType::Array(Box::new(PgType::Int4)),
            PgType::Array(Box::new(PgType::Text)),
        ] {
            assert_eq!(PgType::parse(&t.to_string()), t, "{t}");
        }
        assert_eq!(PgType::parse("numeric(5)"), PgType::Numeric(Some((5, 0))));
        assert_eq!(PgType::parse("uuid"), PgType::Other("uuid".into()));
        assert_eq!(PgType::parse("uuid[]"), PgType::Other("uuid[]".into()));
    }

    #[test]
    fn widening_keeps_every_value() {
        assert!(PgType::Int8.accepts(&PgType::Int4));
        assert!(!PgType::Int4.accepts(&PgType::Int8));
        assert!(PgType::Float8.accepts(&PgType::Int8));
        assert!(!PgType::Float4.accepts(&PgType::Int4));
        assert!(PgType::Numeric(Some((12, 2))).accepts(&PgType::Numeric(Some((10, 1)))));
        assert!(!PgType::Numeric(Some((10, 2))).accepts(&PgType::Numeric(Some((10, 3)))));
        assert!(!PgType::Numeric(Some((10, 2))).accepts(&PgType::Numeric(Some((12, 2)))));
        assert!(PgType::Numeric(Some((20, 0))).accepts(&PgType::Int8));
        assert!(!PgType::Numeric(Some((12, 2))).accepts(&PgType::Int8));
        assert!(!PgType::Numeric(Some((38, 2))).accepts(&PgType::Float8));
        assert!(!PgType::Text.accepts(&PgType::Int4));
    }

    #[test]
    fn unsigned_integers_get_a_type_that_holds_them() {
        assert_eq!(type_of(&DataType::UInt8), Some(PgType::Int2));
        assert_eq!(type_of(&DataType::UInt32), Some(PgType::Int8));
        assert_eq!(
            type_of(&DataType::UInt64),
            Some(PgType::Numeric(Some((20, 0))))
        );
        assert_eq!(
            cast_target(&DataType::UInt64, &PgType::Numeric(Some((20, 0)))),
            Some(DataType::Decimal128(20, 0))
        );
        assert_eq!(cast_target(&DataType::Int64, &PgType::Int8), None);
    }
}
