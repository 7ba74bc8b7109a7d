//! What the API answers, as JSON: the store's records with times as RFC 3339
//! text (UTC, to the microsecond) and durations in milliseconds.

use std::collections::BTreeMap;
use std::time::SystemTime;

use etl_runs::registry::{GraphStep, ParamSpec, WorkflowRecord};
use etl_runs::state::{AttemptRecord, RunRecord, StepRecord, time};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn text(t: SystemTime) -> String {
    time::to_text(t)
}

/// A registered workflow.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Workflow {
    /// Its name.
    pub name: String,
    /// Whether schedules and triggers start its runs.
    pub enabled: bool,
    /// The version of the program that registered it last.
    pub version: String,
    /// Its cron expression, if scheduled.
    pub schedule: Option<String>,
    /// The time zone of the schedule (`null`: UTC).
    pub zone: Option<String>,
    /// Its steps, in declaration order, with what each waits for.
    pub steps: Vec<Step>,
    /// The parameters a trigger may pass (`default` `null`: required).
    pub params: Vec<Param>,
    /// When it was first registered.
    pub registered_at: String,
    /// When it was registered or switched last.
    pub updated_at: String,
    /// Its latest run.
    pub last_run: Option<Run>,
    /// The next tick of its schedule.
    pub next_run: Option<String>,
}

/// A step of a workflow's graph.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Step {
    /// Its name.
    pub name: String,
    /// The steps whose outputs it takes.
    pub inputs: Vec<String>,
    /// The steps it runs after without taking their output.
    pub after: Vec<String>,
}

/// A parameter a workflow declares.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Its type, by name: `string`, `int` (64 bits), `bool` (`true`,
    /// `false`) or `date` (`YYYY-MM-DD`); a value of another is refused
    /// (400) when the run is asked for.
    #[serde(rename = "type")]
    #[schema(example = "int")]
    pub kind: String,
    /// Its value when a trigger gives none; `null`: required.
    pub default: Option<String>,
}

impl From<&GraphStep> for Step {
    fn from(s: &GraphStep) -> Step {
        Step {
            name: s.name.clone(),
            inputs: s.inputs.clone(),
            after: s.after.clone(),
        }
    }
}

impl From<&ParamSpec> for Param {
    fn from(p: &ParamSpec) -> Param {
        Param {
            name: p.name.clone(),
            kind: p.kind.name().to_owned(),
            default: p.default.clone(),
        }
    }
}

impl From<&WorkflowRecord> for Workflow {
    fn from(w: &WorkflowRecord) -> Workflow {
        Workflow {
            name: w.info.name.clone(),
            enabled: w.enabled,
            version: w.info.version.clone(),
            schedule: w.info.schedule.clone(),
            zone: w.info.zone.clone(),
            steps: w.info.steps.iter().map(Step::from).collect(),
            params: w.info.params.iter().map(Param::from).collect(),
            registered_at: text(w.registered_at),
            updated_at: text(w.updated_at),
            last_run: None,
            next_run: w.info.schedule.as_deref().and_then(|cron| {
                let cron = etl_dag::Cron::parse(cron).ok()?;
                let zone = w.info.zone.as_deref().unwrap_or("UTC").parse().ok()?;
                etl_runs::schedule::next_tick(&cron, zone, SystemTime::now()).map(text)
            }),
        }
    }
}

/// A run.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Run {
    /// Its id.
    pub run_id: String,
    /// Its workflow.
    pub workflow: String,
    /// RUNNING, SUCCEEDED, FAILED or CANCELLED.
    pub status: String,
    /// How its steps run: `run` (one process), `queue` (claimed by
    /// workers), `step` (one process each, as Airflow's tasks), `schedule`.
    pub trigger: String,
    /// Who or what started it: `api`, `page`, `cli`, `schedule`, …
    pub started_by: Option<String>,
    /// Its parameters.
    pub params: BTreeMap<String, String>,
    /// The version of the program that started it.
    pub version: String,
    /// For a scheduled run, the tick it is for.
    pub scheduled_for: Option<String>,
    /// When it started.
    pub started_at: String,
    /// When it ended (`null` while it runs).
    pub finished_at: Option<String>,
    /// From start to end, in milliseconds.
    pub duration_ms: Option<u64>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Whether it was asked to stop.
    pub cancel_requested: bool,
    /// Its steps.
    pub steps: usize,
    /// Its steps that succeeded.
    pub succeeded: usize,
}

