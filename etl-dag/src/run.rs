//! Executing a [`Dag`]: the [`Runner`].

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::FutureExt as _;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::event::{Listeners, Observer, StepEvent};
use crate::outputs::{Folder, OutputStore, WriteFn};
use crate::report::{RunReport, StepReport, StepStatus};
use crate::{Dag, Error, Node, OutputHooks, Produced, Result, StepContext, StepInputs};

type Watchers = Arc<Listeners>;

/// One run of a [`Dag`], configured before it starts.
///
/// ```
/// # use etl_dag::{Dag, Step, StepContext, StepInputs};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> etl_dag::Result<()> {
/// # let dag = Dag::builder("w").step(Step::new("a", |_: StepContext, _: StepInputs| async { Ok::<_, String>(()) })).build()?;
/// let cancel = etl_dag::CancellationToken::new();
/// let report = dag
///     .runner()
///     .cancel_token(cancel.clone()) // cancel.cancel() from anywhere stops the run
///     .on_event(|e| eprintln!("{} {}", e.step, e.status))
///     .run()
///     .await;
/// assert!(report.succeeded());
/// # Ok(()) }
/// ```
///
/// A run can also be part of a larger one: [`Runner::only`] runs some steps,
/// taking the outputs of the others from files an earlier run saved
/// ([`Runner::persist_outputs`], [`Runner::reuse_output`]).
pub struct Runner<'d> {
    dag: &'d Dag,
    settings: Settings,
}

impl<'d> Runner<'d> {
    pub(super) fn new(dag: &'d Dag) -> Self {
        Runner {
            dag,
            settings: Settings {
                cancel: CancellationToken::new(),
                ctrl_c: false,
                fail_fast: dag.fail_fast,
                one_attempt: false,
                max_parallel: dag.max_parallel,
                run_id: None,
                listeners: Listeners::default(),
                only: None,
                reuse: Vec::new(),
                persist: None,
                params: Arc::default(),
            },
        }
    }

    /// Stops the run when `token` is cancelled: running steps are dropped at
    /// their next `.await`, and every step not finished is CANCELLED.
    pub fn cancel_token(mut self, token: CancellationToken) -> Self {
        self.settings.cancel = token;
        self
    }

    /// Cancels the run on Ctrl-C (SIGINT), as [`Runner::cancel_token`] does.
    pub fn cancel_on_ctrl_c(mut self) -> Self {
        self.settings.ctrl_c = true;
        self
    }

    /// Overrides the workflow's [`fail_fast`](super::DagBuilder::fail_fast).
    pub fn fail_fast(mut self, yes: bool) -> Self {
        self.settings.fail_fast = yes;
        self
    }

    /// Makes each step one attempt, whatever its retries: for a step run by
    /// a scheduler that retries it itself (an exported Airflow or Prefect
    /// task), so that the two do not multiply.
    pub fn one_attempt(mut self, yes: bool) -> Self {
        self.settings.one_attempt = yes;
        self
    }

    /// Overrides the workflow's [`max_parallel`](super::DagBuilder::max_parallel).
    pub fn max_parallel(mut self, n: usize) -> Self {
        self.settings.max_parallel = Some(n.max(1));
        self
    }

    /// The run's id (default: a new one from the clock, the process and a counter).
    pub fn run_id(mut self, id: impl Into<String>) -> Self {
        self.settings.run_id = Some(id.into());
        self
    }

