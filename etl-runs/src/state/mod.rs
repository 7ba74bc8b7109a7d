//! The embedded state store, [`SqliteStore`]: every run of a workflow and
//! every step of it, in one SQLite file; the default [`StateStore`]. Runs (`workflow_runs`) and their steps (`step_runs`) go
//! PENDING → RUNNING → SUCCEEDED / FAILED / RETRYING / SKIPPED / CANCELLED,
//! with attempts, start and end times, rows, errors, the run's parameters,
//! the binary's version, and the file each step's output was saved to.
//!
//! ```
//! use etl_dag::{Dag, Step, StepContext, StepInputs};
//! use etl_runs::state::{RunStart, SqliteStore, Trigger};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> etl_runs::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let store = SqliteStore::open(dir.path().join("state.sqlite"))?;
//! let dag = Dag::builder("nightly")
//!     .step(Step::new("only", |_: StepContext, _: StepInputs| async { Ok::<_, etl_dag::Error>(1_u64) }))
//!     .build()?;
//! store.begin_run(&RunStart::new("run-1", &dag, Trigger::Run))?;
//! let recorder = store.recorder()?;
//! let report = dag.runner().run_id("run-1").on_event(recorder.listener()).run().await;
//! recorder.flush().await?;
//! store.finish_run(&report)?;
//!
//! let run = store.run("run-1")?.expect("recorded");
//! assert_eq!(run.status.as_str(), "SUCCEEDED");
//! assert_eq!(store.steps("run-1")?[0].attempts, 1);
//! # Ok(()) }
//! ```
//!
//! Several processes may share one store: it runs in WAL mode with a busy
//! timeout, and each change is one transaction. A process holds a lock file
//! (in `<store>.owners/`) while it lives; a run or step still RUNNING whose
//! process has died is marked FAILED ("abandoned") the next time any
//! process opens the store. Step events are written by a thread of their own,
//! in batches, so that recording costs a run little
//! ([`SqliteStore::recorder`]).

mod owner;
mod recorder;
mod schema;
pub mod time;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OptionalExtension, params};

pub use recorder::Recorder;

use crate::registry::{WorkflowInfo, WorkflowRecord};
use crate::store::{EventRecorder, RunQuery, StateStore, StoreFuture, StoreMetrics};
use crate::{Error, Result};
use etl_dag::{Dag, RunReport, StepStatus};
use owner::Owner;
use std::sync::Arc;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trigger {
    /// `run`, by hand or by an outside scheduler such as cron.
    Run,
    /// The built-in scheduler, at a tick of the workflow's cron expression.
    Schedule,
    /// One step at a time, each in its own process (`run --step`, as
    /// Airflow's tasks do).
    Step,
    /// Queued (`run --queue`), its steps claimed one by one by workers.
    Queue,
}

impl Trigger {
    /// The name stored: `run`, `schedule`, `step`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Run => "run",
            Trigger::Schedule => "schedule",
            Trigger::Step => "step",
            Trigger::Queue => "queue",
        }
    }
}

/// A run about to start.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunStart {
    /// The run's id.
    pub run_id: String,
    /// The workflow.
    pub workflow: String,
    /// Its steps, each recorded PENDING.
    pub steps: Vec<String>,
    /// What each step waits for (its inputs, then the steps it runs
    /// after), as [`RunStart::steps`] is ordered: how a worker tells a
    /// queued run's runnable steps.
    pub needs: Vec<Vec<String>>,
    /// What started it.
    pub trigger: Trigger,
    /// The run's parameters (`--param k=v`).
    pub params: BTreeMap<String, String>,
    /// The version of the program running it.
    pub version: String,
    /// For a scheduled run: the tick it is for.
    pub scheduled_for: Option<SystemTime>,
    /// Who or what started it, beyond its [`Trigger`]: `api`, `page`,
    /// `cli`, `webhook`, `file:<path>`, `upstream:<run id>`.
    pub started_by: Option<String>,
}

impl RunStart {
    /// A run of every step of `dag`.
    pub fn new(run_id: impl Into<String>, dag: &Dag, trigger: Trigger) -> RunStart {
        RunStart {
            run_id: run_id.into(),
            workflow: dag.name().to_owned(),
            steps: dag.steps().map(|s| s.name.to_owned()).collect(),
            needs: dag
                .steps()
                .map(|s| s.depends_on().map(str::to_owned).collect())
                .collect(),
            trigger,
            params: BTreeMap::new(),
            version: String::new(),
            scheduled_for: None,
            started_by: None,
        }
    }

    /// Started by this (see [`RunStart::started_by`]).
    pub fn started_by(mut self, by: impl Into<String>) -> Self {
        self.started_by = Some(by.into());
        self
    }

    /// With these parameters.
    pub fn params(mut self, params: BTreeMap<String, String>) -> Self {
        self.params = params;
        self
    }

    /// Run by this version of the program.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Scheduled for this tick.
    pub fn scheduled_for(mut self, tick: SystemTime) -> Self {
        self.scheduled_for = Some(tick);
        self
    }
}

/// A recorded run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunRecord {
    /// The run's id.
    pub run_id: String,
    /// The workflow.
    pub workflow: String,
    /// RUNNING, SUCCEEDED, FAILED or CANCELLED.
    pub status: StepStatus,
    /// `run`, `schedule`, `step` or `queue`.
    pub trigger: String,
    /// Who or what started it, when recorded ([`RunStart::started_by`]).
    pub started_by: Option<String>,
    /// Whether it was asked to stop ([`StateStore::cancel_run`]).
    pub cancel_requested: bool,
    /// Its parameters.
    pub params: BTreeMap<String, String>,
    /// The version of the program that started it.
    pub version: String,
    /// For a scheduled run, the tick.
    pub scheduled_for: Option<SystemTime>,
    /// When it started.
    pub started_at: SystemTime,
    /// When it ended.
    pub finished_at: Option<SystemTime>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Its steps.
    pub steps: usize,
    /// Its steps that succeeded.
    pub succeeded: usize,
}

impl RunRecord {
    /// From start to end (`None` while it runs).
    pub fn duration(&self) -> Option<Duration> {
        self.finished_at?.duration_since(self.started_at).ok()
    }
}

/// A recorded step of a run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StepRecord {
    /// The step.
    pub step: String,
    /// Its status.
    pub status: StepStatus,
    /// Attempts made, over every time the run was resumed.
    pub attempts: u32,
    /// When its latest run began: the first of the attempts it made in a
    /// row (retries included), since it was last run anew (resumed, cleared
    /// in Airflow, taken over from a lost worker). Each attempt's own times
    /// are in [`history`](Self::history).
    pub started_at: Option<SystemTime>,
    /// When it ended.
    pub finished_at: Option<SystemTime>,
    /// Rows of its output, when a table.
    pub rows: Option<u64>,
    /// Where its output was saved: a path, or a URL in object storage.
    pub output: Option<String>,
    /// The run whose output it reused instead of running.
    pub reused_from: Option<String>,
    /// Why it failed, was skipped or cancelled.
    pub error: Option<String>,
}

