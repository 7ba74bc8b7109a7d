//! [`ETLWorkflow`]: every table of an extractor into a warehouse, in one call.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use etl_dag::{Listeners, Observer, StepEvent, StepStatus};

use crate::{
    Discovered, Error, ExtractOptions, Extractor, Result, TableSpec, Warehouse, WriteMode,
    WriteOptions,
};

/// Moves tables from an [`Extractor`] into a [`Warehouse`].
///
/// Each table is loaded in its own transaction: a table that fails leaves its
/// warehouse table as it was, and does not stop the others. [`ETLWorkflow::run`]
/// returns a [`LoadReport`] when every table loaded, and
/// [`Error::TablesFailed`] (which carries the report) when any did not.
///
/// A table whose [`TableSpec::cursor_field`] is set is read incrementally: the
/// workflow asks the warehouse for the cursor the table's last successful load
/// stored ([`Warehouse::stored_cursor`], keyed by [`Extractor::source`]), the
/// extractor reads only what changed since, and the warehouse writes the rows
/// (a merge on the primary key) and the new cursor in one transaction, so a
/// failed load leaves both where they were. [`ETLWorkflow::drop_tables`] and
/// [`WriteMode::Replace`] read everything. Rows deleted at the source are not
/// detected by an incremental read: a full reload removes them.
///
/// ```no_run
/// # async fn demo<E: etl_core::Extractor, W: etl_core::Warehouse>(extractor: E, warehouse: W) -> etl_core::Result<()> {
/// use etl_core::ETLWorkflow;
///
/// let report = ETLWorkflow::new(extractor, warehouse)
///     .drop_tables(true)
///     .tables(["customers", "orders"])
///     .batch_size(16_384)
///     .run()
///     .await?;
/// println!("{report}");
/// # Ok(()) }
/// ```
pub struct ETLWorkflow<E, W> {
    extractor: E,
    warehouse: W,
    drop_tables: bool,
    tables: Option<Vec<String>>,
    batch_size: usize,
    mode: Option<WriteMode>,
    primary_key: Option<Vec<String>>,
    listeners: Listeners,
    run_id: Option<String>,
    /// Per table, in the order given.
    transforms: Vec<(String, Transform)>,
}

/// A transform of one table between extract and load: what an engine
/// (`etl-polars`' `transform`, `etl-datafusion`'s `transform_sql`) gives
/// [`ETLWorkflow::transform_with`]. It gets the table's spec and stream and
/// returns the stream to load; the spec's schema becomes the new stream's.
pub trait TableTransform: Send + Sync + 'static {
    /// Transforms `stream`, the batches of `table`.
    fn apply(
        &self,
        table: &TableSpec,
        stream: crate::BatchStream,
    ) -> Pin<Box<dyn Future<Output = Result<crate::BatchStream>> + Send + 'static>>;
}

/// What happens to a table between extract and load.
type Transform = Arc<dyn TableTransform>;

