//! Folders of CSV, Parquet and JSON Lines files as sources of the connector
//! registry: `files = { path }`.

use etl_core::connectors::Connectors;
use serde::Deserialize;

use super::FilesExtractor;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Source {
    /// The folder, relative to the configuration's.
    path: String,
}

/// Registers kind `"files"`.
pub fn register(connectors: Connectors) -> Connectors {
    connectors.source("files", |c| {
        let source: Source = c.parse()?;
        Ok(Box::new(FilesExtractor::open(c.path(source.path))?))
    })
}
