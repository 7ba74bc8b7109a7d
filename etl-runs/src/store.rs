//! [`StateStore`]: what orchestration needs of a store of runs, so that a
//! second backend (PostgreSQL, for many machines) sits beside the embedded
//! SQLite one ([`SqliteStore`](crate::state::SqliteStore)).
//!
//! The methods return boxed futures, so that a store is a `dyn StateStore`
//! chosen at run time (by URL) and a networked backend can await its
//! database. Each method is one transaction.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use etl_dag::{RunReport, StepEvent, StepStatus};

use crate::Result;
use crate::registry::{WorkflowInfo, WorkflowRecord};
use crate::state::{AttemptRecord, RunRecord, RunStart, StepRecord};

/// What a [`StateStore`] method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// A writer of a run's step events, as they happen: give
/// [`EventRecorder::record`] every [`StepEvent`] (it must not block the
/// step's thread), then [`EventRecorder::flush`] before reading the steps
/// back.
pub trait EventRecorder: Send + Sync {
    /// Queues `event` to be written.
    fn record(&self, event: &StepEvent<'_>);
    /// Waits until every event queued so far is written; the first error
    /// since the last flush.
    fn flush(&self) -> StoreFuture<'_, ()>;
}

/// A store of runs and their steps. Runs (and their steps) go PENDING →
/// RUNNING → SUCCEEDED / FAILED / RETRYING / SKIPPED / CANCELLED; the store
/// keeps attempts, times, rows, errors, parameters, the program's version
/// and where each step's output was saved. Several processes may share one.
pub trait StateStore: Send + Sync {
    /// Where the store is, for messages (a path, a URL without its password).
    fn location(&self) -> String;

    /// Where run `run_id`'s step outputs are saved. A run id that could name
    /// another place is refused.
    fn outputs_dir(&self, run_id: &str) -> Result<PathBuf>;

    /// Records a new run, owned by this process, RUNNING, each step PENDING.
    /// A run id already recorded is an error.
    fn begin_run<'a>(&'a self, run: &'a RunStart) -> StoreFuture<'a, ()>;

    /// Records run `run.run_id` if it is not yet, with no owner: its steps
    /// run one per process, and its status follows theirs
    /// ([`StateStore::settle_run`]). A run of another workflow is an error.
    fn join_run<'a>(&'a self, run: &'a RunStart) -> StoreFuture<'a, ()>;

    /// Takes run `run_id` up again in this process: RUNNING again, `steps`
    /// back to PENDING (their attempts kept and added to).
    fn resume_run<'a>(&'a self, run_id: &'a str, steps: &'a [String]) -> StoreFuture<'a, ()>;

