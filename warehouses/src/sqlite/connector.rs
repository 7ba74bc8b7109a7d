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

/// Registers kind `"sqlite"`, as a warehouse and as a source (read-only).
pub fn register(connectors: Connectors) -> Connectors {
    crate::source::register_source(connectors, "sqlite", SqliteExtractor::open).warehouse(
        "sqlite",
        |c| {
            let config: Config = c.parse()?;
            Ok(Box::new(SqliteWarehouse::open(c.path(config.path))?))
        },
    )
}