    /// Called at every status change of a step ([`StepEvent`]): PENDING for
    /// each step the run will run, before any starts, then as they go. Calls
    /// come from the thread the step ran on. Each call adds a listener; every
    /// listener gets every event.
    pub fn on_event(mut self, f: impl Fn(&StepEvent<'_>) + Send + Sync + 'static) -> Self {
        self.settings.listeners.on_event(f);
        self
    }

    /// Called with a step's name and its rows so far whenever the step
    /// reports them ([`StepContext::progress`](super::StepContext::progress)).
    pub fn on_progress(mut self, f: impl Fn(&str, u64) + Send + Sync + 'static) -> Self {
        self.settings.listeners.on_progress(f);
        self
    }

    /// Adds a watcher of the run's events and rows ([`Observer`]), told
    /// [`Observer::finish`] when the run ends: a terminal view, a recorder.
    pub fn observe(mut self, observer: Arc<dyn Observer>) -> Self {
        self.settings.listeners.observe(observer);
        self
    }

    /// The run's parameters, which steps read with
    /// [`StepContext::param`](super::StepContext::param).
    pub fn params(mut self, params: BTreeMap<String, String>) -> Self {
        self.settings.params = Arc::new(params);
        self
    }

    /// Runs only these steps (default: all). A step they take an input from
    /// must then be given with [`Runner::reuse_output`]; if it is not, the
    /// step needing it fails, naming the input. Steps they only run `after`
    /// are taken as done. The report and the events cover these steps only.
    /// An unknown name is an error naming the workflow's steps.
    pub fn only<I, S>(mut self, steps: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut only = BTreeSet::new();
        for name in steps {
            only.insert(self.index_of(name.as_ref())?);
        }
        self.settings.only = Some(only);
        Ok(self)
    }

    /// Takes step `step`'s output from `location`, saved by an earlier run
    /// (with [`Runner::save_outputs`] or [`Runner::persist_outputs`]),
    /// instead of running it; read through the run's [`OutputStore`], or as
    /// a local file when it has none. The step needs a
    /// [`Codec`](crate::Codec); an output that cannot be read fails the steps
    /// that take it.
    pub fn reuse_output(mut self, step: &str, location: impl Into<String>) -> Result<Self> {
        let index = self.index_of(step)?;
        self.settings.reuse.push((index, location.into()));
        Ok(self)
    }

    /// Saves each step's output, when the step has a [`Codec`](crate::Codec), to
    /// `dir/<step>.<arrow|json>` before the step counts as SUCCEEDED (the
    /// event says where). A save that fails fails the attempt.
    pub fn persist_outputs(self, dir: impl Into<PathBuf>) -> Self {
        self.save_outputs(Arc::new(Folder::flat(dir)))
    }

    /// Saves each step's output, when the step has a [`Codec`](crate::Codec),
    /// in `store` (as `<run id>/<step>.<arrow|json>` there) before the step
    /// counts as SUCCEEDED (the event says where), and reads the outputs
    /// given to [`Runner::reuse_output`] from it. A save that fails fails
    /// the attempt.
    pub fn save_outputs(mut self, store: Arc<dyn OutputStore>) -> Self {
        self.settings.persist = Some(store);
        self
    }

    fn index_of(&self, name: &str) -> Result<usize> {
        self.dag
            .nodes
            .iter()
            .position(|n| &*n.name == name)
            .ok_or_else(|| Error::UnknownStep {
                workflow: self.dag.name.to_string(),
                step: name.to_string(),
                known: self.dag.order().iter().map(ToString::to_string).collect(),
            })
    }

    /// Runs the steps; the report says how each ended.
    ///
    /// The run's own loop is a task on the runtime, so the steps it starts go
    /// to the queue of the worker it runs on: awaiting the run from outside
    /// the runtime's workers (`#[tokio::main]`'s `main`) costs one wake-up per
    /// run, not one per step. Dropping the returned future cancels the run.
    pub async fn run(self) -> RunReport {
        let graph = Graph {
            name: self.dag.name.clone(),
            nodes: self.dag.nodes.clone(),
            order: self.dag.order.clone(),
        };
        let coordinator = tokio::spawn(self.settings.coordinate(graph));
        let _abort = AbortOnDrop(coordinator.abort_handle());
        match coordinator.await {
            Ok(report) => report,
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => unreachable!("the run's task is aborted only with the run: {e}"),
            },
        }
    }
}

/// What a run needs of its [`Dag`], owned, so that the run can be a task.
struct Graph {
    name: Arc<str>,
    nodes: Arc<[Node]>,
    order: Arc<[usize]>,
}

