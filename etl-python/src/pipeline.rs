//! `Pipeline`: a pipeline file read, checked, planned and run from Python,
//! on the same reader and runner as the `etl` binary.

use std::collections::BTreeMap;
use std::path::PathBuf;

use etl::pipeline::{File, FileError, Problems};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};

use crate::errors::{self, to_py};

/// A pipeline file (docs/pipelines.md), its sources and warehouses opened
/// with this build's connectors: `etl.Pipeline.read("pipeline.toml")`.
#[pyclass(frozen, module = "etl")]
pub(crate) struct Pipeline {
    file: File,
}

/// `problems` as a `ConfigError` naming the file, every problem in its
/// message and in `problems` as `(line, column, message)`.
fn problems_error(py: Python<'_>, problems: &Problems) -> PyErr {
    let err = errors::ConfigError::new_err(problems.to_string());
    errors::named(
        py,
        &err,
        errors::Names {
            file: Some(problems.file.clone()),
            line: problems.problems.first().map(|p| p.line as u64),
            ..errors::Names::default()
        },
    );
    let list: Vec<(usize, usize, String)> = problems
        .problems
        .iter()
        .map(|p| (p.line, p.column, p.message.clone()))
        .collect();
    let _ = err.value(py).setattr("problems", list);
    err
}

fn file_error(py: Python<'_>, e: FileError) -> PyErr {
    match e {
        FileError::Problems(problems) => problems_error(py, &problems),
        other => to_py(py, etl::Error::Config(other.to_string())),
    }
}

/// A run's parameters as the runner takes them (`--param KEY=VALUE`):
/// text, numbers and booleans; anything else a `ConfigError` naming it.
/// What the file declares is checked by [`checked`].
fn params(given: Option<BTreeMap<String, Bound<'_, PyAny>>>) -> PyResult<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    for (name, value) in given.unwrap_or_default() {
        let text = if value.is_instance_of::<PyBool>() {
            value.extract::<bool>()?.to_string()
        } else if value.is_instance_of::<PyString>()
            || value.is_instance_of::<PyInt>()
            || value.is_instance_of::<PyFloat>()
        {
            value.str()?.to_string()
        } else {
            return Err(errors::config(
                "Pipeline",
                &format!("params.{name}"),
                format!(
                    "give text, a number or a boolean, not {}",
                    value.get_type().name()?
                ),
            ));
        };
        params.insert(name, text);
    }
    Ok(params)
}

/// `params` checked against what `dag` declares, as the server checks a
/// run's (`WorkflowInfo::check_params`: names, types, sizes, required
/// ones), every problem in one `ConfigError`; with the defaults filled in.
fn checked(
    py: Python<'_>,
    dag: &etl::dag::Dag,
    params: &BTreeMap<String, String>,
) -> PyResult<BTreeMap<String, String>> {
    etl::runs::registry::WorkflowInfo::of(dag, "")
        .check_params(params)
        .map_err(|e| {
            let err = errors::ConfigError::new_err(e.to_string());
            errors::named(py, &err, errors::Names::default());
            err
        })
}

#[pymethods]
impl Pipeline {
    /// Reads the file at `path`: every problem it has at once, each at its
    /// line and column, raised as one `ConfigError`.
    #[staticmethod]
    fn read(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        etl::pipeline::read(&path)
            .map(|file| Pipeline { file })
            .map_err(|e| file_error(py, e))
    }

    /// Reads `text` as the content of a file at `path` (relative paths in
    /// it are relative to that file's folder).
    #[staticmethod]
    #[pyo3(signature = (text, path = PathBuf::from("pipeline.toml")))]
    fn parse(py: Python<'_>, text: &str, path: PathBuf) -> PyResult<Self> {
        etl::pipeline::parse(text, &path)
            .map(|file| Pipeline { file })
            .map_err(|e| file_error(py, e))
    }

    /// The pipeline's name.
    #[getter]
    fn name(&self) -> &str {
        &self.file.pipeline.name
    }

    /// Its steps' names, in the file's order.
    #[getter]
    fn steps(&self) -> Vec<String> {
        self.file
            .pipeline
            .steps
            .iter()
            .map(|s| s.name.clone())
            .collect()
    }

    /// Checks it without moving data (`etl check`): variables, folders,
    /// sources' configurations (and, `online`, their tables), SQL steps.
    /// Returns what could not be checked; raises `ConfigError` with every
    /// problem.
    #[pyo3(signature = (*, online = false, params = None))]
    fn check(
        &self,
        py: Python<'_>,
        online: bool,
        params: Option<BTreeMap<String, Bound<'_, PyAny>>>,
    ) -> PyResult<Vec<String>> {
        let dag = self.file.dag().map_err(|e| to_py(py, e))?;
        let params = checked(py, &dag, &self::params(params)?)?;
        let file = self.file.clone();
        let checked = crate::runtime::wait(py, async move {
            etl::pipeline::check_with(&file, online, &params).await
        })?;
        checked
            .map(|c| c.notes)
            .map_err(|problems| problems_error(py, &problems))
    }

