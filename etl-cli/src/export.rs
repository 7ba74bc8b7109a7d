//! `export airflow`, `export prefect`: write the files `etl_runs::airflow`
//! and `etl_runs::prefect` render.

use std::path::{Path, PathBuf};

use super::Program;
use crate::{Error, Result};

/// Which exporter.
pub(super) enum Kind {
    Airflow,
    Prefect,
}

pub(super) fn export(
    kind: Kind,
    program: &Program,
    state: &str,
    out: &Path,
    bin: Option<String>,
    dag_id: Option<String>,
    zone: &str,
) -> Result<()> {
    let bin = match bin {
        Some(bin) => bin,
        None => std::env::current_exe()
            .map_err(|e| Error::Argument(format!("finding this program's path (give --bin): {e}")))?
            .display()
            .to_string(),
    };
    // A PostgreSQL URL holds a password: the workers' own ETL_STATE names it.
    let state = (!etl_runs::postgres_url(state))
        .then(|| absolute(Path::new(state)).map(|p| p.display().to_string()))
        .transpose()?;
    // A bucket's URL holds no credential (one that would is refused); a
    // folder is made absolute.
    let outputs = match &program.outputs_at {
        Some(at) if at.contains("://") => {
            etl_runs::outputs::check(at)?;
            Some(at.clone())
        }
        Some(at) => Some(absolute(Path::new(at))?.display().to_string()),
        None => None,
    };
    // By default the workflow's name, made an id Airflow takes.
    let dag_id = dag_id.unwrap_or_else(|| etl_runs::airflow::airflow_id(program.dag.name()));
    // Every task runs here: relative paths inside the workflow (a warehouse
    // file, say) resolve where they would for a run started here.
    let workdir = std::env::current_dir()
        .map_err(|e| etl_runs::Error::io(".", e))?
        .display()
        .to_string();
    // The pipeline file, made absolute: the tasks run from anywhere.
    let file = program
        .file
        .as_deref()
        .map(|f| absolute(f).map(|p| p.display().to_string()))
        .transpose()?;
    let target = etl_runs::airflow::Target {
        program: &program.program,
        bin: &bin,
        file: file.as_deref(),
        state: state.as_deref(),
        outputs: outputs.as_deref(),
        workdir: &workdir,
        dag_id: &dag_id,
        zone,
    };
    let (text, what, home) = match kind {
        Kind::Airflow => (
            etl_runs::airflow::render(&program.dag, &target)?,
            format!("DAG {dag_id:?}"),
            "put it in Airflow's dags folder",
        ),
        Kind::Prefect => (
            etl_runs::prefect::render(&program.dag, &target)?,
            format!("flow {:?}", program.dag.name()),
            "run it with `python FILE` (once) or `python FILE serve`",
        ),
    };
    std::fs::write(out, text).map_err(|e| etl_runs::Error::io(out, e))?;
    // Outputs beside a SQLite store are shared (one machine); with
    // PostgreSQL and no location, each task keeps its outputs on its own
    // worker, where the next task, on another, will not find them.
    if state.is_none() && outputs.is_none() {
        eprintln!(
            "warning: no shared location for step outputs: each task saves its step's output \
             under {workdir}/etl-outputs on the worker it runs on, and a task on another worker \
             will not find it; set --outputs or ETL_OUTPUTS to a bucket (s3://…) or a folder \
             every worker shares, then export again"
        );
    }
    eprintln!(
        "wrote {}: {what}, {} tasks; {home} (the workers need {bin} and {})",
        out.display(),
        program.dag.steps().count(),
        state
            .as_deref()
            .unwrap_or("ETL_STATE, the state store's URL, in their environment")
    );
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_owned());
    }
    let cwd = std::env::current_dir().map_err(|e| etl_runs::Error::io(".", e))?;
    Ok(cwd.join(path))
}