/// One attempt of a step: every start of the step (a retry, a re-run in the
/// same run, a take-over from a lost worker) is an attempt of its own.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AttemptRecord {
    /// The step.
    pub step: String,
    /// Its number, from 1, over the whole run.
    pub attempt: u32,
    /// When it started.
    pub started_at: SystemTime,
    /// When it ended; `None` while it runs, and for an attempt whose end was
    /// never recorded (its process was lost).
    pub finished_at: Option<SystemTime>,
    /// How it ended: SUCCEEDED, FAILED (a failed attempt that was retried
    /// is FAILED too) or CANCELLED; `None` as `finished_at`.
    pub status: Option<StepStatus>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
}

impl AttemptRecord {
    /// Attempt `attempt` of `step`, started at `started_at`, not ended.
    pub fn new(step: impl Into<String>, attempt: u32, started_at: SystemTime) -> AttemptRecord {
        AttemptRecord {
            step: step.into(),
            attempt,
            started_at,
            finished_at: None,
            status: None,
            error: None,
        }
    }

    /// From start to end.
    pub fn duration(&self) -> Option<Duration> {
        self.finished_at?.duration_since(self.started_at).ok()
    }

    /// `attempts` ([`StateStore::attempts`](crate::StateStore::attempts))
    /// by step, each step's in their order.
    pub fn by_step(attempts: &[AttemptRecord]) -> BTreeMap<&str, Vec<&AttemptRecord>> {
        let mut by_step: BTreeMap<&str, Vec<&AttemptRecord>> = BTreeMap::new();
        for attempt in attempts {
            by_step.entry(&attempt.step).or_default().push(attempt);
        }
        by_step
    }
}

impl StepRecord {
    /// Step `step` with `status`, no attempt, time, rows, output or error
    /// yet (for a store that reads its records from elsewhere).
    pub fn new(step: impl Into<String>, status: StepStatus) -> StepRecord {
        StepRecord {
            step: step.into(),
            status,
            attempts: 0,
            started_at: None,
            finished_at: None,
            rows: None,
            output: None,
            reused_from: None,
            error: None,
        }
    }

    /// From start to end.
    pub fn duration(&self) -> Option<Duration> {
        self.finished_at?.duration_since(self.started_at?).ok()
    }
}

/// The state store: see the [module docs](self).
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    owner: Owner,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The connection settings every connection to a store uses.
fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| state_error(path, e))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| state_error(path, e))?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
        .map_err(|e| state_error(path, e))?;
    for (name, value) in [("synchronous", "NORMAL"), ("foreign_keys", "ON")] {
        conn.pragma_update(None, name, value)
            .map_err(|e| state_error(path, e))?;
    }
    Ok(conn)
}

fn state_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::State {
        store: path.display().to_string(),
        message: e.to_string(),
    }
}

impl SqliteStore {
    /// Opens (or creates) the store at `path`, brings its schema up to date,
    /// and marks the runs of dead processes abandoned.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        // Absolute, so that the output paths recorded hold from any directory.
        let path = std::path::absolute(path.as_ref()).map_err(|e| state_error(path.as_ref(), e))?;
        let mut conn = connect(&path)?;
        schema::migrate(&mut conn).map_err(|e| state_error(&path, e))?;
        let owner = Owner::claim(&owners_dir(&path)).map_err(|e| {
            state_error(
                &path,
                format!(
                    "claiming a lock file in {}: {e}",
                    owners_dir(&path).display()
                ),
            )
        })?;
        let store = SqliteStore {
            path,
            conn: Mutex::new(conn),
            owner,
        };
        store.recover_abandoned()?;
        Ok(store)
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where run `run_id`'s step outputs are saved: `runs/<run_id>/` beside
    /// the store's file. A run id that could name another folder (`..`, a
    /// `/`, an absolute path) is refused; see [`etl_dag::check_run_id`].
    pub fn outputs_dir(&self, run_id: &str) -> Result<PathBuf> {
        etl_dag::check_run_id(run_id)?;
        Ok(self
            .path
            .parent()
            .unwrap_or(Path::new("/"))
            .join("runs")
            .join(run_id))
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        state_error(&self.path, e)
    }

