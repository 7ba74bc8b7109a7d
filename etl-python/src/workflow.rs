//! `ETLWorkflow`: every table of an extractor loaded into a warehouse by
//! the Rust runtime, and the `Report` it returns.

use std::sync::Arc;

use etl_core::{DynExtractor, DynWarehouse, LoadReport, TableReport as RustTable, WriteMode};
use pyo3::prelude::*;

use crate::connectors::{Extractor, Warehouse};
use crate::errors::{config, to_py};

/// Loads the tables of `extractor` into `warehouse`, each table atomically:
/// `ETLWorkflow(etl.AirtableExtractor(), etl.DuckDBWarehouse("dwh.duckdb")).run(drop_tables=True)`.
#[pyclass(frozen, module = "etl")]
pub(crate) struct ETLWorkflow {
    extractor: Arc<dyn DynExtractor>,
    warehouse: Arc<dyn DynWarehouse>,
}

#[pymethods]
impl ETLWorkflow {
    #[new]
    fn new(extractor: PyRef<'_, Extractor>, warehouse: PyRef<'_, Warehouse>) -> Self {
        ETLWorkflow {
            extractor: extractor.inner.clone(),
            warehouse: warehouse.inner.clone(),
        }
    }

    /// Runs the load with the GIL released and returns its report. A table
    /// that fails keeps what it held; the others load. When any failed,
    /// raises `LoadError` whose `report` is the report (unless
    /// `raise_on_failure=False`). Ctrl-C stops it: the table being written
    /// keeps its old rows.
    #[pyo3(signature = (*, drop_tables = false, tables = None, mode = None, primary_key = None, batch_size = None, raise_on_failure = true))]
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        py: Python<'_>,
        drop_tables: bool,
        tables: Option<Vec<String>>,
        mode: Option<&str>,
        primary_key: Option<Vec<String>>,
        batch_size: Option<usize>,
        raise_on_failure: bool,
    ) -> PyResult<Report> {
        crate::connectors::not_reentrant(&self.warehouse, "ETLWorkflow.run")?;
        let mut workflow =
            etl_core::ETLWorkflow::new(self.extractor.clone(), self.warehouse.clone())
                .drop_tables(drop_tables);
        if let Some(tables) = tables {
            workflow = workflow.tables(tables);
        }
        if let Some(mode) = mode {
            workflow = workflow.write_mode(write_mode("ETLWorkflow.run", mode)?);
        }
        if let Some(key) = primary_key {
            workflow = workflow.primary_key(key);
        }
        if let Some(rows) = batch_size {
            if rows == 0 {
                return Err(config("ETLWorkflow.run", "batch_size", "give at least 1"));
            }
            workflow = workflow.batch_size(rows);
        }
        let outcome = crate::runtime::wait(py, async move { workflow.run().await })?;
        match outcome {
            Ok(report) => Ok(Report::from(report)),
            Err(etl::Error::TablesFailed { report, .. }) if !raise_on_failure => {
                Ok(Report::from(*report))
            }
            Err(e) => Err(to_py(py, e)),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "<etl.ETLWorkflow {} -> {}>",
            self.extractor.source(),
            self.warehouse.kind()
        )
    }
}

/// `replace`, `append` or `merge` (`WriteMode`'s own names), given to `call`.
pub(crate) fn write_mode(call: &str, mode: &str) -> PyResult<WriteMode> {
    mode.parse().map_err(|_| {
        config(
            call,
            "mode",
            format!("{mode:?} is not replace, append or merge"),
        )
    })
}

/// What a load did, table by table; `print(report)` shows the table the
/// Rust report shows.
#[pyclass(frozen, module = "etl")]
pub(crate) struct Report {
    inner: LoadReport,
}

impl From<LoadReport> for Report {
    fn from(inner: LoadReport) -> Self {
        Report { inner }
    }
}

#[pymethods]
impl Report {
    /// One entry per table, in load order.
    #[getter]
    fn tables(&self) -> Vec<TableReport> {
        self.inner
            .tables
            .iter()
            .cloned()
            .map(TableReport::from)
            .collect()
    }

    /// Rows loaded over all tables.
    #[getter]
    fn total_rows(&self) -> u64 {
        self.inner.total_rows()
    }

    /// Whether every table loaded.
    #[getter]
    fn succeeded(&self) -> bool {
        self.inner.succeeded()
    }

    /// The entry of `table`, `None` when it was not in the load.
    fn table(&self, table: &str) -> Option<TableReport> {
        self.inner.table(table).cloned().map(TableReport::from)
    }

    fn __len__(&self) -> usize {
        self.inner.tables.len()
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        let failed = self
            .inner
            .tables
            .iter()
            .filter(|t| t.error.is_some())
            .count();
        format!(
            "<etl.Report {} tables, {} rows, {failed} failed>",
            self.inner.tables.len(),
            self.inner.total_rows()
        )
    }
}

/// One table of a [`Report`].
#[pyclass(frozen, module = "etl", get_all)]
pub(crate) struct TableReport {
    /// The table.
    table: String,
    /// `replace`, `append` or `merge`.
    mode: String,
    /// Rows written (0 when it failed).
    rows: u64,
    /// Columns of the table.
    columns: usize,
    /// Seconds for extract and load together.
    seconds: f64,
    /// `loaded`, `failed`, … as the printed report says.
    status: String,
    /// Values loaded as null because they did not fit their column's type.
    invalid_values: u64,
    /// What the extractor warned about.
    warnings: Vec<String>,
    /// For an incremental table, the cursor it was read from.
    since: Option<String>,
    /// For an incremental table that loaded, the cursor stored for the next run.
    cursor: Option<String>,
    /// Why it failed; `None` when it loaded.
    error: Option<String>,
}

impl From<RustTable> for TableReport {
    fn from(t: RustTable) -> Self {
        TableReport {
            status: t.status(),
            mode: t.mode.to_string(),
            table: t.table,
            rows: t.rows,
            columns: t.columns,
            seconds: t.seconds,
            invalid_values: t.invalid_values,
            warnings: t.warnings,
            since: t.since,
            cursor: t.cursor,
            error: t.error,
        }
    }
}

#[pymethods]
impl TableReport {
    fn __repr__(&self) -> String {
        format!(
            "<etl.TableReport {:?} {} {} rows>",
            self.table, self.status, self.rows
        )
    }
}

/// Adds the classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ETLWorkflow>()?;
    m.add_class::<Report>()?;
    m.add_class::<TableReport>()?;
    Ok(())
}
