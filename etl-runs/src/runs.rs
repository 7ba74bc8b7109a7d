//! Runs of a workflow against a [`StateStore`]: a new run (all steps, some,
//! or from a step on), one step of a run shared between processes, resuming
//! a run, and the check a scheduler makes before a tick. Each returns what
//! happened; nothing here prints or exits.
//!
//! ```
//! use etl_dag::{Dag, Step, StepContext, StepInputs};
//! use etl_runs::state::{SqliteStore, Trigger};
//! use etl_runs::{NewRun, NoObserver, Runs};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> etl_runs::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let store = SqliteStore::open(dir.path().join("state.sqlite"))?;
//! let dag = Dag::builder("nightly")
//!     .step(Step::new("only", |_: StepContext, _: StepInputs| async { Ok::<_, String>(1_u64) }))
//!     .build()?;
//! let runs = Runs::new(&dag, &store, "1.0.0");
//! let (report, run_id) = runs.start(NewRun::new(Trigger::Run), Arc::new(NoObserver)).await?;
//! assert!(report.succeeded());
//! assert_eq!(store.run(&run_id)?.unwrap().version, "1.0.0");
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use etl_dag::{
    CancellationToken, Dag, Folder, Observer, OutputStore, RunReport, Runner, StepStatus,
    new_run_id,
};

use crate::state::{RunStart, Trigger};
use crate::store::StateStore;
use crate::{Error, Result};

/// How often a run (or a queued step) this process runs asks the store
/// whether it was asked to stop ([`StateStore::cancel_run`]).
pub const CANCEL_POLL: Duration = Duration::from_secs(1);

/// A run to start: which steps, with what, started by what.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewRun {
    /// The run's parameters.
    pub params: BTreeMap<String, String>,
    /// Only these steps (all when empty); the others' outputs come from the
    /// last runs that saved them.
    pub only: Vec<String>,
    /// This step and everything after it.
    pub from: Option<String>,
    /// What started it.
    pub trigger: Trigger,
    /// For a scheduled run, its tick.
    pub scheduled_for: Option<SystemTime>,
    /// Cancels the run; without it, Ctrl-C does.
    pub cancel: Option<CancellationToken>,
}

impl NewRun {
    /// Every step, no parameters, Ctrl-C cancels.
    pub fn new(trigger: Trigger) -> NewRun {
        NewRun {
            params: BTreeMap::new(),
            only: Vec::new(),
            from: None,
            trigger,
            scheduled_for: None,
            cancel: None,
        }
    }
}

/// How one step of a shared run went ([`Runs::run_step`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum StepRun {
    /// The step could not run: an input has not succeeded, or its output
    /// was not saved. The step is recorded FAILED for this reason.
    NotRunnable {
        /// Why.
        why: String,
    },
    /// The step ran.
    Ran {
        /// The run of that one step.
        report: RunReport,
        /// The shared run's status once settled.
        run_status: StepStatus,
    },
}

/// What resuming a run will do ([`Runs::plan_resume`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumePlan {
    /// The run.
    pub run_id: String,
    /// The steps that run again, in name order; empty when the run succeeded.
    pub steps: Vec<String>,
    params: BTreeMap<String, String>,
    reuse: Vec<(String, String)>,
}

/// Step `name` of `dag`, or an error naming the steps there are: what a
/// caller checks before it opens a store.
pub fn check_step(dag: &Dag, name: &str) -> Result<()> {
    if dag.step(name).is_some() {
        return Ok(());
    }
    Err(etl_dag::Error::UnknownStep {
        workflow: dag.name().to_owned(),
        step: name.to_owned(),
        known: dag.order().iter().map(ToString::to_string).collect(),
    }
    .into())
}

/// A workflow, its state store and the program's version: every way of
/// running it that is recorded.
pub struct Runs<'a> {
    dag: &'a Dag,
    store: &'a dyn StateStore,
    version: &'a str,
    one_attempt: bool,
    outputs: Option<Arc<dyn OutputStore>>,
}

impl std::fmt::Debug for Runs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runs")
            .field("workflow", &self.dag.name())
            .field("store", &self.store.location())
            .field("version", &self.version)
            .finish()
    }
}

