//! SQLite files in the connector registry: `sqlite = { path }` as a
//! warehouse, `sqlite = { path, tables }` as a source.

use etl_core::connectors::Connectors;
use serde::Deserialize;

use super::{SqliteExtractor, SqliteWarehouse};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The file, relative to the configuration's folder.
    path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Source {
    /// The file, relative to the configuration's folder; it must exist.
    path: String,
    /// Only these tables (every one when left out).
    tables: Option<Vec<String>>,
}

/// Registers kind `"sqlite"`, as a warehouse and as a source (read-only).
pub fn register(connectors: Connectors) -> Connectors {
    connectors
        .source("sqlite", |c| {
            let source: Source = c.parse()?;
            let mut extractor = SqliteExtractor::open(c.path(source.path))?;
            if let Some(tables) = source.tables {
                extractor = extractor.with_tables(tables);
            }
            Ok(Box::new(extractor))
        })
        .warehouse("sqlite", |c| {
            let config: Config = c.parse()?;
            Ok(Box::new(SqliteWarehouse::open(c.path(config.path))?))
        })
}
