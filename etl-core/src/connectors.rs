//! A registry of connectors: each kind of source (`"airtable"`, `"files"`,
//! …) and of warehouse (`"sqlite"`, `"duckdb"`, …) mapped to a constructor
//! from its configuration, given as JSON (a pipeline file's table, a Python
//! dict, an API's body all read into it). What chooses a connector at run
//! time (the pipeline runner, the `etl` binary, the server) asks the
//! registry, so a new connector is one registration, not a match in each.
//!
//! ```
//! use etl_core::connectors::{Connectors, ConnectorConfig};
//!
//! let connectors = Connectors::new();
//! let config = serde_json::json!({ "path": "dwh.db" });
//! let err = connectors
//!     .open_warehouse(&ConnectorConfig::new("nosuchdb", &config, "warehouses.dwh.nosuchdb"))
//!     .err()
//!     .unwrap();
//! assert!(err.to_string().contains("no warehouse kind \"nosuchdb\""));
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::{BoxedExtractor, BoxedWarehouse, Error, Result};

/// What a connector is built from.
#[derive(Debug, Clone, Copy)]
pub struct ConnectorConfig<'a> {
    /// Its kind, as registered.
    pub kind: &'a str,
    /// Its configuration.
    pub config: &'a serde_json::Value,
    /// Where the configuration is, for errors: `sources.shop.airtable`.
    pub at: &'a str,
    /// The folder its relative paths resolve against (a pipeline file's);
    /// `None`: the working directory.
    pub base_dir: Option<&'a Path>,
    /// For a source: whether the load asks for an incremental read.
    pub incremental: bool,
}

impl<'a> ConnectorConfig<'a> {
    /// Kind `kind`, configured by `config`, which sits at `at`.
    pub fn new(kind: &'a str, config: &'a serde_json::Value, at: &'a str) -> Self {
        ConnectorConfig {
            kind,
            config,
            at,
            base_dir: None,
            incremental: false,
        }
    }

    /// Relative paths resolve against `dir`.
    pub fn base_dir(mut self, dir: &'a Path) -> Self {
        self.base_dir = Some(dir);
        self
    }

    /// An incremental read is asked for.
    pub fn incremental(mut self, incremental: bool) -> Self {
        self.incremental = incremental;
        self
    }

    /// The configuration read into `T` (its own serde rules: unknown keys
    /// refused where it says so); an error names where it is, down to the
    /// key at fault: `sources.shop.airtable.tables[1]: invalid type…`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        serde_path_to_error::deserialize(self.config).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path.is_empty() {
                self.error(inner)
            } else {
                Error::Config(format!("{}.{path}: {inner}", self.at))
            }
        })
    }

    /// `path`, resolved against [`base_dir`](Self::base_dir).
    pub fn path(&self, path: impl AsRef<Path>) -> PathBuf {
        match self.base_dir {
            Some(dir) => dir.join(path),
            None => path.as_ref().to_owned(),
        }
    }

    /// An error of this configuration, naming where it is.
    pub fn error(&self, message: impl fmt::Display) -> Error {
        Error::Config(format!("{}: {message}", self.at))
    }
}

