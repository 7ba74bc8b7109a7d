//! Airtable into real SQLite and DuckDB files, through the local Airtable server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use etl::arrow::array::{Array, StringArray};
use etl::extractors::airtable::RetryPolicy;
use etl::{
    AirtableConfig, AirtableExtractor, DuckDbWarehouse, ETLWorkflow, Error, Progress,
    SqliteWarehouse, Warehouse,
};
use etl_airtable_server::{AirtableServer, Base, FailPage, Faults, ServerOptions};

async fn server() -> AirtableServer {
    AirtableServer::start_with(
        Base::sample(),
        ServerOptions::default().with_rate_limit(None),
    )
    .await
    .unwrap()
}

fn extractor(server: &AirtableServer) -> AirtableExtractor {
    AirtableExtractor::new(
        AirtableConfig::new(server.token(), server.base_id())
            .with_api_url(server.url())
            .with_requests_per_second(None)
            .with_retry(
                RetryPolicy::default()
                    .with_backoff(Duration::from_millis(5), Duration::from_millis(20))
                    .with_max_attempts(2),
            ),
    )
    .unwrap()
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

async fn syncs_the_sample_base<W: Warehouse>(warehouse: W) {
    let server = server().await;
    let base = Base::sample();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let workflow = ETLWorkflow::new(extractor(&server), warehouse)
        .drop_tables(true)
        .on_progress(move |event| {
            let line = match event {
                Progress::Planned { tables } => format!("planned {}", tables.len()),
                Progress::Started { table } => format!("started {table}"),
                Progress::Rows { table, rows } => format!("rows {table} {rows}"),
                Progress::Finished { report } => {
                    format!("finished {} {}", report.table, report.rows)
                }
                _ => "other".into(),
            };
            seen.lock().unwrap().push(line);
        });
    let report = workflow.run().await.unwrap();
    let warehouse = workflow.warehouse();
    for table in ["Customers", "Products", "Orders"] {
        let expected = base.record_count(table).unwrap();
        assert_eq!(report.table(table).unwrap().rows, expected as u64);
        assert_eq!(rows(warehouse, table).await, expected, "{table}");
    }
    assert!(report.table("Products").unwrap().invalid_values > 0);
    assert!(
        report.to_string().contains("note: \"Products\""),
        "{report}"
    );

    let events = events.lock().unwrap().clone();
    assert_eq!(events[0], "planned 3");
    assert_eq!(events[1], "started Customers");
    let orders = base.record_count("Orders").unwrap();
    assert!(
        events.contains(&format!("rows Orders {orders}")),
        "{events:?}"
    );
    assert_eq!(events.last().unwrap(), &format!("finished Orders {orders}"));

    // Names with spaces, dots and emoji arrived unchanged.
    let schema = warehouse.table_schema("Customers").await.unwrap().unwrap();
    for name in [
        "_airtable_id",
        "Customer no.",
        "Summary 🤖",
        "Last modified by",
    ] {
        assert!(schema.field_with_name(name).is_ok(), "{name} in {schema:?}");
    }
    // Linked records are lists of record ids.
    let orders_table = warehouse.read_table("Orders").await.unwrap();
    let customer = orders_table[0].column_by_name("Customer").unwrap();
    assert!(!customer.is_null(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_base_syncs_into_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    syncs_the_sample_base(DuckDbWarehouse::open(dir.path().join("a.duckdb")).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_base_syncs_into_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    syncs_the_sample_base(SqliteWarehouse::open(dir.path().join("a.sqlite")).unwrap()).await;
}

async fn a_failed_page_leaves_the_table_untouched<W: Warehouse + Clone>(warehouse: W) {
    let server = server().await;
    ETLWorkflow::new(extractor(&server), warehouse.clone())
        .tables(["Orders"])
        .run()
        .await
        .unwrap();
    let before = warehouse.read_table("Orders").await.unwrap();

    // A record changes, then page 7 of 20 fails for good.
    let first: &StringArray = before[0].column(0).as_any().downcast_ref().unwrap();
    let mut fields = serde_json::Map::new();
    fields.insert("Gift note".into(), "changed".into());
    assert!(server.update_record("Orders", first.value(0), fields));
    server.set_faults(Faults {
        fail_page: Some(FailPage {
            table: Some("Orders".into()),
            page: 7,
            status: 502,
            times: None,
        }),
        ..Faults::default()
    });
    let err = ETLWorkflow::new(extractor(&server), warehouse.clone())
        .tables(["Orders"])
        .drop_tables(true)
        .batch_size(100)
        .run()
        .await
        .unwrap_err();
    let Error::TablesFailed { failed, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        failed[0].1.contains("table \"Orders\": HTTP 502"),
        "{}",
        failed[0].1
    );
    let after = warehouse.read_table("Orders").await.unwrap();
    assert_eq!(before, after, "the table is exactly as it was");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_page_leaves_the_duckdb_table_untouched() {
    let dir = tempfile::tempdir().unwrap();
    a_failed_page_leaves_the_table_untouched(
        DuckDbWarehouse::open(dir.path().join("a.duckdb")).unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_page_leaves_the_sqlite_table_untouched() {
    let dir = tempfile::tempdir().unwrap();
    a_failed_page_leaves_the_table_untouched(
        SqliteWarehouse::open(dir.path().join("a.sqlite")).unwrap(),
    )
    .await;
}
