//! Syncs an Airtable base into DuckDB (or SQLite), with a progress line per
//! table and the load report at the end.
//!
//! ```text
//! cargo run --example sync_airtable                       # the built-in sample base
//! cargo run --example sync_airtable -- --warehouse sqlite # into sync_airtable.sqlite
//! cargo run --example sync_airtable -- --out my.duckdb
//! AIRTABLE_TOKEN=pat… AIRTABLE_BASE_ID=app… cargo run --example sync_airtable
//! ```
//!
//! Without `AIRTABLE_TOKEN` and `AIRTABLE_BASE_ID` it starts a local server
//! that speaks Airtable's API (rate limit included) on 127.0.0.1, serving a
//! sample shop base, and syncs that: nothing leaves the machine. With them, it
//! syncs your base from api.airtable.com. It says which it is doing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use etl::{
    AirtableConfig, AirtableExtractor, DuckDbWarehouse, ETLWorkflow, Progress, SqliteWarehouse,
    Warehouse,
};
use etl_airtable_server::{AirtableServer, Base};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

#[derive(Debug)]
struct Args {
    warehouse: String,
    out: Option<String>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        warehouse: "duckdb".into(),
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--warehouse" => {
                args.warehouse = it.next().context("--warehouse needs duckdb or sqlite")?
            }
            "--out" => args.out = Some(it.next().context("--out needs a path")?),
            "-h" | "--help" => {
                println!(
                    "usage: sync_airtable [--warehouse duckdb|sqlite] [--out PATH]\n\
                     Syncs AIRTABLE_BASE_ID with AIRTABLE_TOKEN, or the built-in sample base when they are not set."
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}; try --help"),
        }
    }
    if args.warehouse != "duckdb" && args.warehouse != "sqlite" {
        bail!(
            "--warehouse must be duckdb or sqlite, not {:?}",
            args.warehouse
        );
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let credentials = std::env::var("AIRTABLE_TOKEN").is_ok_and(|v| !v.is_empty())
        && std::env::var("AIRTABLE_BASE_ID").is_ok_and(|v| !v.is_empty());
    // Kept alive until the sync is done.
    let mut _server = None;
    let extractor = if credentials {
        let config = AirtableConfig::from_env()?;
        println!(
            "Syncing Airtable base {} from {} (AIRTABLE_BASE_ID, AIRTABLE_TOKEN).",
            config.base_id, config.api_url
        );
        AirtableExtractor::new(config)?
    } else {
        let server = AirtableServer::start(Base::sample()).await?;
        println!(
            "AIRTABLE_TOKEN and AIRTABLE_BASE_ID are not set: syncing the built-in sample base {}\n\
             served by a local Airtable-compatible server at {} (5 requests/s, as Airtable allows).",
            server.base_id(),
            server.url()
        );
        let config =
            AirtableConfig::new(server.token(), server.base_id()).with_api_url(server.url());
        _server = Some(server);
        AirtableExtractor::new(config)?
    };

    let out = args
        .out
        .clone()
        .unwrap_or_else(|| format!("sync_airtable.{}", args.warehouse));
    println!("Writing to {} ({}).\n", out, args.warehouse);
    let report = match args.warehouse.as_str() {
        "sqlite" => sync(extractor, SqliteWarehouse::open(&out)?).await,
        _ => sync(extractor, DuckDbWarehouse::open(&out)?).await,
    };
    match report {
        Ok(report) => {
            println!("\n{report}");
            Ok(())
        }
        Err(e) => {
            if let Some(report) = e.report() {
                println!("\n{report}");
            }
            Err(e.into())
        }
    }
}

async fn sync<W: Warehouse + 'static>(
    extractor: AirtableExtractor,
    warehouse: W,
) -> etl::Result<etl::LoadReport> {
    let bars = Bars::default();
    let workflow = ETLWorkflow::new(extractor, warehouse)
        .drop_tables(true)
        // Five pages a batch: the progress lines move about once a second
        // at Airtable's 5 requests per second.
        .batch_size(500)
        .on_progress(move |event| bars.show(event));
    workflow.run().await
}

/// One progress line per table.
#[derive(Default, Clone)]
struct Bars {
    multi: MultiProgress,
    bars: Arc<Mutex<HashMap<String, ProgressBar>>>,
}

impl Bars {
    fn show(&self, event: Progress<'_>) {
        let mut bars = self.bars.lock().unwrap();
        match event {
            Progress::Planned { tables } => {
                let width = tables
                    .iter()
                    .map(|t| t.name().chars().count())
                    .max()
                    .unwrap_or(0);
                let style = ProgressStyle::with_template(&format!(
                    "{{spinner}} {{prefix:{width}}}  {{msg}}"
                ))
                .expect("a valid template");
                for table in tables {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    bar.set_style(style.clone());
                    bar.set_prefix(table.name().to_owned());
                    bar.set_message("waiting");
                    bars.insert(table.name().to_owned(), bar);
                }
            }
            Progress::Started { table } => {
                if let Some(bar) = bars.get(table) {
                    bar.set_message("fetching…");
                    bar.enable_steady_tick(Duration::from_millis(100));
                }
            }
            Progress::Rows { table, rows } => {
                if let Some(bar) = bars.get(table) {
                    bar.set_message(format!("{rows} records"));
                }
            }
            Progress::Finished { report } => {
                if let Some(bar) = bars.get(&report.table) {
                    let message = match &report.error {
                        None => format!("{} records in {:.1} s  ✓", report.rows, report.seconds),
                        Some(_) => "failed  ✗".to_owned(),
                    };
                    bar.finish_with_message(message);
                }
            }
            _ => {}
        }
    }
}