impl<'a> Runs<'a> {
    /// Runs of `dag` recorded in `store`, by a program at `version`.
    pub fn new(dag: &'a Dag, store: &'a dyn StateStore, version: &'a str) -> Self {
        Runs {
            dag,
            store,
            version,
            one_attempt: false,
            outputs: None,
        }
    }

    /// Saves step outputs in `outputs` (a folder, a bucket: see
    /// [`crate::outputs::open`]) and reads the ones recorded there back
    /// from it. Without it, each run's outputs go to the store's own folder
    /// ([`StateStore::outputs_dir`]).
    pub fn outputs(mut self, outputs: Arc<dyn OutputStore>) -> Self {
        self.outputs = Some(outputs);
        self
    }

    /// Where run `run_id`'s outputs are saved and read from.
    fn outputs_of(&self, run_id: &str) -> Result<Arc<dyn OutputStore>> {
        match &self.outputs {
            Some(outputs) => Ok(outputs.clone()),
            None => Ok(Arc::new(Folder::new(
                self.store.outputs_dir(run_id)?.parent().ok_or_else(|| {
                    Error::Internal(format!("the outputs of run {run_id:?} have no folder"))
                })?,
            ))),
        }
    }

    /// Runs each step of [`Runs::run_step`] as one attempt, whatever its
    /// retries: the scheduler that runs the step (an exported Airflow or
    /// Prefect task) retries it, and the two would multiply.
    pub fn one_attempt(mut self, yes: bool) -> Self {
        self.one_attempt = yes;
        self
    }

