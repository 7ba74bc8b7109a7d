//! Arrow → DuckDB column types, and which changes of type a table accepts.
//! The table in the module docs of [`super`] is the contract this file keeps.

use std::sync::Arc;

use etl_core::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use etl_core::arrow::datatypes::{
    DataType, DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType,
    DurationSecondType, Field, IntervalDayTimeType, IntervalMonthDayNanoType, IntervalUnit,
    IntervalYearMonthType, TimeUnit,
};
use etl_core::{Error, Result};

use crate::common::{quote_ident, scalar_type_name};

const WAREHOUSE: &str = "duckdb";

/// The DuckDB column type for an Arrow field, or an error naming table and column.
pub(crate) fn column_type(table: &str, field: &Field) -> Result<String> {
    type_of(field.data_type()).ok_or_else(|| Error::UnsupportedType {
        table: table.to_owned(),
        column: field.name().clone(),
        data_type: field.data_type().clone(),
        warehouse: WAREHOUSE,
    })
}

fn type_of(data_type: &DataType) -> Option<String> {
    use DataType::*;
    if let Some(name) = scalar_type_name(data_type) {
        return Some(name.into());
    }
    Some(match data_type {
        Null | Utf8 | LargeUtf8 | Utf8View => "VARCHAR".into(),
        Timestamp(TimeUnit::Second, None) => "TIMESTAMP_S".into(),
        Timestamp(TimeUnit::Millisecond, None) => "TIMESTAMP_MS".into(),
        Timestamp(TimeUnit::Microsecond, None) => "TIMESTAMP".into(),
        Timestamp(TimeUnit::Nanosecond, None) => "TIMESTAMP_NS".into(),
        Timestamp(_, Some(_)) => "TIMESTAMPTZ".into(),
        Duration(_) | Interval(_) => "INTERVAL".into(),
        Decimal32(p, s) | Decimal64(p, s) | Decimal128(p, s) if *s >= 0 && *p <= 38 => {
            format!("DECIMAL({p},{s})")
        }
        List(child) | LargeList(child) => format!("{}[]", type_of(child.data_type())?),
        FixedSizeList(child, n) if *n > 0 => format!("{}[{n}]", type_of(child.data_type())?),
        Struct(fields) if !fields.is_empty() => {
            let members = fields
                .iter()
                .map(|f| {
                    Some(format!(
                        "{} {}",
                        quote_ident(f.name()),
                        type_of(f.data_type())?
                    ))
                })
                .collect::<Option<Vec<_>>>()?;
            format!("STRUCT({})", members.join(", "))
        }
        Map(entries, _) => match entries.data_type() {
            Struct(kv) if kv.len() == 2 => format!(
                "MAP({}, {})",
                type_of(kv[0].data_type())?,
                type_of(kv[1].data_type())?
            ),
            _ => return None,
        },
        Dictionary(_, value) => return type_of(value),
        _ => return None,
    })
}

/// The Arrow type a batch column is cast to before DuckDB's appender takes
/// it, where the appender has no path for the type itself.
pub(crate) fn appendable(data_type: &DataType) -> Option<DataType> {
    match data_type {
        DataType::Null => Some(DataType::Utf8),
        DataType::Float16 => Some(DataType::Float32),
        DataType::Dictionary(_, value) => Some(appendable(value).unwrap_or((**value).clone())),
        _ => None,
    }
}

/// Whether a column is appended as interval text (see [`interval_text`]).
pub(crate) fn is_interval(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Duration(_) | DataType::Interval(_))
}

/// Durations and intervals as text DuckDB casts to `INTERVAL`
/// (`"1 months 2 days 3 microseconds"`), nulls kept.
///
/// duckdb-rs's own Arrow path for intervals writes nulls as zero intervals,
/// so these columns go through DuckDB's appender cast from `VARCHAR` instead.
/// DuckDB's intervals count microseconds: finer units are truncated.
pub(crate) fn interval_text(array: &ArrayRef) -> Result<ArrayRef> {
    let mut out = StringBuilder::with_capacity(array.len(), array.len() * 24);
    let micros = |v: i64, per_micro: i64, micros_per: i64| v.saturating_mul(micros_per) / per_micro;
    for row in 0..array.len() {
        if array.is_null(row) {
            out.append_null();
            continue;
        }
        let (months, days, us) = match array.data_type() {
            DataType::Duration(TimeUnit::Second) => (
                0,
                0,
                micros(
                    array.as_primitive::<DurationSecondType>().value(row),
                    1,
                    1_000_000,
                ),
            ),
            DataType::Duration(TimeUnit::Millisecond) => (
                0,
                0,
                micros(
                    array.as_primitive::<DurationMillisecondType>().value(row),
                    1,
                    1_000,
                ),
            ),
            DataType::Duration(TimeUnit::Microsecond) => (
                0,
                0,
                array.as_primitive::<DurationMicrosecondType>().value(row),
            ),
            DataType::Duration(TimeUnit::Nanosecond) => (
                0,
                0,
                micros(
                    array.as_primitive::<DurationNanosecondType>().value(row),
                    1_000,
                    1,
                ),
            ),
            DataType::Interval(IntervalUnit::YearMonth) => (
                array.as_primitive::<IntervalYearMonthType>().value(row),
                0,
                0,
            ),
            DataType::Interval(IntervalUnit::DayTime) => {
                let v = array.as_primitive::<IntervalDayTimeType>().value(row);
                (0, v.days, i64::from(v.milliseconds) * 1_000)
            }
            DataType::Interval(IntervalUnit::MonthDayNano) => {
                let v = array.as_primitive::<IntervalMonthDayNanoType>().value(row);
                (v.months, v.days, v.nanoseconds / 1_000)
            }
            other => {
                return Err(Error::Internal(format!("interval_text called on {other}")));
            }
        };
        out.append_value(format!("{months} months {days} days {us} microseconds"));
    }
    Ok(Arc::new(out.finish()))
}