    /// What a run would do, step by step (`etl plan`).
    fn plan(&self) -> String {
        etl::pipeline::plan(&self.file)
    }

    /// Runs it (`etl run`), after the offline check: every step, in order
    /// and in parallel where the file allows, the GIL released. Returns the
    /// run's `RunReport`; when a step failed, raises `RunError` whose
    /// `report` it is (unless `raise_on_failure=False`).
    #[pyo3(signature = (*, params = None, raise_on_failure = true))]
    fn run(
        &self,
        py: Python<'_>,
        params: Option<BTreeMap<String, Bound<'_, PyAny>>>,
        raise_on_failure: bool,
    ) -> PyResult<RunReport> {
        let dag = self.file.dag().map_err(|e| to_py(py, e))?;
        let params = checked(py, &dag, &self::params(params)?)?;
        let file = self.file.clone();
        let outcome = crate::runtime::wait(py, async move {
            etl::pipeline::check_with(&file, false, &params).await?;
            Ok::<_, Problems>(RunReport::from(&dag.runner().params(params).run().await))
        })?;
        let report = outcome.map_err(|problems| problems_error(py, &problems))?;
        if raise_on_failure && !report.succeeded {
            let err = errors::RunError::new_err(format!(
                "pipeline {:?}: a step failed\n{}",
                self.file.pipeline.name, report.text
            ));
            let _ = err.value(py).setattr("report", Py::new(py, report)?);
            return Err(err);
        }
        Ok(report)
    }

    fn __repr__(&self) -> String {
        format!(
            "<etl.Pipeline {:?} from {}>",
            self.file.pipeline.name,
            self.file.path.display()
        )
    }
}

/// How a run went; `print(report)` shows the runner's table.
#[pyclass(frozen, module = "etl", get_all)]
pub(crate) struct RunReport {
    /// The workflow.
    workflow: String,
    /// The run's id.
    run_id: String,
    /// Seconds the run took.
    seconds: f64,
    /// Whether every step succeeded.
    succeeded: bool,
    /// One entry per step, in declaration order.
    steps: Vec<StepReport>,
    text: String,
}

impl From<&etl::dag::RunReport> for RunReport {
    fn from(r: &etl::dag::RunReport) -> Self {
        RunReport {
            workflow: r.workflow.clone(),
            run_id: r.run_id.clone(),
            seconds: r.duration.as_secs_f64(),
            succeeded: r.succeeded(),
            steps: r
                .steps
                .iter()
                .map(|s| StepReport {
                    name: s.name.clone(),
                    status: s.status.as_str().to_owned(),
                    attempts: s.attempts,
                    seconds: s.duration.map(|d| d.as_secs_f64()),
                    rows: s.rows,
                    error: s.error.clone(),
                })
                .collect(),
            text: r.to_string(),
        }
    }
}

#[pymethods]
impl RunReport {
    /// The entry of step `name`, `None` when there is none.
    fn step(&self, name: &str) -> Option<StepReport> {
        self.steps.iter().find(|s| s.name == name).cloned()
    }

    fn __str__(&self) -> String {
        self.text.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "<etl.RunReport {:?} {} {} steps>",
            self.workflow,
            if self.succeeded {
                "succeeded"
            } else {
                "failed"
            },
            self.steps.len()
        )
    }
}

/// One step of a [`RunReport`].
#[pyclass(frozen, module = "etl", get_all, skip_from_py_object)]
#[derive(Clone)]
pub(crate) struct StepReport {
    /// The step.
    name: String,
    /// `SUCCEEDED`, `FAILED`, `SKIPPED`, `CANCELLED`, …
    status: String,
    /// Attempts made (0 if it never started).
    attempts: u32,
    /// Seconds from its first attempt's start to its end.
    seconds: Option<f64>,
    /// Rows of its output, when counted.
    rows: Option<u64>,
    /// Why it failed, was skipped or was cancelled.
    error: Option<String>,
}

#[pymethods]
impl StepReport {
    fn __repr__(&self) -> String {
        format!("<etl.StepReport {:?} {}>", self.name, self.status)
    }
}

/// Adds the classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Pipeline>()?;
    m.add_class::<RunReport>()?;
    m.add_class::<StepReport>()?;
    Ok(())
}
