//! Workflows of steps: a [`Dag`] of async steps whose outputs feed the steps
//! that depend on them, run on tokio with retries, timeouts and cancellation.
//!
//! Most workflows are written with `#[workflow]` and `#[step]` (the `etl`
//! crate's macros), which check the graph and the types passed between steps
//! at compile time and generate a [`Dag`]. A workflow known only at run time
//! (read from a config file) is assembled with [`Dag::builder`], which makes
//! the same checks when it is built:
//!
//! ```
//! use etl_dag::{Dag, Step, StepContext, StepInputs};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> etl_dag::Result<()> {
//! let dag = Dag::builder("numbers")
//!     .step(Step::new("two", |_cx: StepContext, _inputs: StepInputs| async {
//!         Ok::<_, etl_dag::Error>(2_u64)
//!     }))
//!     .step(Step::new("three", |_cx: StepContext, _inputs: StepInputs| async {
//!         Ok::<_, etl_dag::Error>(3_u64)
//!     }))
//!     .step(
//!         Step::new("product", |_cx: StepContext, inputs: StepInputs| async move {
//!             let (two, three) = (inputs.get::<u64>("two")?, inputs.get::<u64>("three")?);
//!             Ok::<_, etl_dag::Error>(two * three)
//!         })
//!         .inputs(["two", "three"]),
//!     )
//!     .build()?;
//! assert_eq!(dag.order(), ["two", "three", "product"]);
//!
//! let report = dag.run().await.into_result()?;
//! assert_eq!(report.output::<u64>("product"), Some(&6));
//! println!("{report}");
//! # Ok(()) }
//! ```
//!
//! A step starts the moment every step it depends on has succeeded;
//! independent steps run at the same time, up to [`DagBuilder::max_parallel`].
//! A step that fails is retried ([`Step::retries`]) after a backoff with
//! jitter; each attempt may have a [`Step::timeout`]. When a step fails for
//! good its dependents are skipped and the independent branches finish, or
//! everything still running is cancelled with [`DagBuilder::fail_fast`].
//!
//! The runtime knows no data type: what it needs of a step's output (its
//! rows, a view as a table for SQL, how to save it) comes as
//! [`OutputHooks`] when the step is built ([`output`] says how).

mod error;
pub mod event;
pub mod output;
pub mod outputs;
mod report;
mod run;

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use error::{BoxError, Error, Result};
pub use etl_rules::{
    Backoff, Cron, CronDay, MAX_RUN_ID_LEN, ParamType, format_duration, parse_duration,
};
pub use event::{Listeners, NoObserver, Observer, StepEvent};
pub use output::{Codec, Format, Json, Output, OutputHooks, ReadSeek, RowCount};
pub use outputs::{Folder, OutputFuture, OutputStore, WriteFn};
pub use report::{RunReport, StepReport, StepStatus};
pub use run::{Runner, check_run_id, error_chain, new_run_id};
pub use tokio_util::sync::CancellationToken;

use etl_rules::graph::{self, StepDecl};

type StepFuture = Pin<Box<dyn Future<Output = std::result::Result<Produced, BoxError>> + Send>>;
type StepFn = Arc<dyn Fn(StepContext, StepInputs) -> StepFuture + Send + Sync>;

/// A step's output with the name of its type, for error messages, and its
/// view as a table, if it has one.
#[derive(Clone)]
pub(crate) struct Produced {
    pub(crate) value: Output,
    pub(crate) type_name: &'static str,
    pub(crate) table: Option<output::TableFn>,
}

impl Produced {
    pub(crate) fn new(value: Output, type_name: &'static str) -> Self {
        Produced {
            value,
            type_name,
            table: None,
        }
    }
}

/// A step's result type: `Result<T, E>`, where `T` is what the steps after
/// it receive and `E` is any error (etl's errors, `anyhow::Error`, a
/// `String`).
pub trait StepResult: Send + 'static {
    /// The output passed to dependent steps.
    type Ok: Send + Sync + 'static;
    /// Splits the result.
    fn into_step_result(self) -> std::result::Result<Self::Ok, BoxError>;
}

impl<T, E> StepResult for std::result::Result<T, E>
where
    T: Send + Sync + 'static,
    E: Into<BoxError> + Send + 'static,
{
    type Ok = T;
    fn into_step_result(self) -> std::result::Result<T, BoxError> {
        self.map_err(Into::into)
    }
}

