//! Arrow ↔ SQLite: declared types, how values are stored, and how they read back.
//! The table in the module docs of [`super`] is the contract this file keeps.

use std::fmt::Write as _;
use std::sync::Arc;

use etl_core::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, BinaryArray, BinaryBuilder, BinaryViewArray, BooleanArray,
    BooleanBuilder, Float64Array, Float64Builder, Int64Array, Int64Builder, LargeBinaryArray,
    LargeStringArray, PrimitiveArray, StringArray, StringBuilder, StringViewArray,
};
use etl_core::arrow::compute::{CastOptions, cast, cast_with_options};
use etl_core::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Field, FieldRef, Time32MillisecondType, Time32SecondType,
    Time64MicrosecondType, Time64NanosecondType, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use etl_core::arrow::json::writer::{EncoderOptions, make_encoder};
use etl_core::arrow::temporal_conversions::{as_datetime, as_time};
use etl_core::{Error, Result};
use rusqlite::types::ValueRef;

use crate::common::scalar_type_name;

const WAREHOUSE: &str = "sqlite";

/// What kind of value a column holds, whatever its exact declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Integer,
    Real,
    Boolean,
    Text,
    Blob,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Decimal,
    Json,
}

impl Family {
    /// Whether values of `incoming` may be written into a column of `self`.
    pub(crate) fn accepts(self, incoming: Family) -> bool {
        self == incoming || (self == Family::Real && incoming == Family::Integer)
    }
}

/// The declared SQLite type for an Arrow field, or an error naming table and column.
pub(crate) fn declared_type(table: &str, field: &Field) -> Result<String> {
    declared_type_of(field.data_type()).ok_or_else(|| Error::UnsupportedType {
        table: table.to_owned(),
        column: field.name().clone(),
        data_type: field.data_type().clone(),
        warehouse: WAREHOUSE,
    })
}

fn declared_type_of(data_type: &DataType) -> Option<String> {
    use DataType::*;
    if let Some(name) = scalar_type_name(data_type) {
        return Some(name.into());
    }
    let unit = |u: &TimeUnit| match u {
        TimeUnit::Second => "_S",
        TimeUnit::Millisecond => "_MS",
        TimeUnit::Microsecond => "",
        TimeUnit::Nanosecond => "_NS",
    };
    Some(match data_type {
        Null | Utf8 | LargeUtf8 | Utf8View => "TEXT".into(),
        Timestamp(u, None) => format!("TIMESTAMP{}", unit(u)),
        Timestamp(u, Some(_)) => format!("TIMESTAMPTZ{}", unit(u)),
        Decimal32(p, s) | Decimal64(p, s) | Decimal128(p, s) if *s >= 0 => {
            format!("DECIMAL_TEXT({p},{s})")
        }
        List(_) | LargeList(_) | FixedSizeList(_, _) | Struct(_) | Map(_, _) => "JSON".into(),
        Dictionary(_, value) => return declared_type_of(value),
        _ => return None,
    })
}

/// The family of a declared type, following SQLite's affinity rules for
/// types etl did not declare itself.
pub(crate) fn family(declared: &str) -> Family {
    let t = declared.to_ascii_uppercase();
    match t.as_str() {
        "BOOLEAN" | "BOOL" => return Family::Boolean,
        "DATE" => return Family::Date,
        "TIME" => return Family::Time,
        "JSON" => return Family::Json,
        _ => {}
    }
    if t.starts_with("DECIMAL_TEXT") {
        Family::Decimal
    } else if t.starts_with("TIMESTAMPTZ") {
        Family::TimestampTz
    } else if t.starts_with("TIMESTAMP") || t == "DATETIME" {
        Family::Timestamp
    } else if t.contains("INT") {
        Family::Integer
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        Family::Text
    } else if t.contains("BLOB") || t.is_empty() {
        Family::Blob
    } else {
        // REAL, FLOAT, DOUBLE and SQLite's NUMERIC affinity.
        Family::Real
    }
}

