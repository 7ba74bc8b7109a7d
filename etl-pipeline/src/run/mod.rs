//! Pipelines declared in a TOML file, run on the same engine as
//! `#[workflow]`: a file becomes a [`Dag`] through [`Dag::builder`], so the
//! state store, resume, workers, the server and the exports apply unchanged.
//! The `etl` binary (`cargo run --bin etl -- run FILE`) is its command line;
//! the format is in `docs/pipelines.md` and in [`etl_pipeline`]'s docs, its
//! JSON Schema in `etl-pipeline/pipeline.schema.json`.
//!
//! ```text
//! // In a build of `etl`, whose registry() has its connectors:
//! let file = File::read("examples/pipelines/files_to_duckdb.toml", Arc::new(etl::registry()))?;
//! let report = file.dag()?.run().await.into_result()?;
//! ```
//!
//! (`etl::pipeline::read(path)` is that call; its docs run it.)
//!
//! Sources and warehouses are opened through the connector registry the
//! file was read with ([`File::read`]'s `connectors`): whatever kinds the
//! caller's build has, the `etl` binary's, a data app's, the Python
//! package's.
//!
//! Load steps run an [`ETLWorkflow`](etl_core::ETLWorkflow) from their source
//! into their warehouse. SQL steps (feature `datafusion`) query the tables
//! that the steps they depend on wrote, read back from those steps'
//! warehouses, and write the result to their own table. Each step's output
//! is what it wrote ([`Wrote`]), saved as JSON, so that `resume`, `run
//! --step` and workers on other machines work as they do for Rust workflows.

mod check;
mod steps;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use check::{Checked, check, check_with, plan};

use etl_core::connectors::Connectors;
use etl_dag::{Dag, OutputHooks, RowCount};

use crate::{
    HttpSource, Kinds, ParamType, Pipeline, Position, Problem, Problems, Source, StepKind,
    Warehouse, WriteMode,
};

/// A pipeline read from its file.
#[derive(Debug, Clone)]
pub struct File {
    /// What the file declares.
    pub pipeline: Pipeline,
    /// The file, as named.
    pub path: PathBuf,
    /// The folder paths in the file are relative to.
    pub dir: PathBuf,
    /// The connectors its sources and warehouses are opened with.
    pub connectors: Arc<Connectors>,
}

/// Why a pipeline file could not be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum FileError {
    /// It could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// What is wrong in it, every problem at its line and column.
    Problems(Problems),
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Read { path, source } => {
                write!(f, "reading pipeline file {}: {source}", path.display())
            }
            FileError::Problems(p) => write!(f, "{p}"),
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileError::Read { source, .. } => Some(source),
            FileError::Problems(p) => Some(p),
        }
    }
}

impl From<Problems> for FileError {
    fn from(p: Problems) -> Self {
        FileError::Problems(p)
    }
}

/// The most bytes a pipeline file may hold: a file is written by hand; one
/// larger is a mistake (a data file named by accident), not read whole.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