/// A [`Runner`]'s settings, owned.
struct Settings {
    cancel: CancellationToken,
    ctrl_c: bool,
    fail_fast: bool,
    one_attempt: bool,
    max_parallel: Option<usize>,
    run_id: Option<String>,
    listeners: Listeners,
    only: Option<BTreeSet<usize>>,
    reuse: Vec<(usize, String)>,
    persist: Option<Arc<dyn OutputStore>>,
    params: Arc<BTreeMap<String, String>>,
}

impl Settings {
    async fn coordinate(self, graph: Graph) -> RunReport {
        let dag = &graph;
        let run_id: Arc<str> = self.run_id.unwrap_or_else(new_run_id).into();
        let started = SystemTime::now();
        let clock = Instant::now();
        // The run's own token: cancelled by the caller's, by Ctrl-C, or by fail-fast.
        let cancel = self.cancel.child_token();
        let _ctrl_c = self.ctrl_c.then(|| {
            let cancel = cancel.clone();
            let listener = tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    cancel.cancel();
                }
            });
            AbortOnDrop(listener.abort_handle())
        });
        // What every step's task shares; also emits the events of steps
        // that never start (skipped, cancelled).
        let task = StepTask {
            run_id: run_id.clone(),
            workflow: dag.name.clone(),
            cancel: cancel.clone(),
            listeners: Arc::new(self.listeners),
            persist: self.persist.clone(),
            params: self.params,
            one_attempt: self.one_attempt,
        };

        let n = dag.nodes.len();
        let mut outputs: Vec<Option<Produced>> = vec![None; n];
        // Why the output of a step that does not run here is not available.
        let mut unavailable: Vec<Option<String>> = dag
            .nodes
            .iter()
            .map(|node| {
                Some(format!(
                    "step {:?} is not part of this run and no saved output of it was given",
                    node.name
                ))
            })
            .collect();
        let mut selected: Vec<bool> = match &self.only {
            Some(only) => (0..n).map(|i| only.contains(&i)).collect(),
            None => vec![true; n],
        };
        let local: Arc<dyn OutputStore> = Arc::new(Folder::flat("."));
        let reading = self.persist.as_ref().unwrap_or(&local);
        for (i, location) in self.reuse {
            selected[i] = false;
            let node = &dag.nodes[i];
            unavailable[i] = match load_output(node.output, &**reading, &location).await {
                Ok(produced) => {
                    outputs[i] = Some(produced);
                    None
                }
                Err(why) => Some(format!(
                    "the saved output of step {:?} ({location}) cannot be used: {why}",
                    node.name,
                )),
            };
        }

        let mut steps: Vec<StepReport> = dag
            .nodes
            .iter()
            .map(|node| StepReport::pending(&node.name))
            .collect();
        let mut waiting: Vec<usize> = vec![0; n];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, node) in dag.nodes.iter().enumerate() {
            for &d in node.inputs.iter().chain(&node.after) {
                if selected[i] && selected[d] {
                    dependents[d].push(i);
                    waiting[i] += 1;
                }
            }
        }
        // Ready steps start in topological order, which is declaration order
        // among independent steps.
        let rank: Vec<usize> = {
            let mut rank = vec![0; n];
            for (r, &i) in dag.order.iter().enumerate() {
                rank[i] = r;
            }
            rank
        };
        let mut ready: BTreeSet<(usize, usize)> = BTreeSet::new();
        let mut failed_any = false;
        for &i in dag.order.iter().filter(|&&i| selected[i]) {
            task.emit(&dag.nodes[i].name, StepStatus::Pending, 0, None);
        }
        for &i in dag.order.iter() {
            if !selected[i] || steps[i].status != StepStatus::Pending {
                continue;
            }
            // An input that neither runs here nor was given: the step cannot run.
            let missing = dag.nodes[i]
                .inputs
                .iter()
                .find_map(|&d| (!selected[d]).then(|| unavailable[d].as_deref()).flatten());
            if let Some(why) = missing {
                let why = format!("an input is not available: {why}");
                task.emit(&dag.nodes[i].name, StepStatus::Failed, 0, Some(&why));
                steps[i].status = StepStatus::Failed;
                steps[i].error = Some(why);
                failed_any = true;
                skip_dependents(i, dag, &dependents, &mut steps, &task);
            } else if waiting[i] == 0 {
                ready.insert((rank[i], i));
            }
        }
        if failed_any && self.fail_fast {
            cancel.cancel();
        }
        let limit = self.max_parallel.unwrap_or(usize::MAX).max(1);
        let mut running: JoinSet<(usize, Attempted)> = JoinSet::new();

        loop {
            while running.len() < limit && !cancel.is_cancelled() {
                let Some((_, i)) = ready.pop_first() else {
                    break;
                };
                let node = &dag.nodes[i];
                let inputs = StepInputs {
                    step: node.name.clone(),
                    values: node
                        .inputs
                        .iter()
                        .map(|&d| {
                            let produced = outputs[d].clone();
                            (
                                dag.nodes[d].name.clone(),
                                produced.expect("inputs ran first or were given"),
                            )
                        })
                        .collect(),
                };
                steps[i].status = StepStatus::Running;
                steps[i].started = Some(SystemTime::now());
                let task = task.clone();
                let run = node_runner(node);
                running.spawn(async move { (i, task.attempt_all(run, inputs).await) });
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            let (i, attempted) = match joined {
                Ok(done) => done,
                // Steps catch their own panics; a JoinError here means the
                // task was aborted, which this loop never does.
                Err(e) => unreachable!("step task ended abnormally: {e}"),
            };
            let report = &mut steps[i];
            report.attempts = attempted.attempts;
            report.duration = Some(attempted.duration);
            match attempted.outcome {
                Outcome::Succeeded {
                    produced,
                    rows,
                    output,
                } => {
                    report.status = StepStatus::Succeeded;
                    report.rows = rows;
                    report.output_type = Some(produced.type_name);
                    report.output = output;
                    outputs[i] = Some(produced);
                    for &d in &dependents[i] {
                        waiting[d] -= 1;
                        if waiting[d] == 0 && steps[d].status == StepStatus::Pending {
                            ready.insert((rank[d], d));
                        }
                    }
                }
                Outcome::Failed(error) => {
                    report.status = StepStatus::Failed;
                    report.error = Some(error);
                    failed_any = true;
                    if self.fail_fast {
                        cancel.cancel();
                    }
                    skip_dependents(i, dag, &dependents, &mut steps, &task);
                }
                Outcome::Cancelled => {
                    report.status = StepStatus::Cancelled;
                    report.error = Some(cancel_reason(failed_any, self.fail_fast));
                }
            }
        }
        for (i, report) in steps.iter_mut().enumerate() {
            if selected[i] && report.status == StepStatus::Pending {
                let why = cancel_reason(failed_any, self.fail_fast);
                task.emit(&dag.nodes[i].name, StepStatus::Cancelled, 0, Some(&why));
                report.status = StepStatus::Cancelled;
                report.error = Some(why);
            }
        }
        let outputs = dag
            .nodes
            .iter()
            .zip(outputs)
            .zip(&selected)
            .filter_map(|((node, o), &ran)| Some((node.name.to_string(), o.filter(|_| ran)?)))
            .collect();
        task.listeners.finish();
        RunReport {
            workflow: dag.name.to_string(),
            run_id: run_id.to_string(),
            started,
            duration: clock.elapsed(),
            steps: steps
                .into_iter()
                .zip(&selected)
                .filter_map(|(s, &ran)| ran.then_some(s))
                .collect(),
            outputs,
        }
    }
}

