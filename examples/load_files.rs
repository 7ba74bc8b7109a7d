//! Loads every file of `examples/data/` (CSV, TSV, JSON Lines, Parquet) into a
//! DuckDB file, one table per file or folder of parts, and prints the report.
//!
//! ```text
//! cargo run --example load_files              # writes ./load_files.duckdb
//! cargo run --example load_files -- out.duckdb
//! ```

use std::path::{Path, PathBuf};

use etl::{DuckDbWarehouse, ETLWorkflow, FilesExtractor, Warehouse};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo run` sets CARGO_MANIFEST_DIR; a binary run on its own falls back
    // to the checkout it was built from.
    let data = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf())
        .join("examples/data");
    let target = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "load_files.duckdb".to_owned());

    let workflow = ETLWorkflow::new(
        FilesExtractor::open(&data)?,
        DuckDbWarehouse::open(&target)?,
    )
    .drop_tables(true);
    let report = workflow.run().await?;
    println!("{report}\n");

    // The tables are ordinary DuckDB tables: query them.
    let warehouse = workflow.warehouse();
    for table in warehouse.table_names().await? {
        let schema = warehouse.table_schema(&table).await?.expect("just loaded");
        let columns: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| format!("{} {}", f.name(), f.data_type()))
            .collect();
        println!("{table}: {}", columns.join(", "));
    }
    println!("\nwritten to {target}; try: duckdb {target} \"SELECT * FROM orders\"");
    Ok(())
}