    /// The store.
    pub fn store(&self) -> &'a dyn StateStore {
        self.store
    }

    /// The workflow.
    pub fn dag(&self) -> &'a Dag {
        self.dag
    }

    /// Step `name`, or an error naming the steps there are.
    pub fn check_step(&self, name: &str) -> Result<()> {
        check_step(self.dag, name)
    }

    /// Records and runs a new run; its report and id. A partial run (`only`,
    /// `from`) takes what its steps need from steps that do not run from the
    /// newest saved outputs, and says so in the store.
    pub async fn start(
        &self,
        run: NewRun,
        observer: Arc<dyn Observer>,
    ) -> Result<(RunReport, String)> {
        let NewRun {
            params,
            only,
            from,
            trigger,
            scheduled_for,
            cancel,
        } = run;
        for step in only.iter().chain(&from) {
            self.check_step(step)?;
        }
        self.check_param_types(&params)?;
        let selected: BTreeSet<String> = if !only.is_empty() {
            only.into_iter().collect()
        } else if let Some(from) = &from {
            self.downstream_of(from)
        } else {
            self.dag.steps().map(|s| s.name.to_owned()).collect()
        };
        let partial = selected.len() < self.dag.steps().count();
        let mut reuse: Vec<(String, String, String)> = Vec::new();
        for step in self.dag.steps().filter(|s| selected.contains(s.name)) {
            for input in &step.inputs {
                if selected.contains(*input) || reuse.iter().any(|(s, _, _)| s == input) {
                    continue;
                }
                match self.store.latest_output(self.dag.name(), input).await? {
                    Some((from_run, path)) => reuse.push(((*input).to_owned(), from_run, path)),
                    None => {
                        return Err(Error::NoSavedOutput {
                            step: step.name.to_owned(),
                            input: (*input).to_owned(),
                        });
                    }
                }
            }
        }
        let run_id = new_run_id();
        let mut start = RunStart::new(&run_id, self.dag, trigger)
            .params(params.clone())
            .version(self.version);
        if let Some(tick) = scheduled_for {
            start = start.scheduled_for(tick);
        }
        start
            .steps
            .retain(|s| selected.contains(s) || reuse.iter().any(|(r, _, _)| r == s));
        self.store.begin_run(&start).await?;
        for (step, from_run, path) in &reuse {
            self.store
                .mark_reused(&run_id, step, from_run, path)
                .await?;
        }
        let mut runner = self.dag.runner().run_id(&run_id).params(params);
        if partial {
            runner = runner.only(&selected)?;
        }
        for (step, _, path) in &reuse {
            runner = runner.reuse_output(step, path)?;
        }
        let report = self.execute(runner, &run_id, cancel, observer).await?;
        self.store.finish_run(&report).await?;
        Ok((report, run_id))
    }

    /// `step` and every step after it, through inputs and `after`.
    fn downstream_of(&self, step: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::from([step.to_owned()]);
        loop {
            let before = found.len();
            for s in self.dag.steps() {
                if s.depends_on().any(|d| found.contains(d)) {
                    found.insert(s.name.to_owned());
                }
            }
            if found.len() == before {
                return found;
            }
        }
    }

    /// One step of run `run_id` in this process, its inputs read from the
    /// outputs the run saved (what each Airflow task does); the run is
    /// recorded if it is new, and settled from its steps after.
    pub async fn run_step(
        &self,
        step: &str,
        run_id: &str,
        params: BTreeMap<String, String>,
        observer: Arc<dyn Observer>,
    ) -> Result<StepRun> {
        self.check_step(step)?;
        // The id names the run's folder of outputs: nothing that points elsewhere.
        etl_dag::check_run_id(run_id)?;
        let start = RunStart::new(run_id, self.dag, Trigger::Step)
            .params(params.clone())
            .version(self.version);
        self.store.join_run(&start).await?;
        let run = self
            .store
            .run(run_id)
            .await?
            .ok_or_else(|| Error::Internal(format!("run {run_id:?} vanished")))?;
        // The run's parameters are those its first step was given; a later
        // step may add some, not change them.
        let mut all = run.params.clone();
        for (key, value) in params {
            if let Some(old) = all.get(&key).filter(|old| **old != value) {
                return Err(Error::ParamConflict {
                    run_id: run_id.to_owned(),
                    key,
                    recorded: old.clone(),
                    given: value,
                });
            }
            all.insert(key, value);
        }
        match self.step_runner(step, run_id, all).await? {
            Ok(runner) => {
                let runner = runner.one_attempt(self.one_attempt);
                let report = self.execute(runner, run_id, None, observer).await?;
                let run_status = self.store.settle_run(run_id).await?;
                Ok(StepRun::Ran { report, run_status })
            }
            Err(why) => {
                self.store.fail_step(run_id, step, &why).await?;
                self.store.settle_run(run_id).await?;
                Ok(StepRun::NotRunnable { why })
            }
        }
    }

    /// A runner of step `step` alone in run `run_id`, its inputs read from
    /// the outputs the run saved; or why it cannot run (an input that has not
    /// succeeded, or whose output was not saved).
    async fn step_runner(
        &self,
        step: &str,
        run_id: &str,
        params: BTreeMap<String, String>,
    ) -> Result<std::result::Result<Runner<'a>, String>> {
        let recorded = self.store.steps(run_id).await?;
        let mut runner = self
            .dag
            .runner()
            .run_id(run_id)
            .params(params)
            .only([step])?;
        let info = self.dag.step(step).expect("checked");
        for input in &info.inputs {
            let record = recorded.iter().find(|r| r.step == *input);
            match record.map(|r| (r.status, r.output.as_ref())) {
                Some((StepStatus::Succeeded, Some(path))) => {
                    runner = runner.reuse_output(input, path)?;
                }
                other => {
                    return Ok(Err(match other {
                        Some((StepStatus::Succeeded, None)) => format!(
                            "input {input:?} succeeded in run {run_id:?} but its output was not saved \
                             (its type is neither Arrow data nor serde)"
                        ),
                        Some((status, _)) => format!(
                            "input {input:?} has not succeeded in run {run_id:?} (it is {status}); run that step first"
                        ),
                        None => format!("input {input:?} is not part of run {run_id:?}"),
                    }));
                }
            }
        }
        Ok(Ok(runner))
    }

    /// Queues a new run of every step for workers ([`Runs::work`]); its id.
    pub async fn enqueue(&self, params: BTreeMap<String, String>) -> Result<String> {
        self.check_param_types(&params)?;
        let run_id = new_run_id();
        let start = RunStart::new(&run_id, self.dag, Trigger::Queue)
            .params(params)
            .version(self.version)
            .started_by("cli");
        self.store.enqueue_run(&start).await?;
        Ok(run_id)
    }

    /// The values given for declared parameters checked against their
    /// types, before a run exists: every problem at once. (From the command
    /// line a run may pass parameters it does not declare.)
    fn check_param_types(&self, params: &BTreeMap<String, String>) -> Result<()> {
        let problems: Vec<String> = self
            .dag
            .params()
            .iter()
            .filter_map(|p| {
                let value = params.get(p.name())?;
                p.kind()
                    .check(value)
                    .err()
                    .map(|e| format!("parameter {:?}: {e}", p.name()))
            })
            .collect();
        if problems.is_empty() {
            return Ok(());
        }
        Err(Error::BadParams {
            workflow: self.dag.name().to_owned(),
            problems,
        })
    }

    /// Runs a step this process claimed from the queue
    /// ([`StateStore::claim_steps`]): its inputs from the run's saved
    /// outputs, recorded as it goes. A step that fails for good (or cannot
    /// run) skips every step after it; the run is settled from its steps.
    /// Steps run to their end: stopping a worker stops its claiming, not
    /// what it holds.
    pub async fn work(&self, claim: &crate::Claim, observer: Arc<dyn Observer>) -> Result<StepRun> {
        let (run_id, step) = (claim.run_id.as_str(), claim.step.as_str());
        if self.dag.step(step).is_none() {
            // Queued by another version of the workflow.
            let why = format!(
                "step {step:?} is not a step of workflow {:?} as this program ({}) has it",
                self.dag.name(),
                self.version
            );
            self.store.fail_step(run_id, step, &why).await?;
            self.store.settle_run(run_id).await?;
            return Ok(StepRun::NotRunnable { why });
        }
        let outcome = match self.step_runner(step, run_id, claim.params.clone()).await? {
            Ok(runner) => {
                let runner = runner.fail_fast(false);
                let report = self
                    .execute(runner, run_id, Some(CancellationToken::new()), observer)
                    .await?;
                let ok = report.succeeded();
                (Ok(report), ok)
            }
            Err(why) => {
                self.store.fail_step(run_id, step, &why).await?;
                (Err(why), false)
            }
        };
        if !outcome.1 {
            let after: Vec<String> = self
                .downstream_of(step)
                .into_iter()
                .filter(|s| s != step)
                .collect();
            let why = format!("not run: step {step:?} failed");
            self.store.skip_steps(run_id, &after, &why).await?;
        }
        let run_status = self.store.settle_run(run_id).await?;
        Ok(match outcome.0 {
            Ok(report) => StepRun::Ran { report, run_status },
            Err(why) => StepRun::NotRunnable { why },
        })
    }

    /// What resuming run `run_id` does: the steps that did not succeed run
    /// again, with the succeeded ones whose outputs they need but were not
    /// saved; the others' saved outputs are reused.
    pub async fn plan_resume(&self, run_id: &str) -> Result<ResumePlan> {
        // A run a fault left RUNNING though its steps have ended is settled
        // first, rather than said to be running elsewhere.
        self.store.settle_ended_runs().await?;
        let Some(run) = self.store.run(run_id).await? else {
            return Err(Error::UnknownRun {
                run_id: run_id.to_owned(),
                store: self.store.location(),
            });
        };
        if run.workflow != self.dag.name() {
            return Err(Error::OtherWorkflow {
                run_id: run_id.to_owned(),
                recorded: run.workflow,
                asked: self.dag.name().to_owned(),
            });
        }
        if run.status == StepStatus::Running {
            return Err(Error::StillRunning {
                run_id: run_id.to_owned(),
            });
        }
        let recorded = self.store.steps(run_id).await?;
        // The outputs of succeeded steps still where they were saved.
        let outputs = self.outputs_of(run_id)?;
        let mut kept: BTreeMap<&str, String> = BTreeMap::new();
        for r in recorded
            .iter()
            .filter(|r| r.status == StepStatus::Succeeded)
        {
            if let Some(location) = &r.output
                && self.output_exists(&*outputs, location).await?
            {
                kept.insert(&r.step, location.clone());
            }
        }
        let saved = |name: &str| kept.get(name).cloned();
        let mut rerun: BTreeSet<String> = recorded
            .iter()
            .filter(|r| r.status != StepStatus::Succeeded)
            .map(|r| r.step.clone())
            .filter(|s| self.dag.step(s).is_some())
            .collect();
        // A succeeded input whose output was not saved runs again too.
        loop {
            let before = rerun.len();
            let needed: Vec<String> = rerun
                .iter()
                .filter_map(|s| self.dag.step(s))
                .flat_map(|s| s.inputs.clone())
                .filter(|i| !rerun.contains(*i) && saved(i).is_none())
                .filter(|i| recorded.iter().any(|r| r.step == *i))
                .map(str::to_owned)
                .collect();
            rerun.extend(needed);
            if rerun.len() == before {
                break;
            }
        }
        let mut reuse = Vec::new();
        for step in rerun.iter().filter_map(|s| self.dag.step(s)) {
            for input in step.inputs.iter().filter(|i| !rerun.contains(**i)) {
                if reuse.iter().any(|(s, _)| s == input) {
                    continue;
                }
                let path = match saved(input) {
                    Some(path) => Some(path),
                    None => self
                        .store
                        .latest_output(self.dag.name(), input)
                        .await?
                        .map(|(_, path)| path),
                };
                if let Some(path) = path {
                    reuse.push(((*input).to_owned(), path));
                }
            }
        }
        Ok(ResumePlan {
            run_id: run_id.to_owned(),
            steps: rerun.into_iter().collect(),
            params: run.params,
            reuse,
        })
    }

    /// Carries `plan` out: the run is RUNNING again in this process, its
    /// steps run, and it ends with their statuses. A plan with no steps
    /// does nothing and returns `None`.
    pub async fn resume(
        &self,
        plan: ResumePlan,
        observer: Arc<dyn Observer>,
    ) -> Result<Option<RunReport>> {
        if plan.steps.is_empty() {
            return Ok(None);
        }
        let mut runner = self
            .dag
            .runner()
            .run_id(&plan.run_id)
            .params(plan.params.clone())
            .only(&plan.steps)?;
        for (input, path) in &plan.reuse {
            runner = runner.reuse_output(input, path)?;
        }
        self.store.resume_run(&plan.run_id, &plan.steps).await?;
        let report = self.execute(runner, &plan.run_id, None, observer).await?;
        self.store.finish_run(&report).await?;
        Ok(Some(report))
    }

    /// Before a scheduled tick: marks abandoned the runs of dead processes,
    /// then the run of this workflow still going, if one is (a scheduler
    /// runs one at a time).
    pub async fn running_run(&self) -> Result<Option<String>> {
        self.store.recover_abandoned().await?;
        Ok(self
            .store
            .runs(self.dag.name(), 50)
            .await?
            .into_iter()
            .find(|r| r.status == StepStatus::Running)
            .map(|r| r.run_id))
    }

    /// Runs with the store recording and `observer` watching; cancelled by
    /// `cancel`, or by Ctrl-C without it.
    async fn execute(
        &self,
        runner: Runner<'_>,
        run_id: &str,
        cancel: Option<CancellationToken>,
        observer: Arc<dyn Observer>,
    ) -> Result<RunReport> {
        let recorder = self.store.recorder()?;
        let watched = cancel.clone();
        let runner = match cancel {
            Some(token) => runner.cancel_token(token),
            None => runner.cancel_on_ctrl_c(),
        };
        let record = recorder.clone();
        let run = runner
            .save_outputs(self.outputs_of(run_id)?)
            .on_event(move |e| record.record(e))
            .observe(observer)
            .run();
        // A run given a token stops when the store says it was asked to
        // (the server's cancel), as when the token is cancelled here.
        let report = match watched {
            Some(token) => {
                tokio::pin!(run);
                tokio::select! {
                    report = &mut run => report,
                    () = self.until_cancel_requested(run_id, token) => run.await,
                }
            }
            None => run.await,
        };
        recorder.flush().await?;
        Ok(report)
    }

    /// Returns once the store says run `run_id` was asked to stop, having
    /// cancelled `token`; asks at once, then every [`CANCEL_POLL`]. A store
    /// that cannot answer is asked again at the next poll.
    async fn until_cancel_requested(&self, run_id: &str, token: CancellationToken) {
        loop {
            if let Ok(true) = self.store.cancel_requested(run_id).await {
                tracing::info!(run_id, "the run was asked to stop; cancelling it");
                token.cancel();
                return;
            }
            tokio::time::sleep(CANCEL_POLL).await;
        }
    }

    /// Whether an output is still at `location`; a store that cannot say is
    /// an error naming it.
    async fn output_exists(&self, outputs: &dyn OutputStore, location: &str) -> Result<bool> {
        outputs.exists(location).await.map_err(|e| Error::Outputs {
            location: outputs.describe(),
            message: format!(
                "cannot tell whether {location} is there: {}",
                etl_dag::error_chain(&*e)
            ),
        })
    }
}
