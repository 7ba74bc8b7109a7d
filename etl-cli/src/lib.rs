//! A command-line program for any workflow, from one line:
//!
//! ```no_run
//! # use etl_cli as etl;
//! # struct Nightly;
//! # impl Nightly { fn from_env() -> Result<Self, etl_dag::Error> { Ok(Nightly) } }
//! # impl etl_dag::Workflow for Nightly {
//! #     fn into_dag(self: std::sync::Arc<Self>) -> etl_dag::Dag {
//! #         let step = |_: etl_dag::StepContext, _: etl_dag::StepInputs| async { Ok::<_, etl_dag::Error>(()) };
//! #         etl_dag::Dag::builder("nightly").step(etl_dag::Step::new("only", step)).build().expect("valid")
//! #     }
//! # }
//! etl::main!(Nightly::from_env()?);
//! ```
//!
//! The expression builds the workflow (`?` works, with any error); it runs
//! inside the program's tokio runtime, once the command line is read. The
//! program then offers:
//!
//! | command | does |
//! | --- | --- |
//! | `run [--param K=V]… [--only STEP]… [--from STEP]` | runs the workflow (or some steps, the others' outputs taken from the last run that saved them), recording it |
//! | `run --step STEP --run-id ID` | runs one step of run `ID` in this process, its inputs read from the outputs the run saved: what an Airflow task calls |
//! | `resume RUN_ID` | runs again the steps of a run that failed, were skipped or cancelled; the others' outputs are reused |
//! | `list` | the steps, what they need, their options |
//! | `graph [--format mermaid\|dot]` | the graph, for a diagram |
//! | `history [--limit N]` | the latest runs |
//! | `show RUN_ID` | one run, step by step |
//! | `schedule [--tz ZONE] [--cron EXPR] [--catch-up]` | runs the workflow at each tick of its cron schedule (or `EXPR`'s), one run at a time, until SIGTERM or Ctrl-C; ticks that pass without a run (before it started, or during a long run) are said and skipped, or run once with `--catch-up` |
//! | `run --queue` | queues a run for workers instead of running it; prints its id |
//! | `worker [--concurrency N]` | claims the runnable steps of queued runs from the state store and runs them, N at a time, until SIGTERM or Ctrl-C (what it holds finishes first; a second signal gives it back to the queue); any number of workers, on any machines sharing a PostgreSQL store, share the queue |
//! | `worker --server URL` | the same, through a server's `serve --workers` (`ETL_WORKER_TOKEN`), with no database credentials on this machine |
//! | `serve [--bind ADDR] [--no-token] [--webhooks FILE] [--scheduler] [--workers]` | the REST API over the state store (`etl-server`, feature `server`): workflows listed, switched off and on, deleted; runs started, listed and shown; until SIGTERM or Ctrl-C. Mutations need `ETL_SERVER_TOKEN` as a bearer token; `--no-token` serves without, on a loopback address only |
//! | `export prefect -o FILE` | a Prefect 3 flow file, one task per step, the same dependencies, retries, timeouts and schedule |
//! | `export airflow -o FILE` | an Airflow DAG file, one task per step (task ids are the step names, with `_` for what Airflow does not take) |
//!
//! Runs are recorded in a [state store](etl_runs::state) (`--state PATH`, or
//! `ETL_STATE`; default `etl-state.sqlite` in the working directory), and
//! step outputs saved in `runs/<run id>/` beside it. `--state
//! postgres://user@host/db` records them in PostgreSQL instead (the password
//! in the URL or `PGPASSWORD`, never printed), shared by every machine that
//! names it, with step outputs in `etl-outputs/<run id>/`. `--outputs URL`
//! (or `ETL_OUTPUTS`) saves step outputs in a bucket instead
//! (`s3://bucket/prefix`, `gs://…`, `az://…`; see [`etl_runs::outputs`]), so
//! that steps on machines with no disk in common take each other's outputs.
//! On a terminal, a run
//! shows a line per running step with its rows so far; elsewhere it logs a
//! line per change. `RUST_LOG` turns on `tracing` logs (then plain lines).
//! The exit status is 0 when the run succeeded, 1 when it did not, 2 when
//! the command could not be carried out (a bad argument, an unknown step or
//! run id, an unusable state store or outputs bucket).
//!
//! The commands that run steps (`run`, `run --queue`, `worker`, `resume`,
//! `schedule`) and `serve` register the workflow with the store (its graph,
//! declared parameters, schedule, the program's version), so that a server
//! over the store knows it. `schedule` skips the ticks of a workflow that was
//! disabled there.

