//! PostgreSQL databases in the connector registry, as warehouses
//! (`postgres = { url, schema, root_certificates }`) and as sources
//! (`postgres = { url, schema, tables, queries, incremental,
//! root_certificates, read_connections }`).

use std::collections::BTreeMap;

use etl_core::connectors::{ConnectorConfig, Connectors};
use serde::Deserialize;

use super::{PostgresExtractor, PostgresOptions, PostgresWarehouse};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Warehouse {
    /// `postgres://user:password@host:port/database?sslmode=…`.
    url: String,
    /// The schema to load into (`public`).
    schema: Option<String>,
    /// A PEM file of certificates to trust for TLS, relative to the
    /// configuration's folder.
    root_certificates: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Source {
    url: String,
    /// The schema to read (`public`).
    schema: Option<String>,
    /// Only these tables or views (every one when left out).
    tables: Option<Vec<String>>,
    /// Named queries, each read as a table.
    #[serde(default)]
    queries: BTreeMap<String, String>,
    /// Tables read incrementally, each with its cursor column.
    #[serde(default)]
    incremental: BTreeMap<String, String>,
    root_certificates: Option<String>,
    /// Connections one table's read uses at most (2).
    #[serde(default, deserialize_with = "connections")]
    read_connections: Option<usize>,
}

/// A number of connections: 1 to 64.
fn connections<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let Some(n) = Option::<u64>::deserialize(d)? else {
        return Ok(None);
    };
    match usize::try_from(n) {
        Ok(n @ 1..=64) => Ok(Some(n)),
        _ => Err(serde::de::Error::custom(format!(
            "give a whole number from 1 to 64, not {n}"
        ))),
    }
}

fn options(
    c: &ConnectorConfig<'_>,
    schema: Option<String>,
    certificates: Option<&str>,
) -> PostgresOptions {
    let mut options = PostgresOptions::default();
    if let Some(schema) = schema {
        options = options.schema(schema);
    }
    if let Some(path) = certificates {
        options = options.root_certificates(c.path(path));
    }
    options
}

/// Registers kind `"postgres"`, as a warehouse and as a source. Neither
/// connects before its first use.
pub fn register(connectors: Connectors) -> Connectors {
    connectors
        .warehouse("postgres", |c| {
            let config: Warehouse = c.parse()?;
            let options = options(c, config.schema, config.root_certificates.as_deref());
            Ok(Box::new(PostgresWarehouse::new(&config.url, options)?))
        })
        .source("postgres", |c| {
            let config: Source = c.parse()?;
            let mut options = options(c, config.schema, config.root_certificates.as_deref());
            if let Some(n) = config.read_connections {
                options = options.read_connections(n);
            }
            let mut source = PostgresExtractor::new(&config.url, options)?;
            if let Some(tables) = config.tables {
                source = source.with_tables(tables);
            }
            for (name, sql) in config.queries {
                source = source.with_query(name, sql);
            }
            for (table, column) in config.incremental {
                source = source.with_incremental(table, column);
            }
            Ok(Box::new(source))
        })
}