    /// Records that `step` of run `run_id` did not run but took the output of
    /// the same step in run `from_run`, saved at `output`.
    fn mark_reused<'a>(
        &'a self,
        run_id: &'a str,
        step: &'a str,
        from_run: &'a str,
        output: &'a str,
    ) -> StoreFuture<'a, ()>;

    /// Records that `step` of run `run_id` failed without running, for `why`.
    fn fail_step<'a>(&'a self, run_id: &'a str, step: &'a str, why: &'a str)
    -> StoreFuture<'a, ()>;

    /// A writer of step events.
    fn recorder(&self) -> Result<Arc<dyn EventRecorder>>;

    /// Ends a run this process owns, from its report.
    fn finish_run<'a>(&'a self, report: &'a RunReport) -> StoreFuture<'a, ()>;

    /// Sets the status of a run whose steps run one per process from its
    /// steps', reading and writing in one transaction; the status.
    fn settle_run<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, StepStatus>;

    /// The latest runs of `workflow`, newest first.
    fn runs<'a>(&'a self, workflow: &'a str, limit: usize) -> StoreFuture<'a, Vec<RunRecord>>;

    /// Run `run_id`, if recorded.
    fn run<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, Option<RunRecord>>;

    /// The steps of run `run_id`, in the workflow's order.
    fn steps<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, Vec<StepRecord>>;

    /// Every attempt of every step of run `run_id` (each start: a retry, a
    /// resume, a task cleared in Airflow, a take-over), by step, then
    /// attempt. Apart from [`steps`](Self::steps), which a worker reads for
    /// every step it runs: only what shows a run reads these.
    fn attempts<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, Vec<AttemptRecord>>;

    /// The newest saved output of `step` of `workflow`: the run it is from
    /// and where.
    fn latest_output<'a>(
        &'a self,
        workflow: &'a str,
        step: &'a str,
    ) -> StoreFuture<'a, Option<(String, String)>>;

    /// The tick of the latest scheduled run of `workflow`.
    fn last_scheduled<'a>(&'a self, workflow: &'a str) -> StoreFuture<'a, Option<SystemTime>>;

    /// Marks FAILED every run and step still RUNNING whose process is gone,
    /// and CANCELLED the PENDING steps of such runs; the runs it marked.
    fn recover_abandoned(&self) -> StoreFuture<'_, Vec<String>>;

    /// Settles ([`StateStore::settle_run`]) every run of steps run one per
    /// process (no owner) left RUNNING though none of its steps is claimed
    /// or running, and none can run any more (all ended, or one failed):
    /// what a fault between a run's last step ending and the run being
    /// settled leaves behind (a worker killed there, a database restarting
    /// so that an end looked unrecorded). Every worker's claim loop, every
    /// server and every scheduler calls it, so whoever sees such a run
    /// first settles it; settling twice changes nothing. The runs it ended.
    fn settle_ended_runs(&self) -> StoreFuture<'_, Vec<String>>;

    /// Marks FAILED, for `why`, every run and step this process owns that is
    /// still unfinished; their ids.
    fn fail_unfinished<'a>(&'a self, why: &'a str) -> StoreFuture<'a, Vec<String>>;

    /// Queues a new run ([`Trigger::Queue`](crate::state::Trigger::Queue)):
    /// RUNNING with no owner, each step PENDING, for workers to claim. A run
    /// id already recorded is an error.
    fn enqueue_run<'a>(&'a self, run: &'a RunStart) -> StoreFuture<'a, ()>;

    /// Claims for this process up to `limit` runnable steps of queued runs
    /// of `workflow` (PENDING, every step they wait for SUCCEEDED), oldest
    /// run first: each becomes CLAIMED, held by this process for as long as
    /// it lives (its lease, for a store that has leases). Two processes
    /// never claim one step: the PostgreSQL store skips the rows another
    /// claim has locked (`FOR UPDATE SKIP LOCKED`), SQLite's write lock
    /// takes claims in turn. Steps a dead process held in queued runs go
    /// back to PENDING first ([`StateStore::recover_abandoned`]), to be run
    /// again as a new attempt.
    fn claim_steps<'a>(&'a self, workflow: &'a str, limit: usize) -> StoreFuture<'a, Vec<Claim>>;

    /// Puts step `step` of run `run_id` back in the queue (PENDING, its
    /// attempts kept) if this process holds it: what a worker does with a
    /// step whose end it could not record (the store went away), so that
    /// the step runs again rather than stay held.
    fn release_step<'a>(
        &'a self,
        run_id: &'a str,
        step: &'a str,
        why: &'a str,
    ) -> StoreFuture<'a, ()>;

    /// Makes this process the leader of `name` (the schedulers of a
    /// workflow) when no live process is; whether it is the leader now. A
    /// leader stays one while it lives (its lease, for PostgreSQL; its lock
    /// file, for SQLite): once a dead leader's lease has run out, the next
    /// call by another process takes over. Schedulers tick only while they
    /// lead, and a tick is run once whatever happens
    /// ([`Error::TickTaken`](crate::Error::TickTaken)).
    fn lead<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool>;

    /// Marks SKIPPED, for `why`, the steps of run `run_id` named that are
    /// still PENDING (those after a step that failed for good).
    fn skip_steps<'a>(
        &'a self,
        run_id: &'a str,
        steps: &'a [String],
        why: &'a str,
    ) -> StoreFuture<'a, ()>;

    /// The runs `query` picks (every workflow's, or one's; by status; by
    /// start time), newest first, one page of them: the next page is the
    /// same query [`after`](RunQuery::after) the last run of this one. A
    /// cursor that names no run is [`Error::UnknownRun`](crate::Error::UnknownRun).
    fn list_runs<'a>(&'a self, query: &'a RunQuery) -> StoreFuture<'a, Vec<RunRecord>>;

    /// Registers workflow `info.name` (its graph, parameters, schedule and
    /// program version), or replaces what was registered of it: the last
    /// registration wins. Whether it is enabled is kept; a new one is.
    fn register_workflow<'a>(&'a self, info: &'a WorkflowInfo) -> StoreFuture<'a, ()>;

    /// The registered workflows, by name.
    fn workflows(&self) -> StoreFuture<'_, Vec<WorkflowRecord>>;

    /// Workflow `name`, if registered.
    fn workflow<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<WorkflowRecord>>;

    /// Enables or disables workflow `name`: a disabled workflow keeps its
    /// history, and its schedule and triggers start no run until it is
    /// enabled again. A workflow not registered is
    /// [`Error::UnknownWorkflow`](crate::Error::UnknownWorkflow).
    fn set_enabled<'a>(&'a self, name: &'a str, enabled: bool) -> StoreFuture<'a, ()>;

    /// Deletes workflow `name`: its registration, every run and step of it,
    /// and its scheduler's leadership, in one transaction; the runs deleted.
    /// While a run of it is RUNNING this is refused
    /// ([`Error::WorkflowRunning`](crate::Error::WorkflowRunning)) unless
    /// `force`. A workflow neither registered nor run is
    /// [`Error::UnknownWorkflow`](crate::Error::UnknownWorkflow).
    fn delete_workflow<'a>(&'a self, name: &'a str, force: bool) -> StoreFuture<'a, usize>;

    /// Asks run `run_id` to stop, for `why`: its PENDING steps are
    /// CANCELLED at once, and the processes running its other steps stop
    /// them when they next look ([`StateStore::cancel_requested`]; the
    /// runs of [`Runs`](crate::Runs) and [`Worker`](crate::Worker)s look
    /// every second). A run with no owner whose steps are all done then is
    /// CANCELLED. A run that has ended is
    /// [`Error::RunEnded`](crate::Error::RunEnded).
    fn cancel_run<'a>(&'a self, run_id: &'a str, why: &'a str) -> StoreFuture<'a, ()>;

    /// Whether run `run_id` was asked to stop since it last started.
    fn cancel_requested<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, bool>;

    /// Queues run `run_id` again for workers: RUNNING with no owner, its
    /// `steps` PENDING (their attempts kept and added to), whatever ran it
    /// before. A run still RUNNING is
    /// [`Error::StillRunning`](crate::Error::StillRunning).
    fn requeue_run<'a>(&'a self, run_id: &'a str, steps: &'a [String]) -> StoreFuture<'a, ()>;

    /// What a server's `/metrics` tells: runs and steps by workflow and
    /// status, how long finished steps took, the queue's depth, and the
    /// claims workers lost. One read of each table.
    fn metrics(&self) -> StoreFuture<'_, StoreMetrics>;
}