/// How a step is retried and timed out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepOptions {
    /// Retries after the first attempt fails (0: one attempt).
    pub retries: u32,
    /// The wait before each retry.
    pub backoff: Backoff,
    /// The longest one attempt may take; `None` waits for ever.
    pub timeout: Option<Duration>,
}

/// One step of a workflow under construction: its name, what it runs, and
/// the steps it needs.
pub struct Step {
    name: String,
    inputs: Vec<String>,
    after: Vec<String>,
    options: StepOptions,
    output: OutputHooks,
    run: StepFn,
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Step")
            .field("name", &self.name)
            .field("inputs", &self.inputs)
            .field("after", &self.after)
            .field("options", &self.options)
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

impl Step {
    /// A step named `name` that runs `f`. `f` gets the step's [`StepContext`]
    /// and the outputs of its [`inputs`](Step::inputs), and returns a
    /// `Result` whose `Ok` value the steps after it receive.
    pub fn new<F, Fut>(name: impl Into<String>, f: F) -> Step
    where
        F: Fn(StepContext, StepInputs) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: StepResult,
    {
        let run: StepFn = Arc::new(move |cx, inputs| {
            let fut = f(cx, inputs);
            Box::pin(async move {
                let value = fut.await.into_step_result()?;
                Ok(Produced::new(
                    Arc::new(value),
                    std::any::type_name::<<Fut::Output as StepResult>::Ok>(),
                ))
            })
        });
        Step {
            name: name.into(),
            inputs: Vec::new(),
            after: Vec::new(),
            options: StepOptions::default(),
            output: OutputHooks::NONE,
            run,
        }
    }

    /// Steps whose outputs this step takes, by name, in the order
    /// [`StepInputs`] holds them.
    pub fn inputs<I, S>(mut self, steps: I) -> Step
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.inputs.extend(steps.into_iter().map(Into::into));
        self
    }

    /// Steps that must succeed before this one starts, without passing data.
    pub fn after<I, S>(mut self, steps: I) -> Step
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.after.extend(steps.into_iter().map(Into::into));
        self
    }

    /// Retries after a failed attempt (default 0).
    pub fn retries(mut self, retries: u32) -> Step {
        self.options.retries = retries;
        self
    }

    /// The wait between attempts (default exponential from 1 s).
    pub fn backoff(mut self, backoff: Backoff) -> Step {
        self.options.backoff = backoff;
        self
    }

    /// The longest one attempt may take.
    pub fn timeout(mut self, timeout: Duration) -> Step {
        self.options.timeout = Some(timeout);
        self
    }

    /// A backoff `#[step]` has checked at compile time.
    #[doc(hidden)]
    pub fn __backoff_checked(self, text: &str) -> Step {
        match Backoff::parse(text) {
            Ok(backoff) => self.backoff(backoff),
            Err(e) => panic!("#[step] checked this backoff at compile time, yet: {e}"),
        }
    }

    /// A timeout `#[step]` has checked at compile time.
    #[doc(hidden)]
    pub fn __timeout_checked(self, text: &str) -> Step {
        match parse_duration(text) {
            Ok(timeout) => self.timeout(timeout),
            Err(e) => panic!("#[step] checked this timeout at compile time, yet: {e}"),
        }
    }

    /// All options at once.
    pub fn options(mut self, options: StepOptions) -> Step {
        self.options = options;
        self
    }

    /// What the runtime knows of the step's output type ([`OutputHooks`]):
    /// its rows, its view as a table for SQL, how it is saved to a file and
    /// read back, so that a step depending on it can run in another process
    /// and a resumed run can reuse it. `#[workflow]` finds them from the
    /// output type; here, they must be for the step's output type. Without
    /// a codec, the output is not saved.
    pub fn output(mut self, hooks: OutputHooks) -> Step {
        self.output = hooks;
        self
    }

    /// How the step's output is saved ([`Codec::json`], or `etl_core`'s
    /// Arrow codec), its other hooks kept.
    pub fn codec(mut self, codec: Codec) -> Step {
        self.output = self.output.with_codec(codec);
        self
    }
}

/// The outputs of the steps a step takes, in the order of [`Step::inputs`].
#[derive(Clone, Default)]
pub struct StepInputs {
    step: Arc<str>,
    values: Vec<(Arc<str>, Produced)>,
}

