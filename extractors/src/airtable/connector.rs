//! Airtable bases as sources of the connector registry:
//! `airtable = { base, token, tables, api_url }`.

use etl_core::connectors::Connectors;
use serde::Deserialize;

use super::{AirtableConfig, AirtableExtractor};

/// A base, as a pipeline file (or any registry user) configures it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Source {
    /// The base id.
    base: String,
    /// The token.
    token: String,
    /// Only these tables (all when empty).
    #[serde(default)]
    tables: Vec<String>,
    /// Another API address (a proxy, a local server).
    api_url: Option<String>,
}

/// Registers kind `"airtable"`.
pub fn register(connectors: Connectors) -> Connectors {
    connectors.source("airtable", |c| {
        let source: Source = c.parse()?;
        let mut config =
            AirtableConfig::new(source.token, source.base).with_incremental(c.incremental);
        if !source.tables.is_empty() {
            config = config.with_tables(source.tables);
        }
        if let Some(url) = source.api_url {
            config = config.with_api_url(url);
        }
        Ok(Box::new(AirtableExtractor::new(config)?))
    })
}
