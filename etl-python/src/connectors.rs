//! Extractors and warehouses, each class a kind of the connector registry
//! (`etl::registry()`): its arguments become the kind's configuration, the
//! registry builds it. Nothing connects or reads until a load.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use etl::connectors::ConnectorConfig;
use etl_core::{BatchStream, DynExtractor, DynWarehouse, ExtractOptions, TableSpec, WriteOptions};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use pyo3_arrow::PyRecordBatchReader;
use serde_json::{Map, Value, json};

use crate::errors::{self, to_py};

thread_local! {
    /// The warehouses this thread is reading a stream for, to write: a
    /// Python stream (a generator behind a RecordBatchReader) runs here.
    static WRITING: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A warehouse's identity: the address its clones share.
fn identity(warehouse: &Arc<dyn DynWarehouse>) -> usize {
    Arc::as_ptr(warehouse) as *const () as usize
}

/// Refuses a call into `warehouse` from a stream it is reading to write:
/// the write holds the warehouse until the stream ends, so the call would
/// wait for ever.
pub(crate) fn not_reentrant(warehouse: &Arc<dyn DynWarehouse>, call: &str) -> PyResult<()> {
    let id = identity(warehouse);
    if WRITING.with(|w| w.borrow().contains(&id)) {
        return Err(errors::Error::new_err(format!(
            "{call}: called from the data this {} warehouse is writing; it holds the \
             warehouse until that data ends, so the call would wait for ever. Use \
             another warehouse, or call it after the write",
            warehouse.kind()
        )));
    }
    Ok(())
}

/// Marks this thread as reading a stream for `id` until dropped.
struct Writing(usize);

impl Writing {
    fn start(id: usize) -> Writing {
        WRITING.with(|w| w.borrow_mut().push(id));
        Writing(id)
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        WRITING.with(|w| {
            let mut w = w.borrow_mut();
            if let Some(at) = w.iter().rposition(|&id| id == self.0) {
                w.remove(at);
            }
        });
    }
}

/// A source of tables. Its subclasses are the kinds etl has.
#[pyclass(subclass, frozen, module = "etl")]
pub(crate) struct Extractor {
    pub(crate) inner: Arc<dyn DynExtractor>,
    kind: &'static str,
}

/// A destination of tables. Its subclasses are the kinds etl has.
#[pyclass(subclass, frozen, module = "etl")]
pub(crate) struct Warehouse {
    pub(crate) inner: Arc<dyn DynWarehouse>,
    kind: &'static str,
}

#[pymethods]
impl Extractor {
    /// The registry's kind: `airtable`, `http`, `files`, `sqlite`, `duckdb`, `postgres`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind
    }

    /// Where it reads from, as load records name it (never a password).
    #[getter]
    fn source(&self) -> String {
        self.inner.source()
    }

    /// The names of the tables it offers (asks the source).
    fn tables(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let inner = self.inner.clone();
        let specs = crate::runtime::wait(py, async move { inner.tables().await })?;
        let specs = specs.map_err(|e| to_py(py, e))?;
        Ok(specs.iter().map(|t| t.name().to_owned()).collect())
    }

    /// The rows of `table` as a [`Stream`](crate::arrow::Stream), read as
    /// the consumer asks for them, `batch_size` rows a batch at most.
    #[pyo3(signature = (table, *, batch_size = None))]
    fn read(
        &self,
        py: Python<'_>,
        table: String,
        batch_size: Option<usize>,
    ) -> PyResult<crate::arrow::Stream> {
        if batch_size == Some(0) {
            return Err(errors::config(
                "Extractor.read",
                "batch_size",
                "give at least 1",
            ));
        }
        let inner = self.inner.clone();
        let name = table.clone();
        let stream = crate::runtime::wait(py, async move {
            let specs = inner.tables().await?;
            let offered: Vec<String> = specs.iter().map(|t| t.name().to_owned()).collect();
            let spec = specs
                .into_iter()
                .find(|t| t.name() == name)
                .ok_or_else(|| etl::Error::UnknownTable {
                    table: name.clone(),
                    offered,
                })?;
            let options = batch_size
                .map(ExtractOptions::with_batch_size)
                .unwrap_or_default();
            inner.extract(&spec, &options).await
        })?
        .map_err(|e| to_py(py, e))?;
        Ok(crate::arrow::Stream::of_batches(table, stream))
    }

    fn __repr__(&self) -> String {
        format!("<etl.Extractor {} {}>", self.kind, self.inner.source())
    }
}