/// The Arrow type a column of this declared type reads back as.
pub(crate) fn arrow_type(declared: &str) -> DataType {
    let t = declared.to_ascii_uppercase();
    let ts_unit = |suffix: &str| match suffix {
        "_S" => TimeUnit::Second,
        "_MS" => TimeUnit::Millisecond,
        "_NS" => TimeUnit::Nanosecond,
        _ => TimeUnit::Microsecond,
    };
    match family(&t) {
        Family::Integer => match t.as_str() {
            "TINYINT" => DataType::Int8,
            "SMALLINT" => DataType::Int16,
            "UTINYINT" => DataType::UInt8,
            "USMALLINT" => DataType::UInt16,
            "UINTEGER" => DataType::UInt32,
            "UBIGINT" => DataType::UInt64,
            _ => DataType::Int64,
        },
        Family::Real if t == "FLOAT" => DataType::Float32,
        Family::Real => DataType::Float64,
        Family::Boolean => DataType::Boolean,
        Family::Text | Family::Json => DataType::Utf8,
        Family::Blob => DataType::Binary,
        Family::Date => DataType::Date32,
        Family::Time => DataType::Time64(TimeUnit::Microsecond),
        Family::Timestamp => DataType::Timestamp(
            ts_unit(t.strip_prefix("TIMESTAMP").unwrap_or_default()),
            None,
        ),
        Family::TimestampTz => DataType::Timestamp(
            ts_unit(t.strip_prefix("TIMESTAMPTZ").unwrap_or_default()),
            Some("UTC".into()),
        ),
        Family::Decimal => {
            let inner = t
                .trim_start_matches("DECIMAL_TEXT")
                .trim_start_matches('(')
                .trim_end_matches(')');
            let mut parts = inner.split(',').map(|p| p.trim().parse::<i64>().ok());
            match (parts.next().flatten(), parts.next().flatten()) {
                (Some(p), Some(s)) if (1..=38).contains(&p) && (0..=p).contains(&s) => {
                    DataType::Decimal128(p as u8, s as i8)
                }
                _ => DataType::Utf8,
            }
        }
    }
}

/// A batch column ready to bind: each value in the SQLite storage class it is stored as.
pub(crate) enum SqlColumn {
    Null,
    Integer(Int64Array),
    Boolean(BooleanArray),
    Real(Float64Array),
    Text(StringArray),
    LargeText(LargeStringArray),
    TextView(StringViewArray),
    Blob(BinaryArray),
    LargeBlob(LargeBinaryArray),
    BlobView(BinaryViewArray),
}

impl SqlColumn {
    /// Binds row `row` to parameter `index` of `stmt`.
    #[inline]
    pub(crate) fn bind(
        &self,
        stmt: &mut rusqlite::CachedStatement<'_>,
        index: usize,
        row: usize,
    ) -> rusqlite::Result<()> {
        macro_rules! bind {
            ($a:expr) => {
                if $a.is_null(row) {
                    stmt.raw_bind_parameter(index, rusqlite::types::Null)
                } else {
                    stmt.raw_bind_parameter(index, $a.value(row))
                }
            };
        }
        match self {
            SqlColumn::Null => stmt.raw_bind_parameter(index, rusqlite::types::Null),
            SqlColumn::Integer(a) => bind!(a),
            SqlColumn::Boolean(a) => bind!(a),
            SqlColumn::Real(a) => bind!(a),
            SqlColumn::Text(a) => bind!(a),
            SqlColumn::LargeText(a) => bind!(a),
            SqlColumn::TextView(a) => bind!(a),
            SqlColumn::Blob(a) => bind!(a),
            SqlColumn::LargeBlob(a) => bind!(a),
            SqlColumn::BlobView(a) => bind!(a),
        }
    }
}

