//! `run`, `run --step`, `resume`: running a workflow, recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::Program;
use super::progress::Progress;
use super::views::{seconds, steps_table};
use crate::state::{RunStart, StateStore, Trigger};
use crate::{Error, Result};
use etl_dag::{CancellationToken, RunReport, Runner, StepStatus, new_run_id};

/// A run to start: which steps, with what, started by what.
pub(super) struct NewRun {
    pub(super) params: BTreeMap<String, String>,
    /// Only these steps (all when empty).
    pub(super) only: Vec<String>,
    /// This step and everything after it.
    pub(super) from: Option<String>,
    pub(super) trigger: Trigger,
    /// For a scheduled run, its tick.
    pub(super) scheduled_for: Option<std::time::SystemTime>,
    /// Cancels the run; without it, Ctrl-C does.
    pub(super) cancel: Option<CancellationToken>,
}

impl NewRun {
    /// Every step, no parameters, Ctrl-C cancels.
    pub(super) fn new(trigger: Trigger) -> NewRun {
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

impl Program {
    /// A new run of the workflow, or of `only` steps, or `from` a step on.
    pub(super) async fn run(
        &self,
        state: &Path,
        params: BTreeMap<String, String>,
        only: Vec<String>,
        from: Option<String>,
    ) -> Result<ExitCode> {
        for step in only.iter().chain(&from) {
            self.check_step(step)?;
        }
        let store = self.store(state)?;
        let run = NewRun {
            params,
            only,
            from,
            ..NewRun::new(Trigger::Run)
        };
        let (_, run_id) = self.start_run(&store, run).await?;
        self.summary(&store, &run_id)
    }

    /// Records and runs a new run; its report and id.
    pub(super) async fn start_run(
        &self,
        store: &StateStore,
        run: NewRun,
    ) -> Result<(RunReport, String)> {
        let NewRun {
            params,
            only,
            from,
            trigger,
            scheduled_for,
            cancel,
        } = run;
        let selected: BTreeSet<String> = if !only.is_empty() {
            only.into_iter().collect()
        } else if let Some(from) = &from {
            self.downstream_of(from)
        } else {
            self.dag.steps().map(|s| s.name.to_owned()).collect()
        };
        let partial = selected.len() < self.dag.steps().count();
        // What the selected steps take from steps that do not run: the
        // newest saved outputs.
        let mut reuse: Vec<(String, String, PathBuf)> = Vec::new();
        for step in self.dag.steps().filter(|s| selected.contains(s.name)) {
            for input in &step.inputs {
                if selected.contains(*input) || reuse.iter().any(|(s, _, _)| s == input) {
                    continue;
                }
                match store.latest_output(self.dag.name(), input)? {
                    Some((from_run, path)) => reuse.push(((*input).to_owned(), from_run, path)),
                    None => {
                        return Err(Error::Config(format!(
                            "step {:?} takes the output of step {input:?}, which no earlier run saved; \
                             run {input:?} too, or the whole workflow",
                            step.name
                        )));
                    }
                }
            }
        }
        let run_id = new_run_id();
        let mut start = RunStart::new(&run_id, &self.dag, trigger)
            .params(params.clone())
            .version(self.version);
        if let Some(tick) = scheduled_for {
            start = start.scheduled_for(tick);
        }
        start
            .steps
            .retain(|s| selected.contains(s) || reuse.iter().any(|(r, _, _)| r == s));
        store.begin_run(&start)?;
        for (step, from_run, path) in &reuse {
            store.mark_reused(&run_id, step, from_run, path)?;
        }
        let mut runner = self.dag.runner().run_id(&run_id).params(params);
        if partial {
            runner = runner.only(&selected)?;
        }
        for (step, _, path) in &reuse {
            runner = runner.reuse_output(step, path)?;
        }
        let report = self.execute(store, runner, &run_id, cancel).await?;
        store.finish_run(&report)?;
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
    /// outputs the run saved: what each Airflow task calls.
    pub(super) async fn run_step(
        &self,
        state: &Path,
        step: &str,
        run_id: &str,
        params: BTreeMap<String, String>,
    ) -> Result<ExitCode> {
        self.check_step(step)?;
        // The id names the run's folder of outputs: nothing that points elsewhere.
        etl_dag::check_run_id(run_id)?;
        let store = self.store(state)?;
        let start = RunStart::new(run_id, &self.dag, Trigger::Step)
            .params(params.clone())
            .version(self.version);
        store.join_run(&start)?;
        let run = store
            .run(run_id)?
            .ok_or_else(|| Error::Internal(format!("run {run_id:?} vanished")))?;
        // The run's parameters are those its first step was given; a later
        // step may add some, not change them.
        let mut all = run.params.clone();
        for (key, value) in params {
            if let Some(old) = all.get(&key).filter(|old| **old != value) {
                return Err(Error::Config(format!(
                    "run {run_id:?} has parameter {key}={old}, not {value}"
                )));
            }
            all.insert(key, value);
        }
        let recorded = store.steps(run_id)?;
        let mut runner = self.dag.runner().run_id(run_id).params(all).only([step])?;
        let info = self.dag.step(step).expect("checked");
        for input in &info.inputs {
            let record = recorded.iter().find(|r| r.step == *input);
            match record.map(|r| (r.status, r.output.as_ref())) {
                Some((StepStatus::Succeeded, Some(path))) => {
                    runner = runner.reuse_output(input, path)?;
                }
                other => {
                    let why = match other {
                        Some((StepStatus::Succeeded, None)) => format!(
                            "input {input:?} succeeded in run {run_id:?} but its output was not saved \
                             (its type is neither Arrow data nor serde)"
                        ),
                        Some((status, _)) => format!(
                            "input {input:?} has not succeeded in run {run_id:?} (it is {status}); run that step first"
                        ),
                        None => format!("input {input:?} is not part of run {run_id:?}"),
                    };
                    store.fail_step(run_id, step, &why)?;
                    store.settle_run(run_id)?;
                    eprintln!("error: step {step:?}: {why}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        let report = self.execute(&store, runner, run_id, None).await?;
        let status = store.settle_run(run_id)?;
        let steps: Vec<_> = store
            .steps(run_id)?
            .into_iter()
            .filter(|s| s.step == step)
            .collect();
        println!("step {step:?} of run {run_id} (the run is {status}):");
        print!("{}", steps_table(&steps, true));
        Ok(if report.succeeded() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }

    /// Runs again the steps of `run_id` that did not succeed, and the
    /// succeeded ones whose outputs they need but were not saved; the
    /// others' saved outputs are reused.
    pub(super) async fn resume(&self, state: &Path, run_id: &str) -> Result<ExitCode> {
        let store = self.store(state)?;
        let Some(run) = store.run(run_id)? else {
            return Err(Error::Config(format!(
                "no run {run_id:?} in {}; `history` lists the runs",
                store.path().display()
            )));
        };
        if run.workflow != self.dag.name() {
            return Err(Error::Config(format!(
                "run {run_id:?} is a run of workflow {:?}, not {:?}",
                run.workflow,
                self.dag.name()
            )));
        }
        if run.status == StepStatus::Running {
            return Err(Error::Config(format!(
                "run {run_id:?} is still running in another process; resume it once it has ended"
            )));
        }
        let recorded = store.steps(run_id)?;
        let saved = |name: &str| {
            recorded
                .iter()
                .find(|r| r.step == name && r.status == StepStatus::Succeeded)
                .and_then(|r| r.output.clone())
                .filter(|p| p.exists())
        };
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
        if rerun.is_empty() {
            println!("run {run_id} succeeded: nothing to resume");
            return Ok(ExitCode::SUCCESS);
        }
        let mut runner = self
            .dag
            .runner()
            .run_id(run_id)
            .params(run.params.clone())
            .only(&rerun)?;
        let mut given = BTreeSet::new();
        for step in rerun.iter().filter_map(|s| self.dag.step(s)) {
            for input in step.inputs.iter().filter(|i| !rerun.contains(**i)) {
                if !given.insert(*input) {
                    continue;
                }
                let path = match saved(input) {
                    Some(path) => Some(path),
                    None => store
                        .latest_output(self.dag.name(), input)?
                        .map(|(_, path)| path),
                };
                if let Some(path) = path {
                    runner = runner.reuse_output(input, path)?;
                }
            }
        }
        let rerun: Vec<String> = rerun.into_iter().collect();
        store.resume_run(run_id, &rerun)?;
        eprintln!("resuming run {run_id}: {}", rerun.join(", "));
        let report = self.execute(&store, runner, run_id, None).await?;
        store.finish_run(&report)?;
        self.summary(&store, run_id)
    }

    /// Runs with the store recording and the progress view drawing;
    /// cancelled by `cancel`, or by Ctrl-C without it.
    async fn execute(
        &self,
        store: &StateStore,
        runner: Runner<'_>,
        run_id: &str,
        cancel: Option<CancellationToken>,
    ) -> Result<RunReport> {
        let recorder = store.recorder()?;
        let progress = Progress::new(self.logging);
        let (events, rows) = (progress.clone(), progress.clone());
        let runner = match cancel {
            Some(token) => runner.cancel_token(token),
            None => runner.cancel_on_ctrl_c(),
        };
        let report = runner
            .persist_outputs(store.outputs_dir(run_id)?)
            .on_event(recorder.listener())
            .on_event(move |e| events.event(e))
            .on_progress(move |step, n| rows.rows(step, n))
            .run()
            .await;
        progress.finish();
        recorder.flush().await?;
        Ok(report)
    }

    /// The run's line and its steps' table; exit status 0 when it succeeded.
    pub(super) fn summary(&self, store: &StateStore, run_id: &str) -> Result<ExitCode> {
        let run = store
            .run(run_id)?
            .ok_or_else(|| Error::Internal(format!("run {run_id:?} vanished")))?;
        println!(
            "workflow {:?}, run {}: {} in {} s",
            run.workflow,
            run.run_id,
            run.status,
            seconds(run.duration())
        );
        print!("{}", steps_table(&store.steps(run_id)?, false));
        Ok(if run.status == StepStatus::Succeeded {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
}