#[pymethods]
impl Warehouse {
    /// The registry's kind: `sqlite`, `duckdb`, `postgres`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind
    }

    /// The names of the tables it holds (etl's own left out).
    fn table_names(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        not_reentrant(&self.inner, "Warehouse.table_names")?;
        let inner = self.inner.clone();
        crate::runtime::wait(py, async move { inner.table_names().await })?
            .map_err(|e| to_py(py, e))
    }

    /// Writes `data`, any object exporting an Arrow C stream (a pyarrow
    /// Table or RecordBatchReader, a polars DataFrame, an `etl.Stream`),
    /// into `table` in one transaction: `replace`, `append` (adding new
    /// columns) or `merge` on `primary_key`. A stream that fails half-way
    /// leaves the table as it was. Returns the rows written.
    #[pyo3(signature = (table, data, *, mode = "replace", primary_key = None))]
    fn write(
        &self,
        py: Python<'_>,
        table: String,
        data: PyRecordBatchReader,
        mode: &str,
        primary_key: Option<Vec<String>>,
    ) -> PyResult<u64> {
        not_reentrant(&self.inner, "Warehouse.write")?;
        let mode = crate::workflow::write_mode("Warehouse.write", mode)?;
        let reader = data.into_reader()?;
        let schema = reader.schema();
        let mut spec = TableSpec::new(&table, schema.clone()).with_mode(mode);
        if let Some(key) = primary_key {
            spec = spec.with_primary_key(key);
        }
        let inner = self.inner.clone();
        let id = identity(&inner);
        let summary = crate::runtime::wait(py, async move {
            let name = table.clone();
            let stream = BatchStream::from_blocking(schema, 2, move |tx| {
                let _writing = Writing::start(id);
                for batch in reader {
                    let batch = batch.map_err(|source| etl::Error::Arrow {
                        context: format!("table {name:?}: reading the data given"),
                        source,
                    })?;
                    if !tx.send(batch) {
                        break; // the write stopped reading
                    }
                }
                Ok(())
            });
            inner.write(&spec, stream, &WriteOptions::default()).await
        })?
        .map_err(|e| to_py(py, e))?;
        Ok(summary.rows)
    }

    /// The rows of `table` as a [`Stream`](crate::arrow::Stream).
    fn read_table(&self, py: Python<'_>, table: String) -> PyResult<crate::arrow::Stream> {
        not_reentrant(&self.inner, "Warehouse.read_table")?;
        let inner = self.inner.clone();
        let name = table.clone();
        let (schema, batches) = crate::runtime::wait(py, async move {
            let Some(schema) = inner.table_schema(&name).await? else {
                return Err(etl::Error::Schema {
                    table: name,
                    message: "no such table in the warehouse".into(),
                });
            };
            let batches = inner.read_table(&name).await?;
            Ok((schema, batches))
        })?
        .map_err(|e| to_py(py, e))?;
        let stream = BatchStream::from_batches(schema, batches);
        Ok(crate::arrow::Stream::of_batches(table, stream))
    }

    fn __repr__(&self) -> String {
        format!("<etl.Warehouse {}>", self.kind)
    }
}

/// The source `kind` configured by `config`, errors named after `class`.
fn source(kind: &'static str, class: &str, config: Value) -> PyResult<Extractor> {
    let registry = etl::registry();
    let opened = registry
        .open_source(&ConnectorConfig::new(kind, &config, class))
        .map_err(|e| Python::attach(|py| to_py(py, e)))?;
    Ok(Extractor {
        inner: Arc::from(opened),
        kind,
    })
}

/// The warehouse `kind` configured by `config`, errors named after `class`.
fn warehouse(kind: &'static str, class: &str, config: Value) -> PyResult<Warehouse> {
    let registry = etl::registry();
    let opened = registry
        .open_warehouse(&ConnectorConfig::new(kind, &config, class))
        .map_err(|e| Python::attach(|py| to_py(py, e)))?;
    Ok(Warehouse {
        inner: Arc::from(opened),
        kind,
    })
}

/// A path as the registry takes it: text, or a `ConfigError` naming it.
fn path_text(class: &str, field: &str, path: &Path) -> PyResult<String> {
    path.to_str().map(str::to_owned).ok_or_else(|| {
        errors::config(
            class,
            field,
            format!("the path {} is not UTF-8", path.display()),
        )
    })
}

