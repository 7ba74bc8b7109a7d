//! `ETLWorkflow` transforms between extract and load: Polars
//! (`transform`) and DataFusion SQL (`transform_sql`), from real files and
//! the local Airtable server into real DuckDB and SQLite files.

use etl::arrow::array::{Array, RecordBatch};
use etl::arrow::compute::concat_batches;
#[allow(unused_imports)]
use etl::prelude::*;
use etl::{
    DuckDbWarehouse, ETLWorkflow, Error, FilesExtractor, LoadReport, SqliteWarehouse, Warehouse,
};

use super::example_data;

/// The example's files: orders (4 rows), customers (5).
fn files() -> FilesExtractor {
    FilesExtractor::open(example_data()).unwrap()
}

/// The one table a run failed on, the error it failed with, and the report
/// of the tables that loaded; the test fails if the run failed otherwise.
fn one_failed_table(err: &Error) -> (&str, &str, &LoadReport) {
    let Error::TablesFailed { failed, report, .. } = err else {
        panic!("expected TablesFailed, got {err:?}");
    };
    assert_eq!(failed.len(), 1, "{failed:?}");
    (&failed[0].0, &failed[0].1, report)
}

/// Every row of `table`, as one batch.
async fn table<W: Warehouse>(warehouse: &W, table: &str) -> RecordBatch {
    let batches = warehouse.read_table(table).await.unwrap();
    concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn column_names(batch: &RecordBatch) -> Vec<String> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// A column's values as text, for comparing tables without caring how each
/// warehouse types them.
fn texts(batch: &RecordBatch, column: &str) -> Vec<String> {
    let array = batch.column_by_name(column).unwrap();
    let options = etl::arrow::util::display::FormatOptions::default().with_null("NULL");
    let formatter =
        etl::arrow::util::display::ArrayFormatter::try_new(array.as_ref(), &options).unwrap();
    (0..array.len())
        .map(|i| formatter.value(i).to_string())
        .collect()
}

#[cfg(feature = "datafusion")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sql_transform_reshapes_a_table_row_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = DuckDbWarehouse::open(dir.path().join("dwh.duckdb")).unwrap();
    let report = ETLWorkflow::new(files(), warehouse.clone())
        .tables(["orders", "customers"])
        // One row per batch: the query sees the table as a stream of batches.
        .batch_size(1)
        .transform_sql(
            "orders",
            "SELECT order_id, customer_id, total * 100 AS total_cents \
         FROM orders WHERE total > 0",
        )
        .run()
        .await
        .unwrap();
    assert_eq!(report.table("orders").unwrap().rows, 3, "{report}");
    assert_eq!(report.table("orders").unwrap().columns, 3, "{report}");
    assert_eq!(report.table("customers").unwrap().rows, 5, "untouched");

    let orders = table(&warehouse, "orders").await;
    assert_eq!(
        column_names(&orders),
        ["order_id", "customer_id", "total_cents"]
    );
    assert_eq!(texts(&orders, "order_id"), ["1001", "1002", "1004"]);
    assert_eq!(
        texts(&orders, "total_cents"),
        ["3150.0", "1200.0", "2700.0"]
    );
    let customers = table(&warehouse, "customers").await;
    assert_eq!(customers.num_columns(), 6);
}

#[cfg(feature = "datafusion")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sql_transform_can_aggregate() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = SqliteWarehouse::open(dir.path().join("dwh.sqlite")).unwrap();
    ETLWorkflow::new(files(), warehouse.clone())
        .tables(["orders"])
        .batch_size(2)
        .transform_sql(
            "orders",
            "SELECT customer_id, count(*) AS orders, sum(total) AS spent \
         FROM orders GROUP BY customer_id ORDER BY customer_id",
        )
        .run()
        .await
        .unwrap();
    let orders = table(&warehouse, "orders").await;
    assert_eq!(texts(&orders, "customer_id"), ["1", "2", "5"]);
    assert_eq!(texts(&orders, "orders"), ["2", "1", "1"]);
    assert_eq!(texts(&orders, "spent"), ["31.5", "12.0", "27.0"]);
}