    /// Runs `f` in one write transaction, taken at once (`BEGIN IMMEDIATE`:
    /// a concurrent writer waits for it rather than failing half-way), and
    /// commits it when `f` succeeds.
    fn write<T>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let value = f(&tx)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(value)
    }

    /// Records a new run, owned by this process, RUNNING, with each step
    /// PENDING. A run id already recorded is an error.
    pub fn begin_run(&self, run: &RunStart) -> Result<()> {
        self.insert_run(run, Some(self.owner.id()), false)
    }

    /// Records run `run.run_id` if it is not yet recorded, with no owner: its
    /// steps run one per process ([`Trigger::Step`], Airflow's tasks), and its
    /// status follows theirs ([`SqliteStore::settle_run`]). A run id of another
    /// workflow is an error.
    pub fn join_run(&self, run: &RunStart) -> Result<()> {
        self.insert_run(run, None, true)
    }

    fn insert_run(&self, run: &RunStart, owner: Option<&str>, join: bool) -> Result<()> {
        self.write(|tx| {
        let existing: Option<String> = tx
            .query_row(
                "SELECT workflow FROM workflow_runs WHERE run_id = ?1",
                [&run.run_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        if crate::store::check_existing(run, existing, join, &self.path.display().to_string())? {
                // A tick runs once: another scheduler may have taken it.
                if let Some(tick) = run.scheduled_for {
                    let taken: Option<String> = tx
                        .query_row(
                            "SELECT run_id FROM workflow_runs WHERE workflow = ?1 AND scheduled_for = ?2",
                            params![run.workflow, time::to_text(tick)],
                            |row| row.get(0),
                        )
                        .optional()
                        .map_err(|e| self.err(e))?;
                    if let Some(run_id) = taken {
                        return Err(Error::TickTaken {
                            workflow: run.workflow.clone(),
                            tick: time::to_text(tick),
                            run_id,
                        });
                    }
                }
                let params = serde_json::to_string(&run.params).map_err(|e| self.err(e))?;
                tx.execute(
                    "INSERT INTO workflow_runs
                        (run_id, workflow, status, trigger, params, version, owner, scheduled_for, started_at, started_by)
                     VALUES (?1, ?2, 'RUNNING', ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        run.run_id,
                        run.workflow,
                        run.trigger.as_str(),
                        params,
                        run.version,
                        owner,
                        run.scheduled_for.map(time::to_text),
                        time::to_text(SystemTime::now()),
                        run.started_by,
                    ],
                )
                .map_err(|e| self.err(e))?;
        }
        {
            let mut insert = tx
                .prepare(
                    "INSERT OR IGNORE INTO step_runs (run_id, step, status, needs) VALUES (?1, ?2, 'PENDING', ?3)",
                )
                .map_err(|e| self.err(e))?;
            for (i, step) in run.steps.iter().enumerate() {
                let needs = serde_json::to_string(run.needs.get(i).map_or(&[][..], |n| &n[..]))
                    .map_err(|e| self.err(e))?;
                insert
                    .execute(params![run.run_id, step, needs])
                    .map_err(|e| self.err(e))?;
            }
        }
            Ok(())
        })
    }

    /// Takes run `run_id` up again in this process: it is RUNNING again,
    /// and `steps` go back to PENDING (their attempts are kept and added to).
    pub fn resume_run(&self, run_id: &str, steps: &[String]) -> Result<()> {
        self.write(|tx| {
        let changed = tx
            .execute(
                "UPDATE workflow_runs SET status = 'RUNNING', owner = ?2, finished_at = NULL, error = NULL, cancel_requested_at = NULL
                 WHERE run_id = ?1",
                params![run_id, self.owner.id()],
            )
            .map_err(|e| self.err(e))?;
        if changed == 0 {
            return Err(self.unknown_run(run_id));
        }
            self.reset_steps(tx, run_id, steps)
        })
    }

    /// Puts `steps` of run `run_id` back to PENDING, held by no one, their
    /// attempts kept (a resume, a queued run queued again).
    fn reset_steps(
        &self,
        tx: &rusqlite::Transaction<'_>,
        run_id: &str,
        steps: &[String],
    ) -> Result<()> {
        let mut reset = tx
            .prepare(
                "UPDATE step_runs SET status = 'PENDING', finished_at = NULL, error = NULL, owner = NULL
                 WHERE run_id = ?1 AND step = ?2",
            )
            .map_err(|e| self.err(e))?;
        for step in steps {
            reset
                .execute(params![run_id, step])
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn unknown_run(&self, run_id: &str) -> Error {
        Error::UnknownRun {
            run_id: run_id.to_owned(),
            store: self.path.display().to_string(),
        }
    }

    /// Records that `step` of run `run_id` was not run but took the output of
    /// the same step in run `from_run`, saved at `output`.
    pub fn mark_reused(
        &self,
        run_id: &str,
        step: &str,
        from_run: &str,
        output: &str,
    ) -> Result<()> {
        let now = time::to_text(SystemTime::now());
        self.conn()
            .execute(
                "UPDATE step_runs SET status = 'SUCCEEDED', started_at = ?3, finished_at = ?3,
                    output = ?4, reused_from = ?5, error = NULL
                 WHERE run_id = ?1 AND step = ?2",
                params![run_id, step, now, output, from_run],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records that `step` of run `run_id` failed without running, for `why`.
    pub fn fail_step(&self, run_id: &str, step: &str, why: &str) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE step_runs SET status = 'FAILED', finished_at = ?3, error = ?4
                 WHERE run_id = ?1 AND step = ?2",
                params![run_id, step, time::to_text(SystemTime::now()), why],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A writer of step events, on a thread of its own: give its
    /// [`Recorder::listener`] to [`Runner::on_event`](etl_dag::Runner::on_event),
    /// and [`Recorder::flush`] before reading the steps back.
    pub fn recorder(&self) -> Result<Recorder> {
        Recorder::start(&self.path, self.owner.id())
    }

    /// Ends a run this process owns: its status from the report's (SUCCEEDED
    /// when every step did; CANCELLED when cancelled; FAILED otherwise), and
    /// any step of it the report does not cover that is still PENDING is
    /// CANCELLED.
    pub fn finish_run(&self, report: &RunReport) -> Result<()> {
        let (status, error) = crate::store::outcome(report);
        self.end_run(&report.run_id, status, error.as_deref())
    }

    /// Ends run `run_id` with `status` and `error`.
    pub fn end_run(&self, run_id: &str, status: StepStatus, error: Option<&str>) -> Result<()> {
        self.write(|tx| {
            let changed = tx
            .execute(
                "UPDATE workflow_runs SET status = ?2, finished_at = ?3, error = ?4, owner = NULL
                 WHERE run_id = ?1",
                params![
                    run_id,
                    status.as_str(),
                    time::to_text(SystemTime::now()),
                    error
                ],
            )
            .map_err(|e| self.err(e))?;
            if changed == 0 {
                return Err(self.unknown_run(run_id));
            }
            tx.execute(
                "UPDATE step_runs SET status = 'CANCELLED', error = 'not run: the run ended first'
             WHERE run_id = ?1 AND status = 'PENDING'",
                [run_id],
            )
            .map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    /// Sets the status of a run whose steps run one per process from its
    /// steps': FAILED once one failed (and none runs), SUCCEEDED when all
    /// succeeded, CANCELLED when one was cancelled, else RUNNING.
    ///
    /// The steps are read and the run written in one transaction: two
    /// processes finishing their steps at once each see the other's step as
    /// it is when they settle, so the later one leaves the final status
    /// (read first and written after, the earlier one could write RUNNING
    /// over the later one's SUCCEEDED and leave the run RUNNING for ever).
    ///
    /// Steps that can no longer run are SKIPPED, naming the failed step, and
    /// a FAILED run's error names the steps that failed
    /// ([`crate::store::settle`]). A run that ends here ends when its last
    /// step did, however much later it is settled (settling it again
    /// changes nothing).
    pub fn settle_run(&self, run_id: &str) -> Result<StepStatus> {
        let now = time::to_text(SystemTime::now());
        self.write(|tx| {
            let mut statement = tx
                .prepare("SELECT step, status, needs FROM step_runs WHERE run_id = ?1")
                .map_err(|e| self.err(e))?;
            let rows = statement
                .query_map([run_id], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(|e| self.err(e))?;
            let steps = rows
                .into_iter()
                .map(|(step, status, needs)| {
                    let needs: Vec<String> =
                        serde_json::from_str(&needs).map_err(|e| self.err(e))?;
                    Ok((step, self.status(&status)?, needs))
                })
                .collect::<Result<Vec<_>>>()?;
            let settled = crate::store::settle(&steps);
            for (step, why) in &settled.skipped {
                tx.execute(
                    "UPDATE step_runs SET status = 'SKIPPED', finished_at = ?3, error = ?4
                     WHERE run_id = ?1 AND step = ?2 AND status = 'PENDING'",
                    params![run_id, step, now, why],
                )
                .map_err(|e| self.err(e))?;
            }
            let ended = settled.status != StepStatus::Running;
            tx.execute(
                "UPDATE workflow_runs SET status = ?2,
                    finished_at = CASE WHEN ?3 THEN coalesce(
                        (SELECT max(finished_at) FROM step_runs WHERE run_id = ?1), finished_at, ?4) END,
                    error = CASE WHEN ?2 = 'SUCCEEDED' THEN NULL ELSE coalesce(?5, error) END
                 WHERE run_id = ?1",
                params![run_id, settled.status.as_str(), ended, now, settled.error],
            )
            .map_err(|e| self.err(e))?;
            Ok(settled.status)
        })
    }

    /// The latest runs of `workflow`, newest first.
    pub fn runs(&self, workflow: &str, limit: usize) -> Result<Vec<RunRecord>> {
        self.query_runs(
            "WHERE r.workflow = ?1 ORDER BY r.started_at DESC, r.rowid DESC LIMIT ?2",
            params![workflow, limit as i64],
        )
    }

    /// Run `run_id`, if recorded.
    pub fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        Ok(self
            .query_runs("WHERE r.run_id = ?1", params![run_id])?
            .pop())
    }

    /// Runs of every workflow, or those `query` picks, newest first: see
    /// [`StateStore::list_runs`].
    pub fn list_runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>> {
        use rusqlite::types::Value;
        let mut filter = vec!["1 = 1".to_owned()];
        let mut args: Vec<Value> = Vec::new();
        let arg = |args: &mut Vec<Value>, value: Value| {
            args.push(value);
            format!("?{}", args.len())
        };
        if let Some(workflow) = &query.workflow {
            filter.push(format!(
                "r.workflow = {}",
                arg(&mut args, workflow.clone().into())
            ));
        }
        if let Some(status) = query.status {
            filter.push(format!(
                "r.status = {}",
                arg(&mut args, status.as_str().to_owned().into())
            ));
        }
        if let Some(since) = query.since {
            filter.push(format!(
                "r.started_at >= {}",
                arg(&mut args, time::to_text(since).into())
            ));
        }
        if let Some(until) = query.until {
            filter.push(format!(
                "r.started_at < {}",
                arg(&mut args, time::to_text(until).into())
            ));
        }
        if let Some(since) = query.finished_since {
            filter.push(format!(
                "r.finished_at >= {}",
                arg(&mut args, time::to_text(since).into())
            ));
        }
        if let Some(after) = &query.after {
            let known: Option<i64> = self
                .conn()
                .query_row(
                    "SELECT rowid FROM workflow_runs WHERE run_id = ?1",
                    [after],
                    |row| row.get(0),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            if known.is_none() {
                return Err(self.unknown_run(after));
            }
            let at = arg(&mut args, after.clone().into());
            filter.push(format!(
                "(r.started_at, r.rowid) < (SELECT started_at, rowid FROM workflow_runs WHERE run_id = {at})"
            ));
        }
        let limit = arg(
            &mut args,
            (query.limit.min(i64::MAX as usize) as i64).into(),
        );
        self.query_runs(
            &format!(
                "WHERE {} ORDER BY r.started_at DESC, r.rowid DESC LIMIT {limit}",
                filter.join(" AND ")
            ),
            rusqlite::params_from_iter(args),
        )
    }

    /// Registers `info` (or its new version): see
    /// [`StateStore::register_workflow`].
    pub fn register_workflow(&self, info: &WorkflowInfo) -> Result<()> {
        let now = time::to_text(SystemTime::now());
        self.conn()
            .execute(
                "INSERT INTO workflows (name, version, graph, schedule, zone, registered_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
                 ON CONFLICT (name) DO UPDATE SET version = excluded.version, graph = excluded.graph,
                    schedule = excluded.schedule, zone = excluded.zone, updated_at = excluded.updated_at",
                params![info.name, info.version, info.graph_json(), info.schedule, info.zone, now],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The registered workflows, by name.
    pub fn workflows(&self) -> Result<Vec<WorkflowRecord>> {
        self.query_workflows("ORDER BY name", [])
    }

    /// Workflow `name`, if registered.
    pub fn workflow(&self, name: &str) -> Result<Option<WorkflowRecord>> {
        Ok(self.query_workflows("WHERE name = ?1", [name])?.pop())
    }

    fn query_workflows(
        &self,
        filter: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<WorkflowRecord>> {
        let conn = self.conn();
        let mut statement = conn
            .prepare(&format!(
                "SELECT name, version, graph, schedule, zone, enabled, registered_at, updated_at
                 FROM workflows {filter}"
            ))
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map(args, |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, bool>(5)?,
                    row.get::<_, String>(6)?,
                    row.get::<_, String>(7)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut workflows = Vec::new();
        for row in rows {
            let (name, version, graph, schedule, zone, enabled, registered, updated) =
                row.map_err(|e| self.err(e))?;
            let mut info = WorkflowInfo::named(name, version)
                .with_graph(&graph)
                .map_err(|e| self.err(e))?;
            info.schedule = schedule;
            info.zone = zone;
            let at = |text: &str| {
                time::from_text(text).ok_or_else(|| self.err(format!("{text:?} is not a time")))
            };
            workflows.push(WorkflowRecord {
                info,
                enabled,
                registered_at: at(&registered)?,
                updated_at: at(&updated)?,
            });
        }
        Ok(workflows)
    }

    /// Enables or disables workflow `name`: see [`StateStore::set_enabled`].
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<()> {
        let changed = self
            .conn()
            .execute(
                "UPDATE workflows SET enabled = ?2, updated_at = ?3 WHERE name = ?1",
                params![name, enabled, time::to_text(SystemTime::now())],
            )
            .map_err(|e| self.err(e))?;
        if changed == 0 {
            return Err(self.unknown_workflow(name));
        }
        Ok(())
    }

    fn unknown_workflow(&self, name: &str) -> Error {
        Error::UnknownWorkflow {
            name: name.to_owned(),
            store: self.path.display().to_string(),
        }
    }

    /// The counts of [`StateStore::metrics`].
    pub fn metrics(&self) -> Result<StoreMetrics> {
        let conn = self.conn();
        let rows = |sql: &str| -> Result<Vec<(String, String, u64)>> {
            let mut statement = conn.prepare(sql).map_err(|e| self.err(e))?;
            statement
                .query_map([], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get::<_, i64>(2)? as u64))
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(|e| self.err(e))
        };
        let runs = rows(
            "SELECT workflow, status, count(*) FROM workflow_runs GROUP BY 1, 2 ORDER BY 1, 2",
        )?;
        let steps = rows(
            "SELECT r.workflow, s.status, count(*) FROM step_runs s JOIN workflow_runs r USING (run_id)
             GROUP BY 1, 2 ORDER BY 1, 2",
        )?;
        let queued = rows(
            "SELECT r.workflow, '', count(*) FROM step_runs s JOIN workflow_runs r USING (run_id)
             WHERE s.status = 'PENDING' AND r.status = 'RUNNING' AND r.trigger = 'queue' GROUP BY 1 ORDER BY 1",
        )?;
        let lost = rows(
            "SELECT r.workflow, '', sum(s.lost_claims) FROM step_runs s JOIN workflow_runs r USING (run_id)
             GROUP BY 1 HAVING sum(s.lost_claims) > 0 ORDER BY 1",
        )?;
        let buckets: Vec<String> = crate::store::STEP_SECONDS_BUCKETS
            .iter()
            .map(|le| format!("sum(d <= {le})"))
            .collect();
        let mut statement = conn
            .prepare(&format!(
                "SELECT workflow, {}, count(*), coalesce(sum(d), 0) FROM (
                    SELECT r.workflow, (julianday(s.finished_at) - julianday(s.started_at)) * 86400.0 AS d
                    FROM step_runs s JOIN workflow_runs r USING (run_id)
                    WHERE s.started_at IS NOT NULL AND s.finished_at IS NOT NULL AND s.reused_from IS NULL)
                 GROUP BY 1 ORDER BY 1",
                buckets.join(", ")
            ))
            .map_err(|e| self.err(e))?;
        let step_seconds = statement
            .query_map([], |row| {
                let mut le = [0u64; 8];
                for (i, slot) in le.iter_mut().enumerate() {
                    *slot = row.get::<_, i64>(i + 1)? as u64;
                }
                Ok((
                    row.get(0)?,
                    le,
                    row.get::<_, i64>(9)? as u64,
                    row.get::<_, f64>(10)?,
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(StoreMetrics {
            runs,
            steps,
            step_seconds,
            queued: queued.into_iter().map(|(w, _, n)| (w, n)).collect(),
            lost_claims: lost.into_iter().map(|(w, _, n)| (w, n)).collect(),
        })
    }

    /// Runs left unsettled: see [`StateStore::settle_ended_runs`].
    pub fn settle_ended_runs(&self) -> Result<Vec<String>> {
        let candidates: Vec<String> = self
            .conn()
            .prepare_cached(&crate::store::ended_unsettled(""))
            .and_then(|mut s| {
                s.query_map([], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.err(e))?;
        let mut ended = Vec::new();
        for run_id in candidates {
            if self.settle_run(&run_id)? != StepStatus::Running {
                ended.push(run_id);
            }
        }
        Ok(ended)
    }

    /// Asks run `run_id` to stop: see [`StateStore::cancel_run`]. A run
    /// whose steps have all ended is settled first: cancelling it then
    /// changes nothing (it has ended).
    pub fn cancel_run(&self, run_id: &str, why: &str) -> Result<()> {
        let unsettled: bool = self
            .conn()
            .query_row(
                "SELECT owner IS NULL AND status = 'RUNNING' FROM workflow_runs WHERE run_id = ?1",
                [run_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .unwrap_or(false);
        if unsettled {
            self.settle_run(run_id)?;
        }
        let now = time::to_text(SystemTime::now());
        let unowned = self.write(|tx| {
            let row: Option<(String, Option<String>)> = tx
                .query_row(
                    "SELECT status, owner FROM workflow_runs WHERE run_id = ?1",
                    [run_id],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            let Some((status, owner)) = row else {
                return Err(self.unknown_run(run_id));
            };
            if status != StepStatus::Running.as_str() {
                return Err(Error::RunEnded {
                    run_id: run_id.to_owned(),
                    status,
                });
            }
            tx.execute(
                "UPDATE workflow_runs SET cancel_requested_at = ?2 WHERE run_id = ?1",
                params![run_id, now],
            )
            .map_err(|e| self.err(e))?;
            tx.execute(
                "UPDATE step_runs SET status = 'CANCELLED', finished_at = ?2, error = ?3
                 WHERE run_id = ?1 AND status = 'PENDING'",
                params![run_id, now, why],
            )
            .map_err(|e| self.err(e))?;
            Ok(owner.is_none())
        })?;
        if unowned {
            self.settle_run(run_id)?;
        }
        Ok(())
    }

    /// Whether run `run_id` was asked to stop: see
    /// [`StateStore::cancel_requested`].
    pub fn cancel_requested(&self, run_id: &str) -> Result<bool> {
        Ok(self
            .conn()
            .query_row(
                "SELECT cancel_requested_at IS NOT NULL FROM workflow_runs WHERE run_id = ?1",
                [run_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .unwrap_or(false))
    }

    /// Queues run `run_id` again: see [`StateStore::requeue_run`].
    pub fn requeue_run(&self, run_id: &str, steps: &[String]) -> Result<()> {
        self.write(|tx| {
            let status: Option<String> = tx
                .query_row(
                    "SELECT status FROM workflow_runs WHERE run_id = ?1",
                    [run_id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            match status.as_deref() {
                None => return Err(self.unknown_run(run_id)),
                Some("RUNNING") => {
                    return Err(Error::StillRunning {
                        run_id: run_id.to_owned(),
                    });
                }
                Some(_) => {}
            }
            tx.execute(
                "UPDATE workflow_runs SET status = 'RUNNING', trigger = 'queue', owner = NULL,
                    finished_at = NULL, error = NULL, cancel_requested_at = NULL
                 WHERE run_id = ?1",
                [run_id],
            )
            .map_err(|e| self.err(e))?;
            self.reset_steps(tx, run_id, steps)
        })
    }

    /// Deletes workflow `name` and its history: see
    /// [`StateStore::delete_workflow`].
    pub fn delete_workflow(&self, name: &str, force: bool) -> Result<usize> {
        self.write(|tx| {
            if !force {
                let running: Option<String> = tx
                    .query_row(
                        "SELECT run_id FROM workflow_runs WHERE workflow = ?1 AND status = 'RUNNING'
                         ORDER BY started_at LIMIT 1",
                        [name],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(|e| self.err(e))?;
                if let Some(run_id) = running {
                    return Err(Error::WorkflowRunning {
                        name: name.to_owned(),
                        run_id,
                    });
                }
            }
            let step = |sql: &str| tx.execute(sql, [name]).map_err(|e| self.err(e));
            step("DELETE FROM step_runs WHERE run_id IN (SELECT run_id FROM workflow_runs WHERE workflow = ?1)")?;
            let runs = step("DELETE FROM workflow_runs WHERE workflow = ?1")?;
            step("DELETE FROM leaders WHERE name = ?1")?;
            let registered = step("DELETE FROM workflows WHERE name = ?1")?;
            if registered == 0 && runs == 0 {
                return Err(self.unknown_workflow(name));
            }
            Ok(runs)
        })
    }

    fn query_runs(&self, filter: &str, args: impl rusqlite::Params) -> Result<Vec<RunRecord>> {
        let conn = self.conn();
        let sql = format!(
            "SELECT r.run_id, r.workflow, r.status, r.trigger, r.params, r.version, r.scheduled_for,
                    r.started_at, r.finished_at, r.error,
                    (SELECT count(*) FROM step_runs s WHERE s.run_id = r.run_id),
                    (SELECT count(*) FROM step_runs s WHERE s.run_id = r.run_id AND s.status = 'SUCCEEDED'),
                    r.started_by, r.cancel_requested_at IS NOT NULL
             FROM workflow_runs r {filter}"
        );
        let mut statement = conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = statement
            .query_map(args, |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, Option<String>>(6)?,
                    row.get::<_, String>(7)?,
                    row.get::<_, Option<String>>(8)?,
                    row.get::<_, Option<String>>(9)?,
                    row.get::<_, i64>(10)?,
                    row.get::<_, i64>(11)?,
                    row.get::<_, Option<String>>(12)?,
                    row.get::<_, bool>(13)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut runs = Vec::new();
        for row in rows {
            let (
                run_id,
                workflow,
                status,
                trigger,
                params,
                version,
                scheduled,
                started,
                finished,
                error,
                steps,
                succeeded,
                started_by,
                cancel_requested,
            ) = row.map_err(|e| self.err(e))?;
            runs.push(RunRecord {
                status: self.status(&status)?,
                params: serde_json::from_str(&params)
                    .map_err(|e| self.err(format!("run {run_id:?}: params: {e}")))?,
                scheduled_for: scheduled.as_deref().and_then(time::from_text),
                started_at: time::from_text(&started).ok_or_else(|| {
                    self.err(format!(
                        "run {run_id:?}: started_at {started:?} is not a time"
                    ))
                })?,
                finished_at: finished.as_deref().and_then(time::from_text),
                run_id,
                workflow,
                trigger,
                started_by,
                cancel_requested,
                version,
                error,
                steps: steps as usize,
                succeeded: succeeded as usize,
            });
        }
        Ok(runs)
    }

    fn status(&self, text: &str) -> Result<StepStatus> {
        StepStatus::parse(text).ok_or_else(|| self.err(format!("unknown status {text:?}")))
    }

    /// The steps of run `run_id`, in the order they were recorded
    /// (the workflow's declaration order).
    pub fn steps(&self, run_id: &str) -> Result<Vec<StepRecord>> {
        let conn = self.conn();
        let mut statement = conn
            .prepare(
                "SELECT step, status, attempts, started_at, finished_at, rows, output, reused_from, error
                 FROM step_runs WHERE run_id = ?1 ORDER BY rowid",
            )
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map([run_id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, Option<i64>>(5)?,
                    row.get::<_, Option<String>>(6)?,
                    row.get::<_, Option<String>>(7)?,
                    row.get::<_, Option<String>>(8)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut steps = Vec::new();
        for row in rows {
            let (step, status, attempts, started, finished, rows, output, reused_from, error) =
                row.map_err(|e| self.err(e))?;
            steps.push(StepRecord {
                step,
                status: self.status(&status)?,
                attempts: attempts as u32,
                started_at: started.as_deref().and_then(time::from_text),
                finished_at: finished.as_deref().and_then(time::from_text),
                rows: rows.map(|r| r as u64),
                output,
                reused_from,
                error,
            });
        }
        Ok(steps)
    }

    /// Every attempt of every step of run `run_id`, by step, then attempt.
    pub fn attempts(&self, run_id: &str) -> Result<Vec<AttemptRecord>> {
        let conn = self.conn();
        let mut statement = conn
            .prepare(
                "SELECT step, attempt, started_at, finished_at, status, error
                 FROM step_attempts WHERE run_id = ?1 ORDER BY step, attempt",
            )
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map([run_id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, Option<String>>(5)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut attempts = Vec::new();
        for row in rows {
            let (step, attempt, started, finished, status, error) = row.map_err(|e| self.err(e))?;
            let started_at = time::from_text(&started).ok_or_else(|| {
                self.err(format!(
                    "step {step:?} of run {run_id:?}: started_at {started:?} is not a time"
                ))
            })?;
            attempts.push(AttemptRecord {
                step,
                attempt: attempt as u32,
                started_at,
                finished_at: finished.as_deref().and_then(time::from_text),
                status: status.as_deref().map(|s| self.status(s)).transpose()?,
                error,
            });
        }
        Ok(attempts)
    }

    /// The newest saved output of `step` of `workflow` from a run where it
    /// succeeded: the run that produced it (not one that reused it) and the file.
    pub fn latest_output(&self, workflow: &str, step: &str) -> Result<Option<(String, String)>> {
        self.conn()
            .query_row(
                "SELECT coalesce(s.reused_from, s.run_id), s.output FROM step_runs s JOIN workflow_runs r USING (run_id)
                 WHERE r.workflow = ?1 AND s.step = ?2 AND s.status = 'SUCCEEDED' AND s.output IS NOT NULL
                 ORDER BY s.finished_at DESC LIMIT 1",
                params![workflow, step],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The tick the newest scheduled run of `workflow` was for.
    pub fn last_scheduled(&self, workflow: &str) -> Result<Option<SystemTime>> {
        let text: Option<String> = self
            .conn()
            .query_row(
                "SELECT max(scheduled_for) FROM workflow_runs WHERE workflow = ?1",
                [workflow],
                |row| row.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok(text.as_deref().and_then(time::from_text))
    }

    /// Marks FAILED every run and step still RUNNING whose process has died
    /// (its lock file is free), and CANCELLED the PENDING steps of such runs.
    /// [`SqliteStore::open`] does this; returns the runs it marked.
    pub fn recover_abandoned(&self) -> Result<Vec<String>> {
        let dir = owners_dir(&self.path);
        let owners: Vec<String> = {
            let conn = self.conn();
            let mut statement = conn
                .prepare(
                    "SELECT owner FROM workflow_runs WHERE owner IS NOT NULL AND status = 'RUNNING'
                     UNION SELECT owner FROM step_runs WHERE owner IS NOT NULL
                         AND status IN ('CLAIMED', 'RUNNING', 'RETRYING')",
                )
                .map_err(|e| self.err(e))?;
            statement
                .query_map([], |row| row.get(0))
                .map_err(|e| self.err(e))?
                .collect::<rusqlite::Result<_>>()
                .map_err(|e| self.err(e))?
        };
        let mut abandoned = Vec::new();
        let mut to_settle = Vec::new();
        for owner in owners {
            if owner == self.owner.id() || owner::is_alive(&dir, &owner) {
                continue;
            }
            let why = format!(
                "abandoned: the process running it (pid {}) ended without finishing it",
                owner::pid_of(&owner)
            );
            let (runs, stepwise) = self.fail_owned(&owner, &why)?;
            abandoned.extend(runs);
            to_settle.extend(stepwise);
        }
        for run_id in to_settle {
            self.settle_run(&run_id)?;
            abandoned.push(run_id);
        }
        Ok(abandoned)
    }

    /// Marks FAILED, with `why`, every run this process holds RUNNING: a
    /// run whose end could not be recorded (the store failed as it ended)
    /// would otherwise look as if it still ran, and hold back every later
    /// one. Only for a caller that knows none of its runs still goes (the
    /// scheduler between runs). Returns the runs it marked.
    pub fn fail_unfinished(&self, why: &str) -> Result<Vec<String>> {
        let (mut runs, stepwise) = self.fail_owned(self.owner.id(), why)?;
        for run_id in stepwise {
            self.settle_run(&run_id)?;
            runs.push(run_id);
        }
        Ok(runs)
    }

    /// Queues a new run: see [`StateStore::enqueue_run`].
    pub fn enqueue_run(&self, run: &RunStart) -> Result<()> {
        self.insert_run(run, None, false)
    }

    /// Claims runnable steps of queued runs: see [`StateStore::claim_steps`].
    /// The whole claim is one write transaction: SQLite's write lock makes
    /// processes claim in turn.
    pub fn claim_steps(&self, workflow: &str, limit: usize) -> Result<Vec<crate::Claim>> {
        self.recover_abandoned()?;
        self.write(|tx| {
            let mut ready = tx
                .prepare_cached(
                    "SELECT s.run_id, s.step, s.attempts, r.params
                     FROM step_runs s JOIN workflow_runs r USING (run_id)
                     WHERE r.workflow = ?1 AND r.trigger = 'queue' AND r.status = 'RUNNING'
                       AND s.status = 'PENDING'
                       AND NOT EXISTS (
                           SELECT 1 FROM json_each(s.needs) n
                           JOIN step_runs d ON d.run_id = s.run_id AND d.step = n.value
                           WHERE d.status <> 'SUCCEEDED')
                     ORDER BY r.rowid, s.rowid LIMIT ?2",
                )
                .map_err(|e| self.err(e))?;
            let rows = ready
                .query_map(
                    params![workflow, limit.min(i64::MAX as usize) as i64],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, i64>(2)?,
                            row.get::<_, String>(3)?,
                        ))
                    },
                )
                .map_err(|e| self.err(e))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| self.err(e))?;
            let mut claim = tx
                .prepare_cached(
                    "UPDATE step_runs SET status = 'CLAIMED', owner = ?3, error = NULL
                     WHERE run_id = ?1 AND step = ?2 AND status = 'PENDING'",
                )
                .map_err(|e| self.err(e))?;
            let mut claims = Vec::new();
            for (run_id, step, attempts, params) in rows {
                claim
                    .execute(params![run_id, step, self.owner.id()])
                    .map_err(|e| self.err(e))?;
                claims.push(crate::Claim {
                    params: serde_json::from_str(&params)
                        .map_err(|e| self.err(format!("run {run_id:?}: params: {e}")))?,
                    run_id,
                    step,
                    attempts: attempts as u32,
                });
            }
            Ok(claims)
        })
    }

    /// Puts a step this process holds back in the queue: see
    /// [`StateStore::release_step`].
    pub fn release_step(&self, run_id: &str, step: &str, why: &str) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE step_runs SET status = 'PENDING', owner = NULL, error = ?4
                 WHERE run_id = ?1 AND step = ?2 AND owner = ?3
                   AND status IN ('CLAIMED', 'RUNNING', 'RETRYING')",
                params![run_id, step, self.owner.id(), why],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Leads `name` when no live process does: see [`StateStore::lead`]. A
    /// leader lives while its lock file is held.
    pub fn lead(&self, name: &str) -> Result<bool> {
        let dir = owners_dir(&self.path);
        self.write(|tx| {
            let holder: Option<String> = tx
                .query_row("SELECT owner FROM leaders WHERE name = ?1", [name], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(|e| self.err(e))?;
            match holder {
                Some(owner) if owner == self.owner.id() => Ok(true),
                Some(owner) if owner::is_alive(&dir, &owner) => Ok(false),
                _ => {
                    tx.execute(
                        "INSERT INTO leaders (name, owner, since) VALUES (?1, ?2, ?3)
                         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, since = excluded.since",
                        params![name, self.owner.id(), time::to_text(SystemTime::now())],
                    )
                    .map_err(|e| self.err(e))?;
                    Ok(true)
                }
            }
        })
    }

    /// Marks SKIPPED the named steps still PENDING: see [`StateStore::skip_steps`].
    pub fn skip_steps(&self, run_id: &str, steps: &[String], why: &str) -> Result<()> {
        let now = time::to_text(SystemTime::now());
        self.write(|tx| {
            let mut skip = tx
                .prepare_cached(
                    "UPDATE step_runs SET status = 'SKIPPED', finished_at = ?3, error = ?4
                     WHERE run_id = ?1 AND step = ?2 AND status = 'PENDING'",
                )
                .map_err(|e| self.err(e))?;
            for step in steps {
                skip.execute(params![run_id, step, now, why])
                    .map_err(|e| self.err(e))?;
            }
            Ok(())
        })
    }

    /// Marks FAILED, with `why`, the runs and steps `owner` holds RUNNING,
    /// and CANCELLED the PENDING steps of those runs; returns those runs,
    /// and the runs of one step per process whose steps it held (to settle).
    fn fail_owned(&self, owner: &str, why: &str) -> Result<(Vec<String>, Vec<String>)> {
        let now = time::to_text(SystemTime::now());
        let mut abandoned = Vec::new();
        let mut to_settle = Vec::new();
        self.write(|tx| {
            {
                let mut runs = tx
                    .prepare(
                        "SELECT run_id FROM workflow_runs WHERE owner = ?1 AND status = 'RUNNING'",
                    )
                    .map_err(|e| self.err(e))?;
                let ids = runs
                    .query_map([&owner], |row| row.get::<_, String>(0))
                    .map_err(|e| self.err(e))?;
                for id in ids {
                    abandoned.push(id.map_err(|e| self.err(e))?);
                }
                // Runs whose steps run one per process follow their steps.
                let mut stepwise = tx
                    .prepare(
                        "SELECT DISTINCT s.run_id FROM step_runs s JOIN workflow_runs r USING (run_id)
                         WHERE s.owner = ?1 AND s.status IN ('CLAIMED', 'RUNNING', 'RETRYING') AND r.owner IS NULL",
                    )
                    .map_err(|e| self.err(e))?;
                let ids = stepwise
                    .query_map([&owner], |row| row.get::<_, String>(0))
                    .map_err(|e| self.err(e))?;
                for id in ids {
                    to_settle.push(id.map_err(|e| self.err(e))?);
                }
            }
            // A queued run's step goes back to the queue, to run again as a
            // new attempt, until it has lost its worker too often.
            tx.execute(
                "UPDATE step_runs SET status = 'PENDING', error = ?2 || '; queued again', owner = NULL,
                    lost_claims = lost_claims + 1
                 WHERE owner = ?1 AND status IN ('CLAIMED', 'RUNNING', 'RETRYING') AND attempts < ?3
                   AND run_id IN (SELECT run_id FROM workflow_runs WHERE trigger = 'queue')",
                params![owner, why, crate::store::MAX_LOST_ATTEMPTS],
            )
            .map_err(|e| self.err(e))?;
            tx.execute(
                "UPDATE step_runs SET status = 'FAILED', finished_at = ?2, error = ?3, owner = NULL
                 WHERE owner = ?1 AND status IN ('CLAIMED', 'RUNNING', 'RETRYING')",
                params![owner, now, why],
            )
            .map_err(|e| self.err(e))?;
            tx.execute(
                "UPDATE step_runs SET status = 'CANCELLED', error = ?3
                 WHERE status = 'PENDING'
                   AND run_id IN (SELECT run_id FROM workflow_runs WHERE owner = ?1 AND status = 'RUNNING')",
                params![owner, now, why],
            )
            .map_err(|e| self.err(e))?;
            tx.execute(
                "UPDATE workflow_runs SET status = 'FAILED', finished_at = ?2, error = ?3, owner = NULL
                 WHERE owner = ?1 AND status = 'RUNNING'",
                params![owner, now, why],
            )
            .map_err(|e| self.err(e))?;
                Ok(())
        })?;
        Ok((abandoned, to_settle))
    }
}

/// `<store>.owners/`: the lock files of the processes using the store.
fn owners_dir(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".owners");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests;

/// The trait's methods run the store's own, one transaction each. SQLite
/// answers from a local file; the calls are short and stay on the caller's
/// thread.
impl StateStore for SqliteStore {
    fn attempts<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, Vec<AttemptRecord>> {
        Box::pin(async move { SqliteStore::attempts(self, run_id) })
    }
    fn location(&self) -> String {
        self.path.display().to_string()
    }
    fn outputs_dir(&self, run_id: &str) -> Result<PathBuf> {
        SqliteStore::outputs_dir(self, run_id)
    }
    fn begin_run<'a>(&'a self, run: &'a RunStart) -> StoreFuture<'a, ()> {
        Box::pin(async move { SqliteStore::begin_run(self, run) })
    }
    fn join_run<'a>(&'a self, run: &'a RunStart) -> StoreFuture<'a, ()> {
        Box::pin(async move { SqliteStore::join_run(self, run) })
    }
    fn resume_run<'a>(&'a self, run_id: &'a str, steps: &'a [String]) -> StoreFuture<'a, ()> {
        Box::pin(async move { SqliteStore::resume_run(self, run_id, steps) })
    }
    fn mark_reused<'a>(
        &'a self,
        run_id: &'a str,
        step: &'a str,
        from_run: &'a str,
        output: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move { SqliteStore::mark_reused(self, run_id, step, from_run, output) })
    }
    fn fail_step<'a>(
        &'a self,
        run_id: &'a str,
        step: &'a str,
        why: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move { SqliteStore::fail_step(self, run_id, step, why) })
    }
    fn recorder(&self) -> Result<Arc<dyn EventRecorder>> {
        Ok(Arc::new(SqliteStore::recorder(self)?))
    }
    fn finish_run<'a>(&'a self, report: &'a RunReport) -> StoreFuture<'a, ()> {
        Box::pin(async move { SqliteStore::finish_run(self, report) })
    }
    fn settle_run<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, StepStatus> {
        Box::pin(async move { SqliteStore::settle_run(self, run_id) })
    }
    fn runs<'a>(&'a self, workflow: &'a str, limit: usize) -> StoreFuture<'a, Vec<RunRecord>> {
        Box::pin(async move { SqliteStore::runs(self, workflow, limit) })
    }
    fn run<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, Option<RunRecord>> {
        Box::pin(async move { SqliteStore::run(self, run_id) })
    }
    fn steps<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, Vec<StepRecord>> {
        Box::pin(async move { SqliteStore::steps(self, run_id) })
    }
    fn latest_output<'a>(
        &'a self,
        workflow: &'a str,
        step: &'a str,
    ) -> StoreFuture<'a, Option<(String, String)>> {
        Box::pin(async move { SqliteStore::latest_output(self, workflow, step) })
    }
    fn last_scheduled<'a>(&'a self, workflow: &'a str) -> StoreFuture<'a, Option<SystemTime>> {
        Box::pin(async move { SqliteStore::last_scheduled(self, workflow) })
    }
    fn recover_abandoned(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move { SqliteStore::recover_abandoned(self) })
    }
    fn settle_ended_runs(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move { SqliteStore::settle_ended_runs(self) })
    }
    fn fail_unfinished<'a>(&'a self, why: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move { SqliteStore::fail_unfinished(self, why) })
    }
    fn enqueue_run<'a>(&'a self, run: &'a RunStart) -> StoreFuture<'a, ()> {
        Box::pin(async move { SqliteStore::enqueue_run(self, run) })
    }
    fn claim_steps<'a>(
        &'a self,
        workflow: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<crate::Claim>> {
        Box::pin(async move { SqliteStore::claim_steps(self, workflow, limit) })
    }
    fn lead<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move { SqliteStore::lead(self, name) })
    }
    fn release_step<'a>(
        &'a self,
        run_id: &'a str,
        step: &'a str,
        why: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move { SqliteStore::release_step(self, run_id, step, why) })
    }
    fn skip_steps<'a>(
        &'a self,
        run_id: &'a str,
        steps: &'a [String],
        why: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move { SqliteStore::skip_steps(self, run_id, steps, why) })
    }
    fn list_runs<'a>(&'a self, query: &'a RunQuery) -> StoreFuture<'a, Vec<RunRecord>> {
        Box::pin(async move { SqliteStore::list_runs(self, query) })
    }
    fn register_workflow<'a>(&'a self, info: &'a WorkflowInfo) -> StoreFuture<'a, ()> {
        Box::pin(async move { SqliteStore::register_workflow(self, info) })
    }
    fn workflows(&self) -> StoreFuture<'_, Vec<WorkflowRecord>> {
        Box::pin(async move { SqliteStore::workflows(self) })
    }
    fn workflow<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<WorkflowRecord>> {
        Box::pin(async move { SqliteStore::workflow(self, name) })
    }
    fn set_enabled<'a>(&'a self, name: &'a str, enabled: bool) -> StoreFuture<'a, ()> {
        Box::pin(async move { SqliteStore::set_enabled(self, name, enabled) })
    }
    fn delete_workflow<'a>(&'a self, name: &'a str, force: bool) -> StoreFuture<'a, usize> {
        Box::pin(async move { SqliteStore::delete_workflow(self, name, force) })
    }
    fn cancel_run<'a>(&'a self, run_id: &'a str, why: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move { SqliteStore::cancel_run(self, run_id, why) })
    }
    fn cancel_requested<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move { SqliteStore::cancel_requested(self, run_id) })
    }
    fn requeue_run<'a>(&'a self, run_id: &'a str, steps: &'a [String]) -> StoreFuture<'a, ()> {
        Box::pin(async move { SqliteStore::requeue_run(self, run_id, steps) })
    }
    fn metrics(&self) -> StoreFuture<'_, StoreMetrics> {
        Box::pin(async move { SqliteStore::metrics(self) })
    }
}