impl fmt::Debug for StepInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.values.iter().map(|(n, p)| (n, p.type_name)))
            .finish()
    }
}

impl StepInputs {
    /// The output of step `name`, which must be a `T`. An error names this
    /// step, the input and both types when it is not, or when `name` is not
    /// one of this step's inputs.
    pub fn get<T: Any>(&self, name: &str) -> Result<&T> {
        let Some((_, produced)) = self.values.iter().find(|(n, _)| &**n == name) else {
            return Err(Error::StepInput {
                step: self.step.to_string(),
                input: name.to_string(),
                message: format!(
                    "not an input of this step; its inputs are: {}",
                    self.names().collect::<Vec<_>>().join(", ")
                ),
            });
        };
        produced
            .value
            .downcast_ref::<T>()
            .ok_or_else(|| Error::StepInput {
                step: self.step.to_string(),
                input: name.to_string(),
                message: format!(
                    "it produced a {}, not a {}",
                    produced.type_name,
                    std::any::type_name::<T>()
                ),
            })
    }

    /// The names of the inputs, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(|(n, _)| &**n)
    }

    /// The input at `index`, for code generated by `#[workflow]`, where rustc
    /// has already checked the type.
    #[doc(hidden)]
    pub fn __at<T: Any>(&self, index: usize) -> &T {
        let (name, produced) = &self.values[index];
        match produced.value.downcast_ref::<T>() {
            Some(value) => value,
            None => panic!(
                "step {:?}: input {name:?} is a {}, not a {} (a bug in #[workflow])",
                self.step,
                produced.type_name,
                std::any::type_name::<T>()
            ),
        }
    }
}

/// What a running step knows about its run.
#[derive(Clone)]
pub struct StepContext {
    pub(crate) run_id: Arc<str>,
    pub(crate) workflow: Arc<str>,
    pub(crate) step: Arc<str>,
    pub(crate) attempt: u32,
    pub(crate) span: tracing::Span,
    pub(crate) cancel: CancellationToken,
    pub(crate) params: Arc<std::collections::BTreeMap<String, String>>,
    pub(crate) progress: Arc<event::Listeners>,
    /// The step's inputs, for [`StepContext::input_tables`].
    pub(crate) inputs: StepInputs,
}

impl fmt::Debug for StepContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepContext")
            .field("run_id", &self.run_id)
            .field("workflow", &self.workflow)
            .field("step", &self.step)
            .field("attempt", &self.attempt)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl StepContext {
    /// The run's id, unique per run.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }
    /// The workflow's name.
    pub fn workflow(&self) -> &str {
        &self.workflow
    }
    /// This step's name.
    pub fn step(&self) -> &str {
        &self.step
    }
    /// The attempt, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
    /// The `tracing` span the step runs in (`step{workflow, step, run_id, attempt}`).
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }
    /// The run's parameter `name` ([`Runner::params`]; `--param name=value`
    /// on a workflow's command line).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
    /// Says how many rows the step has handled so far, for progress views
    /// ([`Runner::on_progress`]).
    pub fn progress(&self, rows: u64) {
        self.progress.rows(&self.step, rows);
    }
    /// Every parameter of the run.
    pub fn params(&self) -> &std::collections::BTreeMap<String, String> {
        &self.params
    }
    /// Each input of this step that is a table ([`OutputHooks::is_table`]),
    /// named after the step that produced it, as the table type its hooks
    /// give (for etl's tables, `etl_core::Batches`): what a SQL step reads.
    /// The inputs' data is shared, not copied.
    pub fn input_tables(
        &self,
    ) -> impl Iterator<Item = (&str, std::result::Result<Output, BoxError>)> {
        self.inputs.values.iter().filter_map(|(name, produced)| {
            let table = produced.table?;
            Some((&**name, table(&*produced.value)))
        })
    }

    /// Cancelled when the run is (Ctrl-C, a [`Runner::cancel_token`], fail-fast).
    /// The runner drops a cancelled step at its next `.await`; a long
    /// computation without awaits can check [`CancellationToken::is_cancelled`].
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }
}

