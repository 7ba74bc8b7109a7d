//! Extractors for etl: where tables come from.
//!
//! - [`AirtableExtractor`] (feature `airtable`): every table of an Airtable
//!   base, through Airtable's Web API.
//! - [`HttpExtractor`] (feature `http`): the resources of a REST/JSON API,
//!   configured in Rust or TOML.
//! - [`FilesExtractor`] (feature `files`): CSV, TSV, Parquet and JSON Lines
//!   files, one table per file or per folder of parts.
//!
//! Each implements [`etl_core::Extractor`].

#[cfg(feature = "airtable")]
pub mod airtable;
#[cfg(any(feature = "web", feature = "files"))]
mod bigint;
#[cfg(feature = "files")]
pub mod files;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "web")]
mod json;
#[cfg(feature = "web")]
mod net;

#[cfg(feature = "airtable")]
pub use airtable::{AirtableConfig, AirtableExtractor};
#[cfg(feature = "files")]
pub use files::{FileFormat, FilesConfig, FilesExtractor};
#[cfg(feature = "http")]
pub use http::{HttpConfig, HttpExtractor};

/// Entry points for the fuzz targets in `fuzz/`: not a public API.
#[cfg(feature = "web")]
#[doc(hidden)]
pub mod __fuzz {
    use etl_core::arrow::datatypes::{Field, Schema};
    use serde_json::Value;

    use crate::json::{Shape, conform, decode};

    /// A page of JSON records as the HTTP extractor reads one: the schema
    /// inferred from the records, each record conformed to it, the rows
    /// decoded into one Arrow batch. Returns the rows; an error is fine,
    /// a panic is a bug.
    pub fn json_records(bytes: &[u8]) -> Result<usize, String> {
        let value: Value = serde_json::from_slice(&crate::bigint::big_integers_as_text(bytes))
            .map_err(|e| e.to_string())?;
        let Value::Array(records) = value else {
            return Err("not a list".into());
        };
        let mut shape: Vec<(String, Shape)> = Vec::new();
        for record in &records {
            if let Value::Object(_) = record
                && let Shape::Object(fields) =
                    Shape::Object(std::mem::take(&mut shape)).merge(Shape::of(record))
            {
                shape = fields;
            }
        }
        let columns: Vec<(String, crate::json::Kind)> = shape
            .into_iter()
            .map(|(name, s)| (name, s.kind()))
            .collect();
        if columns.is_empty() {
            return Ok(0);
        }
        let schema = std::sync::Arc::new(Schema::new(
            columns
                .iter()
                .map(|(name, kind)| Field::new(name, kind.data_type(), true))
                .collect::<Vec<_>>(),
        ));
        let rows: Vec<Value> = records
            .iter()
            .filter_map(|record| record.as_object())
            .map(|record| {
                let mut row = serde_json::Map::new();
                for (name, kind) in &columns {
                    if let Some(value) = record.get(name).and_then(|v| conform(kind, v)) {
                        row.insert(name.clone(), value);
                    }
                }
                Value::Object(row)
            })
            .collect();
        if rows.is_empty() {
            return Ok(0);
        }
        decode(&schema, &rows).map(|batch| batch.num_rows())
    }
}