mod commands;
mod export;
mod progress;
mod schedule;
mod serve;
mod views;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};

/// The `clap` the commands are built with, for programs that add their own.
pub use clap;
use etl_dag::{BoxError, Dag, Workflow, error_chain};
use etl_runs::{Runs, StateStore};
pub use progress::Progress;

/// What a command of the CLI can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument is wrong (`--param day`).
    #[error("{0}")]
    Argument(String),
    /// What the orchestration refused or failed with, a file that could
    /// not be written included.
    #[error(transparent)]
    Runs(#[from] etl_runs::Error),
    /// The server could not start or serve.
    #[cfg(feature = "server")]
    #[error(transparent)]
    Server(#[from] etl_server::Error),
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<etl_dag::Error> for Error {
    fn from(e: etl_dag::Error) -> Self {
        Error::Runs(e.into())
    }
}

/// `Result` with the CLI's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The store's file when neither `--state` nor `ETL_STATE` names one.
pub const DEFAULT_STATE: &str = "etl-state.sqlite";

/// Where the step outputs of runs recorded in PostgreSQL are saved, in the
/// working directory (a SQLite store keeps them beside its file).
pub const DEFAULT_OUTPUTS: &str = "etl-outputs";

/// Builds a `main` that runs a workflow's command line: see the
/// [crate docs](crate). The argument is an expression that builds the
/// workflow; `?` in it returns any error from `main`.
#[macro_export]
macro_rules! main {
    ($workflow:expr) => {
        fn main() -> ::std::process::ExitCode {
            $crate::__main(
                env!("CARGO_PKG_VERSION"),
                || -> ::std::result::Result<_, $crate::__BoxError> { Ok($workflow) },
            )
        }
    };
}

#[doc(hidden)]
pub use etl_dag::BoxError as __BoxError;

/// What `etl::main!` calls: reads the command line, builds the workflow with
/// `make`, and carries the command out. `version` is the program's, recorded
/// with each run.
pub fn main<W, F>(version: &'static str, make: F) -> ExitCode
where
    W: Workflow,
    F: FnOnce() -> Result<W, BoxError>,
{
    let program = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "etl".into());
    let matches = match command(&program, version).try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    let logging = progress::init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("starting the async runtime: {e}")),
    };
    runtime.block_on(async move {
        let workflow = match make() {
            Ok(w) => w,
            Err(e) => return fail(&format!("setting up the workflow: {}", error_chain(&*e))),
        };
        let dag = Arc::new(workflow).into_dag();
        let invocation = Invocation {
            program: &program,
            version,
            logging,
            file: None,
        };
        execute(dag, &matches, invocation).await
    })
}

/// Who carries a command out, for [`execute`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Invocation<'a> {
    /// The program's name, for messages and exports.
    pub program: &'a str,
    /// Its version, recorded with each run.
    pub version: &'static str,
    /// Whether `tracing` logs are on ([`init_logging`]): progress is then
    /// plain lines.
    pub logging: bool,
    /// The pipeline file the workflow was read from, which exported tasks
    /// pass back to the program (`etl run FILE --step …`).
    pub file: Option<&'a std::path::Path>,
}

impl<'a> Invocation<'a> {
    /// An invocation of `program` at `version`, logging as `logging` says.
    pub fn new(program: &'a str, version: &'static str, logging: bool) -> Self {
        Invocation {
            program,
            version,
            logging,
            file: None,
        }
    }

    /// The workflow was read from `file`.
    pub fn file(mut self, file: &'a std::path::Path) -> Self {
        self.file = Some(file);
        self
    }
}

/// Turns on `tracing` logs when `RUST_LOG` asks for them; whether it did.
pub fn init_logging() -> bool {
    progress::init_logging()
}

