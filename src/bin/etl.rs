//! `etl`: runs, checks, plans, schedules and exports pipelines declared in
//! TOML files, with no Rust to write. Every command takes the file first:
//!
//! ```text
//! etl check pipeline.toml [--online]    every problem at once, at its line and column
//! etl plan pipeline.toml                 what a run would do
//! etl run pipeline.toml [--param K=V]…   runs it, recorded in the state store
//! etl history|show|resume|schedule|graph|worker|serve|export airflow pipeline.toml …
//! ```
//!
//! See `docs/pipelines.md`.

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
    let file = match File::read(&path) {
        Ok(file) => file,
        Err(FileError::Problems(problems)) => {
            eprintln!("{problems}");
            eprintln!(
                "error: {} has {} problem{}",
                path.display(),
                problems.problems.len(),
                if problems.problems.len() == 1 {
                    ""
                } else {
                    "s"
                }
            );
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
            Some(("check", m)) => check(&file, m.get_flag("online")).await,
            Some(("plan", _)) => {
                print!("{}", etl::pipeline::plan(&file));
                ExitCode::SUCCESS
            }
            _ => {
                let dag = match file.dag() {
                    Ok(dag) => dag,
                    Err(e) => return fail(&format!("{}: {e}", path.display())),
                };
                let invocation = Invocation::new("etl", VERSION, logging).file(Path::new(&path));
                etl::cli::execute(dag, &matches, invocation).await
            }
        }
    })
}

async fn check(file: &File, online: bool) -> ExitCode {
    match etl::pipeline::check(file, online).await {
        Ok(checked) => {
            for note in &checked.notes {
                println!("note: {note}");
            }
            println!(
                "{}: ok ({} steps; {} SQL step{} planned)",
                file.path.display(),
                file.pipeline.steps.len(),
                checked.planned.len(),
                if checked.planned.len() == 1 { "" } else { "s" }
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            eprintln!("{problems}");
            eprintln!(
                "error: {} has {} problem{}",
                file.path.display(),
                problems.problems.len(),
                if problems.problems.len() == 1 {
                    ""
                } else {
                    "s"
                }
            );
            ExitCode::FAILURE
        }
    }
}