/// `given`, else the environment variable `var`, else an error naming both.
fn given_or_env(class: &str, field: &str, given: Option<String>, var: &str) -> PyResult<String> {
    match given.or_else(|| std::env::var(var).ok().filter(|v| !v.is_empty())) {
        Some(value) => Ok(value),
        None => Err(errors::config(
            class,
            field,
            format!("give {field}= or set {var}"),
        )),
    }
}

/// An Airtable base. `base` and `token` default to `AIRTABLE_BASE_ID` and
/// `AIRTABLE_TOKEN`, `api_url` to `AIRTABLE_API_URL` or Airtable's own.
#[pyclass(extends = Extractor, frozen, module = "etl")]
pub(crate) struct AirtableExtractor;

#[pymethods]
impl AirtableExtractor {
    #[new]
    #[pyo3(signature = (base = None, *, token = None, tables = None, api_url = None))]
    fn new(
        base: Option<String>,
        token: Option<String>,
        tables: Option<Vec<String>>,
        api_url: Option<String>,
    ) -> PyResult<(Self, Extractor)> {
        const CLASS: &str = "AirtableExtractor";
        let mut config = Map::new();
        config.insert(
            "base".into(),
            given_or_env(CLASS, "base", base, "AIRTABLE_BASE_ID")?.into(),
        );
        config.insert(
            "token".into(),
            given_or_env(CLASS, "token", token, "AIRTABLE_TOKEN")?.into(),
        );
        if let Some(tables) = tables {
            config.insert("tables".into(), json!(tables));
        }
        if let Some(url) = api_url.or_else(|| std::env::var("AIRTABLE_API_URL").ok()) {
            config.insert("api_url".into(), url.into());
        }
        Ok((Self, source("airtable", CLASS, Value::Object(config))?))
    }
}

/// A REST/JSON API: `config` is its configuration as a dict (the keys of
/// an API's TOML file, docs/loading.md) or the path of such a file.
#[pyclass(extends = Extractor, frozen, module = "etl")]
pub(crate) struct HttpExtractor;

#[pymethods]
impl HttpExtractor {
    #[new]
    fn new(py: Python<'_>, config: &Bound<'_, PyAny>) -> PyResult<(Self, Extractor)> {
        const CLASS: &str = "HttpExtractor";
        let config = if config.is_instance_of::<PyDict>() {
            json_of(py, CLASS, config)?
        } else if config.is_instance_of::<PyString>() || config.hasattr("__fspath__")? {
            let path: PathBuf = config.extract()?;
            json!({ "config": path_text(CLASS, "config", &path)? })
        } else {
            return Err(errors::config(
                CLASS,
                "config",
                format!(
                    "give a dict or the path of a TOML file, not {}",
                    config.get_type().name()?
                ),
            ));
        };
        Ok((Self, source("http", CLASS, config)?))
    }
}

/// `value` as JSON through Python's `json`: a value JSON has no form for
/// (a set, an object) is a `ConfigError` naming it.
fn json_of(py: Python<'_>, class: &str, value: &Bound<'_, PyAny>) -> PyResult<Value> {
    let dumps = py.import("json")?.getattr("dumps")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("allow_nan", false)?;
    let text: String = dumps
        .call((value,), Some(&kwargs))
        .map_err(|e| errors::config(class, "config", format!("not JSON-like: {e}")))?
        .extract()?;
    serde_json::from_str(&text).map_err(|e| errors::config(class, "config", e))
}

/// CSV, Parquet and JSON Lines files of a folder, one table each.
#[pyclass(extends = Extractor, frozen, module = "etl")]
pub(crate) struct FilesExtractor;

#[pymethods]
impl FilesExtractor {
    #[new]
    fn new(path: PathBuf) -> PyResult<(Self, Extractor)> {
        const CLASS: &str = "FilesExtractor";
        let config = json!({ "path": path_text(CLASS, "path", &path)? });
        Ok((Self, source("files", CLASS, config)?))
    }
}

/// The tables of a SQLite file, read-only.
#[pyclass(extends = Extractor, frozen, module = "etl")]
pub(crate) struct SQLiteExtractor;

#[pymethods]
impl SQLiteExtractor {
    #[new]
    #[pyo3(signature = (path, *, tables = None))]
    fn new(path: PathBuf, tables: Option<Vec<String>>) -> PyResult<(Self, Extractor)> {
        const CLASS: &str = "SQLiteExtractor";
        let config = json!({ "path": path_text(CLASS, "path", &path)?, "tables": tables });
        Ok((Self, source("sqlite", CLASS, config)?))
    }
}