impl<E: fmt::Debug, W: fmt::Debug> fmt::Debug for ETLWorkflow<E, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ETLWorkflow")
            .field("extractor", &self.extractor)
            .field("warehouse", &self.warehouse)
            .field("drop_tables", &self.drop_tables)
            .field("tables", &self.tables)
            .field("batch_size", &self.batch_size)
            .field("mode", &self.mode)
            .field("primary_key", &self.primary_key)
            .field("listeners", &self.listeners)
            .field("run_id", &self.run_id)
            .field(
                "transforms",
                &self.transforms.iter().map(|(t, _)| t).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<E: Extractor, W: Warehouse> ETLWorkflow<E, W> {
    /// A workflow loading every table `extractor` offers into `warehouse`.
    pub fn new(extractor: E, warehouse: W) -> Self {
        ETLWorkflow {
            extractor,
            warehouse,
            drop_tables: false,
            tables: None,
            batch_size: crate::DEFAULT_BATCH_SIZE,
            mode: None,
            primary_key: None,
            listeners: Listeners::default(),
            run_id: None,
            transforms: Vec::new(),
        }
    }

    /// Transforms table `table` between extract and load with `transform`
    /// (an engine's: `etl::FrameTransform::transform` with Polars,
    /// `etl::SqlTransform::transform_sql` with DataFusion). A transform that
    /// fails fails the table (its old rows stay), naming it. Several
    /// transforms of one table run in the order given.
    pub fn transform_with(
        mut self,
        table: impl Into<String>,
        transform: impl TableTransform,
    ) -> Self {
        self.transforms.push((table.into(), Arc::new(transform)));
        self
    }

    /// Calls `f` at every status change of a table, with the events the
    /// step runner gives ([`StepEvent`], the table in its `step` field):
    /// PENDING for every table found, before any data moves, then RUNNING as
    /// a table starts, and SUCCEEDED (with its rows and time) or FAILED (with
    /// its error; attempt 0 when it failed before any of its data moved).
    /// It runs on the loading task, so keep it quick. Each call adds a
    /// listener; every listener gets every event.
    pub fn on_event(mut self, f: impl Fn(&StepEvent<'_>) + Send + Sync + 'static) -> Self {
        self.listeners.on_event(f);
        self
    }

    /// Calls `f` with a table's name and its rows so far (read, not yet
    /// committed) as its batches go into the warehouse.
    pub fn on_progress(mut self, f: impl Fn(&str, u64) + Send + Sync + 'static) -> Self {
        self.listeners.on_progress(f);
        self
    }

    /// Adds a watcher of the load's events and rows, told
    /// [`Observer::finish`] when the load ends: the same watchers a workflow
    /// run takes (`etl::cli::Progress` draws both).
    pub fn observe(mut self, observer: Arc<dyn Observer>) -> Self {
        self.listeners.observe(observer);
        self
    }

    /// The run id the events carry (default: a new one per
    /// [`ETLWorkflow::run`]); inside a workflow's step, the step's
    /// (`cx.run_id()`), so that both tell of one run.
    pub fn run_id(mut self, id: impl Into<String>) -> Self {
        self.run_id = Some(id.into());
        self
    }

    /// Drop each table and create it anew from the extracted schema. The drop
    /// happens in the load's transaction, so a table whose load fails keeps
    /// its old rows.
    pub fn drop_tables(mut self, drop: bool) -> Self {
        self.drop_tables = drop;
        self
    }

    /// Load only these tables; naming one the extractor does not offer is an
    /// error before any data moves.
    pub fn tables<I, S>(mut self, tables: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tables = Some(tables.into_iter().map(Into::into).collect());
        self
    }

    /// Rows per record batch asked of the extractor.
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows.max(1);
        self
    }

    /// Write every table in `mode`, whatever the extractor proposes.
    pub fn write_mode(mut self, mode: WriteMode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Key every table on `columns`, whatever the extractor proposes: what
    /// a [`WriteMode::Merge`] upserts on. A table without one of them fails
    /// its load, naming the column.
    pub fn primary_key<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.primary_key = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// The extractor.
    pub fn extractor(&self) -> &E {
        &self.extractor
    }

    /// The warehouse.
    pub fn warehouse(&self) -> &W {
        &self.warehouse
    }

    /// Gives back the extractor and the warehouse.
    pub fn into_parts(self) -> (E, W) {
        (self.extractor, self.warehouse)
    }

    /// Loads every selected table, one after another; see the type's docs.
    ///
    /// A table whose schema the extractor could not read, and tables whose
    /// names differ only in case (which the warehouse would make one table),
    /// fail before any of their data moves, each with an error naming it;
    /// the other tables still load.
    pub async fn run(&self) -> Result<LoadReport> {
        let found: Vec<Discovered> = self
            .selected_tables()
            .await?
            .into_iter()
            .map(|found| match found {
                Discovered::Ready(mut spec) => {
                    if let Some(mode) = self.mode {
                        spec = spec.with_mode(mode);
                    }
                    if let Some(key) = &self.primary_key {
                        spec = spec.with_primary_key(key.iter().cloned());
                    }
                    Discovered::Ready(spec)
                }
                other => other,
            })
            .collect();
        // A transform of a table that is not loaded is a mistake: say so
        // before any data moves.
        if let Some((table, _)) = self
            .transforms
            .iter()
            .find(|(table, _)| !found.iter().any(|d| d.name() == table))
        {
            return Err(Error::UnknownTable {
                table: table.clone(),
                offered: found.iter().map(|d| d.name().to_owned()).collect(),
            });
        }
        let refused = refuse_collisions(&found, self.warehouse.kind());
        let run_id = self.run_id.clone().unwrap_or_else(etl_dag::new_run_id);
        for found in &found {
            self.listeners.event(&StepEvent::new(
                &run_id,
                found.name(),
                StepStatus::Pending,
                0,
            ));
        }
        let source = self.extractor.source();
        let mut report = LoadReport::default();
        for found in found {
            let spec = match found {
                Discovered::Ready(spec) if !refused.contains_key(spec.name()) => spec,
                Discovered::Ready(spec) => {
                    let error = refused.get(spec.name()).cloned().unwrap_or_default();
                    self.unloaded(&mut report, &run_id, spec.name(), spec.mode(), error);
                    continue;
                }
                Discovered::Failed { table, error } => {
                    let error = refused
                        .get(&table)
                        .cloned()
                        .unwrap_or_else(|| error.to_string());
                    self.unloaded(&mut report, &run_id, &table, WriteMode::default(), error);
                    continue;
                }
            };
            self.listeners.event(&StepEvent::new(
                &run_id,
                spec.name(),
                StepStatus::Running,
                1,
            ));
            let started = Instant::now();
            let mut notes = None;
            let mut since = None;
            let outcome = async {
                spec.validate()?;
                let mut options = ExtractOptions::with_batch_size(self.batch_size);
                let mut write_options = WriteOptions::recreate(self.drop_tables);
                if spec.cursor_field().is_some() {
                    write_options = write_options.with_source(&source);
                    // A replace holds only what it reads: it reads everything.
                    if !self.drop_tables && spec.mode() != WriteMode::Replace {
                        since = self.warehouse.stored_cursor(&source, spec.name()).await?;
                        options = options.with_since(since.clone());
                    }
                }
                let mut stream = self.extractor.extract(&spec, &options).await?;
                notes = Some(stream.notes().clone());
                if !self.listeners.is_empty() {
                    let listeners = self.listeners.clone();
                    let table = spec.name().to_owned();
                    let mut rows = 0;
                    stream = stream.inspect_batches(move |batch| {
                        rows += batch.num_rows() as u64;
                        listeners.rows(&table, rows);
                    });
                }
                let (spec, stream) = self.transformed(&spec, stream).await?;
                self.warehouse.write(&spec, stream, &write_options).await
            }
            .await;
            let cursor = notes.as_ref().and_then(|n| n.cursor_value());
            let (invalid_values, warnings) = notes
                .map(|n| (n.invalid_values(), n.warnings()))
                .unwrap_or_default();
            let (rows, columns, error) = match outcome {
                Ok(summary) => (summary.rows, summary.columns, None),
                Err(e) => (0, spec.schema().fields().len(), Some(e.to_string())),
            };
            let took = started.elapsed();
            let status = match error {
                None => StepStatus::Succeeded,
                Some(_) => StepStatus::Failed,
            };
            self.listeners.event(
                &StepEvent::new(&run_id, spec.name(), status, 1)
                    .with_rows(error.is_none().then_some(rows))
                    .with_error(error.as_deref())
                    .with_duration(took),
            );
            let entry = TableReport {
                table: spec.name().to_owned(),
                mode: spec.mode(),
                rows,
                columns,
                seconds: took.as_secs_f64(),
                invalid_values,
                warnings,
                since,
                cursor: if error.is_none() { cursor } else { None },
                error,
            };
            report.tables.push(entry);
        }
        self.listeners.finish();
        let failed: Vec<(String, String)> = report
            .tables
            .iter()
            .filter_map(|t| Some((t.table.clone(), t.error.clone()?)))
            .collect();
        if failed.is_empty() {
            Ok(report)
        } else {
            Err(Error::TablesFailed {
                failed,
                total: report.tables.len(),
                report: Box::new(report),
            })
        }
    }

    /// Reports a table that failed before any of its data moved.
    fn unloaded(
        &self,
        report: &mut LoadReport,
        run_id: &str,
        table: &str,
        mode: WriteMode,
        error: String,
    ) {
        self.listeners
            .event(&StepEvent::new(run_id, table, StepStatus::Failed, 0).with_error(Some(&error)));
        let entry = TableReport {
            table: table.to_owned(),
            mode,
            rows: 0,
            columns: 0,
            seconds: 0.0,
            invalid_values: 0,
            warnings: Vec::new(),
            since: None,
            cursor: None,
            error: Some(error),
        };
        report.tables.push(entry);
    }

    /// The table's stream through its transforms, and its spec with the
    /// schema they produce (its primary key must still be there).
    async fn transformed(
        &self,
        spec: &TableSpec,
        stream: crate::BatchStream,
    ) -> Result<(TableSpec, crate::BatchStream)> {
        let mut spec = spec.clone();
        let mut stream = stream;
        // The extractor reports into these as it reads (its cursor, its
        // invalid values): the stream the warehouse gets must still carry them.
        let notes = stream.notes().clone();
        for (table, transform) in &self.transforms {
            if table != spec.name() {
                continue;
            }
            stream = transform
                .apply(&spec, stream)
                .await?
                .with_notes(notes.clone());
            spec = spec.with_schema(stream.schema().clone());
        }
        if !self.transforms.is_empty() {
            spec.validate()?;
        }
        Ok((spec, stream))
    }

    async fn selected_tables(&self) -> Result<Vec<Discovered>> {
        let offered = self.extractor.discover().await?;
        let Some(wanted) = &self.tables else {
            return Ok(offered);
        };
        let names: Vec<String> = offered.iter().map(|d| d.name().to_owned()).collect();
        if let Some(unknown) = wanted.iter().find(|w| !names.contains(w)) {
            return Err(Error::UnknownTable {
                table: unknown.clone(),
                offered: names,
            });
        }
        let mut offered: Vec<Option<Discovered>> = offered.into_iter().map(Some).collect();
        Ok(wanted
            .iter()
            .filter_map(|name| {
                let at = names.iter().position(|n| n == name)?;
                offered[at].take()
            })
            .collect())
    }
}

/// The tables whose names the warehouse would make one (they differ only
/// in case), each with the error it fails with.
fn refuse_collisions(
    found: &[Discovered],
    warehouse: &str,
) -> std::collections::HashMap<String, String> {
    let mut refused = std::collections::HashMap::new();
    for (first, second) in crate::names::collisions(found.iter().map(Discovered::name)) {
        let message = |this: &str, other: &str| {
            if this == other {
                return format!(
                    "table {this:?}: the source offers two tables of this name; neither was loaded"
                );
            }
            format!(
                "table {this:?}: its name and {other:?}'s differ only in case, and the {warehouse} \
                 warehouse resolves names without case, so both would load into one table; \
                 neither was loaded (rename one, or load it elsewhere)"
            )
        };
        refused.insert(first.to_owned(), message(first, second));
        refused.insert(second.to_owned(), message(second, first));
    }
    refused
}

/// What one [`ETLWorkflow::run`] did, table by table. Displays as a table.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadReport {
    /// One entry per table, in load order.
    pub tables: Vec<TableReport>,
}

impl LoadReport {
    /// Rows loaded over all tables.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    /// The entry of one table.
    pub fn table(&self, name: &str) -> Option<&TableReport> {
        self.tables.iter().find(|t| t.table == name)
    }

    /// Whether every table loaded.
    pub fn succeeded(&self) -> bool {
        self.tables.iter().all(|t| t.error.is_none())
    }
}

/// The outcome of one table in a [`LoadReport`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct TableReport {
    /// The table.
    pub table: String,
    /// How it was written.
    pub mode: WriteMode,
    /// Rows written (0 when it failed).
    pub rows: u64,
    /// Columns of the table.
    pub columns: usize,
    /// Wall-clock seconds for extract and load together.
    pub seconds: f64,
    /// Values the extractor loaded as null because they did not match their
    /// column's type (an Airtable formula's `#ERROR!`, say).
    pub invalid_values: u64,
    /// What the extractor warned about (a source type it read as text).
    pub warnings: Vec<String>,
    /// For an incremental table: the cursor it was read from (only what
    /// changed since); `None` when it was read whole.
    pub since: Option<String>,
    /// For an incremental table that loaded: the cursor stored for the next run.
    pub cursor: Option<String>,
    /// Why it failed; `None` when it loaded.
    pub error: Option<String>,
}