/// Carries out the command `matches` holds (read with [`command`] or
/// [`file_command`]) on `dag`, inside a tokio runtime: what [`main!`] does
/// once it has the workflow. Errors are printed; the exit status says how it
/// went (see the [crate docs](crate)).
pub async fn execute(dag: Dag, matches: &ArgMatches, invocation: Invocation<'_>) -> ExitCode {
    let lease = match matches
        .get_one::<String>("lease")
        .map(|t| etl_rules::parse_duration(t))
    {
        Some(Ok(lease)) => Some(lease),
        Some(Err(e)) => return fail(&format!("--lease: {e}")),
        None => None,
    };
    let program = Program {
        dag,
        outputs_at: matches.get_one::<String>("outputs").cloned(),
        outputs: std::sync::OnceLock::new(),
        lease,
        leading: std::sync::atomic::AtomicBool::new(true),
        version: invocation.version,
        program: invocation.program.to_owned(),
        logging: invocation.logging,
        file: invocation.file.map(std::path::Path::to_owned),
    };
    match program.dispatch(matches).await {
        Ok(code) => code,
        Err(e) => fail(&error_chain(&e)),
    }
}

/// Prints `message` as an error, the user and password of any URL in it
/// left out; exit status 2.
pub fn fail(message: &str) -> ExitCode {
    eprintln!("error: {}", etl_rules::text::without_userinfo(message));
    ExitCode::from(2)
}

#[doc(hidden)]
pub use main as __main;

/// The workflow and what every command needs.
struct Program {
    dag: Dag,
    /// `--outputs`: where step outputs go, if not the store's own folder.
    outputs_at: Option<String>,
    /// It, opened by [`Program::store_for_steps`].
    outputs: std::sync::OnceLock<Arc<dyn etl_dag::OutputStore>>,
    /// `--lease`: how long a PostgreSQL store's claims last unrenewed.
    lease: Option<std::time::Duration>,
    /// Whether this process's scheduler led at its last tick.
    leading: std::sync::atomic::AtomicBool,
    version: &'static str,
    program: String,
    logging: bool,
    /// The pipeline file the workflow was read from.
    file: Option<PathBuf>,
}