/// Converts one batch column into the values SQLite stores. `first_row` is the
/// row of the batch within the load, for error messages.
pub(crate) fn to_sql_column(
    table: &str,
    field: &FieldRef,
    array: &ArrayRef,
    first_row: u64,
) -> Result<SqlColumn> {
    use DataType::*;
    let arrow_err = |e| {
        Error::arrow(
            format!(
                "table {table:?}, column {:?}: converting for SQLite",
                field.name()
            ),
            e,
        )
    };
    let cast_to = |to: &DataType| cast(array, to).map_err(arrow_err);
    Ok(match array.data_type() {
        Null => SqlColumn::Null,
        Boolean => SqlColumn::Boolean(
            array
                .as_any()
                .downcast_ref::<BooleanArray>()
                .cloned()
                .unwrap_or_else(|| unreachable_type(array)),
        ),
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 => {
            SqlColumn::Integer(downcast::<Int64Array>(&cast_to(&Int64)?))
        }
        UInt64 => {
            let strict = CastOptions {
                safe: false,
                ..Default::default()
            };
            match cast_with_options(array, &Int64, &strict) {
                Ok(a) => SqlColumn::Integer(downcast::<Int64Array>(&a)),
                Err(_) => {
                    let values = array
                        .as_any()
                        .downcast_ref::<PrimitiveArray<etl_core::arrow::datatypes::UInt64Type>>()
                        .unwrap_or_else(|| unreachable_type(array));
                    let row = values
                        .iter()
                        .position(|v| v.is_some_and(|v| v > i64::MAX as u64))
                        .unwrap_or_default();
                    return Err(Error::Value {
                        table: table.to_owned(),
                        column: field.name().clone(),
                        row: first_row + row as u64,
                        message: format!(
                            "{} does not fit SQLite's 64-bit signed INTEGER",
                            values.value(row)
                        ),
                    });
                }
            }
        }
        Float16 | Float32 | Float64 => {
            SqlColumn::Real(downcast::<Float64Array>(&cast_to(&Float64)?))
        }
        Utf8 => SqlColumn::Text(downcast(array)),
        LargeUtf8 => SqlColumn::LargeText(downcast(array)),
        Utf8View => SqlColumn::TextView(downcast(array)),
        Binary => SqlColumn::Blob(downcast(array)),
        LargeBinary => SqlColumn::LargeBlob(downcast(array)),
        BinaryView => SqlColumn::BlobView(downcast(array)),
        FixedSizeBinary(_) => SqlColumn::Blob(downcast::<BinaryArray>(&cast_to(&Binary)?)),
        Date32 => SqlColumn::Text(format_temporal::<Date32Type, _>(
            array,
            "%Y-%m-%d",
            "",
            as_datetime::<Date32Type>,
        )),
        Date64 => SqlColumn::Text(format_temporal::<Date64Type, _>(
            array,
            "%Y-%m-%d",
            "",
            as_datetime::<Date64Type>,
        )),
        Time32(TimeUnit::Second) => SqlColumn::Text(format_temporal::<Time32SecondType, _>(
            array,
            "%H:%M:%S",
            "",
            as_time::<Time32SecondType>,
        )),
        Time32(_) => SqlColumn::Text(format_temporal::<Time32MillisecondType, _>(
            array,
            "%H:%M:%S%.3f",
            "",
            as_time::<Time32MillisecondType>,
        )),
        Time64(TimeUnit::Nanosecond) => {
            SqlColumn::Text(format_temporal::<Time64NanosecondType, _>(
                array,
                "%H:%M:%S%.9f",
                "",
                as_time::<Time64NanosecondType>,
            ))
        }
        Time64(_) => SqlColumn::Text(format_temporal::<Time64MicrosecondType, _>(
            array,
            "%H:%M:%S%.6f",
            "",
            as_time::<Time64MicrosecondType>,
        )),
        Timestamp(unit, tz) => {
            let suffix = if tz.is_some() { "+00:00" } else { "" };
            SqlColumn::Text(match unit {
                TimeUnit::Second => format_temporal::<TimestampSecondType, _>(
                    array,
                    "%Y-%m-%d %H:%M:%S",
                    suffix,
                    as_datetime::<TimestampSecondType>,
                ),
                TimeUnit::Millisecond => format_temporal::<TimestampMillisecondType, _>(
                    array,
                    "%Y-%m-%d %H:%M:%S%.3f",
                    suffix,
                    as_datetime::<TimestampMillisecondType>,
                ),
                TimeUnit::Microsecond => format_temporal::<TimestampMicrosecondType, _>(
                    array,
                    "%Y-%m-%d %H:%M:%S%.6f",
                    suffix,
                    as_datetime::<TimestampMicrosecondType>,
                ),
                TimeUnit::Nanosecond => format_temporal::<TimestampNanosecondType, _>(
                    array,
                    "%Y-%m-%d %H:%M:%S%.9f",
                    suffix,
                    as_datetime::<TimestampNanosecondType>,
                ),
            })
        }
        Decimal32(_, _) | Decimal64(_, _) | Decimal128(_, _) => {
            SqlColumn::Text(downcast::<StringArray>(&cast_to(&Utf8)?))
        }
        List(_) | LargeList(_) | FixedSizeList(_, _) | Struct(_) | Map(_, _) => {
            SqlColumn::Text(to_json(table, field, array)?)
        }
        Dictionary(_, value) => {
            let values = cast_to(value)?;
            let field = Arc::new(
                field
                    .as_ref()
                    .clone()
                    .with_data_type(value.as_ref().clone()),
            );
            return to_sql_column(table, &field, &values, first_row);
        }
        other => {
            return Err(Error::UnsupportedType {
                table: table.to_owned(),
                column: field.name().clone(),
                data_type: other.clone(),
                warehouse: WAREHOUSE,
            });
        }
    })
}