impl TableReport {
    /// `"ok"`, or `"FAILED: "` and the reason.
    pub fn status(&self) -> String {
        match &self.error {
            None => "ok".into(),
            Some(e) => format!("FAILED: {e}"),
        }
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<Vec<String>> = self
            .tables
            .iter()
            .map(|t| {
                vec![
                    t.table.clone(),
                    t.mode.to_string(),
                    t.rows.to_string(),
                    t.columns.to_string(),
                    format!("{:.3}", t.seconds),
                    t.status(),
                ]
            })
            .collect();
        etl_rules::text::write_table(
            f,
            &["table", "mode", "rows", "columns", "seconds", "status"],
            &[false, false, true, true, true, false],
            &rows,
        )?;
        for t in &self.tables {
            if t.invalid_values > 0 {
                let values = if t.invalid_values == 1 {
                    "value"
                } else {
                    "values"
                };
                writeln!(
                    f,
                    "note: {:?}: {} {values} did not match the column's type and were loaded as null",
                    t.table, t.invalid_values
                )?;
            }
            if let Some(since) = &t.since {
                writeln!(
                    f,
                    "note: {:?}: read incrementally, changes since {since}",
                    t.table
                )?;
            }
            for warning in &t.warnings {
                writeln!(f, "warning: {:?}: {warning}", t.table)?;
            }
        }
        let failed = self.tables.iter().filter(|t| t.error.is_some()).count();
        write!(
            f,
            "{} tables, {} rows, {} failed",
            self.tables.len(),
            self.total_rows(),
            failed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_displays_as_an_aligned_table() {
        let report = LoadReport {
            tables: vec![
                TableReport {
                    table: "customers".into(),
                    mode: WriteMode::Replace,
                    rows: 1200,
                    columns: 4,
                    seconds: 0.0123,
                    invalid_values: 2,
                    warnings: vec![
                        "field \"Vote\" has unknown type \"poll\"; loaded as JSON text".into(),
                    ],
                    since: Some("2024-01-31T09:15:00.000Z".into()),
                    cursor: Some("2024-02-01T00:00:00.000Z".into()),
                    error: None,
                },
                TableReport {
                    table: "o".into(),
                    mode: WriteMode::Merge,
                    rows: 0,
                    columns: 12,
                    seconds: 1.5,
                    invalid_values: 0,
                    warnings: Vec::new(),
                    since: None,
                    cursor: None,
                    error: Some("boom".into()),
                },
            ],
        };
        let expected = "\
table      mode     rows  columns  seconds  status
---------  -------  ----  -------  -------  ------------
customers  replace  1200        4    0.012  ok
o          merge       0       12    1.500  FAILED: boom
note: \"customers\": 2 values did not match the column's type and were loaded as null
note: \"customers\": read incrementally, changes since 2024-01-31T09:15:00.000Z
warning: \"customers\": field \"Vote\" has unknown type \"poll\"; loaded as JSON text
2 tables, 1200 rows, 1 failed";
        assert_eq!(report.to_string(), expected);
    }
}