impl Program {
    async fn dispatch(&self, matches: &ArgMatches) -> Result<ExitCode, Error> {
        let state = matches
            .get_one::<String>("state")
            .cloned()
            .unwrap_or_else(|| DEFAULT_STATE.to_owned());
        match matches.subcommand() {
            Some(("run", m)) => {
                let params = params(m)?;
                match (m.get_one::<String>("step"), m.get_one::<String>("run-id")) {
                    (Some(step), Some(run_id)) => {
                        // Checked before the store is opened: a typo creates nothing.
                        self.runs_check_step(step)?;
                        let store = self.store_for_steps(&state).await?;
                        self.run_step(&*store, step, run_id, params, m.get_flag("no-retries"))
                            .await
                    }
                    _ if m.get_flag("queue") => {
                        let store = self.store(&state).await?;
                        self.register(&*store, None).await?;
                        self.enqueue(&*store, params).await
                    }
                    _ => {
                        let only: Vec<String> = m
                            .get_many::<String>("only")
                            .into_iter()
                            .flatten()
                            .cloned()
                            .collect();
                        let from = m.get_one::<String>("from").cloned();
                        for step in only.iter().chain(&from) {
                            self.runs_check_step(step)?;
                        }
                        let store = self.store_for_steps(&state).await?;
                        self.run(&*store, params, only, from).await
                    }
                }
            }
            Some(("worker", m)) => {
                let n = *m.get_one::<u16>("concurrency").expect("has a default");
                // Before the store is opened: a SIGTERM while it opens (a
                // slow database) stops the worker cleanly, never by default.
                let signals = schedule::Signals::listen();
                if let Some(server) = m.get_one::<String>("server") {
                    return self.remote_worker(server, usize::from(n), signals).await;
                }
                let store = self.store_for_steps(&state).await?;
                self.worker(&*store, usize::from(n), signals).await
            }
            Some(("serve", m)) => {
                let signals = schedule::Signals::listen();
                self.serve(&state, m, signals).await
            }
            Some(("resume", m)) => {
                let run_id = m.get_one::<String>("run_id").expect("required");
                let store = self.store_for_steps(&state).await?;
                self.resume(&*store, run_id).await
            }
            Some(("list", _)) => {
                print!("{}", views::list(&self.dag));
                Ok(ExitCode::SUCCESS)
            }
            Some(("graph", m)) => {
                let format = m.get_one::<String>("format").expect("has a default");
                print!("{}", views::graph(&self.dag, format));
                Ok(ExitCode::SUCCESS)
            }
            Some(("history", m)) => {
                let limit = *m.get_one::<usize>("limit").expect("has a default");
                let store = self.store(&state).await?;
                print!(
                    "{}",
                    views::history(&store.runs(self.dag.name(), limit).await?)
                );
                Ok(ExitCode::SUCCESS)
            }
            Some(("show", m)) => {
                let run_id = m.get_one::<String>("run_id").expect("required");
                let store = self.store(&state).await?;
                print!("{}", views::show(&*store, run_id).await?);
                Ok(ExitCode::SUCCESS)
            }
            Some(("schedule", m)) => {
                let zone = m.get_one::<String>("tz").expect("has a default");
                let cron = m.get_one::<String>("cron").map(String::as_str);
                // Checked before the store is opened.
                etl_runs::schedule::Schedule::of(&self.dag, cron, zone)?;
                let signals = schedule::Signals::listen();
                let store = self.store_for_steps(&state).await?;
                self.schedule(&*store, zone, cron, m.get_flag("catch-up"), signals)
                    .await
            }
            Some(("export", m)) => match m.subcommand() {
                Some(("airflow", m)) => {
                    let out = m.get_one::<PathBuf>("output").expect("required");
                    let bin = m.get_one::<String>("bin").cloned();
                    let dag_id = m.get_one::<String>("dag-id").cloned();
                    let zone = m.get_one::<String>("tz").expect("has a default");
                    export::export(export::Kind::Airflow, self, &state, out, bin, dag_id, zone)?;
                    Ok(ExitCode::SUCCESS)
                }
                Some(("prefect", m)) => {
                    let out = m.get_one::<PathBuf>("output").expect("required");
                    let bin = m.get_one::<String>("bin").cloned();
                    let zone = m.get_one::<String>("tz").expect("has a default");
                    export::export(export::Kind::Prefect, self, &state, out, bin, None, zone)?;
                    Ok(ExitCode::SUCCESS)
                }
                _ => unreachable!("clap requires a subcommand"),
            },
            _ => unreachable!("clap requires a subcommand"),
        }
    }

    /// The state store `location` names: a SQLite file (the embedded
    /// default) or a PostgreSQL URL, whose step outputs go to
    /// [`DEFAULT_OUTPUTS`] in the working directory.
    async fn store(&self, location: &str) -> Result<Box<dyn StateStore>> {
        Ok(
            etl_runs::open_with(location, std::path::Path::new(DEFAULT_OUTPUTS), self.lease)
                .await?,
        )
    }

    /// [`Program::store`], for a command that runs steps: `--outputs`,
    /// when given, is opened too (a bucket is checked). Commands that only
    /// read the record (`history`, `show`) do not reach the bucket.
    /// Registers the workflow too, so that a server over the same store
    /// knows it.
    async fn store_for_steps(&self, location: &str) -> Result<Box<dyn StateStore>> {
        let store = self.store(location).await?;
        self.register(&*store, None).await?;
        if let Some(at) = &self.outputs_at
            && self.outputs.get().is_none()
        {
            let _ = self.outputs.set(etl_runs::outputs::open(at).await?);
        }
        Ok(store)
    }

    /// Registers the workflow with `store` (its graph, parameters, this
    /// program's version; `schedule`'s cron and zone when it runs on one,
    /// else its own cron in UTC).
    async fn register(&self, store: &dyn StateStore, schedule: Option<(&str, &str)>) -> Result<()> {
        let mut info = etl_runs::registry::WorkflowInfo::of(&self.dag, self.version);
        if let Some((cron, zone)) = schedule {
            info = info.scheduled(Some(cron), Some(zone));
        }
        Ok(store.register_workflow(&info).await?)
    }

