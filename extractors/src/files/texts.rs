//! Types read from text, as the best readers read them: booleans written
//! `yes`/`no` or `TRUE`/`false` in any case, dates and timestamps with
//! dashes or slashes (`2012-01-01`, `2012/01/01`, `2010/01/01 00:00:00`), and
//! ISO 8601 timestamps with a zone (`2024-03-01T10:00:00Z`,
//! `…+01:00`), which Arrow's readers leave as text in JSON (and, but for
//! dashed dates, in CSV).
//!
//! A text column of CSV, TSV or JSON Lines is given one of these types when
//! every non-empty value sampled parses as it ([`refine`]); then every value
//! of the file is read as text and parsed here ([`convert`]), so that a
//! value that does not parse is an error at its row and column, as a late
//! type change of any other column is. Columns of these types that Arrow
//! inferred itself (`true`/`false`, dashed dates and timestamps in CSV) are
//! read the same way, and read as they were.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use etl_core::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use etl_core::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// What a text value reads as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Date,
    /// A timestamp with no zone.
    Naive,
    /// A timestamp with a zone or offset, read in UTC.
    Zoned,
}

impl Kind {
    fn data_type(self) -> DataType {
        match self {
            Kind::Bool => DataType::Boolean,
            Kind::Date => DataType::Date32,
            Kind::Naive => DataType::Timestamp(TimeUnit::Microsecond, None),
            Kind::Zoned => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }

    fn of(data_type: &DataType) -> Option<Kind> {
        Some(match data_type {
            DataType::Boolean => Kind::Bool,
            DataType::Date32 => Kind::Date,
            DataType::Timestamp(TimeUnit::Microsecond, None) => Kind::Naive,
            DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) if &**tz == "UTC" => Kind::Zoned,
            _ => return None,
        })
    }

    fn described(self) -> &'static str {
        match self {
            Kind::Bool => "a boolean (true, false, yes or no)",
            Kind::Date => "a date (YYYY-MM-DD or YYYY/MM/DD)",
            Kind::Naive => "a timestamp (YYYY-MM-DD HH:MM:SS, T or slashes allowed)",
            Kind::Zoned => "a timestamp with a zone (ISO 8601, Z or ±HH:MM)",
        }
    }
}

fn boolean(text: &str) -> Option<bool> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("yes") {
        Some(true)
    } else if t.eq_ignore_ascii_case("false") || t.eq_ignore_ascii_case("no") {
        Some(false)
    } else {
        None
    }
}

fn date(text: &str) -> Option<i32> {
    let t = text.trim();
    // Four digits of year, then the separator: no "1/2/2024" guessing.
    let sep = *t.as_bytes().get(4)?;
    if !(sep == b'-' || sep == b'/') || !t[..4].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let format = if sep == b'-' { "%Y-%m-%d" } else { "%Y/%m/%d" };
    let day = NaiveDate::parse_from_str(t, format).ok()?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from(day.signed_duration_since(epoch).num_days()).ok()
}

fn naive(text: &str) -> Option<i64> {
    let t = text.trim();
    let sep = *t.as_bytes().get(4)?;
    if !(sep == b'-' || sep == b'/') || !t[..4].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let d = if sep == b'-' { "%Y-%m-%d" } else { "%Y/%m/%d" };
    ["T", " "]
        .iter()
        .find_map(|between| {
            ["%H:%M:%S%.f", "%H:%M"].iter().find_map(|time| {
                NaiveDateTime::parse_from_str(t, &format!("{d}{between}{time}")).ok()
            })
        })
        .map(|at| at.and_utc().timestamp_micros())
}

