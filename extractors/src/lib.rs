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
pub use files::{FileFormat, FilesExtractor};
#[cfg(feature = "http")]
pub use http::{HttpConfig, HttpExtractor};