    /// The runs of this workflow in `store`, outputs where `--outputs` says.
    fn runs<'a>(&'a self, store: &'a dyn StateStore) -> Runs<'a> {
        let runs = Runs::new(&self.dag, store, self.version);
        match self.outputs.get() {
            Some(outputs) => runs.outputs(outputs.clone()),
            None => runs,
        }
    }

    /// Step `name`, or an error naming the steps there are.
    fn runs_check_step(&self, name: &str) -> Result<()> {
        Ok(etl_runs::check_step(&self.dag, name)?)
    }
}

/// `--param KEY=VALUE`, each once.
fn params(m: &ArgMatches) -> Result<std::collections::BTreeMap<String, String>, Error> {
    let mut params = std::collections::BTreeMap::new();
    for text in m.get_many::<String>("param").into_iter().flatten() {
        let Some((key, value)) = text.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
            return Err(Error::Argument(format!(
                "--param takes KEY=VALUE, not {text:?}"
            )));
        };
        if params
            .insert(key.trim().to_owned(), value.to_owned())
            .is_some()
        {
            return Err(Error::Argument(format!("--param {key:?} is given twice")));
        }
    }
    Ok(params)
}

fn serve_command() -> Command {
    Command::new("serve")
        .about("Serves the REST API over the state store (workflows, runs, triggers) until SIGTERM or Ctrl-C")
        .arg(
            Arg::new("bind")
                .long("bind")
                .env("ETL_SERVER_BIND")
                .value_name("ADDR")
                .default_value("127.0.0.1:8080")
                .value_parser(value_parser!(std::net::SocketAddr))
                .help("The address to listen on (port 0: any free port)"),
        )
        .arg(
            Arg::new("webhooks")
                .long("webhooks")
                .env("ETL_WEBHOOKS")
                .value_name("FILE")
                .value_parser(value_parser!(PathBuf))
                .help("A TOML file of `workflow = \"secret\"` lines: each named workflow gets a webhook, POST /api/workflows/NAME/trigger, that takes its secret (as a bearer token, or an X-Etl-Signature HMAC-SHA256 of the body) instead of the server's token"),
        )
        .arg(
            Arg::new("workers")
                .long("workers")
                .action(ArgAction::SetTrue)
                .help("Takes workers that reach the store only through this server (`worker --server URL`), each proving itself with ETL_WORKER_TOKEN; a worker silent for --lease is taken for dead"),
        )
        .arg(
            Arg::new("scheduler")
                .long("scheduler")
                .action(ArgAction::SetTrue)
                .help("Queues the runs of every enabled scheduled workflow at its ticks, for the workers (a workflow's own `schedule` may run beside it: each tick runs once)"),
        )
        .arg(
            Arg::new("poll")
                .long("poll")
                .value_name("DURATION")
                .default_value("1s")
                .help("How often the server looks for what starts runs: ticks, upstream runs that succeeded, new files"),
        )
        .arg(
            Arg::new("allow-host")
                .long("allow-host")
                .env("ETL_ALLOWED_HOSTS")
                .value_name("NAME")
                .value_delimiter(',')
                .action(ArgAction::Append)
                .help("A name the server is reached by (etl.example.com), besides its addresses and localhost; repeat it or separate names with commas. A request naming any other host is refused, so that a page whose name was made to resolve to this machine cannot reach the API"),
        )
        .arg(
            Arg::new("no-token")
                .long("no-token")
                .action(ArgAction::SetTrue)
                .help("Serves with no token, so that anyone who reaches the server may change things: only on a loopback address. Otherwise mutations need ETL_SERVER_TOKEN as a bearer token"),
        )
}

/// The subcommands whose workflow [`file_command`] reads from a file.
const FILE_COMMANDS: [&str; 9] = [
    "run", "worker", "serve", "resume", "list", "graph", "history", "show", "schedule",
];

/// The argument naming the pipeline file, first of every command of
/// [`file_command`].
pub const FILE_ARG: &str = "file";