fn zoned(text: &str) -> Option<i64> {
    let t = text.trim();
    DateTime::parse_from_rfc3339(t)
        .ok()
        .or_else(|| DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
        .or_else(|| DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%z").ok())
        .map(|at| at.timestamp_micros())
}

fn parses(kind: Kind, text: &str) -> bool {
    match kind {
        Kind::Bool => boolean(text).is_some(),
        Kind::Date => date(text).is_some(),
        Kind::Naive => naive(text).is_some(),
        Kind::Zoned => zoned(text).is_some(),
    }
}

/// `schema` with each text column typed as every non-empty value of it in
/// `samples` (batches of `schema`) reads: a boolean, a date, a timestamp
/// with no zone, or one with a zone. A column with no value, or whose values
/// do not all agree, stays text.
pub(crate) fn refine(schema: &Schema, samples: &[RecordBatch]) -> Schema {
    let fields = schema.fields().iter().enumerate().map(|(i, field)| {
        if field.data_type() != &DataType::Utf8 {
            return field.as_ref().clone();
        }
        let values = || {
            samples.iter().flat_map(move |b| {
                let texts = b.column(i).as_any().downcast_ref::<StringArray>();
                texts.into_iter().flat_map(|t| t.iter().flatten())
            })
        };
        if values().next().is_none() {
            return field.as_ref().clone();
        }
        let kind = [Kind::Bool, Kind::Date, Kind::Naive, Kind::Zoned]
            .into_iter()
            .find(|kind| values().all(|v| parses(*kind, v)));
        match kind {
            Some(kind) => field.as_ref().clone().with_data_type(kind.data_type()),
            None => field.as_ref().clone(),
        }
    });
    Schema::new(fields.collect::<Vec<_>>())
}

/// The schema a text file is read with for a table of `schema`: each
/// column this module reads ([`convert`]) as text.
pub(crate) fn wire(schema: &SchemaRef) -> SchemaRef {
    if !schema
        .fields()
        .iter()
        .any(|f| Kind::of(f.data_type()).is_some())
    {
        return schema.clone();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match Kind::of(f.data_type()) {
            Some(_) => f.as_ref().clone().with_data_type(DataType::Utf8),
            None => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// A value that does not read as its column's type: its row in the batch,
/// the column, and what it is and should be.
#[derive(Debug)]
pub(crate) struct Unreadable {
    pub(crate) row: usize,
    pub(crate) column: String,
    pub(crate) message: String,
}

/// A batch read with [`wire`]`(schema)` as a batch of `schema`: each column
/// read as text parsed to its type.
pub(crate) fn convert(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, Unreadable> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch);
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (column, field) in batch.columns().iter().zip(schema.fields()) {
        let (Some(kind), Some(texts)) = (
            Kind::of(field.data_type()),
            column.as_any().downcast_ref::<StringArray>(),
        ) else {
            columns.push(column.clone());
            continue;
        };
        let bad = |row: usize| Unreadable {
            row,
            column: field.name().clone(),
            message: format!(
                "{:?} is not {}, as the sampled rows of column {:?} are",
                texts.value(row).chars().take(60).collect::<String>(),
                kind.described(),
                field.name()
            ),
        };
        let read = |row: usize| !texts.is_null(row) && !texts.value(row).trim().is_empty();
        macro_rules! values {
            ($parse:expr) => {{
                let mut out = Vec::with_capacity(texts.len());
                for row in 0..texts.len() {
                    out.push(if read(row) {
                        Some($parse(texts.value(row)).ok_or_else(|| bad(row))?)
                    } else {
                        None
                    });
                }
                out
            }};
        }
        columns.push(match kind {
            Kind::Bool => Arc::new(BooleanArray::from(values!(boolean))),
            Kind::Date => Arc::new(Date32Array::from(values!(date))),
            Kind::Naive => Arc::new(TimestampMicrosecondArray::from(values!(naive))),
            Kind::Zoned => {
                Arc::new(TimestampMicrosecondArray::from(values!(zoned)).with_timezone("UTC"))
            }
        });
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| Unreadable {
        row: 0,
        column: String::new(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_read_as_the_best_readers_read_them() {
        assert_eq!(boolean("Yes"), Some(true));
        assert_eq!(boolean("FALSE"), Some(false));
        assert_eq!(boolean("y"), None);
        assert_eq!(date("2012/01/01"), date("2012-01-01"));
        assert_eq!(date("2012-01-01"), Some(15340));
        assert_eq!(date("01/02/2012"), None, "no guessing of day and month");
        assert_eq!(date("2023/02/29"), None);
        assert_eq!(naive("2010/01/01 00:00:00"), Some(1_262_304_000_000_000));
        assert_eq!(naive("2010-01-01T00:00:00.5"), Some(1_262_304_000_500_000));
        assert_eq!(naive("2010-01-01 00:00"), Some(1_262_304_000_000_000));
        assert_eq!(
            zoned("2010-01-01T01:00:00+01:00"),
            Some(1_262_304_000_000_000)
        );
        assert_eq!(zoned("2010-01-01T00:00:00Z"), Some(1_262_304_000_000_000));
        assert_eq!(zoned("2010-01-01T00:00:00"), None);
        assert_eq!(naive("2010-01-01T00:00:00Z"), None);
    }
}
