//! Copies every table of a PostgreSQL schema into a DuckDB file, through
//! binary COPY on the PostgreSQL side, and prints the report.
//!
//! A local server with the sample data (Debian's `postgresql`; any server
//! you may create a schema on will do):
//!
//! ```text
//! sudo apt-get install postgresql            # a server on localhost:5432
//! sudo -u postgres createuser --superuser "$USER"; createdb etl_demo
//! export PG_URL=postgres://$USER@localhost/etl_demo   # a password goes in PGPASSWORD
//! cargo run --example pg_to_duckdb -- --seed # loads examples/data into schema shop, then copies it
//! cargo run --example pg_to_duckdb           # copies schema shop into ./pg_to_duckdb.duckdb
//! cargo run --example pg_to_duckdb -- --schema public --out other.duckdb
//! ```
//!
//! `--seed` fills schema `shop` from the files of `examples/data` with
//! `PostgresWarehouse`: the same data the other examples load.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use etl::{
    DuckDbWarehouse, ETLWorkflow, FilesExtractor, PostgresExtractor, PostgresOptions,
    PostgresWarehouse, Warehouse,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut schema = "shop".to_owned();
    let mut out = "pg_to_duckdb.duckdb".to_owned();
    let mut seed = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seed" => seed = true,
            "--schema" => schema = args.next().context("--schema takes a schema name")?,
            "--out" => out = args.next().context("--out takes a file")?,
            other => anyhow::bail!("unknown argument {other:?}: --seed, --schema NAME, --out FILE"),
        }
    }
    let url = std::env::var("PG_URL").context(
        "set PG_URL to the database to read (postgres://user@host/db); \
         this file's header says how to start a local one",
    )?;
    let options = PostgresOptions::default().schema(schema.clone());

    if seed {
        let data = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf())
            .join("examples/data");
        let warehouse = PostgresWarehouse::connect_with(&url, options.clone()).await?;
        let report = ETLWorkflow::new(FilesExtractor::open(&data)?, warehouse)
            .drop_tables(true)
            .run()
            .await?;
        println!(
            "seeded schema {schema:?} of {}:\n{report}\n",
            report_location(&url)
        );
    }

    let source = PostgresExtractor::new(&url, options)?;
    let workflow = ETLWorkflow::new(source, DuckDbWarehouse::open(&out)?).drop_tables(true);
    let report = workflow.run().await?;
    println!("{report}\n");
    for table in workflow.warehouse().table_names().await? {
        let schema = workflow
            .warehouse()
            .table_schema(&table)
            .await?
            .expect("just loaded");
        let columns: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| format!("{} {}", f.name(), f.data_type()))
            .collect();
        println!("{table}: {}", columns.join(", "));
    }
    println!("\nwritten to {out}; try: duckdb {out} \"SELECT * FROM orders\"");
    Ok(())
}

/// The URL without its password, for messages.
fn report_location(url: &str) -> String {
    PostgresExtractor::new(url, PostgresOptions::default())
        .map(|e| e.location().to_owned())
        .unwrap_or_else(|_| "the database".to_owned())
}