/// The command line of a program that reads its workflow from a file (the
/// `etl` binary): [`command`]'s commands, each taking the file first
/// (`etl run FILE --param day=…`, `etl export airflow FILE -o dag.py`).
/// [`file_of`] finds it in the matches.
pub fn file_command(program: &str, version: &'static str) -> Command {
    let file = || {
        Arg::new(FILE_ARG)
            .value_name("FILE")
            .required(true)
            .index(1)
            .value_parser(value_parser!(PathBuf))
            .help("The pipeline file")
    };
    let mut cmd = command(program, version);
    for name in FILE_COMMANDS {
        cmd = cmd.mut_subcommand(name, |sub| {
            let sub = sub.arg(file());
            if matches!(name, "resume" | "show") {
                sub.mut_arg("run_id", |a| a.index(2))
            } else {
                sub
            }
        });
    }
    cmd.mut_subcommand("export", |export| {
        export
            .mut_subcommand("airflow", |s| s.arg(file()))
            .mut_subcommand("prefect", |s| s.arg(file()))
    })
}

/// The pipeline file of the (sub)command `matches` holds, from
/// [`file_command`].
pub fn file_of(matches: &ArgMatches) -> Option<&PathBuf> {
    let mut m = matches;
    loop {
        if let Ok(Some(file)) = m.try_get_one::<PathBuf>(FILE_ARG) {
            return Some(file);
        }
        m = m.subcommand()?.1;
    }
}

