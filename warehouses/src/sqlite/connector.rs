//! SQLite files as warehouses of the connector registry: `sqlite = { path }`.

use etl_core::connectors::Connectors;
use serde::Deserialize;

use super::SqliteWarehouse;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The file, relative to the configuration's folder.
    path: String,
}

/// Registers kind `"sqlite"`.
pub fn register(connectors: Connectors) -> Connectors {
    connectors.warehouse("sqlite", |c| {
        let config: Config = c.parse()?;
        Ok(Box::new(SqliteWarehouse::open(c.path(config.path))?))
    })
}