#[cfg(feature = "datafusion")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sql_transform_fails_its_table_only_and_keeps_its_old_rows() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = DuckDbWarehouse::open(dir.path().join("dwh.duckdb")).unwrap();
    ETLWorkflow::new(files(), warehouse.clone())
        .tables(["orders", "customers"])
        .run()
        .await
        .unwrap();

    let err = ETLWorkflow::new(files(), warehouse.clone())
        .tables(["orders", "customers"])
        .drop_tables(true)
        .transform_sql("orders", "SELECT order_id, discount FROM orders")
        .run()
        .await
        .unwrap_err();
    let (table_name, message, report) = one_failed_table(&err);
    assert_eq!(table_name, "orders");
    assert!(message.contains("table \"orders\": SQL:"), "{message}");
    assert!(
        message.contains("discount") && message.ends_with("(at line 1, column 18)"),
        "{message}"
    );
    assert_eq!(report.table("customers").unwrap().rows, 5);

    // The failed table is as it was, columns and rows, even with drop_tables.
    let orders = table(&warehouse, "orders").await;
    assert_eq!(orders.num_rows(), 4);
    assert_eq!(orders.num_columns(), 5);
}

#[cfg(feature = "polars")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polars_transform_reshapes_a_whole_table() {
    use etl::polars::prelude::*;

    let dir = tempfile::tempdir().unwrap();
    let warehouse = SqliteWarehouse::open(dir.path().join("dwh.sqlite")).unwrap();
    let report = ETLWorkflow::new(files(), warehouse.clone())
        .tables(["customers"])
        .batch_size(2)
        .transform("customers", |df: DataFrame| {
            df.lazy()
                .filter(col("country").neq(lit("US")))
                .select([
                    col("id"),
                    col("name"),
                    col("lifetime_value").fill_null(lit(0.0)).alias("value"),
                ])
                .sort(
                    ["value"],
                    SortMultipleOptions::default().with_order_descending(true),
                )
                .collect()
        })
        .run()
        .await
        .unwrap();
    assert_eq!(report.table("customers").unwrap().rows, 3, "{report}");
    let customers = table(&warehouse, "customers").await;
    assert_eq!(column_names(&customers), ["id", "name", "value"]);
    assert_eq!(
        texts(&customers, "name"),
        ["Ada Lovelace", "Édith Piaf", "Alan Turing"]
    );
    assert_eq!(texts(&customers, "value"), ["1200.5", "78.1", "0.0"]);
}

#[cfg(feature = "polars")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_polars_transform_names_its_table() {
    use etl::polars::prelude::*;

    let dir = tempfile::tempdir().unwrap();
    let warehouse = DuckDbWarehouse::open(dir.path().join("dwh.duckdb")).unwrap();
    ETLWorkflow::new(files(), warehouse.clone())
        .tables(["customers"])
        .run()
        .await
        .unwrap();

    // Polars' own error (a column that is not there) ...
    let err = ETLWorkflow::new(files(), warehouse.clone())
        .tables(["customers", "orders"])
        .transform("customers", |df: DataFrame| {
            df.lazy().select([col("no_such_column")]).collect()
        })
        .run()
        .await
        .unwrap_err();
    let (table_name, message, _) = one_failed_table(&err);
    assert_eq!(table_name, "customers");
    assert!(
        message.starts_with("table \"customers\": the transform failed: ")
            && message.contains("no_such_column"),
        "{message}"
    );
    assert_eq!(table(&warehouse, "customers").await.num_rows(), 5);
    assert_eq!(table(&warehouse, "orders").await.num_rows(), 4);

    // ... and the user's own.
    let err = ETLWorkflow::new(files(), warehouse.clone())
        .tables(["customers"])
        .transform("customers", |_df: DataFrame| -> Result<DataFrame, _> {
            Err(anyhow::anyhow!("no customer may be loaded today"))
        })
        .run()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "\"customers\": table \"customers\": the transform failed: \
             no customer may be loaded today"
        ),
        "{err}"
    );
    assert_eq!(table(&warehouse, "customers").await.num_rows(), 5);

    // A transform that panics fails its table, not the run.
    let err = ETLWorkflow::new(files(), warehouse.clone())
        .tables(["customers", "orders"])
        .transform("customers", |_df: DataFrame| -> PolarsResult<DataFrame> {
            panic!("a bug in the transform")
        })
        .run()
        .await
        .unwrap_err();
    let (table_name, message, report) = one_failed_table(&err);
    assert_eq!(table_name, "customers");
    assert!(
        message.starts_with("table \"customers\": the transform failed: ")
            && message.contains("a bug in the transform"),
        "{message}"
    );
    assert_eq!(report.table("orders").unwrap().rows, 4);
    assert_eq!(table(&warehouse, "customers").await.num_rows(), 5);
}