/// The command line [`main!`] reads, for `program` at `version`.
pub fn command(program: &str, version: &'static str) -> Command {
    let cmd = Command::new(program.to_owned())
        .version(version)
        .about("Runs an etl workflow, records every run, and schedules it")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .arg(
            Arg::new("state")
                .long("state")
                .env("ETL_STATE")
                .value_name("PATH|URL")
                .global(true)
                .help(format!(
                    "The state store: a SQLite file, or a PostgreSQL URL (postgres://user@host/db; \
                     the password in it or in PGPASSWORD) [default: {DEFAULT_STATE}]"
                )),
        )
        .arg(
            Arg::new("outputs")
                .long("outputs")
                .env(etl_runs::outputs::OUTPUTS_ENV)
                .value_name("PATH|URL")
                .global(true)
                .help(format!(
                    "Where step outputs are saved: a folder, or a bucket (s3://bucket/prefix, \
                     gs://…, az://container/prefix; credentials from the cloud's usual \
                     environment variables, AWS_ENDPOINT for an S3-compatible server) \
                     [default: runs/ beside a SQLite store, {DEFAULT_OUTPUTS}/ with PostgreSQL]"
                )),
        )
        .arg(
            Arg::new("lease")
                .long("lease")
                .env("ETL_LEASE")
                .value_name("DURATION")
                .global(true)
                .help("With a PostgreSQL store: how long what this process holds (its runs, a worker's claimed steps) stays its own without renewal; another process takes it over after [default: 30s]"),
        )
        .subcommand(
            Command::new("run")
                .about("Runs the workflow (or some of its steps) once")
                .arg(
                    Arg::new("param")
                        .long("param")
                        .value_name("KEY=VALUE")
                        .action(ArgAction::Append)
                        .help("A parameter the steps can read; repeatable"),
                )
                .arg(
                    Arg::new("only")
                        .long("only")
                        .value_name("STEP")
                        .action(ArgAction::Append)
                        .conflicts_with("from")
                        .help("Runs only this step (repeatable); the inputs it needs come from the last run that saved them"),
                )
                .arg(
                    Arg::new("from")
                        .long("from")
                        .value_name("STEP")
                        .help("Runs this step and everything after it; earlier outputs come from the last run that saved them"),
                )
                .arg(
                    Arg::new("step")
                        .long("step")
                        .value_name("STEP")
                        .requires("run-id")
                        .conflicts_with_all(["only", "from"])
                        .help("Runs one step of run --run-id, its inputs read from that run's saved outputs (Airflow's tasks)"),
                )
                .arg(
                    Arg::new("run-id")
                        .long("run-id")
                        .value_name("ID")
                        .requires("step")
                        .help("The run the --step belongs to (created if new)"),
                )
                .arg(
                    Arg::new("no-retries")
                        .long("no-retries")
                        .action(ArgAction::SetTrue)
                        .requires("step")
                        .help("One attempt of the --step, whatever its retries: the scheduler running it retries it (exported Airflow and Prefect tasks pass this)"),
                )
                .arg(
                    Arg::new("queue")
                        .long("queue")
                        .action(ArgAction::SetTrue)
                        .conflicts_with_all(["only", "from", "step"])
                        .help("Queues the run for workers (`worker`) instead of running it here; prints its id"),
                ),
        )
        .subcommand(
            Command::new("worker")
                .about("Runs the steps of queued runs, claimed from the state store, until SIGTERM or Ctrl-C")
                .arg(
                    Arg::new("concurrency")
                        .long("concurrency")
                        .value_name("N")
                        .default_value("1")
                        .value_parser(value_parser!(u16).range(1..=1024))
                        .help("Steps run at once"),
                )
                .arg(
                    Arg::new("server")
                        .long("server")
                        .env("ETL_SERVER")
                        .value_name("URL")
                        .help("Works through the server at URL (its `serve --workers`) instead of the state store: this machine needs no database credentials, only ETL_WORKER_TOKEN"),
                ),
        )
        .subcommand(serve_command())
        .subcommand(
            Command::new("resume")
                .about("Runs again the steps of a run that did not succeed, reusing the others' outputs")
                .arg(Arg::new("run_id").value_name("RUN_ID").required(true)),
        )
        .subcommand(Command::new("list").about("Lists the steps, what they need and their options"))
        .subcommand(
            Command::new("graph")
                .about("Prints the graph of steps")
                .arg(
                    Arg::new("format")
                        .long("format")
                        .value_parser(["mermaid", "dot"])
                        .default_value("mermaid"),
                ),
        )
        .subcommand(
            Command::new("history")
                .about("Lists the latest runs, newest first")
                .arg(
                    Arg::new("limit")
                        .long("limit")
                        .value_name("N")
                        .value_parser(value_parser!(usize))
                        .default_value("20"),
                ),
        )
        .subcommand(
            Command::new("show")
                .about("Shows one run, step by step")
                .arg(Arg::new("run_id").value_name("RUN_ID").required(true)),
        )
        .subcommand(
            Command::new("schedule")
                .about("Runs the workflow on its cron schedule until SIGTERM or Ctrl-C")
                .arg(
                    Arg::new("tz")
                        .long("tz")
                        .value_name("ZONE")
                        .default_value("UTC")
                        .help("The time zone the schedule is read in (Europe/Paris)"),
                )
                .arg(
                    Arg::new("cron")
                        .long("cron")
                        .value_name("EXPR")
                        .help("A cron expression to use instead of the workflow's own"),
                )
                .arg(
                    Arg::new("catch-up")
                        .long("catch-up")
                        .action(ArgAction::SetTrue)
                        .help("Runs once for the latest of the ticks that passed without a run (since the last scheduled run, or during a run that outlasted them); by default they are skipped, and either way it says how many"),
                ),
        )
        .subcommand(
            Command::new("export")
                .about("Exports the workflow for another scheduler")
                .subcommand_required(true)
                .subcommand(
                    export_command(
                        "airflow",
                        "Writes an Airflow DAG file: one BashOperator task per step",
                        "The time zone Airflow reads the schedule in",
                    )
                    .arg(
                        Arg::new("dag-id")
                            .long("dag-id")
                            .value_name("ID")
                            .help("The Airflow DAG id [default: the workflow's name, with '_' for what Airflow does not take]"),
                    ),
                )
                .subcommand(export_command(
                    "prefect",
                    "Writes a Prefect 3 flow file: one task per step",
                    "The time zone the schedule is read in when served",
                )),
        );
    hyphen_values(cmd)
}

/// Lets an option whose value is a number or a duration (`--limit N`,
/// `--lease DURATION`) take a value starting with `-`, in every command,
/// so that `--limit -1` is refused by the option's own parser, naming
/// `--limit`, instead of read as an unknown flag `-1`.
fn hyphen_values(cmd: Command) -> Command {
    let cmd = cmd.mut_args(|arg| {
        let numeric = arg
            .get_value_names()
            .is_some_and(|names| names.iter().any(|n| n == "N" || n == "DURATION"));
        if numeric && !arg.is_positional() {
            arg.allow_hyphen_values(true)
        } else {
            arg
        }
    });
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    names
        .into_iter()
        .fold(cmd, |cmd, name| cmd.mut_subcommand(name, hyphen_values))
}