fn downcast<A: Array + Clone + 'static>(array: &ArrayRef) -> A {
    array
        .as_any()
        .downcast_ref::<A>()
        .cloned()
        .unwrap_or_else(|| unreachable_type(array))
}

#[cold]
fn unreachable_type(array: &dyn Array) -> ! {
    // The match on the data type above picked the array type; a mismatch is a bug.
    panic!("array of type {} did not downcast", array.data_type())
}

fn format_temporal<T, V>(
    array: &ArrayRef,
    format: &str,
    suffix: &str,
    convert: fn(i64) -> Option<V>,
) -> StringArray
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64>,
    V: FormatWith,
{
    let values = array
        .as_any()
        .downcast_ref::<PrimitiveArray<T>>()
        .unwrap_or_else(|| unreachable_type(array));
    let mut out = StringBuilder::with_capacity(values.len(), values.len() * 26);
    let mut buf = String::with_capacity(32);
    for v in values.iter() {
        match v.and_then(|v| convert(v.into())) {
            Some(t) => {
                buf.clear();
                t.format_into(&mut buf, format);
                buf.push_str(suffix);
                out.append_value(&buf);
            }
            None => out.append_null(),
        }
    }
    out.finish()
}

trait FormatWith {
    fn format_into(&self, buf: &mut String, format: &str);
}

impl FormatWith for chrono::NaiveDateTime {
    fn format_into(&self, buf: &mut String, format: &str) {
        let _ = write!(buf, "{}", self.format(format));
    }
}

impl FormatWith for chrono::NaiveTime {
    fn format_into(&self, buf: &mut String, format: &str) {
        let _ = write!(buf, "{}", self.format(format));
    }
}

/// Nested values as JSON text, nulls inside kept explicit.
fn to_json(table: &str, field: &FieldRef, array: &ArrayRef) -> Result<StringArray> {
    let options = EncoderOptions::default().with_explicit_nulls(true);
    let mut encoder = make_encoder(field, array.as_ref(), &options).map_err(|e| {
        Error::arrow(
            format!("table {table:?}, column {:?}: encoding JSON", field.name()),
            e,
        )
    })?;
    let mut out = StringBuilder::with_capacity(array.len(), array.len() * 16);
    let mut buf = Vec::with_capacity(64);
    for row in 0..array.len() {
        if array.is_null(row) {
            out.append_null();
        } else {
            buf.clear();
            encoder.encode(row, &mut buf);
            out.append_value(String::from_utf8_lossy(&buf));
        }
    }
    Ok(out.finish())
}

/// Builds one column of a table read back from SQLite.
pub(crate) struct ColumnReader {
    name: String,
    target: DataType,
    builder: Builder,
}

enum Builder {
    Integer(Int64Builder),
    Real(Float64Builder),
    Boolean(BooleanBuilder),
    Text(StringBuilder),
    Blob(BinaryBuilder),
}

impl ColumnReader {
    pub(crate) fn new(name: &str, declared: &str) -> Self {
        let builder = match family(declared) {
            Family::Integer => Builder::Integer(Int64Builder::new()),
            Family::Real => Builder::Real(Float64Builder::new()),
            Family::Boolean => Builder::Boolean(BooleanBuilder::new()),
            Family::Blob => Builder::Blob(BinaryBuilder::new()),
            _ => Builder::Text(StringBuilder::new()),
        };
        ColumnReader {
            name: name.to_owned(),
            target: arrow_type(declared),
            builder,
        }
    }

    pub(crate) fn field(&self) -> Field {
        Field::new(&self.name, self.target.clone(), true)
    }