/// The upper bounds, in seconds, of [`StoreMetrics::step_seconds`]'s
/// buckets (and one for everything).
pub const STEP_SECONDS_BUCKETS: [f64; 8] = [0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 3600.0];

/// Counts over the whole store ([`StateStore::metrics`]), each by workflow.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct StoreMetrics {
    /// Runs by workflow and status.
    pub runs: Vec<(String, String, u64)>,
    /// Steps of runs by workflow and status.
    pub steps: Vec<(String, String, u64)>,
    /// Finished steps by workflow: how many took at most each of
    /// [`STEP_SECONDS_BUCKETS`] (cumulative), how many in all, and their
    /// seconds in all.
    pub step_seconds: Vec<(String, [u64; 8], u64, f64)>,
    /// Steps waiting in the queue (PENDING, of a queued run that runs), by
    /// workflow.
    pub queued: Vec<(String, u64)>,
    /// Times a step of a queued run went back to the queue because its
    /// worker died, lost its lease or was stopped, by workflow.
    pub lost_claims: Vec<(String, u64)>,
}

/// Which runs [`StateStore::list_runs`] lists: every run, newest first, 50
/// at a time, unless narrowed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunQuery {
    /// Only this workflow's runs.
    pub workflow: Option<String>,
    /// Only runs with this status.
    pub status: Option<StepStatus>,
    /// Only runs started at or after this time.
    pub since: Option<SystemTime>,
    /// Only runs started before this time.
    pub until: Option<SystemTime>,
    /// Only runs that ended at or after this time.
    pub finished_since: Option<SystemTime>,
    /// The page after this run (the last of the previous page).
    pub after: Option<String>,
    /// The most runs in the page.
    pub limit: usize,
}

