//! SQLite and DuckDB files as sources: the extractor conformance suite for
//! each, and tables moved between any two of the three databases, all types
//! included, DuckDB → PostgreSQL among them.

use std::path::Path;

use etl_core::arrow::array::RecordBatch;
use etl_core::arrow::compute::concat_batches;
use etl_core::{BatchStream, ETLWorkflow, Extractor, TableSpec, Warehouse, WriteOptions};
use etl_testing::extractor::{Subject, check_extractor};
use etl_testing::warehouse::{all_types_batch, assert_same_values};
use etl_warehouses::{
    DuckDbExtractor, DuckDbWarehouse, PostgresExtractor, PostgresOptions, PostgresWarehouse,
    SqliteExtractor, SqliteWarehouse,
};

/// Loads the all-types table (keyed on `id`) and a keyless one into `w`.
async fn seed<W: Warehouse>(w: &W) {
    let batch = all_types_batch();
    let spec = TableSpec::new("all_types", batch.schema()).with_primary_key(["id"]);
    w.write(
        &spec,
        BatchStream::from_batches(batch.schema(), vec![batch.clone()]),
        &WriteOptions::default(),
    )
    .await
    .unwrap();
    let small = batch.project(&[0, 13]).unwrap();
    w.write(
        &TableSpec::new("keyless", small.schema()),
        BatchStream::from_batches(small.schema(), vec![small]),
        &WriteOptions::default(),
    )
    .await
    .unwrap();
}

async fn seeded_files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (sqlite, duckdb) = (dir.join("src.sqlite"), dir.join("src.duckdb"));
    seed(&SqliteWarehouse::open(&sqlite).unwrap()).await;
    seed(&DuckDbWarehouse::open(&duckdb).unwrap()).await;
    (sqlite, duckdb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_duckdb_files_pass_the_extractor_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let (sqlite, duckdb) = seeded_files(dir.path()).await;
    check_extractor(Subject::new("sqlite", move || {
        SqliteExtractor::open(&sqlite).unwrap()
    }))
    .await;
    check_extractor(Subject::new("duckdb", move || {
        DuckDbExtractor::open(&duckdb).unwrap()
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_file_is_read_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let (sqlite, duckdb) = seeded_files(dir.path()).await;
    let before = std::fs::read(&sqlite).unwrap();
    let source = SqliteExtractor::open(&sqlite).unwrap();
    let tables = source.tables().await.unwrap();
    let names: Vec<&str> = tables.iter().map(TableSpec::name).collect();
    assert_eq!(
        names,
        ["all_types", "keyless"],
        "etl's own tables are left out"
    );
    assert_eq!(tables[0].primary_key(), ["id"]);
    assert!(tables[1].primary_key().is_empty());
    let batches = source
        .extract(&tables[0], &etl_core::ExtractOptions::with_batch_size(2))
        .await
        .unwrap()
        .collect_batches()
        .await
        .unwrap();
    assert_eq!(
        batches
            .iter()
            .map(RecordBatch::num_rows)
            .collect::<Vec<_>>(),
        [2, 1]
    );
    drop(source);
    assert_eq!(
        std::fs::read(&sqlite).unwrap(),
        before,
        "the file is unchanged"
    );
    // A file that is not there is named, not created.
    let missing = dir.path().join("missing.sqlite");
    let err = SqliteExtractor::open(&missing).unwrap_err();
    assert!(err.to_string().contains("missing.sqlite"), "{err}");
    assert!(!missing.exists());
    let err = DuckDbExtractor::open(dir.path().join("missing.duckdb")).unwrap_err();
    assert!(err.to_string().contains("missing.duckdb"), "{err}");
    // A chosen table that does not exist is named.
    let err = DuckDbExtractor::open(&duckdb)
        .unwrap()
        .with_tables(["nope"])
        .tables()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no table \"nope\""), "{err}");
}

/// Every table of `from` through `ETLWorkflow` into `to`, replacing.
async fn moved<E: Extractor, W: Warehouse>(what: &str, from: E, to: W) {
    ETLWorkflow::new(from, to)
        .drop_tables(true)
        .run()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

async fn read<W: Warehouse>(w: &W, table: &str) -> RecordBatch {
    let schema = w.table_schema(table).await.unwrap().unwrap();
    let batches = w.read_table(table).await.unwrap();
    concat_batches(
        &batches.first().map(|b| b.schema()).unwrap_or(schema),
        &batches,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_move_between_any_two_databases() {
    let dir = tempfile::tempdir().unwrap();
    let (sqlite, duckdb) = seeded_files(dir.path()).await;
    let expected = all_types_batch();
    let pg_url = etl_testing::postgres::shared().database().await;

    // DuckDB -> PostgreSQL.
    let pg =
        PostgresWarehouse::connect_with(&pg_url, PostgresOptions::default().schema("from_duckdb"))
            .await
            .unwrap();
    moved(
        "duckdb -> postgres",
        DuckDbExtractor::open(&duckdb).unwrap(),
        pg.clone(),
    )
    .await;
    assert_same_values(&expected, &read(&pg, "all_types").await, &["id"]);
    assert_eq!(pg.table_names().await.unwrap(), ["all_types", "keyless"]);

    // SQLite -> PostgreSQL.
    let pg2 =
        PostgresWarehouse::connect_with(&pg_url, PostgresOptions::default().schema("from_sqlite"))
            .await
            .unwrap();
    moved(
        "sqlite -> postgres",
        SqliteExtractor::open(&sqlite).unwrap(),
        pg2.clone(),
    )
    .await;
    assert_same_values(&expected, &read(&pg2, "all_types").await, &["id"]);

    // PostgreSQL -> DuckDB and -> SQLite.
    let back_duck = DuckDbWarehouse::open(dir.path().join("back.duckdb")).unwrap();
    let source =
        PostgresExtractor::new(&pg_url, PostgresOptions::default().schema("from_duckdb")).unwrap();
    moved("postgres -> duckdb", source.clone(), back_duck.clone()).await;
    assert_same_values(&expected, &read(&back_duck, "all_types").await, &["id"]);
    let back_lite = SqliteWarehouse::open(dir.path().join("back.sqlite")).unwrap();
    moved("postgres -> sqlite", source, back_lite.clone()).await;
    assert_same_values(&expected, &read(&back_lite, "all_types").await, &["id"]);

    // SQLite -> DuckDB and DuckDB -> SQLite.
    let lite_to_duck = DuckDbWarehouse::open(dir.path().join("l2d.duckdb")).unwrap();
    moved(
        "sqlite -> duckdb",
        SqliteExtractor::open(&sqlite).unwrap(),
        lite_to_duck.clone(),
    )
    .await;
    assert_same_values(&expected, &read(&lite_to_duck, "all_types").await, &["id"]);
    let duck_to_lite = SqliteWarehouse::open(dir.path().join("d2l.sqlite")).unwrap();
    moved(
        "duckdb -> sqlite",
        DuckDbExtractor::open(&duckdb).unwrap(),
        duck_to_lite.clone(),
    )
    .await;
    assert_same_values(&expected, &read(&duck_to_lite, "all_types").await, &["id"]);
}