impl From<&RunRecord> for Run {
    fn from(r: &RunRecord) -> Run {
        Run {
            run_id: r.run_id.clone(),
            workflow: r.workflow.clone(),
            status: r.status.as_str().to_owned(),
            trigger: r.trigger.clone(),
            started_by: r.started_by.clone(),
            params: r.params.clone(),
            version: r.version.clone(),
            scheduled_for: r.scheduled_for.map(text),
            started_at: text(r.started_at),
            finished_at: r.finished_at.map(text),
            duration_ms: r.duration().map(|d| d.as_millis() as u64),
            error: r.error.clone(),
            cancel_requested: r.cancel_requested,
            steps: r.steps,
            succeeded: r.succeeded,
        }
    }
}

/// A step of a run.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StepRun {
    /// The step.
    pub step: String,
    /// PENDING, CLAIMED, RUNNING, RETRYING, SUCCEEDED, FAILED, SKIPPED or
    /// CANCELLED.
    pub status: String,
    /// Attempts made, over every resume.
    pub attempts: u32,
    /// When its latest run began (retries included): since it was last
    /// resumed, cleared or taken over. Each attempt is in `history`.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// From start to end, in milliseconds.
    pub duration_ms: Option<u64>,
    /// Rows of its output, when a table.
    pub rows: Option<u64>,
    /// Where its output was saved (a path, or a bucket's URL).
    pub output: Option<String>,
    /// The run whose output it reused instead of running.
    pub reused_from: Option<String>,
    /// Why it failed, was skipped or cancelled.
    pub error: Option<String>,
    /// Each attempt, the first first.
    pub history: Vec<Attempt>,
}

/// One attempt of a step.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    /// Its number, from 1, over the whole run.
    pub attempt: u32,
    /// When it started.
    pub started_at: String,
    /// When it ended; `null` while it runs, and when its end was never
    /// recorded (its process was lost).
    pub finished_at: Option<String>,
    /// From start to end, in milliseconds.
    pub duration_ms: Option<u64>,
    /// SUCCEEDED, FAILED or CANCELLED; `null` as `finished_at`.
    pub status: Option<String>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
}

impl From<&AttemptRecord> for Attempt {
    fn from(a: &AttemptRecord) -> Attempt {
        Attempt {
            attempt: a.attempt,
            started_at: text(a.started_at),
            finished_at: a.finished_at.map(text),
            duration_ms: a.duration().map(|d| d.as_millis() as u64),
            status: a.status.map(|s| s.as_str().to_owned()),
            error: a.error.clone(),
        }
    }
}

impl StepRun {
    /// Step `s`, with its `attempts`.
    pub fn of(s: &StepRecord, attempts: &[&AttemptRecord]) -> StepRun {
        StepRun {
            step: s.step.clone(),
            status: s.status.as_str().to_owned(),
            attempts: s.attempts,
            started_at: s.started_at.map(text),
            finished_at: s.finished_at.map(text),
            duration_ms: s.duration().map(|d| d.as_millis() as u64),
            rows: s.rows,
            output: s.output.clone(),
            reused_from: s.reused_from.clone(),
            error: s.error.clone(),
            history: attempts.iter().map(|a| Attempt::from(*a)).collect(),
        }
    }
}

/// A run with its steps.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunDetail {
    /// The run.
    pub run: Run,
    /// Its steps, in the workflow's order.
    pub steps: Vec<StepRun>,
}

/// A page of runs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunPage {
    /// The runs, newest first.
    pub runs: Vec<Run>,
    /// The `after` of the next page; `null` on the last.
    pub next: Option<String>,
}

/// What a trigger passes.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    /// The run's parameters, checked against those the workflow declares.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// What deleting a workflow removed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Deleted {
    /// The workflow.
    pub workflow: String,
    /// Its runs deleted with it.
    pub runs: usize,
}

/// An error: every 4xx and 5xx answer has this body.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// The HTTP status.
    pub status: u16,
    /// What was wrong, naming the workflow, run, parameter or field.
    pub message: String,
    /// Each problem, when there are several (bad parameters).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}
