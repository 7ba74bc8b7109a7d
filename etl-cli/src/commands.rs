//! `run`, `run --step`, `resume`: what `etl-runs` does, printed, with an
//! exit status.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use super::Program;
use super::progress::Progress;
use super::views::{seconds, steps_table};
use crate::{Error, Result};
use etl_dag::StepStatus;
use etl_runs::state::Trigger;
use etl_runs::{NewRun, StateStore, StepRun};

impl Program {
    /// A new run of the workflow, or of `only` steps, or `from` a step on.
    pub(super) async fn run(
        &self,
        store: &dyn StateStore,
        params: BTreeMap<String, String>,
        only: Vec<String>,
        from: Option<String>,
    ) -> Result<ExitCode> {
        let mut run = NewRun::new(Trigger::Run);
        run.params = params;
        run.only = only;
        run.from = from;
        let (_, run_id) = self.runs(store).start(run, self.progress()).await?;
        self.summary(store, &run_id).await
    }

    /// One step of run `run_id` in this process: what each Airflow task calls.
    pub(super) async fn run_step(
        &self,
        store: &dyn StateStore,
        step: &str,
        run_id: &str,
        params: BTreeMap<String, String>,
        one_attempt: bool,
    ) -> Result<ExitCode> {
        let ran = self
            .runs(store)
            .one_attempt(one_attempt)
            .run_step(step, run_id, params, self.progress())
            .await?;
        let (report, run_status) = match ran {
            StepRun::NotRunnable { why } => {
                eprintln!("error: step {step:?}: {why}");
                return Ok(ExitCode::from(1));
            }
            StepRun::Ran { report, run_status } => (report, run_status),
            other => return Err(Error::Internal(format!("unexpected outcome {other:?}"))),
        };
        let steps: Vec<_> = store
            .steps(run_id)
            .await?
            .into_iter()
            .filter(|s| s.step == step)
            .collect();
        println!("step {step:?} of run {run_id} (the run is {run_status}):");
        print!("{}", steps_table(&steps, true));
        Ok(if report.succeeded() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }

    /// Runs again the steps of `run_id` that did not succeed.
    pub(super) async fn resume(&self, store: &dyn StateStore, run_id: &str) -> Result<ExitCode> {
        let runs = self.runs(store);
        let plan = runs.plan_resume(run_id).await?;
        if plan.steps.is_empty() {
            println!("run {run_id} succeeded: nothing to resume");
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!("resuming run {run_id}: {}", plan.steps.join(", "));
        runs.resume(plan, self.progress()).await?;
        self.summary(store, run_id).await
    }

    /// The view a run draws while it goes.
    pub(super) fn progress(&self) -> Arc<Progress> {
        Arc::new(Progress::with_logging(self.logging))
    }

    /// The run's line and its steps' table; exit status 0 when it succeeded.
    pub(super) async fn summary(&self, store: &dyn StateStore, run_id: &str) -> Result<ExitCode> {
        let run = store
            .run(run_id)
            .await?
            .ok_or_else(|| Error::Internal(format!("run {run_id:?} vanished")))?;
        println!(
            "workflow {:?}, run {}: {} in {} s",
            run.workflow,
            run.run_id,
            run.status,
            seconds(run.duration())
        );
        print!("{}", steps_table(&store.steps(run_id).await?, false));
        Ok(if run.status == StepStatus::Succeeded {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
}

impl Program {
    /// `run --queue`: a run queued for workers; prints its id.
    pub(super) async fn enqueue(
        &self,
        store: &dyn StateStore,
        params: BTreeMap<String, String>,
    ) -> Result<ExitCode> {
        let run_id = self.runs(store).enqueue(params).await?;
        println!("{run_id}");
        eprintln!(
            "queued run {run_id} of workflow {:?} in {}: `worker` runs it",
            self.dag.name(),
            store.location()
        );
        Ok(ExitCode::SUCCESS)
    }

    /// `worker`: claims and runs queued steps until SIGTERM or Ctrl-C, then
    /// finishes what it holds; a second signal gives what it holds back to
    /// the queue and stops at once.
    pub(super) async fn worker(
        &self,
        store: &dyn StateStore,
        concurrency: usize,
        signals: super::schedule::Signals,
    ) -> Result<ExitCode> {
        let stop = tokio_util::sync::CancellationToken::new();
        let abandon = tokio_util::sync::CancellationToken::new();
        let signals = tokio::spawn(super::schedule::wait_for_signals(
            signals,
            stop.clone(),
            abandon.clone(),
        ));
        eprintln!(
            "worker of workflow {:?} on {}, outputs in {}: {concurrency} step(s) at a time; SIGTERM or Ctrl-C stops it after what it holds",
            self.dag.name(),
            store.location(),
            self.outputs
                .get()
                .map(|o| o.describe())
                .unwrap_or_else(|| "the store's folder".into())
        );
        let runs = self.runs(store);
        let worker = etl_runs::Worker::new(&runs).concurrency(concurrency);
        let report = tokio::select! {
            report = worker.run(stop, self.progress()) => report,
            _ = abandon.cancelled() => {
                let given_back = store
                    .fail_unfinished("its worker was stopped by a second signal")
                    .await?;
                eprintln!("stopped: {} run(s) given back to the queue", given_back.len());
                signals.abort();
                return Ok(ExitCode::from(1));
            }
        };
        signals.abort();
        eprintln!(
            "stopped: {} step(s) run, {} of them failed",
            report.steps, report.failed
        );
        Ok(ExitCode::SUCCESS)
    }
}