/// Marks everything downstream of failed step `failed` SKIPPED, naming it.
fn skip_dependents(
    failed: usize,
    dag: &Graph,
    dependents: &[Vec<usize>],
    steps: &mut [StepReport],
    task: &StepTask,
) {
    let failed_name = &dag.nodes[failed].name;
    let mut stack = dependents[failed].clone();
    while let Some(d) = stack.pop() {
        if steps[d].status == StepStatus::Pending {
            let why = format!("step {failed_name:?} failed");
            task.emit(&dag.nodes[d].name, StepStatus::Skipped, 0, Some(&why));
            steps[d].status = StepStatus::Skipped;
            steps[d].error = Some(why);
            stack.extend(&dependents[d]);
        }
    }
}

/// Reads a saved output from `store`, decoding it off the async threads.
async fn load_output(
    hooks: OutputHooks,
    store: &dyn OutputStore,
    location: &str,
) -> std::result::Result<Produced, String> {
    let Some(codec) = hooks.codec() else {
        return Err(
            "its output type has no codec (neither Arrow data nor serde), so it is never saved"
                .into(),
        );
    };
    let mut input = store.open(location).await.map_err(|e| error_chain(&*e))?;
    let value = tokio::task::spawn_blocking(move || codec.load_from(&mut input))
        .await
        .map_err(|e| format!("reading it panicked: {e}"))?
        .map_err(|e| {
            format!(
                "it is not a saved {}: {}",
                codec.type_name(),
                error_chain(&*e)
            )
        })?;
    Ok(Produced {
        value,
        type_name: codec.type_name(),
        table: hooks.table_fn(),
    })
}

