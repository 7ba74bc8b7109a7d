//! REST/JSON APIs as sources of the connector registry:
//! `http = { config = "api.toml" }`, or the HTTP config's keys inline.

use etl_core::connectors::Connectors;

use super::{HttpConfig, HttpExtractor};

/// Registers kind `"http"`.
pub fn register(connectors: Connectors) -> Connectors {
    connectors.source("http", |c| {
        let config = match c.config.as_object() {
            // A file of its own, relative to the configuration's folder.
            Some(keys) if keys.len() == 1 && keys.contains_key("config") => {
                let path = keys["config"]
                    .as_str()
                    .ok_or_else(|| c.error("`config` is the path of the API's TOML file"))?;
                HttpConfig::from_toml_file(c.path(path))?
            }
            _ => {
                let config: HttpConfig = c.parse()?;
                config.validate().map_err(|e| c.error(e))?;
                config
            }
        };
        Ok(Box::new(HttpExtractor::new(config)?))
    })
}