#[cfg(feature = "polars")]
#[tokio::test]
async fn a_transform_of_a_table_that_is_not_loaded_fails_before_any_data_moves() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = SqliteWarehouse::open(dir.path().join("dwh.sqlite")).unwrap();
    let err = ETLWorkflow::new(files(), warehouse.clone())
        .tables(["customers"])
        .transform("orders", Ok::<_, etl::Error>)
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownTable { table, .. } if table == "orders"),
        "{err:?}"
    );
    assert!(err.to_string().contains("it offers: customers"), "{err}");
    assert!(warehouse.table_names().await.unwrap().is_empty());
}

#[cfg(all(feature = "polars", feature = "datafusion"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transforms_of_one_table_run_in_the_order_given() {
    use etl::polars::prelude::*;

    let dir = tempfile::tempdir().unwrap();
    let warehouse = DuckDbWarehouse::open(dir.path().join("dwh.duckdb")).unwrap();
    ETLWorkflow::new(files(), warehouse.clone())
        .tables(["orders"])
        .transform_sql("orders", "SELECT order_id, total FROM orders")
        .transform("orders", |df: DataFrame| {
            df.lazy()
                .with_column((col("total") * lit(2.0)).alias("double"))
                .collect()
        })
        // The column the Polars transform added is there for the SQL after it.
        .transform_sql(
            "orders",
            "SELECT order_id, double FROM orders WHERE double > 30",
        )
        .run()
        .await
        .unwrap();
    let orders = table(&warehouse, "orders").await;
    assert_eq!(column_names(&orders), ["order_id", "double"]);
    assert_eq!(texts(&orders, "order_id"), ["1001", "1004"]);
    assert_eq!(texts(&orders, "double"), ["63.0", "54.0"]);
}

#[cfg(feature = "datafusion")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_table_keeps_its_cursor_through_a_transform() {
    use super::airtable::{incremental, server};

    let server = server().await;
    let source = format!("airtable:{}", server.base_id());
    let dir = tempfile::tempdir().unwrap();
    let warehouse = DuckDbWarehouse::open(dir.path().join("dwh.duckdb")).unwrap();
    let sync = || {
        ETLWorkflow::new(incremental(&server), warehouse.clone()).transform_sql(
            "Orders",
            r#"SELECT "_airtable_id", "Order no.", "Amount" FROM "Orders" WHERE "Amount" > 100"#,
        )
    };
    let first = sync().run().await.unwrap();
    let orders = first.table("Orders").unwrap();
    assert!(orders.rows > 0 && orders.rows < 2000, "{first}");
    let cursor = warehouse.stored_cursor(&source, "Orders").await.unwrap();
    assert!(cursor.is_some(), "the extractor's cursor was stored");
    assert_eq!(cursor, orders.cursor);
    let loaded = table(&warehouse, "Orders").await;
    assert_eq!(
        column_names(&loaded),
        ["_airtable_id", "Order no.", "Amount"]
    );

    // The next run reads from that cursor, and merges on the key.
    let second = sync().run().await.unwrap();
    assert_eq!(second.table("Orders").unwrap().since, cursor, "{second}");
    assert_eq!(
        table(&warehouse, "Orders").await.num_rows(),
        loaded.num_rows()
    );
}
