//! DuckDB files as warehouses of the connector registry:
//! `duckdb = { path, memory_limit }`.

use etl_core::connectors::Connectors;
use serde::Deserialize;

use super::DuckDbWarehouse;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The file, relative to the configuration's folder.
    path: String,
    /// DuckDB's memory limit (`"256MB"`).
    memory_limit: Option<String>,
}

/// Registers kind `"duckdb"`.
pub fn register(connectors: Connectors) -> Connectors {
    connectors.warehouse("duckdb", |c| {
        let config: Config = c.parse()?;
        let mut driver = super::driver::Config::default();
        if let Some(limit) = &config.memory_limit {
            driver = driver
                .max_memory(limit)
                .map_err(|e| c.error(format!("memory_limit {limit:?}: {e}")))?;
        }
        Ok(Box::new(DuckDbWarehouse::open_with_config(
            c.path(config.path),
            driver,
        )?))
    })
}