/// A step in a built [`Dag`].
pub(crate) struct Node {
    pub(crate) name: Arc<str>,
    pub(crate) inputs: Vec<usize>,
    pub(crate) after: Vec<usize>,
    pub(crate) options: StepOptions,
    pub(crate) output: OutputHooks,
    pub(crate) run: StepFn,
}

/// A checked workflow: steps, the order they may run in, and how. Build one
/// with [`Dag::builder`] or `#[workflow]`; run it with [`Dag::run`] or
/// [`Dag::runner`]. The graph is data: [`Dag::steps`] and [`Dag::order`] serve
/// command-line tools and exporters.
pub struct Dag {
    pub(crate) name: Arc<str>,
    pub(crate) schedule: Option<String>,
    pub(crate) max_parallel: Option<usize>,
    pub(crate) fail_fast: bool,
    pub(crate) params: Vec<Param>,
    pub(crate) start_on: Vec<StartOn>,
    // Shared with the task that runs them: see `Runner::run`.
    pub(crate) nodes: Arc<[Node]>,
    pub(crate) order: Arc<[usize]>,
}

impl fmt::Debug for Dag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dag")
            .field("name", &self.name)
            .field("schedule", &self.schedule)
            .field("max_parallel", &self.max_parallel)
            .field("fail_fast", &self.fail_fast)
            .field("params", &self.params)
            .field("start_on", &self.start_on)
            .field("steps", &self.steps().collect::<Vec<_>>())
            .finish()
    }
}

/// One step of a [`Dag`], as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepInfo<'a> {
    /// The step's name.
    pub name: &'a str,
    /// The steps whose outputs it takes.
    pub inputs: Vec<&'a str>,
    /// The steps it runs after without taking their output.
    pub after: Vec<&'a str>,
    /// Retries, backoff, timeout.
    pub options: &'a StepOptions,
    /// How its output is saved, if it is.
    pub codec: Option<Codec>,
    /// What the runtime knows of its output.
    pub output: OutputHooks,
}

impl<'a> StepInfo<'a> {
    /// Every step this one waits for: inputs, then `after`.
    pub fn depends_on(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.inputs.iter().chain(&self.after).copied()
    }
}

impl Dag {
    /// Starts a workflow named `name`.
    pub fn builder(name: impl Into<String>) -> DagBuilder {
        DagBuilder {
            name: name.into(),
            schedule: None,
            max_parallel: None,
            fail_fast: false,
            params: Vec::new(),
            start_on: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// The workflow's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its cron schedule, if it has one (checked when built).
    pub fn schedule(&self) -> Option<&str> {
        self.schedule.as_deref()
    }

    /// The most steps that run at once (`None`: no limit).
    pub fn max_parallel(&self) -> Option<usize> {
        self.max_parallel
    }

    /// Whether a failed step cancels the rest of the run.
    pub fn fail_fast(&self) -> bool {
        self.fail_fast
    }

    /// The parameters it declares ([`DagBuilder::param`]), in order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The events that start its runs, besides a schedule and a hand
    /// ([`DagBuilder::on_success_of`], [`DagBuilder::on_file`]): a server
    /// over the store watches for them.
    pub fn start_on(&self) -> &[StartOn] {
        &self.start_on
    }

    /// The steps in declaration order.
    pub fn steps(&self) -> impl Iterator<Item = StepInfo<'_>> {
        self.nodes.iter().map(|n| self.info(n))
    }

    /// The step named `name`.
    pub fn step(&self, name: &str) -> Option<StepInfo<'_>> {
        self.nodes
            .iter()
            .find(|n| &*n.name == name)
            .map(|n| self.info(n))
    }

    fn info<'a>(&'a self, node: &'a Node) -> StepInfo<'a> {
        StepInfo {
            name: &node.name,
            inputs: node.inputs.iter().map(|&i| &*self.nodes[i].name).collect(),
            after: node.after.iter().map(|&i| &*self.nodes[i].name).collect(),
            options: &node.options,
            codec: node.output.codec(),
            output: node.output,
        }
    }

    /// The step names in an order that runs every step after those it
    /// depends on (declaration order among independent steps).
    pub fn order(&self) -> Vec<&str> {
        self.order.iter().map(|&i| &*self.nodes[i].name).collect()
    }

    /// Runs the workflow with its own settings; see [`Dag::runner`] for more.
    pub async fn run(&self) -> RunReport {
        self.runner().run().await
    }