/// An exporter's command: the file to write, the program its tasks run,
/// the time zone of the schedule.
fn export_command(name: &'static str, about: &'static str, tz: &'static str) -> Command {
    Command::new(name)
        .about(about)
        .arg(
            Arg::new("output")
                .short('o')
                .long("output")
                .value_name("FILE")
                .required(true)
                .value_parser(value_parser!(PathBuf)),
        )
        .arg(
            Arg::new("bin")
                .long("bin")
                .value_name("PATH")
                .help("The program the tasks run [default: this program's path]"),
        )
        .arg(
            Arg::new("tz")
                .long("tz")
                .value_name("ZONE")
                .default_value("UTC")
                .help(tz),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        command("nightly", "1.0.0").debug_assert();
        file_command("etl", "1.0.0").debug_assert();
    }

    #[test]
    fn a_file_command_takes_the_file_first() {
        let parse = |args: &[&str]| {
            file_command("etl", "1")
                .try_get_matches_from([&["etl"], args].concat())
                .map(|m| file_of(&m).map(|f| f.display().to_string()))
        };
        assert_eq!(
            parse(&["run", "p.toml", "--param", "a=1"])
                .unwrap()
                .as_deref(),
            Some("p.toml")
        );
        assert_eq!(
            parse(&["export", "airflow", "p.toml", "-o", "d.py"])
                .unwrap()
                .as_deref(),
            Some("p.toml")
        );
        let m = file_command("etl", "1")
            .try_get_matches_from(["etl", "show", "p.toml", "r1"])
            .unwrap();
        let show = m.subcommand_matches("show").unwrap();
        assert_eq!(show.get_one::<String>("run_id").unwrap(), "r1");
        assert!(parse(&["run"]).is_err(), "the file is required");
    }

    #[test]
    fn a_negative_number_or_duration_is_refused_naming_its_option() {
        let cases: [&[&str]; 5] = [
            &["history", "--limit", "-1"],
            &["worker", "--concurrency", "-2"],
            &["--lease", "-5s", "history"],
            &["history", "--lease", "-1"],
            &["history", "--limit", "--lease"],
        ];
        for args in cases {
            for cmd in [command("x", "1"), file_command("x", "1")] {
                let mut args = args.to_vec();
                if cmd
                    .get_subcommands()
                    .any(|s| s.get_arguments().any(|a| a.get_id() == FILE_ARG))
                    && let Some(at) = args.iter().position(|a| matches!(*a, "history" | "worker"))
                {
                    args.insert(at + 1, "p.toml");
                }
                let err = match cmd.try_get_matches_from([&["x"], &args[..]].concat()) {
                    // A duration is checked when it is read, naming the option.
                    Ok(m) => {
                        let lease = m.get_one::<String>("lease").cloned();
                        assert!(lease.is_some_and(|l| l.starts_with('-')), "{args:?}");
                        continue;
                    }
                    Err(e) => e.to_string(),
                };
                let option = args.iter().find(|a| a.starts_with("--")).unwrap();
                assert!(err.contains(option), "{args:?}: {err}");
                assert!(!err.contains("unexpected argument"), "{args:?}: {err}");
            }
        }
    }

    #[test]
    fn params_are_key_value_pairs() {
        let parse = |args: &[&str]| {
            let m = command("x", "1")
                .try_get_matches_from([&["x", "run"], args].concat())
                .unwrap();
            params(m.subcommand_matches("run").unwrap())
        };
        let ok = parse(&["--param", "day=2024-03-01", "--param", "q=a=b"]).unwrap();
        assert_eq!(ok["day"], "2024-03-01");
        assert_eq!(ok["q"], "a=b");
        let err = parse(&["--param", "day"]).unwrap_err().to_string();
        assert!(
            err.contains("--param takes KEY=VALUE, not \"day\""),
            "{err}"
        );
        let err = parse(&["--param", "=x"]).unwrap_err().to_string();
        assert!(err.contains("KEY=VALUE"), "{err}");
        let err = parse(&["--param", "a=1", "--param", "a=2"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("given twice"), "{err}");
    }
}