    pub(crate) fn push(&mut self, table: &str, row: u64, value: ValueRef<'_>) -> Result<()> {
        let mismatch = |stored: &str| Error::Value {
            table: table.to_owned(),
            column: self.name.clone(),
            row,
            message: format!("holds a {stored} value where {} was declared", self.target),
        };
        match (&mut self.builder, value) {
            (Builder::Integer(b), ValueRef::Null) => b.append_null(),
            (Builder::Real(b), ValueRef::Null) => b.append_null(),
            (Builder::Boolean(b), ValueRef::Null) => b.append_null(),
            (Builder::Text(b), ValueRef::Null) => b.append_null(),
            (Builder::Blob(b), ValueRef::Null) => b.append_null(),
            (Builder::Integer(b), ValueRef::Integer(v)) => b.append_value(v),
            (Builder::Real(b), ValueRef::Real(v)) => b.append_value(v),
            (Builder::Real(b), ValueRef::Integer(v)) => b.append_value(v as f64),
            (Builder::Boolean(b), ValueRef::Integer(v)) => b.append_value(v != 0),
            (Builder::Text(b), ValueRef::Text(v)) => {
                b.append_value(std::str::from_utf8(v).map_err(|_| mismatch("non-UTF-8 text"))?)
            }
            (Builder::Text(b), ValueRef::Integer(v)) => b.append_value(v.to_string()),
            (Builder::Text(b), ValueRef::Real(v)) => b.append_value(v.to_string()),
            (Builder::Blob(b), ValueRef::Blob(v)) => b.append_value(v),
            (Builder::Blob(b), ValueRef::Text(v)) => b.append_value(v),
            (_, ValueRef::Integer(_)) => return Err(mismatch("INTEGER")),
            (_, ValueRef::Real(_)) => return Err(mismatch("REAL")),
            (_, ValueRef::Text(_)) => return Err(mismatch("TEXT")),
            (_, ValueRef::Blob(_)) => return Err(mismatch("BLOB")),
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self, table: &str) -> Result<ArrayRef> {
        let stored: ArrayRef = match &mut self.builder {
            Builder::Integer(b) => Arc::new(b.finish()),
            Builder::Real(b) => Arc::new(b.finish()),
            Builder::Boolean(b) => Arc::new(b.finish()),
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Blob(b) => Arc::new(b.finish()),
        };
        if stored.data_type() == &self.target {
            return Ok(stored);
        }
        let strict = CastOptions {
            safe: false,
            ..Default::default()
        };
        cast_with_options(&stored, &self.target, &strict).map_err(|e| {
            Error::arrow(
                format!(
                    "table {table:?}, column {:?}: reading {} as {}",
                    self.name,
                    stored.data_type(),
                    self.target
                ),
                e,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_type_reads_back_as_its_family() {
        let cases = [
            (DataType::Int8, DataType::Int8),
            (DataType::Int32, DataType::Int64),
            (DataType::UInt64, DataType::UInt64),
            (DataType::Float32, DataType::Float32),
            (DataType::Float64, DataType::Float64),
            (DataType::Boolean, DataType::Boolean),
            (DataType::LargeUtf8, DataType::Utf8),
            (DataType::Date64, DataType::Date32),
            (
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                DataType::Timestamp(TimeUnit::Nanosecond, None),
            ),
            (
                DataType::Timestamp(TimeUnit::Millisecond, Some("+02:00".into())),
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            ),
            (DataType::Decimal128(38, 10), DataType::Decimal128(38, 10)),
            (
                DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
                DataType::Utf8,
            ),
        ];
        for (written, read) in cases {
            let declared = declared_type_of(&written).unwrap();
            assert_eq!(
                arrow_type(&declared),
                read,
                "{written} declared as {declared}"
            );
        }
    }

    #[test]
    fn foreign_declared_types_follow_sqlite_affinity() {
        assert_eq!(family("VARCHAR(20)"), Family::Text);
        assert_eq!(family("NUMERIC"), Family::Real);
        assert_eq!(family("int"), Family::Integer);
        assert_eq!(family(""), Family::Blob);
        assert_eq!(
            arrow_type("DATETIME"),
            DataType::Timestamp(TimeUnit::Microsecond, None)
        );
    }

    #[test]
    fn unsupported_types_name_table_and_column() {
        let field = Field::new("span", DataType::Duration(TimeUnit::Second), true);
        let err = declared_type("events", &field).unwrap_err();
        assert_eq!(
            err.to_string(),
            "table \"events\", column \"span\": the sqlite warehouse cannot store Arrow type Duration(s)"
        );
    }
}
