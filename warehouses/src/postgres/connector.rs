//! PostgreSQL databases as warehouses of the connector registry:
//! `postgres = { url, schema, root_certificates }`.

use etl_core::connectors::Connectors;
use serde::Deserialize;

use super::{PostgresOptions, PostgresWarehouse};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// `postgres://user:password@host:port/database?sslmode=…`.
    url: String,
    /// The schema to load into (`public`).
    schema: Option<String>,
    /// A PEM file of certificates to trust for TLS, relative to the
    /// configuration's folder.
    root_certificates: Option<String>,
}

/// Registers kind `"postgres"`. The warehouse connects at its first use.
pub fn register(connectors: Connectors) -> Connectors {
    connectors.warehouse("postgres", |c| {
        let config: Config = c.parse()?;
        let mut options = PostgresOptions::default();
        if let Some(schema) = config.schema {
            options = options.schema(schema);
        }
        if let Some(path) = &config.root_certificates {
            options = options.root_certificates(c.path(path));
        }
        Ok(Box::new(PostgresWarehouse::new(&config.url, options)?))
    })
}
