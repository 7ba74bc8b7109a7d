//! What a run of a [`Dag`](super::Dag) did: [`RunReport`].

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use crate::{Error, Produced, Result};

/// Where a step is, or how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StepStatus {
    /// Waiting for the steps it depends on.
    Pending,
    /// Taken by a worker from the queue, not yet started: the worker holds
    /// it for as long as its lease lasts.
    Claimed,
    /// An attempt is running.
    Running,
    /// An attempt failed; waiting to try again.
    Retrying,
    /// Done; its output went to the steps after it.
    Succeeded,
    /// Every attempt failed.
    Failed,
    /// Not run, because a step it depends on failed.
    Skipped,
    /// Stopped or never started, because the run was cancelled.
    Cancelled,
}

impl StepStatus {
    /// The status in capitals, as the report and the state store write it.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "PENDING",
            StepStatus::Claimed => "CLAIMED",
            StepStatus::Running => "RUNNING",
            StepStatus::Retrying => "RETRYING",
            StepStatus::Succeeded => "SUCCEEDED",
            StepStatus::Failed => "FAILED",
            StepStatus::Skipped => "SKIPPED",
            StepStatus::Cancelled => "CANCELLED",
        }
    }
}

impl StepStatus {
    /// Every status, in the order a step goes through them.
    pub const ALL: [StepStatus; 8] = [
        StepStatus::Pending,
        StepStatus::Claimed,
        StepStatus::Running,
        StepStatus::Retrying,
        StepStatus::Succeeded,
        StepStatus::Failed,
        StepStatus::Skipped,
        StepStatus::Cancelled,
    ];

    /// The status [`StepStatus::as_str`] names.
    pub fn parse(text: &str) -> Option<StepStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one step of a run went.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StepReport {
    /// The step.
    pub name: String,
    /// How it ended.
    pub status: StepStatus,
    /// Attempts made (0 if it never started).
    pub attempts: u32,
    /// When its first attempt started.
    pub started: Option<SystemTime>,
    /// From its first attempt's start to its end, retries and backoff included.
    pub duration: Option<Duration>,
    /// Rows of its output, when its type counts them
    /// ([`OutputHooks`](crate::OutputHooks): a table, what a load wrote, a
    /// [`RowCount`](crate::RowCount)).
    pub rows: Option<u64>,
    /// The Rust type of its output.
    pub output_type: Option<&'static str>,
    /// Where its output was saved, a path or a URL
    /// ([`Runner::save_outputs`](super::Runner::save_outputs)).
    pub output: Option<String>,
    /// Why it failed, was skipped or was cancelled.
    pub error: Option<String>,
}

impl StepReport {
    pub(super) fn pending(name: &str) -> Self {
        StepReport {
            name: name.to_string(),
            status: StepStatus::Pending,
            attempts: 0,
            started: None,
            duration: None,
            rows: None,
            output_type: None,
            output: None,
            error: None,
        }
    }
}

/// How a run went: every step's status, attempts, times, rows and error,
/// and the steps' outputs. Displays as a table.
pub struct RunReport {
    /// The workflow.
    pub workflow: String,
    /// This run's id.
    pub run_id: String,
    /// When the run started.
    pub started: SystemTime,
    /// How long it took.
    pub duration: Duration,
    /// One entry per step, in declaration order.
    pub steps: Vec<StepReport>,
    pub(super) outputs: HashMap<String, Produced>,
}

impl fmt::Debug for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunReport")
            .field("workflow", &self.workflow)
            .field("run_id", &self.run_id)
            .field("duration", &self.duration)
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

impl RunReport {
    /// Whether every step succeeded.
    pub fn succeeded(&self) -> bool {
        self.steps.iter().all(|s| s.status == StepStatus::Succeeded)
    }

    /// The report of step `name`.
    pub fn step(&self, name: &str) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// The output of step `name`, if it succeeded and produced a `T`.
    pub fn output<T: Any>(&self, name: &str) -> Option<&T> {
        self.outputs.get(name)?.value.downcast_ref()
    }

    /// `Ok(self)` when every step succeeded, else [`Error::StepsFailed`]
    /// naming each step that did not, with this report inside.
    pub fn into_result(self) -> Result<RunReport> {
        if self.succeeded() {
            return Ok(self);
        }
        let failed = self
            .steps
            .iter()
            .filter(|s| s.status != StepStatus::Succeeded)
            .map(|s| {
                (
                    s.name.clone(),
                    format!(
                        "{}{}",
                        s.status,
                        s.error
                            .as_deref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    ),
                )
            })
            .collect();
        Err(Error::StepsFailed {
            workflow: self.workflow.clone(),
            failed,
            report: Box::new(self),
        })
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counted = |status| self.steps.iter().filter(|s| s.status == status).count();
        writeln!(
            f,
            "workflow {:?}, run {}: {} of {} steps succeeded in {:.3} s",
            self.workflow,
            self.run_id,
            counted(StepStatus::Succeeded),
            self.steps.len(),
            self.duration.as_secs_f64()
        )?;
        let rows: Vec<Vec<String>> = self
            .steps
            .iter()
            .map(|s| {
                let started = s
                    .started
                    .and_then(|t| t.duration_since(self.started).ok())
                    .map(|d| format!("+{:.3}", d.as_secs_f64()))
                    .unwrap_or_default();
                vec![
                    s.name.clone(),
                    s.status.to_string(),
                    s.attempts.to_string(),
                    started,
                    s.duration
                        .map(|d| format!("{:.3}", d.as_secs_f64()))
                        .unwrap_or_default(),
                    s.rows.map(|r| r.to_string()).unwrap_or_default(),
                    s.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        etl_rules::text::write_table(
            f,
            &[
                "step", "status", "attempts", "started", "seconds", "rows", "error",
            ],
            &[false, false, true, true, true, true, false],
            &rows,
        )
    }
}