    /// A run to configure: cancellation, Ctrl-C, events, parallelism.
    pub fn runner(&self) -> Runner<'_> {
        Runner::new(self)
    }
}

/// Assembles a [`Dag`] at run time; [`DagBuilder::build`] checks it.
#[derive(Debug)]
pub struct DagBuilder {
    name: String,
    schedule: Option<String>,
    max_parallel: Option<usize>,
    fail_fast: bool,
    params: Vec<Param>,
    start_on: Vec<StartOn>,
    steps: Vec<Step>,
}

/// An event that starts a run of a workflow, watched for by a server over
/// the state store (`etl-server`), each run started once per event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartOn {
    /// A run of `workflow` succeeded; its run id is passed as parameter
    /// `run_id_param`, when given.
    Success {
        /// The upstream workflow.
        workflow: String,
        /// The parameter that gets the upstream run's id.
        run_id_param: Option<String>,
    },
    /// A new file matches `pattern` (a glob: `/data/in/*.csv`); its path is
    /// passed as parameter `param`.
    File {
        /// The glob.
        pattern: String,
        /// The parameter that gets the file's path.
        param: String,
    },
}

/// A parameter a workflow declares ([`DagBuilder::param`]): what a run
/// started through a server or a trigger may and must pass. A run started
/// from the command line may pass others (`--param`); a server refuses them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    name: String,
    kind: etl_rules::ParamType,
    default: Option<String>,
}

impl Param {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its value when none is given; `None`: it is required.
    pub fn default(&self) -> Option<&str> {
        self.default.as_deref()
    }

    /// Its type: which texts are values of it ([`DagBuilder::typed_param`]).
    pub fn kind(&self) -> etl_rules::ParamType {
        self.kind
    }
}

impl DagBuilder {
    /// A cron expression (see [`Cron`]) the scheduler runs the workflow on.
    pub fn schedule(mut self, cron: impl Into<String>) -> Self {
        self.schedule = Some(cron.into());
        self
    }

    /// The most steps that run at once (at least 1; default no limit).
    pub fn max_parallel(mut self, n: usize) -> Self {
        self.max_parallel = Some(n);
        self
    }

    /// Cancel everything still running when a step fails for good (default:
    /// independent branches finish).
    pub fn fail_fast(mut self, yes: bool) -> Self {
        self.fail_fast = yes;
        self
    }

    /// Declares parameter `name`, with the value a run gets when it gives
    /// none (`None`: a run must give it). A name declared twice, or one that
    /// is empty or not made of letters, digits, `_`, `-` and `.`, is refused
    /// by [`DagBuilder::build`].
    pub fn param(self, name: impl Into<String>, default: Option<&str>) -> Self {
        self.typed_param(name, etl_rules::ParamType::Text, default)
    }

    /// Declares parameter `name` of type `kind`, as [`DagBuilder::param`]
    /// does: a run whose value is not of the type (`"abc"` for an `Int`) is
    /// refused before it starts, however it is started. A default that is
    /// not of the type is refused by [`DagBuilder::build`].
    pub fn typed_param(
        mut self,
        name: impl Into<String>,
        kind: etl_rules::ParamType,
        default: Option<&str>,
    ) -> Self {
        self.params.push(Param {
            name: name.into(),
            kind,
            default: default.map(str::to_owned),
        });
        self
    }

    /// Starts a run each time a run of `workflow` succeeds (once per
    /// upstream run, watched for by a server over the store), passing that
    /// run's id as parameter `run_id_param` when given (a declared one).
    pub fn on_success_of(
        mut self,
        workflow: impl Into<String>,
        run_id_param: Option<&str>,
    ) -> Self {
        self.start_on.push(StartOn::Success {
            workflow: workflow.into(),
            run_id_param: run_id_param.map(str::to_owned),
        });
        self
    }

    /// Starts a run for each new file that matches `pattern`, a glob
    /// (`/data/in/*.csv`, or a bucket's `s3://landing/in/*.csv`), passing
    /// its path (or URL) as parameter `param` (a declared one): once per
    /// file, watched for by a server over the store.
    pub fn on_file(mut self, pattern: impl Into<String>, param: &str) -> Self {
        self.start_on.push(StartOn::File {
            pattern: pattern.into(),
            param: param.to_owned(),
        });
        self
    }

