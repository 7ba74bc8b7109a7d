//! What can go wrong orchestrating runs.

use std::path::PathBuf;

/// `Result` with the orchestration's [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong recording, planning and exporting runs. The
/// caller's mistakes (a run that is not there, a step that needs an output
/// no run saved) each have their variant, whose message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The state store could not be read or written.
    #[error("state store {store}: {message}")]
    State {
        /// The store: its path, or its URL without the password.
        store: String,
        /// What went wrong.
        message: String,
    },

    /// The place for step outputs (a folder, a bucket) cannot be used.
    #[error("step outputs {location}: {message}")]
    Outputs {
        /// Its URL or path, with no credentials.
        location: String,
        /// What went wrong, with no credentials.
        message: String,
    },

    /// The runtime refused the run (an unknown step, a bad run id) or a
    /// run failed.
    #[error(transparent)]
    Workflow(#[from] etl_dag::Error),

    /// No run of that id is recorded.
    #[error("no run {run_id:?} in {store}; `history` lists the runs")]
    UnknownRun {
        /// The run asked for.
        run_id: String,
        /// The store asked (its path, or its URL without the password).
        store: String,
    },

    /// The run belongs to another workflow.
    #[error("run {run_id:?} is a run of workflow {recorded:?}, not {asked:?}")]
    OtherWorkflow {
        /// The run.
        run_id: String,
        /// The workflow it is recorded for.
        recorded: String,
        /// The workflow asking.
        asked: String,
    },

    /// A new run's id is taken.
    #[error("run {run_id:?} is already recorded in {store}")]
    RunExists {
        /// The run.
        run_id: String,
        /// The store (its path, or its URL without the password).
        store: String,
    },

    /// A scheduled run for that tick is already recorded: another
    /// scheduler ran it.
    #[error("the tick {tick} of workflow {workflow:?} was already run, by run {run_id:?}")]
    TickTaken {
        /// The workflow.
        workflow: String,
        /// The tick, as the store writes times.
        tick: String,
        /// The run that took it.
        run_id: String,
    },

    /// The run is still running in another process.
    #[error("run {run_id:?} is still running in another process; resume it once it has ended")]
    StillRunning {
        /// The run.
        run_id: String,
    },

    /// A step of a partial run takes the output of a step that no earlier
    /// run saved.
    #[error(
        "step {step:?} takes the output of step {input:?}, which no earlier run saved; run {input:?} too, or the whole workflow"
    )]
    NoSavedOutput {
        /// The step that runs.
        step: String,
        /// The input no run saved.
        input: String,
    },

    /// A step of a shared run was given a parameter other than the run's.
    #[error("run {run_id:?} has parameter {key}={recorded}, not {given}")]
    ParamConflict {
        /// The run.
        run_id: String,
        /// The parameter.
        key: String,
        /// Its value in the run.
        recorded: String,
        /// The value given.
        given: String,
    },

    /// A schedule cannot be used: a bad cron expression or time zone, or a
    /// schedule the target cannot express.
    #[error("{0}")]
    Schedule(String),

    /// A workflow cannot be exported as asked (an id the target refuses,
    /// two steps that would share a task).
    #[error("{0}")]
    Export(String),

    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// No workflow of that name is registered.
    #[error("no workflow {name:?} is registered in {store}")]
    UnknownWorkflow {
        /// The workflow asked for.
        name: String,
        /// The store asked.
        store: String,
    },

    /// A workflow cannot be deleted while a run of it is running.
    #[error(
        "workflow {name:?} has a run still running ({run_id:?}): cancel it or wait for it to end, or delete with force"
    )]
    WorkflowRunning {
        /// The workflow.
        name: String,
        /// A run of it still running.
        run_id: String,
    },

    /// A run's parameters do not match what its workflow declares.
    #[error("workflow {workflow:?}: {}", problems.join("; "))]
    BadParams {
        /// The workflow.
        workflow: String,
        /// Every problem found.
        problems: Vec<String>,
    },

    /// The run has ended: there is nothing to cancel.
    #[error("run {run_id:?} has ended ({status}): there is nothing to cancel")]
    RunEnded {
        /// The run.
        run_id: String,
        /// How it ended.
        status: String,
    },

    /// A bug or broken invariant.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