impl Default for RunQuery {
    fn default() -> Self {
        RunQuery {
            workflow: None,
            status: None,
            since: None,
            until: None,
            finished_since: None,
            after: None,
            limit: 50,
        }
    }
}

impl RunQuery {
    /// Only `workflow`'s runs.
    pub fn workflow(mut self, workflow: impl Into<String>) -> Self {
        self.workflow = Some(workflow.into());
        self
    }

    /// Only runs with `status`.
    pub fn status(mut self, status: StepStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Only runs started in `[since, until)`.
    pub fn started(mut self, since: Option<SystemTime>, until: Option<SystemTime>) -> Self {
        self.since = since;
        self.until = until;
        self
    }

    /// Only runs that ended at or after `since`.
    pub fn finished_since(mut self, since: SystemTime) -> Self {
        self.finished_since = Some(since);
        self
    }

    /// The page after run `run_id`.
    pub fn after(mut self, run_id: impl Into<String>) -> Self {
        self.after = Some(run_id.into());
        self
    }

    /// At most `limit` runs.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }
}

/// A step of a queued run that this process claimed
/// ([`StateStore::claim_steps`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Claim {
    /// The run.
    pub run_id: String,
    /// The step.
    pub step: String,
    /// The run's parameters.
    pub params: std::collections::BTreeMap<String, String>,
    /// The step's attempts so far (more than 0 when a worker that held it
    /// died).
    pub attempts: u32,
}

impl Claim {
    /// Step `step` of run `run_id`, with the run's `params`, after
    /// `attempts` attempts (what a store's claim gives).
    pub fn new(
        run_id: impl Into<String>,
        step: impl Into<String>,
        params: std::collections::BTreeMap<String, String>,
        attempts: u32,
    ) -> Claim {
        Claim {
            run_id: run_id.into(),
            step: step.into(),
            params,
            attempts,
        }
    }
}

/// How many times a step of a queued run may lose its worker (a kill, a
/// lost machine) before it is failed rather than queued again.
pub const MAX_LOST_ATTEMPTS: u32 = 5;

/// How a run this process owns ended, from its report: SUCCEEDED when every
/// step did, CANCELLED when the steps that did not were cancelled, FAILED
/// otherwise; and, when it did not succeed, the steps that did not.
pub(crate) fn outcome(report: &RunReport) -> (StepStatus, Option<String>) {
    let status = if report.succeeded() {
        StepStatus::Succeeded
    } else if report
        .steps
        .iter()
        .all(|s| matches!(s.status, StepStatus::Succeeded | StepStatus::Cancelled))
    {
        StepStatus::Cancelled
    } else {
        StepStatus::Failed
    };
    let error = (!report.succeeded()).then(|| {
        report
            .steps
            .iter()
            .filter(|s| s.status != StepStatus::Succeeded)
            .map(|s| format!("{} {}", s.name, s.status))
            .collect::<Vec<_>>()
            .join(", ")
    });
    (status, error)
}

/// What settling a run whose steps run one per process does: its status,
/// the steps that can no longer run, and its error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settlement {
    /// The run's status ([`settled`], once the skips below are made).
    pub(crate) status: StepStatus,
    /// PENDING steps that wait, directly or not, for a step that failed, was
    /// cancelled or skipped: SKIPPED, with why (naming the failed step).
    pub(crate) skipped: Vec<(String, String)>,
    /// The run's error when it failed: the steps that failed, named.
    pub(crate) error: Option<String>,
}