/// Whether a column of canonical DuckDB type `existing` takes the values of
/// `incoming` without loss, so that the load is cast instead of refused
/// (64-bit integers into `DOUBLE` when each value is exact there, which the
/// fitter checks).
pub(crate) fn widens(existing: &str, incoming: &str) -> bool {
    const SIGNED: [&str; 5] = ["TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"];
    const UNSIGNED: [&str; 4] = ["UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"];
    const TIMESTAMPS: [&str; 4] = ["TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP", "TIMESTAMP_NS"];
    let rank = |list: &[&str], t: &str| list.iter().position(|x| *x == t);
    if let (Some(e), Some(i)) = (rank(&SIGNED, existing), rank(&SIGNED, incoming)) {
        return e > i;
    }
    if let (Some(e), Some(i)) = (rank(&UNSIGNED, existing), rank(&UNSIGNED, incoming)) {
        return e > i;
    }
    // An unsigned type fits the signed type of twice its width.
    if let (Some(e), Some(i)) = (rank(&SIGNED, existing), rank(&UNSIGNED, incoming)) {
        return e > i;
    }
    if let (Some(e), Some(i)) = (rank(&TIMESTAMPS, existing), rank(&TIMESTAMPS, incoming)) {
        // Widening the unit keeps every instant, within TIMESTAMP_NS's narrower range.
        return e > i && existing != "TIMESTAMP_NS";
    }
    match existing {
        // 64-bit integers too: each value is checked to have an exact double
        // as the load is fitted (whole-number prices into yesterday's DOUBLE).
        "DOUBLE" => matches!(
            incoming,
            "FLOAT"
                | "TINYINT"
                | "SMALLINT"
                | "INTEGER"
                | "BIGINT"
                | "UTINYINT"
                | "USMALLINT"
                | "UINTEGER"
                | "UBIGINT"
        ),
        "FLOAT" => matches!(incoming, "TINYINT" | "SMALLINT" | "UTINYINT" | "USMALLINT"),
        _ => match (decimal(existing), decimal(incoming)) {
            (Some((ep, es)), Some((ip, is))) => es >= is && ep - es >= ip - is,
            _ => false,
        },
    }
}

fn decimal(t: &str) -> Option<(i32, i32)> {
    let inner = t.strip_prefix("DECIMAL(")?.strip_suffix(')')?;
    let (p, s) = inner.split_once(',')?;
    Some((p.trim().parse().ok()?, s.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn nested_types_map_to_native_duckdb_types() {
        let list = DataType::List(Arc::new(Field::new("item", DataType::Int64, true)));
        assert_eq!(type_of(&list).unwrap(), "BIGINT[]");
        let strukt = DataType::Struct(
            vec![
                Field::new("a b", DataType::Utf8, true),
                Field::new("n", list.clone(), true),
            ]
            .into(),
        );
        assert_eq!(
            type_of(&strukt).unwrap(),
            "STRUCT(\"a b\" VARCHAR, \"n\" BIGINT[])"
        );
        let fixed =
            DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, true)), 3);
        assert_eq!(type_of(&fixed).unwrap(), "FLOAT[3]");
    }

    #[test]
    fn widening_is_lossless_only() {
        assert!(widens("BIGINT", "INTEGER"));
        assert!(!widens("INTEGER", "BIGINT"));
        assert!(widens("BIGINT", "UINTEGER"));
        assert!(!widens("BIGINT", "UBIGINT"));
        assert!(widens("DOUBLE", "FLOAT"));
        // Each value is checked to be exact as the load is fitted.
        assert!(widens("DOUBLE", "BIGINT"));
        assert!(!widens("FLOAT", "BIGINT"));
        assert!(widens("TIMESTAMP", "TIMESTAMP_MS"));
        assert!(!widens("TIMESTAMP_MS", "TIMESTAMP"));
        assert!(widens("DECIMAL(18,4)", "DECIMAL(10,2)"));
        assert!(!widens("DECIMAL(18,4)", "DECIMAL(18,2)"));
        assert!(!widens("VARCHAR", "BIGINT"));
    }

    #[test]
    fn unsupported_types_name_table_and_column() {
        let field = Field::new("big", DataType::Decimal256(60, 2), true);
        let err = column_type("money", &field).unwrap_err();
        assert_eq!(
            err.to_string(),
            "table \"money\", column \"big\": the duckdb warehouse cannot store Arrow type Decimal256(60, 2)"
        );
    }
}
