//! Airtable into real SQLite and DuckDB files, through the local Airtable server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{manifest_dir, rows};
use etl::arrow::array::{Array, StringArray};
use etl::extractors::airtable::RetryPolicy;
use etl::{
    AirtableConfig, AirtableExtractor, DuckDbWarehouse, ETLWorkflow, Error, SqliteWarehouse,
    StepStatus, Warehouse,
};
use etl_airtable_server::{AirtableServer, Base, FailPage, Faults, ServerOptions};

pub(crate) async fn server() -> AirtableServer {
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

async fn syncs_the_sample_base<W: Warehouse>(warehouse: W) {
    let server = server().await;
    let base = Base::sample();
    let events = Arc::new(Mutex::new(Vec::new()));
    let (seen, rows_seen) = (events.clone(), events.clone());
    let workflow = ETLWorkflow::new(extractor(&server), warehouse)
        .drop_tables(true)
        .run_id("load-1")
        .on_event(move |e| {
            assert_eq!(e.run_id, "load-1");
            let line = match (e.status, e.rows) {
                (StepStatus::Succeeded, Some(rows)) => {
                    assert!(e.duration.is_some(), "{e:?}");
                    format!("finished {} {rows}", e.step)
                }
                (status, _) => format!("{status} {}", e.step),
            };
            seen.lock().unwrap().push(line);
        })
        .on_progress(move |table, rows| {
            rows_seen
                .lock()
                .unwrap()
                .push(format!("rows {table} {rows}"))
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
    // Every table planned before any starts, as a workflow's steps are.
    assert_eq!(
        events[..4],
        [
            "PENDING Customers",
            "PENDING Products",
            "PENDING Orders",
            "RUNNING Customers"
        ]
    );
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

pub(crate) fn incremental(server: &AirtableServer) -> AirtableExtractor {
    AirtableExtractor::new(
        AirtableConfig::new(server.token(), server.base_id())
            .with_api_url(server.url())
            .with_requests_per_second(None)
            .with_tables(["Orders"])
            .with_incremental(true)
            .with_retry(RetryPolicy::default().with_max_attempts(1)),
    )
    .unwrap()
}

fn note(text: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("Gift note".into(), text.into());
    fields
}

async fn incremental_runs_read_only_what_changed<W: Warehouse + Clone>(warehouse: W) {
    let server = server().await;
    let source = format!("airtable:{}", server.base_id());
    let first = ETLWorkflow::new(incremental(&server), warehouse.clone())
        .run()
        .await
        .unwrap();
    let orders = first.table("Orders").unwrap();
    assert_eq!(orders.mode, etl::WriteMode::Merge);
    assert_eq!((orders.rows, orders.since.as_deref()), (2000, None));
    let cursor = warehouse.stored_cursor(&source, "Orders").await.unwrap();
    assert!(cursor.is_some() && cursor == orders.cursor, "{cursor:?}");

    // Two edits and a new record: the next run reads those three only.
    let table = warehouse.read_table("Orders").await.unwrap();
    let ids: &StringArray = table[0].column(0).as_any().downcast_ref().unwrap();
    let (a, b) = (ids.value(0).to_owned(), ids.value(1).to_owned());
    assert!(server.update_record("Orders", &a, note("first edit")));
    assert!(server.update_record("Orders", &b, note("second edit")));
    server.create_record("Orders", note("a new order")).unwrap();
    let second = ETLWorkflow::new(incremental(&server), warehouse.clone())
        .run()
        .await
        .unwrap();
    let orders = second.table("Orders").unwrap();
    assert_eq!(orders.rows, 3);
    assert_eq!(orders.since, cursor, "read from the stored cursor");
    assert!(
        second
            .to_string()
            .contains("read incrementally, changes since"),
        "{second}"
    );
    assert_eq!(
        rows(&warehouse, "Orders").await,
        2001,
        "merged, not appended"
    );
    let cursor = warehouse.stored_cursor(&source, "Orders").await.unwrap();

    // A run that fails leaves rows and cursor as they were.
    assert!(server.update_record("Orders", &a, note("third edit")));
    server.set_faults(Faults {
        fail_page: Some(FailPage {
            table: Some("Orders".into()),
            page: 1,
            status: 500,
            times: None,
        }),
        ..Faults::default()
    });
    ETLWorkflow::new(incremental(&server), warehouse.clone())
        .run()
        .await
        .unwrap_err();
    assert_eq!(
        warehouse.stored_cursor(&source, "Orders").await.unwrap(),
        cursor
    );
    server.set_faults(Faults::default());

    // The cursor is a minute before the last run began (edits made during a
    // run are read again, not lost): the three records of the last run come
    // again with the new edit, and merge to the same rows.
    let fourth = ETLWorkflow::new(incremental(&server), warehouse.clone())
        .run()
        .await
        .unwrap();
    assert_eq!(fourth.table("Orders").unwrap().rows, 3);
    assert_eq!(rows(&warehouse, "Orders").await, 2001);

    // drop_tables reads everything again.
    let full = ETLWorkflow::new(incremental(&server), warehouse.clone())
        .drop_tables(true)
        .run()
        .await
        .unwrap();
    assert_eq!(full.table("Orders").unwrap().rows, 2001);
    assert_eq!(full.table("Orders").unwrap().since, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_runs_into_duckdb_read_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    incremental_runs_read_only_what_changed(
        DuckDbWarehouse::open(dir.path().join("a.duckdb")).unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_runs_into_sqlite_read_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    incremental_runs_read_only_what_changed(
        SqliteWarehouse::open(dir.path().join("a.sqlite")).unwrap(),
    )
    .await;
}

async fn hostile_names_round_trip<W: Warehouse>(warehouse: W) {
    let dir = manifest_dir().join("extractors/tests/fixtures/airtable/kinds");
    let server = AirtableServer::start_with(
        Base::load(&dir).unwrap(),
        ServerOptions::default().with_rate_limit(None),
    )
    .await
    .unwrap();
    let workflow = ETLWorkflow::new(extractor(&server), warehouse);
    let report = workflow.run().await.unwrap();
    let table = "Every \"kind\" 🚀";
    assert_eq!(report.table(table).unwrap().rows, 4);
    assert_eq!(report.table(table).unwrap().invalid_values, 4);
    assert!(
        report
            .to_string()
            .contains("warning: \"Every \\\"kind\\\" 🚀\": field \"Poll\""),
        "{report}"
    );
    let warehouse = workflow.warehouse();
    assert_eq!(warehouse.table_names().await.unwrap(), [table]);
    let schema = warehouse.table_schema(table).await.unwrap().unwrap();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    for name in ["select", "Price ($)", "Done?", "Linked names"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    assert_eq!(rows(warehouse, table).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_airtable_names_round_trip_in_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    hostile_names_round_trip(DuckDbWarehouse::open(dir.path().join("a.duckdb")).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_airtable_names_round_trip_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    hostile_names_round_trip(SqliteWarehouse::open(dir.path().join("a.sqlite")).unwrap()).await;
}

/// Two processes syncing one base at once (two `sync_airtable`s, as the
/// tasks of an exported DAG or two workers would) share the base's 5
/// requests per second: no `429`, no 30 s penalty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_reading_one_base_share_its_rate_limit() {
    let server = AirtableServer::start_with(Base::sample(), ServerOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let limits = dir.path().join("rate-limits");
    let run = |out: &str| {
        std::process::Command::new(super::example("sync_airtable"))
            .args(["--warehouse", "sqlite", "--out", out])
            .current_dir(dir.path())
            .env("AIRTABLE_TOKEN", server.token())
            .env("AIRTABLE_BASE_ID", server.base_id())
            .env("AIRTABLE_API_URL", server.url())
            .env("ETL_RATE_LIMIT_DIR", &limits)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (run("a.sqlite"), run("b.sqlite"));
    let outputs =
        tokio::task::block_in_place(|| [first.wait_with_output(), second.wait_with_output()]);
    for output in outputs {
        let output = output.unwrap();
        assert!(output.status.success(), "{}", super::text(&output.stderr));
    }
    let stats = server.stats();
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
    assert!(stats.max_requests_per_second <= 5, "{stats:?}");
}
