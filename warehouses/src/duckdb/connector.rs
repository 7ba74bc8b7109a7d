//! DuckDB files in the connector registry, as warehouses
//! (`duckdb = { path, memory_limit }`) and as sources (`duckdb = { path, tables }`).

use etl_core::connectors::Connectors;
use serde::Deserialize;

use super::{DuckDbExtractor, DuckDbWarehouse};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The file, relative to the configuration's folder.
    path: String,
    /// DuckDB's memory limit (`"256MB"`).
    memory_limit: Option<String>,
}

/// Registers kind `"duckdb"`, as a warehouse and as a source (read-only).
pub fn register(connectors: Connectors) -> Connectors {
    crate::source::register_source(connectors, "duckdb", DuckDbExtractor::open).warehouse(
        "duckdb",
        |c| {
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
        },
    )
}