/// Settles a run from its steps, each `(name, status, needs)`, the way
/// every process does it (a worker, a step run by Airflow or Prefect, a
/// server or a scheduler sweeping runs left unsettled): a step whose inputs
/// cannot all succeed any more is SKIPPED naming the failed step (an
/// engine never runs it, and it would stay PENDING), then the status is
/// [`settled`], and a FAILED run says which steps failed.
pub(crate) fn settle(steps: &[(String, StepStatus, Vec<String>)]) -> Settlement {
    let mut status: std::collections::HashMap<&str, StepStatus> =
        steps.iter().map(|(n, s, _)| (n.as_str(), *s)).collect();
    // The step whose failure each skipped (or failed) step comes from.
    let mut cause: std::collections::HashMap<&str, &str> = steps
        .iter()
        .filter(|(_, s, _)| matches!(s, StepStatus::Failed | StepStatus::Cancelled))
        .map(|(n, _, _)| (n.as_str(), n.as_str()))
        .collect();
    let mut skipped = Vec::new();
    loop {
        let mut changed = false;
        for (name, _, needs) in steps {
            if status[name.as_str()] != StepStatus::Pending {
                continue;
            }
            let blocked = needs.iter().find_map(|need| {
                let need = need.as_str();
                match status.get(need)? {
                    StepStatus::Failed | StepStatus::Cancelled | StepStatus::Skipped => {
                        Some(cause.get(need).copied().unwrap_or(need))
                    }
                    _ => None,
                }
            });
            if let Some(root) = blocked {
                status.insert(name, StepStatus::Skipped);
                cause.insert(name, root);
                let how = match status.get(root) {
                    Some(StepStatus::Cancelled) => "was cancelled",
                    _ => "failed",
                };
                skipped.push((name.clone(), format!("not run: step {root:?} {how}")));
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let statuses: Vec<StepStatus> = steps.iter().map(|(n, _, _)| status[n.as_str()]).collect();
    let status = settled(&statuses);
    let failed: Vec<String> = steps
        .iter()
        .filter(|(_, s, _)| *s == StepStatus::Failed)
        .map(|(n, _, _)| format!("{n:?}"))
        .collect();
    let error = (status == StepStatus::Failed && !failed.is_empty()).then(|| {
        let steps = if failed.len() == 1 { "step" } else { "steps" };
        format!("{steps} {} failed", failed.join(", "))
    });
    Settlement {
        status,
        skipped,
        error,
    }
}

/// The query of the runs [`StateStore::settle_ended_runs`] settles, for the
/// tables under `schema` (`""` or `"etl."`): RUNNING with no owner, no step
/// claimed or running, and none PENDING unless one failed, was cancelled or
/// skipped (then the PENDING ones can no longer run).
pub(crate) fn ended_unsettled(schema: &str) -> String {
    format!(
        "SELECT r.run_id FROM {schema}workflow_runs r
         WHERE r.status = 'RUNNING' AND r.owner IS NULL
           AND NOT EXISTS (SELECT 1 FROM {schema}step_runs s WHERE s.run_id = r.run_id
               AND s.status IN ('CLAIMED', 'RUNNING', 'RETRYING'))
           AND (NOT EXISTS (SELECT 1 FROM {schema}step_runs s WHERE s.run_id = r.run_id
                    AND s.status = 'PENDING')
                OR EXISTS (SELECT 1 FROM {schema}step_runs s WHERE s.run_id = r.run_id
                    AND s.status IN ('FAILED', 'CANCELLED', 'SKIPPED')))"
    )
}

/// The status of a run whose steps run one per process, from its steps':
/// RUNNING while one runs or waits, FAILED once one failed, SUCCEEDED when
/// all succeeded, else CANCELLED.
pub(crate) fn settled(statuses: &[StepStatus]) -> StepStatus {
    let any = |status: StepStatus| statuses.contains(&status);
    if any(StepStatus::Running) || any(StepStatus::Retrying) || any(StepStatus::Claimed) {
        StepStatus::Running
    } else if any(StepStatus::Failed) {
        StepStatus::Failed
    } else if statuses.iter().all(|s| *s == StepStatus::Succeeded) {
        StepStatus::Succeeded
    } else if any(StepStatus::Pending) {
        StepStatus::Running
    } else {
        StepStatus::Cancelled
    }
}

/// Opens the store `location` names: a PostgreSQL URL (`postgres://…` or
/// `postgresql://…`, with etl's `state-postgres` feature), or else the path of a
/// SQLite file. A PostgreSQL store saves step outputs under `outputs`.
/// Errors name the store without its password.
pub async fn open(location: &str, outputs: &std::path::Path) -> Result<Box<dyn StateStore>> {
    open_with(location, outputs, None).await
}

/// [`open`], with the lease of a PostgreSQL store (how long what this
/// process holds stays its own without renewal; default 30 s).
pub async fn open_with(
    location: &str,
    outputs: &std::path::Path,
    lease: Option<std::time::Duration>,
) -> Result<Box<dyn StateStore>> {
    open_sized(location, outputs, lease, None).await
}

/// [`open_with`], with at most `connections` pooled connections to a
/// PostgreSQL store (default 8): what a server opens for each of many
/// worker sessions, so that they stay within the database's limit.
pub async fn open_sized(
    location: &str,
    outputs: &std::path::Path,
    lease: Option<std::time::Duration>,
    connections: Option<usize>,
) -> Result<Box<dyn StateStore>> {
    if postgres_url(location) {
        #[cfg(feature = "postgres")]
        {
            let mut options = crate::postgres::PgOptions::default();
            if let Some(lease) = lease {
                options = options.lease(lease);
            }
            if let Some(n) = connections {
                options = options.pool_size(n);
            }
            return Ok(Box::new(
                crate::postgres::PgStore::connect_with(location, outputs, options).await?,
            ));
        }
        #[cfg(not(feature = "postgres"))]
        {
            let _ = (outputs, lease, connections);
            return Err(crate::Error::State {
                store: "postgres://…".into(),
                message:
                    "this program was built without PostgreSQL support (etl's `state-postgres` feature)"
                        .into(),
            });
        }
    }
    Ok(Box::new(crate::state::SqliteStore::open(location)?))
}

/// Whether `location` is a PostgreSQL URL (`postgres://`, `postgresql://`)
/// rather than a file's path.
pub fn postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// A step event as the stores' recorders write it: owned, with the time it
/// happened; `None` for a PENDING event, which says nothing a store does not
/// already hold (a run writes its steps PENDING when it starts).
#[derive(Debug)]
pub(crate) struct Recorded {
    pub(crate) run_id: String,
    pub(crate) step: String,
    pub(crate) status: StepStatus,
    pub(crate) attempt: u32,
    pub(crate) error: Option<String>,
    pub(crate) rows: Option<u64>,
    /// Where the output was saved.
    pub(crate) output: Option<String>,
    pub(crate) at: SystemTime,
}

impl Recorded {
    pub(crate) fn of(event: &StepEvent<'_>) -> Option<Recorded> {
        (event.status != StepStatus::Pending).then(|| Recorded {
            run_id: event.run_id.to_owned(),
            step: event.step.to_owned(),
            status: event.status,
            attempt: event.attempt,
            error: event.error.map(str::to_owned),
            rows: event.rows,
            output: event.output.map(str::to_owned),
            at: SystemTime::now(),
        })
    }

    /// Its rows as a database integer.
    pub(crate) fn rows_i64(&self) -> Option<i64> {
        self.rows.map(|n| n.min(i64::MAX as u64) as i64)
    }
}

/// What recording `run` finds when run `recorded` (its workflow) already has
/// its id: an error for a run of another workflow, or for a new run
/// (`join` false); `Ok(true)` when the run is new and is to be inserted.
pub(crate) fn check_existing(
    run: &RunStart,
    recorded: Option<String>,
    join: bool,
    store: &str,
) -> Result<bool> {
    match recorded {
        Some(workflow) if workflow != run.workflow => Err(crate::Error::OtherWorkflow {
            run_id: run.run_id.clone(),
            recorded: workflow,
            asked: run.workflow.clone(),
        }),
        Some(_) if !join => Err(crate::Error::RunExists {
            run_id: run.run_id.clone(),
            store: store.to_owned(),
        }),
        Some(_) => Ok(false),
        None => Ok(true),
    }
}