fn cancel_reason(failed_any: bool, fail_fast: bool) -> String {
    if failed_any && fail_fast {
        "cancelled: another step failed and the workflow is fail-fast".into()
    } else {
        "cancelled: the run was cancelled".into()
    }
}

/// What one step needs to run, cloned out of the [`Dag`] into its task.
struct NodeRun {
    name: Arc<str>,
    options: crate::StepOptions,
    output: OutputHooks,
    run: crate::StepFn,
}

fn node_runner(node: &Node) -> NodeRun {
    NodeRun {
        name: node.name.clone(),
        options: node.options.clone(),
        output: node.output,
        run: node.run.clone(),
    }
}

#[derive(Clone)]
struct StepTask {
    run_id: Arc<str>,
    workflow: Arc<str>,
    cancel: CancellationToken,
    listeners: Watchers,
    persist: Option<Arc<dyn OutputStore>>,
    params: Arc<BTreeMap<String, String>>,
    one_attempt: bool,
}

struct Attempted {
    attempts: u32,
    duration: Duration,
    outcome: Outcome,
}

enum Outcome {
    Succeeded {
        produced: Produced,
        rows: Option<u64>,
        output: Option<String>,
    },
    Failed(String),
    Cancelled,
}

impl StepTask {
    fn emit(&self, step: &str, status: StepStatus, attempt: u32, error: Option<&str>) {
        self.listeners
            .event(&StepEvent::new(&self.run_id, step, status, attempt).with_error(error));
    }

    /// Saves a step's output where [`Runner::save_outputs`] says, if it
    /// has a codec; returns its location.
    async fn save(
        &self,
        node: &NodeRun,
        produced: &Produced,
    ) -> std::result::Result<Option<String>, String> {
        let (Some(store), Some(codec)) = (&self.persist, node.output.codec()) else {
            return Ok(None);
        };
        let value = produced.value.clone();
        let write: WriteFn = Box::new(move |out| codec.save_to(&*value, out));
        let name = codec.file_name(&node.name);
        store
            .save(&self.run_id, &name, write)
            .await
            .map(Some)
            .map_err(|e| format!("{} ({}): {}", name, store.describe(), error_chain(&*e)))
    }

