//! End to end: `ETLWorkflow` from real files, and from the local Airtable
//! server, into real SQLite and DuckDB files; the examples, run as users run
//! them.

mod airtable;
#[cfg(feature = "pipeline")]
mod connectors;
#[cfg(all(feature = "polars", feature = "datafusion"))]
mod daily_metrics;
#[cfg(feature = "polars")]
mod frames;
mod hostile;
// The example pipelines have SQL steps.
#[cfg(all(feature = "pipeline", feature = "datafusion"))]
mod pipelines;
mod queued_work;
mod regressions;
mod scheduled_sync;
#[cfg(feature = "datafusion")]
mod tables;
#[cfg(any(feature = "polars", feature = "datafusion"))]
mod transforms;
mod workflow;

// The example itself, so that its test runs exactly what `cargo run
// --example daily_metrics` runs; its `main` is not called here.
#[cfg(all(feature = "polars", feature = "datafusion"))]
#[allow(dead_code)]
#[path = "../../examples/daily_metrics.rs"]
mod daily_metrics_example;

use std::path::{Path, PathBuf};

use etl::arrow::array::{Array, Int64Array};
use etl::{
    DuckDbWarehouse, ETLWorkflow, Error, FilesConfig, FilesExtractor, SqliteWarehouse, Warehouse,
    WriteMode,
};

/// The checkout's root, found at run time: a test binary built from another
/// checkout of the same sources (a shared target directory) must not read
/// that checkout's files.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf())
}

fn example_data() -> PathBuf {
    manifest_dir().join("examples/data")
}

async fn rows<W: Warehouse>(warehouse: &W, table: &str) -> usize {
    warehouse
        .read_table(table)
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum()
}

async fn loads_the_example_data<W: Warehouse>(warehouse: W) {
    let workflow = ETLWorkflow::new(FilesExtractor::open(example_data()).unwrap(), warehouse)
        .drop_tables(true);
    let report = workflow.run().await.unwrap();
    let tables: Vec<_> = report.tables.iter().map(|t| t.table.as_str()).collect();
    assert_eq!(
        tables,
        ["customers", "inventory", "orders", "page_views", "products"]
    );
    assert!(report.succeeded());
    assert_eq!(report.table("customers").unwrap().rows, 5);
    assert_eq!(report.table("page_views").unwrap().rows, 4);
    let warehouse = workflow.warehouse();
    assert_eq!(rows(warehouse, "orders").await, 4);
    assert_eq!(warehouse.table_names().await.unwrap(), tables);
    let text = report.to_string();
    assert!(text.starts_with("table"), "{text}");
    assert!(text.contains("customers   replace"), "{text}");
    assert!(text.ends_with("5 tables, 1017 rows, 0 failed"), "{text}");

    // A second run replaces, it does not duplicate.
    workflow.run().await.unwrap();
    assert_eq!(rows(warehouse, "orders").await, 4);
    assert_eq!(warehouse.loads().await.unwrap().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_data_loads_into_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    loads_the_example_data(DuckDbWarehouse::open(dir.path().join("dwh.duckdb")).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_data_loads_into_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    loads_the_example_data(SqliteWarehouse::open(dir.path().join("dwh.sqlite")).unwrap()).await;
}

#[tokio::test]
async fn a_failing_table_does_not_stop_the_others_and_keeps_its_old_rows() {
    let data = tempfile::tempdir().unwrap();
    let dwh = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("good.csv"), "id\n1\n2\n").unwrap();
    std::fs::write(data.path().join("later.csv"), "id,amount\n1,10\n2,20\n").unwrap();
    let warehouse = DuckDbWarehouse::open(dwh.path().join("dwh.duckdb")).unwrap();
    let first = ETLWorkflow::new(
        FilesExtractor::open(data.path()).unwrap(),
        warehouse.clone(),
    );
    first.run().await.unwrap();

    // `later.csv` gains a bad row after the rows schema inference samples.
    std::fs::write(data.path().join("good.csv"), "id\n1\n2\n3\n").unwrap();
    std::fs::write(
        data.path().join("later.csv"),
        "id,amount\n1,10\n2,20\n3,thirty\n",
    )
    .unwrap();
    let files =
        FilesExtractor::new(FilesConfig::new(data.path()).with_infer_rows(Some(2))).unwrap();
    let err = ETLWorkflow::new(files, warehouse.clone())
        .batch_size(1)
        .run()
        .await
        .unwrap_err();
    let Error::TablesFailed {
        failed,
        total,
        report,
    } = &err
    else {
        panic!("expected TablesFailed, got {err:?}");
    };
    assert_eq!(*total, 2);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, "later");
    assert!(
        failed[0].1.contains("later.csv, line 4, column \"amount\""),
        "{}",
        failed[0].1
    );
    assert!(err.to_string().contains("1 of 2 tables failed"), "{err}");
    assert_eq!(report.table("good").unwrap().rows, 3);
    assert!(
        report
            .table("later")
            .unwrap()
            .status()
            .starts_with("FAILED: ")
    );
    assert!(report.to_string().contains("FAILED"), "{report}");

    assert_eq!(rows(&warehouse, "good").await, 3, "the good table loaded");
    let later = warehouse.read_table("later").await.unwrap();
    let amounts = later[0]
        .column(1)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(amounts.len(), 2, "the failed table kept its old rows");
    assert_eq!(amounts.values(), &[10, 20]);
}

