//! The runtime's errors: a workflow that cannot be built, a step asking for
//! the wrong input, a run whose steps did not all succeed, an output that
//! cannot be saved or read back.

use std::path::PathBuf;

use crate::RunReport;

/// A boxed error: what a step returns, and what output hooks return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with the runtime's [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in the runtime. Data-plane errors (a table, a
/// warehouse) are the steps' own and reach the runtime as [`BoxError`]s.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A workflow's graph is wrong: each problem (duplicate or unknown step,
    /// cycle, bad schedule) is listed.
    #[error("workflow {workflow:?} is invalid: {}", problems.join("; "))]
    InvalidWorkflow {
        /// The workflow.
        workflow: String,
        /// Every problem found.
        problems: Vec<String>,
    },

    /// A step was named that the workflow does not have.
    #[error("workflow {workflow:?} has no step {step:?}; its steps are: {}", known.join(", "))]
    UnknownStep {
        /// The workflow.
        workflow: String,
        /// The step asked for.
        step: String,
        /// The workflow's steps, in order.
        known: Vec<String>,
    },

    /// A run id given from outside was refused (see
    /// [`check_run_id`](crate::check_run_id)).
    #[error("{0}")]
    InvalidRunId(String),

    /// A step asked for an input it does not have, or as the wrong type.
    #[error("step {step:?}, input {input:?}: {message}")]
    StepInput {
        /// The step asking.
        step: String,
        /// The input asked for.
        input: String,
        /// What is wrong.
        message: String,
    },

    /// Steps of a workflow run failed, were skipped or were cancelled.
    #[error("workflow {workflow:?}: {} step(s) did not succeed: {}", failed.len(), failed.iter().map(|(s, e)| format!("{s:?} {e}")).collect::<Vec<_>>().join("; "))]
    StepsFailed {
        /// The workflow.
        workflow: String,
        /// Each step that did not succeed, with its status and error.
        failed: Vec<(String, String)>,
        /// The whole run's report, outputs of the steps that succeeded included.
        report: Box<RunReport>,
    },

    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A bug or broken invariant inside the runtime.
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

    /// The report of a run in which some steps did not succeed, if this is
    /// that error.
    pub fn report(&self) -> Option<&RunReport> {
        match self {
            Error::StepsFailed { report, .. } => Some(report),
            _ => None,
        }
    }
}
