//! Syncs an Airtable base into DuckDB (or SQLite), with a progress line per
//! table and the load report at the end.
//!
//! ```text
//! cargo run --example sync_airtable                       # the built-in sample base
//! cargo run --example sync_airtable -- --warehouse sqlite # into sync_airtable.sqlite
//! cargo run --example sync_airtable -- --out my.duckdb
//! AIRTABLE_TOKEN=pat… AIRTABLE_BASE_ID=app… cargo run --example sync_airtable
//! cargo run --example sync_airtable -- --serve            # only serve the sample base
//! ```
//!
//! Without `AIRTABLE_TOKEN` and `AIRTABLE_BASE_ID` it starts a local server
//! that speaks Airtable's API (rate limit included) on 127.0.0.1, serving a
//! sample shop base, and syncs that: nothing leaves the machine. With them, it
//! syncs your base from api.airtable.com. It says which it is doing.
//!
//! `--serve` starts that server alone and keeps it up until Ctrl-C, printing
//! the `AIRTABLE_*` variables that point a client at it: this is how
//! `examples/pipelines/airtable.toml` runs with no credentials.

use std::sync::Arc;

use clap::{Arg, Command};
use etl::cli::Progress;
use etl::{
    AirtableConfig, AirtableExtractor, DuckDbWarehouse, ETLWorkflow, SqliteWarehouse, Warehouse,
};
use etl_airtable_server::{AirtableServer, Base};

fn args() -> clap::ArgMatches {
    Command::new("sync_airtable")
        .about("Syncs AIRTABLE_BASE_ID with AIRTABLE_TOKEN, or the built-in sample base when they are not set")
        .arg(
            Arg::new("warehouse")
                .long("warehouse")
                .value_parser(["duckdb", "sqlite"])
                .default_value("duckdb"),
        )
        .arg(
            Arg::new("out")
                .long("out")
                .value_name("PATH")
                .help("The warehouse file [default: sync_airtable.<warehouse>]"),
        )
        .arg(
            Arg::new("serve")
                .long("serve")
                .action(clap::ArgAction::SetTrue)
                .help("Only serve the sample base on 127.0.0.1 until Ctrl-C, printing the AIRTABLE_* variables that read it"),
        )
        .get_matches()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args();
    if args.get_flag("serve") {
        return serve().await;
    }
    let warehouse = args.get_one::<String>("warehouse").expect("has a default");
    let set = |name| std::env::var(name).is_ok_and(|v| !v.is_empty());
    // Kept alive until the sync is done.
    let mut _server = None;
    let config = if set("AIRTABLE_TOKEN") && set("AIRTABLE_BASE_ID") {
        let config = AirtableConfig::from_env()?;
        println!(
            "Syncing Airtable base {} from {} (AIRTABLE_BASE_ID, AIRTABLE_TOKEN).",
            config.base_id, config.api_url
        );
        config
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
        config
    };
    let extractor = AirtableExtractor::new(config)?;
    let out = args
        .get_one::<String>("out")
        .cloned()
        .unwrap_or_else(|| format!("sync_airtable.{warehouse}"));
    println!("Writing to {out} ({warehouse}).\n");
    let report = match warehouse.as_str() {
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

/// Serves the sample base until Ctrl-C, saying how to read it.
async fn serve() -> anyhow::Result<()> {
    let server = AirtableServer::start(Base::sample()).await?;
    println!(
        "Serving the sample base {} at {} until Ctrl-C. To read it, in another terminal:\n\n\
         export AIRTABLE_API_URL={} AIRTABLE_BASE_ID={} AIRTABLE_TOKEN={}\n\
         cargo run --bin etl -- run examples/pipelines/airtable.toml\n",
        server.base_id(),
        server.url(),
        server.url(),
        server.base_id(),
        server.token(),
    );
    tokio::signal::ctrl_c().await?;
    println!("Stopped.");
    Ok(())
}

async fn sync<W: Warehouse + 'static>(
    extractor: AirtableExtractor,
    warehouse: W,
) -> etl::Result<etl::LoadReport> {
    ETLWorkflow::new(extractor, warehouse)
        .drop_tables(true)
        // Five pages a batch: the progress lines move about once a second
        // at Airtable's 5 requests per second.
        .batch_size(500)
        .observe(Arc::new(Progress::new()))
        .run()
        .await
}