/// The tables of a DuckDB file, read-only.
#[pyclass(extends = Extractor, frozen, module = "etl")]
pub(crate) struct DuckDBExtractor;

#[pymethods]
impl DuckDBExtractor {
    #[new]
    #[pyo3(signature = (path, *, tables = None))]
    fn new(path: PathBuf, tables: Option<Vec<String>>) -> PyResult<(Self, Extractor)> {
        const CLASS: &str = "DuckDBExtractor";
        let config = json!({ "path": path_text(CLASS, "path", &path)?, "tables": tables });
        Ok((Self, source("duckdb", CLASS, config)?))
    }
}

/// The tables and views of a PostgreSQL schema, or named queries.
#[pyclass(extends = Extractor, frozen, module = "etl")]
pub(crate) struct PostgresExtractor;

#[pymethods]
impl PostgresExtractor {
    #[new]
    #[pyo3(signature = (url, *, schema = None, tables = None, queries = None, incremental = None, root_certificates = None, read_connections = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        url: String,
        schema: Option<String>,
        tables: Option<Vec<String>>,
        queries: Option<std::collections::BTreeMap<String, String>>,
        incremental: Option<std::collections::BTreeMap<String, String>>,
        root_certificates: Option<PathBuf>,
        read_connections: Option<u64>,
    ) -> PyResult<(Self, Extractor)> {
        const CLASS: &str = "PostgresExtractor";
        let certificates = root_certificates
            .map(|p| path_text(CLASS, "root_certificates", &p))
            .transpose()?;
        let config = json!({
            "url": url,
            "schema": schema,
            "tables": tables,
            "queries": queries.unwrap_or_default(),
            "incremental": incremental.unwrap_or_default(),
            "root_certificates": certificates,
            "read_connections": read_connections,
        });
        Ok((Self, source("postgres", CLASS, config)?))
    }
}

/// A SQLite file as a warehouse, created when missing.
#[pyclass(extends = Warehouse, frozen, module = "etl")]
pub(crate) struct SQLiteWarehouse;

#[pymethods]
impl SQLiteWarehouse {
    #[new]
    fn new(path: PathBuf) -> PyResult<(Self, Warehouse)> {
        const CLASS: &str = "SQLiteWarehouse";
        let config = json!({ "path": path_text(CLASS, "path", &path)? });
        Ok((Self, warehouse("sqlite", CLASS, config)?))
    }
}

/// A DuckDB file as a warehouse, created when missing.
#[pyclass(extends = Warehouse, frozen, module = "etl")]
pub(crate) struct DuckDBWarehouse;

#[pymethods]
impl DuckDBWarehouse {
    #[new]
    #[pyo3(signature = (path, *, memory_limit = None))]
    fn new(path: PathBuf, memory_limit: Option<String>) -> PyResult<(Self, Warehouse)> {
        const CLASS: &str = "DuckDBWarehouse";
        let config =
            json!({ "path": path_text(CLASS, "path", &path)?, "memory_limit": memory_limit });
        Ok((Self, warehouse("duckdb", CLASS, config)?))
    }
}

/// A schema of a PostgreSQL database as a warehouse.
#[pyclass(extends = Warehouse, frozen, module = "etl")]
pub(crate) struct PostgresWarehouse;

#[pymethods]
impl PostgresWarehouse {
    #[new]
    #[pyo3(signature = (url, *, schema = None, root_certificates = None))]
    fn new(
        url: String,
        schema: Option<String>,
        root_certificates: Option<PathBuf>,
    ) -> PyResult<(Self, Warehouse)> {
        const CLASS: &str = "PostgresWarehouse";
        let certificates = root_certificates
            .map(|p| path_text(CLASS, "root_certificates", &p))
            .transpose()?;
        let config = json!({ "url": url, "schema": schema, "root_certificates": certificates });
        Ok((Self, warehouse("postgres", CLASS, config)?))
    }
}

/// Adds the classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Extractor>()?;
    m.add_class::<Warehouse>()?;
    m.add_class::<AirtableExtractor>()?;
    m.add_class::<HttpExtractor>()?;
    m.add_class::<FilesExtractor>()?;
    m.add_class::<SQLiteExtractor>()?;
    m.add_class::<DuckDBExtractor>()?;
    m.add_class::<PostgresExtractor>()?;
    m.add_class::<SQLiteWarehouse>()?;
    m.add_class::<DuckDBWarehouse>()?;
    m.add_class::<PostgresWarehouse>()?;
    Ok(())
}