impl File {
    /// Reads and checks the file at `path`, whose sources and warehouses
    /// `connectors` opens: every problem at once.
    pub fn read(path: impl AsRef<Path>, connectors: Arc<Connectors>) -> Result<File, FileError> {
        let path = path.as_ref();
        let read = |source| FileError::Read {
            path: path.to_owned(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read)?;
        if meta.is_dir() {
            return Err(read(std::io::Error::other("it is a folder, not a file")));
        }
        // Read through the bound, not by the size the metadata says: a
        // device or a pipe (`/dev/zero`) says 0 and never ends.
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::fs::File::open(path).map_err(read)?, MAX_FILE_BYTES + 1),
            &mut bytes,
        )
        .map_err(read)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(read(std::io::Error::other(format!(
                "it holds more than {MAX_FILE_BYTES} bytes; a pipeline file holds at most {MAX_FILE_BYTES}"
            ))));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            read(std::io::Error::other(format!(
                "it is not UTF-8 text (byte {})",
                e.utf8_error().valid_up_to()
            )))
        })?;
        File::parse(&text, path, connectors)
    }

    /// Reads `text`, the content of the file at `path`.
    pub fn parse(
        text: &str,
        path: impl AsRef<Path>,
        connectors: Arc<Connectors>,
    ) -> Result<File, FileError> {
        let path = path.as_ref();
        let kinds = Kinds::new(connectors.source_kinds(), connectors.warehouse_kinds());
        let pipeline = Pipeline::parse_with(text, &path.display().to_string(), &kinds)?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let file = File {
            pipeline,
            path: path.to_owned(),
            dir,
            connectors,
        };
        let problems = file.unsupported();
        if !problems.is_empty() {
            return Err(file.problems(problems).into());
        }
        Ok(file)
    }

    /// `problems` of this file.
    pub fn problems(&self, problems: Vec<Problem>) -> Problems {
        Problems::new(self.path.display().to_string(), problems)
    }

    /// `message` at the place of `path` in the file.
    pub(crate) fn problem(&self, path: &str, message: impl Into<String>) -> Problem {
        Problem::new(self.pipeline.position(path), message)
    }

    /// What this build cannot run, at its place.
    fn unsupported(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        for step in &self.pipeline.steps {
            let at = format!("steps.{}", step.name);
            match &step.kind {
                StepKind::Sql(_) if !cfg!(feature = "datafusion") => problems.push(self.problem(
                    &at,
                    format!(
                        "{at}: a SQL step runs on DataFusion, and this etl was built without it: \
                         build it with `--features datafusion` (cargo install --path . --features datafusion)"
                    ),
                )),
                StepKind::Load(load)
                    if load.incremental
                        && !matches!(
                            self.pipeline.sources.get(&load.source),
                            Some(Source::Airtable { .. })
                        ) =>
                {
                    problems.push(self.problem(
                        &at,
                        format!(
                            "{at}.incremental: incremental loads here are for airtable sources; \
                             an http source sets `incremental` per resource in its config, \
                             a postgres source per table (`incremental = {{ orders = \"updated_at\" }}`), \
                             and anything else is a `#[workflow]` step in Rust"
                        ),
                    ));
                }
                _ => {}
            }
        }
        problems
    }

    /// The workflow: one step per `[[steps]]`, with its dependencies,
    /// retries, backoff and timeout, the file's parameters, schedule and
    /// parallelism.
    pub fn dag(&self) -> Result<Dag, etl_core::Error> {
        let shared = Arc::new(self.clone());
        let p = &self.pipeline;
        let mut builder = Dag::builder(p.name.clone());
        if let Some(s) = &p.schedule {
            builder = builder.schedule(s.cron.clone());
        }
        if let Some(n) = p.max_parallel {
            builder = builder.max_parallel(n);
        }
        for param in &p.params {
            builder = builder.typed_param(param.name.clone(), param.kind, param.default.as_deref());
        }
        for step in &p.steps {
            builder = builder.step(steps::step(&shared, step));
        }
        Ok(builder.build()?)
    }

    /// The parameters that have defaults, with them: what check and plan
    /// read paths and queries with.
    pub(crate) fn defaults(&self) -> BTreeMap<String, String> {
        self.pipeline
            .params
            .iter()
            .filter_map(|p| Some((p.name.clone(), p.default.clone()?)))
            .collect()
    }

    /// The zone `[schedule]` names, if any.
    pub fn zone(&self) -> Option<&str> {
        self.pipeline.schedule.as_ref()?.zone.as_deref()
    }
}

/// What a pipeline step wrote: its warehouse and each table with its rows.
/// The output of every step of a pipeline, saved as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Wrote {
    /// The warehouse, by its name in the file.
    pub warehouse: String,
    /// Each table written, with its rows.
    pub tables: BTreeMap<String, u64>,
}

impl RowCount for Wrote {
    fn row_count(&self) -> u64 {
        self.tables.values().sum()
    }
}

fn hooks() -> OutputHooks {
    OutputHooks::json::<Wrote>().counted::<Wrote>()
}
