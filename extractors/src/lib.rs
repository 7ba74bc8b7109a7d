//! Extractors for etl: where tables come from.
//!
//! - [`FilesExtractor`] (feature `files`): CSV, TSV, Parquet and JSON Lines
//!   files, one table per file or per folder of parts.
//!
//! Each implements [`etl_core::Extractor`].

#[cfg(feature = "files")]
pub mod files;

#[cfg(feature = "files")]
pub use files::{FileFormat, FilesExtractor};