/// Builds a source from its configuration.
pub type SourceFactory = Arc<dyn Fn(&ConnectorConfig<'_>) -> Result<BoxedExtractor> + Send + Sync>;
/// Builds a warehouse from its configuration.
pub type WarehouseFactory =
    Arc<dyn Fn(&ConnectorConfig<'_>) -> Result<BoxedWarehouse> + Send + Sync>;

/// The registry: see the [module docs](self).
#[derive(Clone, Default)]
pub struct Connectors {
    sources: BTreeMap<String, SourceFactory>,
    warehouses: BTreeMap<String, WarehouseFactory>,
}

impl fmt::Debug for Connectors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connectors")
            .field("sources", &self.sources.keys().collect::<Vec<_>>())
            .field("warehouses", &self.warehouses.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Connectors {
    /// A registry with no connector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the sources of kind `kind`; a kind registered again is
    /// replaced (a build may put its own in place of a built-in one).
    pub fn source(
        mut self,
        kind: impl Into<String>,
        open: impl Fn(&ConnectorConfig<'_>) -> Result<BoxedExtractor> + Send + Sync + 'static,
    ) -> Self {
        self.sources.insert(kind.into(), Arc::new(open));
        self
    }

    /// Registers the warehouses of kind `kind`, as [`source`](Self::source).
    pub fn warehouse(
        mut self,
        kind: impl Into<String>,
        open: impl Fn(&ConnectorConfig<'_>) -> Result<BoxedWarehouse> + Send + Sync + 'static,
    ) -> Self {
        self.warehouses.insert(kind.into(), Arc::new(open));
        self
    }

    /// The source `config` describes; an unknown kind is an error naming
    /// the kinds there are.
    pub fn open_source(&self, config: &ConnectorConfig<'_>) -> Result<BoxedExtractor> {
        let open = self
            .sources
            .get(config.kind)
            .ok_or_else(|| unknown(config, "source", self.source_kinds()))?;
        open(config)
    }

    /// The warehouse `config` describes, as [`open_source`](Self::open_source).
    pub fn open_warehouse(&self, config: &ConnectorConfig<'_>) -> Result<BoxedWarehouse> {
        let open = self
            .warehouses
            .get(config.kind)
            .ok_or_else(|| unknown(config, "warehouse", self.warehouse_kinds()))?;
        open(config)
    }

    /// The source kinds registered, sorted.
    pub fn source_kinds(&self) -> Vec<&str> {
        self.sources.keys().map(String::as_str).collect()
    }

    /// The warehouse kinds registered, sorted.
    pub fn warehouse_kinds(&self) -> Vec<&str> {
        self.warehouses.keys().map(String::as_str).collect()
    }
}

fn unknown(config: &ConnectorConfig<'_>, what: &str, kinds: Vec<&str>) -> Error {
    let known = if kinds.is_empty() {
        "this build has none".to_owned()
    } else {
        format!("this build has {}", kinds.join(", "))
    };
    config.error(format!("no {what} kind {:?}: {known}", config.kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Warehouse;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Folder {
        path: String,
    }

    /// A warehouse that holds nothing, made by a registration that reads
    /// its config as a real one would.
    struct Nothing(PathBuf);

    impl Warehouse for Nothing {
        fn kind(&self) -> &'static str {
            "nothing"
        }
        async fn ensure_table(
            &self,
            spec: &crate::TableSpec,
        ) -> Result<arrow::datatypes::SchemaRef> {
            Ok(spec.schema().clone())
        }
        async fn write(
            &self,
            _: &crate::TableSpec,
            _: crate::BatchStream,
            _: &crate::WriteOptions,
        ) -> Result<crate::WriteSummary> {
            Err(Error::Config("nothing is written".into()))
        }
        async fn drop_table(&self, _: &str) -> Result<bool> {
            Ok(false)
        }
        async fn table_names(&self) -> Result<Vec<String>> {
            Ok(vec![self.0.display().to_string()])
        }
        async fn table_schema(&self, _: &str) -> Result<Option<arrow::datatypes::SchemaRef>> {
            Ok(None)
        }
        async fn read_table(&self, _: &str) -> Result<Vec<arrow::array::RecordBatch>> {
            Ok(Vec::new())
        }
        async fn loads(&self) -> Result<Vec<crate::LoadRecord>> {
            Ok(Vec::new())
        }
        async fn stored_cursor(&self, _: &str, _: &str) -> Result<Option<String>> {
            Ok(None)
        }
    }

    fn registry() -> Connectors {
        Connectors::new().warehouse("nothing", |c| {
            let folder: Folder = c.parse()?;
            Ok(Box::new(Nothing(c.path(folder.path))))
        })
    }

    #[tokio::test]
    async fn a_registered_kind_opens_from_its_config_and_others_are_named() {
        let config = serde_json::json!({ "path": "here" });
        let at = "warehouses.w.nothing";
        let opened = registry()
            .open_warehouse(
                &ConnectorConfig::new("nothing", &config, at).base_dir(Path::new("/srv")),
            )
            .unwrap();
        assert_eq!(opened.kind(), "nothing");
        assert_eq!(opened.table_names().await.unwrap(), ["/srv/here"]);

        let err = registry()
            .open_warehouse(&ConnectorConfig::new(
                "postgres",
                &config,
                "warehouses.w.postgres",
            ))
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            "invalid configuration: warehouses.w.postgres: no warehouse kind \"postgres\": this build has nothing"
        );
        let err = registry()
            .open_source(&ConnectorConfig::new(
                "airtable",
                &config,
                "sources.s.airtable",
            ))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("no source kind \"airtable\": this build has none"),
            "{err}"
        );

        // The kind's own rules, the place named.
        let bad = serde_json::json!({ "path": "here", "colour": "red" });
        let err = registry()
            .open_warehouse(&ConnectorConfig::new("nothing", &bad, at))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("warehouses.w.nothing.colour: unknown field `colour`, expected `path`"),
            "{err}"
        );
        let missing = serde_json::json!({});
        let err = registry()
            .open_warehouse(&ConnectorConfig::new("nothing", &missing, at))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("warehouses.w.nothing: missing field `path`"),
            "{err}"
        );
    }
}