#[tokio::test]
async fn naming_an_unknown_table_fails_before_any_data_moves() {
    let dwh = tempfile::tempdir().unwrap();
    let warehouse = SqliteWarehouse::open(dwh.path().join("dwh.sqlite")).unwrap();
    let err = ETLWorkflow::new(
        FilesExtractor::open(example_data()).unwrap(),
        warehouse.clone(),
    )
    .tables(["customers", "nope"])
    .run()
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownTable { table, .. } if table == "nope"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("it offers: customers, inventory, orders"),
        "{err}"
    );
    assert!(warehouse.table_names().await.unwrap().is_empty());
    assert!(warehouse.loads().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_subset_of_tables_and_an_append_mode_can_be_chosen() {
    let dwh = tempfile::tempdir().unwrap();
    let warehouse = SqliteWarehouse::open(dwh.path().join("dwh.sqlite")).unwrap();
    let workflow = ETLWorkflow::new(
        FilesExtractor::open(example_data()).unwrap(),
        warehouse.clone(),
    )
    .tables(["customers"])
    .write_mode(WriteMode::Append);
    workflow.run().await.unwrap();
    workflow.run().await.unwrap();
    assert_eq!(warehouse.table_names().await.unwrap(), ["customers"]);
    assert_eq!(rows(&warehouse, "customers").await, 10, "appended twice");
    // drop_tables rebuilds the table from this load alone.
    let report = ETLWorkflow::new(
        FilesExtractor::open(example_data()).unwrap(),
        warehouse.clone(),
    )
    .tables(["customers"])
    .write_mode(WriteMode::Append)
    .drop_tables(true)
    .run()
    .await
    .unwrap();
    assert_eq!(report.table("customers").unwrap().mode, WriteMode::Append);
    assert_eq!(rows(&warehouse, "customers").await, 5);
}

/// A process's output as text.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Its standard output and error, once it is seen to exit with `code`.
#[track_caller]
pub(crate) fn exits(output: &std::process::Output, code: i32) -> (String, String) {
    let (out, err) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{out}\nstderr:\n{err}"
    );
    (out, err)
}

/// Example `name`'s binary, as `cargo test` builds it beside the test
/// binaries.
pub(crate) fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is not built: `cargo test --workspace --all-features` builds it, \
         or `cargo build --example {name}`",
        path.display()
    );
    path
}
