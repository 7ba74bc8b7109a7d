//! `etl`: runs, checks, plans, schedules and exports pipelines declared in
//! TOML files, with no Rust to write. Every command takes the file first:
//!
//! ```text
//! etl check pipeline.toml [--online] [--param K=V]…  every problem at once, at its line and column
//! etl plan pipeline.toml                              what a run would do
//! etl run pipeline.toml [--param K=V]…                checked offline, then run, recorded in the state store
//! etl history|show|resume|schedule|graph|worker|serve|export airflow|prefect pipeline.toml …
//! ```
//!
//! See `docs/pipelines.md`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use etl::cli::clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use etl::cli::{Invocation, fail, file_command, file_of};
use etl::pipeline::{File, FileError};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The command line; `zone`, the file's `[schedule] zone`, is the default
/// time zone of `schedule` and the exports.
fn command(zone: Option<&str>) -> Command {
    let file = || {
        Arg::new(etl::cli::FILE_ARG)
            .value_name("FILE")
            .required(true)
            .value_parser(value_parser!(std::path::PathBuf))
            .help("The pipeline file")
    };
    let mut cmd = file_command("etl", VERSION)
        .about("Runs, checks, plans, schedules and exports etl pipelines declared in TOML files")
        .subcommand(
            Command::new("check")
                .about("Checks a pipeline file without moving data: every problem at once, each at its line and column")
                .arg(file())
                .arg(
                    Arg::new("online")
                        .long("online")
                        .action(ArgAction::SetTrue)
                        .help("Reaches the file's APIs too (Airtable, HTTP): their tables and schemas are read, and the SQL steps planned against them"),
                )
                .arg(
                    Arg::new("param")
                        .long("param")
                        .value_name("KEY=VALUE")
                        .action(ArgAction::Append)
                        .help("Checks as a run with this parameter would read the file (the defaults otherwise); repeatable"),
                ),
        )
        .subcommand(
            Command::new("plan")
                .about("Says what a run would do: the steps in order, their tables, modes and options")
                .arg(file()),
        );
    if let Some(zone) = zone {
        let zone = zone.to_owned();
        cmd = cmd
            .mut_subcommand("schedule", |s| {
                s.mut_arg("tz", |a| a.default_value(zone.clone()))
            })
            .mut_subcommand("export", |e| {
                e.mut_subcommand("airflow", |s| {
                    s.mut_arg("tz", |a| a.default_value(zone.clone()))
                })
                .mut_subcommand("prefect", |s| {
                    s.mut_arg("tz", |a| a.default_value(zone.clone()))
                })
            });
    }
    cmd
}

fn parse(zone: Option<&str>) -> Result<ArgMatches, ExitCode> {
    command(zone).try_get_matches().map_err(|e| {
        let _ = e.print();
        ExitCode::from(e.exit_code().clamp(0, 255) as u8)
    })
}

fn main() -> ExitCode {
    let matches = match parse(None) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let path = file_of(&matches)
        .expect("every command takes the file")
        .clone();
    let file = match etl::pipeline::read(&path) {
        Ok(file) => file,
        Err(FileError::Problems(problems)) => {
            report(&path, &problems);
            return ExitCode::from(2);
        }
        Err(e) => return fail(&e.to_string()),
    };
    // Read again with the file's time zone as the default.
    let matches = match file.zone() {
        Some(zone) => match parse(Some(zone)) {
            Ok(m) => m,
            Err(code) => return code,
        },
        None => matches,
    };
    let logging = etl::cli::init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("starting the async runtime: {e}")),
    };
    runtime.block_on(async move {
        match matches.subcommand() {
            Some(("check", m)) => check(&file, m.get_flag("online"), &params(m)).await,
            Some(("plan", _)) => {
                print!("{}", etl::pipeline::plan(&file));
                ExitCode::SUCCESS
            }
            Some(("run", m)) if m.get_one::<String>("step").is_none() => {
                // What can be known offline is checked before any data
                // moves: a broken query fails here, not after the loads.
                if let Err(problems) = etl::pipeline::check_with(&file, false, &params(m)).await {
                    report(&file.path, &problems);
                    return ExitCode::from(2);
                }
                execute(&file, &path, &matches, logging).await
            }
            _ => execute(&file, &path, &matches, logging).await,
        }
    })
}

/// `--param KEY=VALUE`s, as far as they are well formed (`run` says what is
/// not).
fn params(m: &ArgMatches) -> BTreeMap<String, String> {
    m.get_many::<String>("param")
        .into_iter()
        .flatten()
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .collect()
}

/// Every command a scheduled binary has, on the file's workflow.
async fn execute(file: &File, path: &Path, matches: &ArgMatches, logging: bool) -> ExitCode {
    let dag = match file.dag() {
        Ok(dag) => dag,
        Err(e) => return fail(&format!("{}: {e}", path.display())),
    };
    let invocation = Invocation::new("etl", VERSION, logging).file(path);
    etl::cli::execute(dag, matches, invocation).await
}

/// Prints `problems` of the file at `path`, and how many there are.
fn report(path: &Path, problems: &etl::pipeline::Problems) {
    eprintln!("{problems}");
    let n = problems.problems.len();
    eprintln!(
        "error: {} has {n} problem{}",
        path.display(),
        if n == 1 { "" } else { "s" }
    );
}

async fn check(file: &File, online: bool, params: &BTreeMap<String, String>) -> ExitCode {
    match etl::pipeline::check_with(file, online, params).await {
        Ok(checked) => {
            for note in &checked.notes {
                println!("note: {note}");
            }
            println!(
                "{}: ok ({} step{}; {} SQL step{} planned)",
                file.path.display(),
                file.pipeline.steps.len(),
                if file.pipeline.steps.len() == 1 {
                    ""
                } else {
                    "s"
                },
                checked.planned.len(),
                if checked.planned.len() == 1 { "" } else { "s" }
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            report(&file.path, &problems);
            ExitCode::FAILURE
        }
    }
}