    /// Every attempt of one step: timeouts, retries with backoff, cancellation.
    async fn attempt_all(self, node: NodeRun, inputs: StepInputs) -> Attempted {
        let clock = Instant::now();
        let ended = |attempts, outcome| Attempted {
            attempts,
            duration: clock.elapsed(),
            outcome,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.emit(&node.name, StepStatus::Running, attempt, None);
            let span = tracing::info_span!(
                "step",
                workflow = &*self.workflow,
                step = &*node.name,
                run_id = &*self.run_id,
                attempt
            );
            let cx = StepContext {
                run_id: self.run_id.clone(),
                workflow: self.workflow.clone(),
                step: node.name.clone(),
                attempt,
                span: span.clone(),
                cancel: self.cancel.clone(),
                params: self.params.clone(),
                progress: self.listeners.clone(),
                inputs: inputs.clone(),
            };
            // A panic is the attempt's failure. A timed-out or cancelled
            // attempt (or a dropped run) is dropped: it stops at its next await.
            let step =
                AssertUnwindSafe((node.run)(cx, inputs.clone()).instrument(span)).catch_unwind();
            let timed = async {
                match node.options.timeout {
                    Some(limit) => tokio::time::timeout(limit, step)
                        .await
                        .unwrap_or_else(|_| Ok(Err(format!("timed out after {limit:?}").into()))),
                    None => step.await,
                }
            };
            let result = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => None,
                r = timed => Some(r),
            };
            let error = match result {
                None => {
                    self.emit(
                        &node.name,
                        StepStatus::Cancelled,
                        attempt,
                        Some("the run was cancelled"),
                    );
                    return ended(attempt, Outcome::Cancelled);
                }
                Some(Ok(Ok(mut produced))) => match self.save(&node, &produced).await {
                    Ok(output) => {
                        produced.table = node.output.table_fn();
                        let rows = node.output.rows(&*produced.value);
                        self.listeners.event(
                            &StepEvent::new(
                                &self.run_id,
                                &node.name,
                                StepStatus::Succeeded,
                                attempt,
                            )
                            .with_rows(rows)
                            .with_output(output.as_deref())
                            .with_duration(clock.elapsed()),
                        );
                        return ended(
                            attempt,
                            Outcome::Succeeded {
                                produced,
                                rows,
                                output,
                            },
                        );
                    }
                    Err(e) => format!("its output could not be saved: {e}"),
                },
                Some(Ok(Err(e))) => error_chain(&*e),
                Some(Err(panic)) => format!("panicked: {}", panic_message(&*panic)),
            };
            let retries = if self.one_attempt {
                0
            } else {
                node.options.retries
            };
            if attempt > retries {
                self.listeners.event(
                    &StepEvent::new(&self.run_id, &node.name, StepStatus::Failed, attempt)
                        .with_error(Some(&error))
                        .with_duration(clock.elapsed()),
                );
                let error = if attempt > 1 {
                    format!("{error} (after {attempt} attempts)")
                } else {
                    error
                };
                return ended(attempt, Outcome::Failed(error));
            }
            self.emit(&node.name, StepStatus::Retrying, attempt, Some(&error));
            tracing::warn!(workflow = &*self.workflow, step = &*node.name, attempt, %error, "step failed; retrying");
            let wait = etl_rules::jitter(node.options.backoff.delay(attempt));
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => {
                    self.emit(&node.name, StepStatus::Cancelled, attempt, Some("the run was cancelled"));
                    return ended(attempt, Outcome::Cancelled);
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// The error's message with its sources, `outer: inner: innermost`.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".into())
}

/// A new run id, unique across processes: the time in microseconds, the
/// process id and a counter, in hex (`660f4f5e8234d-02d5e-0000`). Ids sort by
/// start time.
pub fn new_run_id() -> String {
    etl_rules::new_id()
}

/// Checks a run id given from outside (`--run-id`, Airflow's `run_id`): 1 to
/// 250 characters of ASCII letters, digits and `-_.:+~@`, not starting with
/// `.`. A run id names a folder of saved outputs, so `/`, `\`, `..` and
/// control characters, which could point elsewhere, are refused. Airflow's
/// own ids (`manual__2024-01-01T00:00:00+00:00`) pass.
///
/// ```
/// use etl_dag::check_run_id;
///
/// assert!(check_run_id("manual__2024-01-01T00:00:00+00:00").is_ok());
/// assert!(check_run_id("../../etc").is_err());
/// assert!(check_run_id("/tmp/x").is_err());
/// ```
pub fn check_run_id(id: &str) -> Result<()> {
    etl_rules::check_run_id(id).map_err(Error::InvalidRunId)
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