    /// Adds a step.
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// Checks the workflow: every problem (a duplicate step, an unknown
    /// dependency, a cycle, a bad schedule) is listed in one
    /// [`Error::InvalidWorkflow`].
    pub fn build(self) -> Result<Dag> {
        let mut problems = Vec::new();
        if let Err(e) = graph::check_workflow_name(&self.name) {
            problems.push(e);
        }
        if let Some(cron) = &self.schedule
            && let Err(e) = Cron::parse(cron)
        {
            problems.push(e);
        }
        if let Some(n) = self.max_parallel
            && let Err(e) = graph::check_max_parallel(n)
        {
            problems.push(e);
        }
        for (i, param) in self.params.iter().enumerate() {
            let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
            if param.name.is_empty() || param.name.len() > 128 || !param.name.chars().all(plain) {
                problems.push(format!(
                    "parameter {:?}: a name is 1 to 128 letters, digits, `_`, `-` or `.`",
                    param.name
                ));
            } else if self.params[..i].iter().any(|p| p.name == param.name) {
                problems.push(format!("parameter {:?} is declared twice", param.name));
            }
            if let Some(default) = &param.default
                && let Err(e) = param.kind.check(default)
            {
                problems.push(format!("parameter {:?}: its default {e}", param.name));
            }
        }
        for start in &self.start_on {
            let param = match start {
                StartOn::Success {
                    workflow,
                    run_id_param,
                } => {
                    if let Err(e) = graph::check_workflow_name(workflow) {
                        problems.push(format!("on_success_of: {e}"));
                    }
                    run_id_param.as_deref()
                }
                StartOn::File { pattern, param } => {
                    if pattern.trim().is_empty() {
                        problems.push("on_file: the pattern is empty".to_owned());
                    }
                    Some(param.as_str())
                }
            };
            if let Some(param) = param
                && !self.params.iter().any(|p| p.name == param)
            {
                problems.push(format!(
                    "parameter {param:?}, which a trigger passes, is not declared: add .param({param:?}, …)"
                ));
            }
        }
        let decls: Vec<StepDecl<'_>> = self
            .steps
            .iter()
            .map(|s| StepDecl::new(&s.name, s.inputs.iter().chain(&s.after).map(String::as_str)))
            .collect();
        let checked = graph::check(&decls, false);
        problems.extend(checked.problems.iter().map(ToString::to_string));
        let order = checked.order.unwrap_or_default();
        // Inputs come first among each step's dependencies.
        let edges: Vec<(Vec<usize>, Vec<usize>)> = self
            .steps
            .iter()
            .zip(&checked.deps)
            .map(|(step, deps)| {
                let (inputs, after) = deps.split_at(step.inputs.len());
                (
                    inputs.iter().flatten().copied().collect(),
                    after.iter().flatten().copied().collect(),
                )
            })
            .collect();
        if !problems.is_empty() {
            return Err(Error::InvalidWorkflow {
                workflow: self.name,
                problems,
            });
        }
        let nodes: Vec<Node> = self
            .steps
            .into_iter()
            .zip(edges)
            .map(|(step, (inputs, after))| Node {
                name: step.name.into(),
                inputs,
                after,
                options: step.options,
                output: step.output,
                run: step.run,
            })
            .collect();
        Ok(Dag {
            name: self.name.into(),
            schedule: self.schedule,
            max_parallel: self.max_parallel,
            fail_fast: self.fail_fast,
            params: self.params,
            start_on: self.start_on,
            nodes: nodes.into(),
            order: order.into(),
        })
    }

    /// Builds a graph `#[workflow]` has checked at compile time.
    #[doc(hidden)]
    pub fn __build_checked(self) -> Dag {
        match self.build() {
            Ok(dag) => dag,
            Err(e) => panic!("#[workflow] checked this workflow at compile time, yet: {e}"),
        }
    }
}

/// A type whose `impl` block carries `#[workflow]`: it becomes a [`Dag`].
pub trait Workflow: Send + Sync + Sized + 'static {
    /// The workflow's graph, its steps calling methods of `self`.
    fn into_dag(self: Arc<Self>) -> Dag;

    /// The workflow's graph.
    fn dag(self) -> Dag {
        Arc::new(self).into_dag()
    }
}

#[cfg(test)]
mod tests;
