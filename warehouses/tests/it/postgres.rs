//! `PostgresWarehouse` against a real PostgreSQL (a throw-away cluster, or
//! `ETL_TEST_POSTGRES_URL`): the conformance suite, each check in a fresh
//! database, then what is particular to PostgreSQL.

use std::path::Path;

use etl_warehouses::{PostgresOptions, PostgresWarehouse};

/// A fresh database of the test server; its URL (the password in it).
pub(crate) fn fresh_database() -> String {
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(etl_testing::postgres::shared().database())
    })
}

fn open(_: &Path) -> etl_core::Result<PostgresWarehouse> {
    PostgresWarehouse::new(&fresh_database(), PostgresOptions::default())
}

mod conformance {
    use super::*;
    etl_testing::warehouse_conformance!(open);
}

mod boxed {
    use super::*;
    use etl_core::BoxedWarehouse;
    etl_testing::warehouse_conformance!(
        |dir: &Path| open(dir).map(|w| Box::new(w) as BoxedWarehouse)
    );
}

use std::sync::Arc;
use std::time::Duration;

use etl_core::arrow::array::{
    Array, ArrayRef, Date32Array, Decimal128Array, Decimal256Array, DurationSecondArray,
    FixedSizeListArray, Float64Array, Int32Array, Int64Array, LargeListArray, ListArray, MapArray,
    RecordBatch, StringArray, Time64NanosecondArray, TimestampNanosecondArray,
};
use etl_core::arrow::datatypes::{DataType, Field, Int32Type, Schema, i256};
use etl_core::{BatchStream, Error, LoadStatus, TableSpec, Warehouse, WriteMode, WriteOptions};

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

async fn write(
    w: &PostgresWarehouse,
    table: &str,
    mode: WriteMode,
    b: &RecordBatch,
) -> etl_core::Result<etl_core::WriteSummary> {
    w.write(
        &TableSpec::new(table, b.schema()).with_mode(mode),
        BatchStream::from_batches(b.schema(), vec![b.clone()]),
        &WriteOptions::default(),
    )
    .await
}

/// Runs `sql` on its own connection to `url` (as the test's superuser).
async fn admin(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The text of one value `sql` selects.
async fn query_text(url: &str, sql: &str) -> Option<String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .query_opt(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .map(|r| r.get::<_, Option<String>>(0).unwrap_or_default())
}

fn ids(values: &[i64]) -> RecordBatch {
    batch(vec![("id", Arc::new(Int64Array::from(values.to_vec())))])
}

async fn read_ids(w: &PostgresWarehouse, table: &str) -> Vec<i64> {
    let batches = w.read_table(table).await.unwrap();
    let mut ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    ids.sort();
    ids
}

/// A stream of `first`, then (once `release` is notified) `rest`.
fn paused_stream(
    first: RecordBatch,
    rest: RecordBatch,
    release: Arc<tokio::sync::Notify>,
) -> BatchStream {
    let schema = first.schema();
    let stream = futures::stream::unfold(0, move |step| {
        let (first, rest, release) = (first.clone(), rest.clone(), release.clone());
        async move {
            match step {
                0 => Some((Ok(first), 1)),
                1 => {
                    release.notified().await;
                    Some((Ok(rest), 2))
                }
                _ => None,
            }
        }
    });
    BatchStream::new(schema, stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_map_to_native_postgres_types() {
    let url = fresh_database();
    let w = PostgresWarehouse::connect(&url).await.unwrap();
    let b = etl_testing::warehouse::all_types_batch();
    let spec = TableSpec::new("all", b.schema()).with_primary_key(["id"]);
    w.write(
        &spec,
        BatchStream::from_batches(b.schema(), vec![b]),
        &WriteOptions::default(),
    )
    .await
    .unwrap();
    let types = query_text(
        &url,
        "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) \
         FROM pg_attribute WHERE attrelid = 'public.all'::regclass AND attnum > 0",
    )
    .await
    .unwrap();
    assert_eq!(
        types,
        "id bigint, bool boolean, i8 smallint, i16 smallint, i32 integer, i64 bigint, u8 smallint, \
         u16 integer, u32 bigint, u64 numeric(20,0), f16 real, f32 real, f64 double precision, \
         utf8 text, large_utf8 text, utf8_view text, binary bytea, large_binary bytea, \
         fixed_binary bytea, date32 date, date64 date, time32 time without time zone, \
         time64 time without time zone, ts_s timestamp without time zone, \
         ts_ms timestamp without time zone, ts_us timestamp without time zone, \
         ts_ns timestamp without time zone, ts_tz timestamp with time zone, \
         decimal numeric(38,10), list integer[], struct jsonb, dictionary text, null text"
    );
    let values = query_text(
        &url,
        "SELECT list[3]::text || ' ' || (struct->>'label') || ' ' || cardinality(list)::text \
         || ' ' || decimal::text || ' ' || ts_tz::text FROM public.\"all\" WHERE id = 1",
    )
    .await
    .unwrap();
    assert_eq!(
        values,
        "3 a 3 1234567890123456789.0123456789 1970-01-01 00:00:00+00"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_decimals_durations_lists_and_maps_round_trip() {
    let url = fresh_database();
    let w = PostgresWarehouse::connect(&url).await.unwrap();
    let wide = Decimal256Array::from(vec![
        Some(i256::from_string("-123456789012345678901234567890123456789012345678901").unwrap()),
        Some(i256::from_i128(5)),
        None,
    ])
    .with_precision_and_scale(60, 10)
    .unwrap();
    let texts = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
        Some(vec![Some(1)]),
        None,
        Some(vec![None, Some(2)]),
    ]);
    let large = LargeListArray::from_iter_primitive::<Int32Type, _, _>(vec![
        Some(vec![Some(7), Some(8)]),
        Some(vec![]),
        None,
    ]);
    let fixed = FixedSizeListArray::from_iter_primitive::<Int32Type, _, _>(
        vec![
            Some(vec![Some(1), Some(2)]),
            None,
            Some(vec![Some(3), None]),
        ],
        2,
    );
    let map = MapArray::new_from_strings(
        ["a", "b", "c"].into_iter(),
        &Int32Array::from(vec![1, 2, 3]),
        &[0, 2, 2, 3],
    )
    .unwrap();
    let b = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3]))),
        ("wide", Arc::new(wide)),
        (
            "took",
            Arc::new(DurationSecondArray::from(vec![Some(90), Some(-1), None])),
        ),
        (
            "time_ns",
            Arc::new(Time64NanosecondArray::from(vec![
                Some(1_000),
                None,
                Some(86_399_999_999_000),
            ])),
        ),
        ("ints", Arc::new(texts)),
        ("large", Arc::new(large)),
        ("fixed", Arc::new(fixed)),
        ("map", Arc::new(map)),
    ]);
    write(&w, "t", WriteMode::Replace, &b).await.unwrap();
    let got = etl_core::arrow::compute::concat_batches(
        &w.table_schema("t").await.unwrap().unwrap(),
        &w.read_table("t").await.unwrap(),
    )
    .unwrap();
    let text = |name: &str, row: usize| {
        let column = got.column_by_name(name).unwrap();
        etl_core::arrow::util::display::array_value_to_string(column, row).unwrap()
    };
    // Past 38 digits: the exact digits, as text.
    assert_eq!(
        got.column_by_name("wide").unwrap().data_type(),
        &DataType::Utf8
    );
    assert_eq!(
        text("wide", 0),
        "-12345678901234567890123456789012345678901.2345678901"
    );
    assert_eq!(text("wide", 1), "0.0000000005");
    assert!(got.column_by_name("wide").unwrap().is_null(2));
    assert_eq!(
        query_text(&url, "SELECT took::text FROM t ORDER BY id LIMIT 1")
            .await
            .unwrap(),
        "00:01:30"
    );
    assert_eq!(text("time_ns", 0), "00:00:00.000001");
    assert_eq!(text("ints", 2), "[, 2]");
    assert_eq!(text("large", 0), "[7, 8]");
    assert_eq!(text("large", 1), "[]");
    assert!(got.column_by_name("large").unwrap().is_null(2));
    assert_eq!(text("fixed", 2), "[3, ]");
    let map: serde_json::Value = serde_json::from_str(&text("map", 0)).unwrap();
    assert_eq!(map, serde_json::json!({"a": 1, "b": 2}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_postgres_cannot_hold_are_named_and_nothing_is_written() {
    let url = fresh_database();
    let w = PostgresWarehouse::connect(&url).await.unwrap();
    let base = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![1]))),
        ("day", Arc::new(Date32Array::from(vec![0]))),
        ("name", Arc::new(StringArray::from(vec!["ada"]))),
        (
            "price",
            Arc::new(
                Decimal128Array::from(vec![1050])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
        ),
    ]);
    write(&w, "t", WriteMode::Replace, &base).await.unwrap();
    let day = |d: i32| {
        batch(vec![
            ("id", Arc::new(Int64Array::from(vec![2, 3]))),
            ("day", Arc::new(Date32Array::from(vec![0, d]))),
        ])
    };
    // A date past PostgreSQL's calendar (5874897-12-31): row 1 of the load.
    let err = write(&w, "t", WriteMode::Append, &day(i32::MAX))
        .await
        .unwrap_err();
    match &err {
        Error::Value {
            table, column, row, ..
        } => assert_eq!((table.as_str(), column.as_str(), *row), ("t", "day", 1)),
        other => panic!("{other:?}"),
    }
    // A NUL byte in text.
    let nul = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![2]))),
        ("name", Arc::new(StringArray::from(vec!["a\0b"]))),
    ]);
    let err = write(&w, "t", WriteMode::Append, &nul).await.unwrap_err();
    assert!(
        matches!(&err, Error::Value { column, row: 0, .. } if column == "name"),
        "{err:?}"
    );
    assert!(err.to_string().contains("NUL"), "{err}");
    // A decimal wider than its column, and NaN for a numeric column.
    let wider = batch(vec![(
        "price",
        Arc::new(
            Decimal128Array::from(vec![1])
                .with_precision_and_scale(12, 2)
                .unwrap(),
        ) as ArrayRef,
    )]);
    let err = write(&w, "t", WriteMode::Append, &wider).await.unwrap_err();
    assert!(
        matches!(&err, Error::IncompatibleSchema { column, existing, .. }
            if column == "price" && existing == "numeric(10,2)"),
        "{err:?}"
    );
    let nan = batch(vec![(
        "price",
        Arc::new(Float64Array::from(vec![f64::NAN])) as ArrayRef,
    )]);
    let err = write(&w, "t", WriteMode::Append, &nan).await.unwrap_err();
    assert!(
        matches!(&err, Error::IncompatibleSchema { column, .. } if column == "price"),
        "{err:?}"
    );
    // Nanoseconds are not rounded away.
    let ns = batch(vec![(
        "at",
        Arc::new(TimestampNanosecondArray::from(vec![1_000, 1_001])) as ArrayRef,
    )]);
    let err = write(&w, "t", WriteMode::Append, &ns).await.unwrap_err();
    assert!(
        matches!(&err, Error::Value { column, row: 1, .. } if column == "at"),
        "{err:?}"
    );
    // None of it was written, not even the added column; each is recorded.
    assert_eq!(read_ids(&w, "t").await, [1]);
    let schema = w.table_schema("t").await.unwrap().unwrap();
    assert!(schema.field_with_name("at").is_err(), "{schema:?}");
    let loads = w.loads().await.unwrap();
    assert_eq!(
        loads
            .iter()
            .filter(|l| l.status == LoadStatus::Failed)
            .count(),
        5,
        "{loads:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_appear_in_no_message() {
    let pg = etl_testing::postgres::shared();
    let url = fresh_database();
    let db = url.rsplit('/').next().unwrap().to_owned();
    let wrong = format!(
        "postgres://{}:wrong-secret-password@127.0.0.1:{}/{db}",
        etl_testing::postgres::USER,
        pg.port()
    );
    let err = PostgresWarehouse::connect(&wrong).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("wrong-secret-password"), "{text}");
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(
        text.contains(&format!("postgres://etl@127.0.0.1:{}/{db}", pg.port())),
        "{text}"
    );
    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = PostgresWarehouse::connect(&format!(
        "postgres://etl:hunter2-secret@127.0.0.1:{port}/db"
    ))
    .await
    .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(err.is_retryable(), "an unreachable server may come back");
    // A URL that does not parse is never repeated.
    let err = PostgresWarehouse::new(
        "postgres://etl:hunter2-secret@127.0.0.1:notaport/db",
        PostgresOptions::default(),
    )
    .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err}");
    // Nor is it in Debug, nor in a load's error.
    let w = PostgresWarehouse::new(&url, PostgresOptions::default()).unwrap();
    assert!(!format!("{w:?}").contains(etl_testing::postgres::PASSWORD));
    let err = write(
        &w,
        "t",
        WriteMode::Append,
        &batch(vec![(
            "a\0",
            Arc::new(Int64Array::from(vec![1])) as ArrayRef,
        )]),
    )
    .await
    .unwrap_err();
    assert!(!err.to_string().contains(etl_testing::postgres::PASSWORD));
    // TLS asked of a server that has none is refused, not silently dropped.
    let err = PostgresWarehouse::connect(&format!("{url}?sslmode=require"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(!text.contains(etl_testing::postgres::PASSWORD), "{text}");
    assert!(
        text.to_lowercase().contains("tls") || text.contains("SSL"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_the_user_may_not_write_to_is_named() {
    let url = fresh_database();
    admin(
        &url,
        "CREATE SCHEMA locked; CREATE ROLE reader LOGIN PASSWORD 'reader-pw'; \
         GRANT USAGE ON SCHEMA locked TO reader; GRANT CONNECT ON DATABASE postgres TO reader;",
    )
    .await;
    let reader = url.replacen(
        &format!(
            "{}:{}",
            etl_testing::postgres::USER,
            etl_testing::postgres::PASSWORD
        ),
        "reader:reader-pw",
        1,
    );
    let err = PostgresWarehouse::connect_with(&reader, PostgresOptions::default().schema("locked"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("permission denied for schema locked"),
        "{text}"
    );
    assert!(!text.contains("reader-pw"), "{text}");
    // A schema it would have to create, in a database it may not create in.
    let err =
        PostgresWarehouse::connect_with(&reader, PostgresOptions::default().schema("new one"))
            .await
            .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    // A hostile schema name, for the owner: created and quoted.
    let hostile = "we\"ird; DROP SCHEMA public --";
    let w = PostgresWarehouse::connect_with(&url, PostgresOptions::default().schema(hostile))
        .await
        .unwrap();
    write(&w, "t", WriteMode::Replace, &ids(&[1, 2]))
        .await
        .unwrap();
    assert_eq!(read_ids(&w, "t").await, [1, 2]);
    assert_eq!(w.table_names().await.unwrap(), ["t"]);
    assert!(
        query_text(
            &url,
            "SELECT nspname::text FROM pg_namespace WHERE nspname = 'public'"
        )
        .await
        .is_some()
    );
    // Names PostgreSQL would cut short are refused, not truncated: a schema
    // as the configuration's mistake, a table as the load's.
    let err = PostgresWarehouse::new(&url, PostgresOptions::default().schema("s".repeat(64)))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("schema name") && m.contains("63 bytes")),
        "{err:?}"
    );
    let long = "x".repeat(64);
    let err = write(&w, &long, WriteMode::Replace, &ids(&[1]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("63 bytes"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_mid_copy_leaves_the_table_and_no_staging_table() {
    let url = fresh_database();
    let w = PostgresWarehouse::connect(&url).await.unwrap();
    let keyed = TableSpec::new("t", ids(&[]).schema()).with_primary_key(["id"]);
    w.write(
        &keyed,
        BatchStream::from_batches(keyed.schema().clone(), vec![ids(&[1, 2])]),
        &WriteOptions::default(),
    )
    .await
    .unwrap();
    for mode in [WriteMode::Replace, WriteMode::Append, WriteMode::Merge] {
        let release = Arc::new(tokio::sync::Notify::new());
        let spec = TableSpec::new("t", ids(&[]).schema())
            .with_mode(mode)
            .with_primary_key(["id"]);
        let stream = paused_stream(ids(&[3]), ids(&[4]), release.clone());
        let load = {
            let w = w.clone();
            tokio::spawn(async move { w.write(&spec, stream, &WriteOptions::default()).await })
        };
        // Wait for the COPY, then kill its connection.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let killed = query_text(
                &url,
                "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity \
                 WHERE application_name = 'etl' AND query LIKE 'COPY%' AND pid <> pg_backend_pid()",
            )
            .await;
            if killed.as_deref() == Some("true") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{mode}: no COPY seen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        release.notify_one();
        let err = load.await.unwrap().unwrap_err();
        assert!(
            matches!(&err, Error::Database { table: Some(t), .. } if t == "t"),
            "{mode}: {err:?}"
        );
        assert!(err.is_retryable(), "{mode}: {err}");
        assert_eq!(
            read_ids(&w, "t").await,
            [1, 2],
            "{mode}: the table is untouched"
        );
    }
    write(&w, "t", WriteMode::Replace, &ids(&[5]))
        .await
        .unwrap();
    assert_eq!(read_ids(&w, "t").await, [5]);
    let staging = query_text(
        &url,
        "SELECT string_agg(relname::text, ',') FROM pg_class WHERE relname LIKE '\\_etl\\_staging%'",
    )
    .await
    .unwrap();
    assert_eq!(staging, "", "no staging table is left");
    let loads = w.loads().await.unwrap();
    let failed: Vec<_> = loads
        .iter()
        .filter(|l| l.status == LoadStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 3, "each killed load is recorded: {loads:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_timeout_fails_the_load_and_names_the_table() {
    let url = fresh_database();
    let w = PostgresWarehouse::connect(&url).await.unwrap();
    write(&w, "t", WriteMode::Replace, &ids(&[1]))
        .await
        .unwrap();
    let timed = PostgresWarehouse::connect(&format!("{url}?options=-c%20statement_timeout%3D300"))
        .await
        .unwrap();
    let release = Arc::new(tokio::sync::Notify::new());
    let spec = TableSpec::new("t", ids(&[]).schema()).with_mode(WriteMode::Append);
    let stream = paused_stream(ids(&[2]), ids(&[3]), release.clone());
    let load =
        tokio::spawn(async move { timed.write(&spec, stream, &WriteOptions::default()).await });
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    release.notify_one();
    let err = load.await.unwrap().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("statement timeout"), "{text}");
    assert!(text.contains("\"t\""), "{text}");
    assert_eq!(read_ids(&w, "t").await, [1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_dropped_by_someone_else_mid_load_waits_for_the_load() {
    let url = fresh_database();
    let w = PostgresWarehouse::connect(&url).await.unwrap();
    write(&w, "t", WriteMode::Replace, &ids(&[1]))
        .await
        .unwrap();
    let release = Arc::new(tokio::sync::Notify::new());
    let spec = TableSpec::new("t", ids(&[]).schema()).with_mode(WriteMode::Append);
    let stream = paused_stream(ids(&[2]), ids(&[3]), release.clone());
    let load = {
        let w = w.clone();
        tokio::spawn(async move { w.write(&spec, stream, &WriteOptions::default()).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The load holds the table: a drop that will not wait fails ...
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let err = client
        .batch_execute("SET lock_timeout = '200ms'; DROP TABLE t")
        .await
        .unwrap_err();
    let message = err.as_db_error().map(|e| e.message().to_owned());
    assert!(
        message
            .as_deref()
            .unwrap_or_default()
            .contains("lock timeout"),
        "{err:?}"
    );
    // ... and one that waits happens after the load has committed.
    let drop = tokio::spawn(async move {
        client
            .batch_execute("SET lock_timeout = 0; DROP TABLE t")
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    release.notify_one();
    let summary = load.await.unwrap().unwrap();
    assert_eq!(summary.rows, 2);
    drop.await.unwrap().unwrap();
    assert_eq!(w.table_schema("t").await.unwrap(), None);
    assert_eq!(
        w.loads().await.unwrap().last().unwrap().status,
        LoadStatus::Succeeded
    );
    // The next append creates it again.
    write(&w, "t", WriteMode::Append, &ids(&[9])).await.unwrap();
    assert_eq!(read_ids(&w, "t").await, [9]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_columns_than_postgres_holds_are_refused_before_anything_moves() {
    let url = fresh_database();
    let w = PostgresWarehouse::connect(&url).await.unwrap();
    let columns: Vec<(String, ArrayRef)> = (0..1_601)
        .map(|i| {
            (
                format!("c{i}"),
                Arc::new(Int32Array::from(vec![i])) as ArrayRef,
            )
        })
        .collect();
    let b = batch(
        columns
            .iter()
            .map(|(n, a)| (n.as_str(), a.clone()))
            .collect(),
    );
    let err = write(&w, "wide", WriteMode::Replace, &b).await.unwrap_err();
    assert!(err.to_string().contains("1,600"), "{err}");
    // 1,600 load.
    let b = batch(
        columns[..1_600]
            .iter()
            .map(|(n, a)| (n.as_str(), a.clone()))
            .collect(),
    );
    let summary = write(&w, "wide", WriteMode::Replace, &b).await.unwrap();
    assert_eq!(summary.columns, 1_600);
}

mod extractor {
    use super::*;
    use etl_core::arrow::compute::concat_batches;
    use etl_core::arrow::util::display::array_value_to_string;
    use etl_core::{ExtractOptions, Extractor};
    use etl_testing::extractor::{Subject, check_extractor};
    use etl_warehouses::PostgresExtractor;

    const SHOP: &str = "
        CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, country char(2));
        CREATE TABLE orders (
            id bigint, line int, customer_id bigint REFERENCES customers,
            total numeric(10,2), placed date, updated_at timestamptz,
            PRIMARY KEY (line, id));
        CREATE TABLE events (at timestamp, what text); -- no primary key
        CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 10;
        INSERT INTO customers VALUES (1, 'ada', 'GB'), (2, 'bob', NULL);
        INSERT INTO orders
            SELECT i, 1, 1 + i % 2, i * 1.25, DATE '2026-01-01' + i, TIMESTAMPTZ '2026-12-01 00:00+00' + i * INTERVAL '1 minute'
            FROM generate_series(1, 20000) i;
        INSERT INTO events VALUES ('2026-12-01 10:00', 'start'), (NULL, NULL);
    ";

    async fn shop() -> String {
        let url = etl_testing::postgres::shared().database().await;
        admin(&url, SHOP).await;
        url
    }

    fn read_all(batches: &[RecordBatch]) -> RecordBatch {
        concat_batches(&batches[0].schema(), batches).unwrap()
    }

    async fn extract(
        source: &PostgresExtractor,
        table: &str,
        since: Option<String>,
    ) -> (Vec<RecordBatch>, Option<String>) {
        let spec = source
            .tables()
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.name() == table)
            .unwrap();
        let stream = source
            .extract(&spec, &ExtractOptions::default().with_since(since))
            .await
            .unwrap();
        let notes = stream.notes().clone();
        let batches = stream.collect_batches().await.unwrap();
        (batches, notes.cursor_value())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_schema_passes_the_extractor_conformance_suite() {
        let url = shop().await;
        check_extractor(Subject::new("postgres", move || {
            PostgresExtractor::new(&url, PostgresOptions::default())
                .unwrap()
                .with_incremental("orders", "updated_at")
        }))
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tables_views_and_queries_come_with_their_keys_from_the_catalog() {
        let url = shop().await;
        let source = PostgresExtractor::new(&url, PostgresOptions::default()).unwrap();
        let tables = source.tables().await.unwrap();
        let shape: Vec<(String, Vec<String>)> = tables
            .iter()
            .map(|t| (t.name().to_owned(), t.primary_key().to_vec()))
            .collect();
        assert_eq!(
            shape,
            [
                ("big_orders".to_owned(), vec![]),
                ("customers".to_owned(), vec!["id".to_owned()]),
                ("events".to_owned(), vec![]),
                (
                    "orders".to_owned(),
                    vec!["line".to_owned(), "id".to_owned()]
                ),
            ],
            "the key in its declared order; none for a view or a table without one"
        );
        let orders = tables.iter().find(|t| t.name() == "orders").unwrap();
        let types: Vec<String> = orders
            .schema()
            .fields()
            .iter()
            .map(|f| format!("{} {}", f.name(), f.data_type()))
            .collect();
        assert_eq!(
            types,
            [
                "id Int64",
                "line Int32",
                "customer_id Int64",
                "total Decimal128(10, 2)",
                "placed Date32",
                "updated_at Timestamp(µs, \"UTC\")",
            ]
        );
        let (batches, cursor) = extract(&source, "orders", None).await;
        assert_eq!(cursor, None, "not incremental");
        let all = read_all(&batches);
        assert_eq!(all.num_rows(), 20_000);
        assert!(batches.len() >= 3, "8,192-row batches: {}", batches.len());
        assert_eq!(array_value_to_string(all.column(3), 0).unwrap(), "1.25");
        assert_eq!(
            array_value_to_string(all.column(4), 0).unwrap(),
            "2026-01-02"
        );
        // Only what was asked for, and a query as a table.
        let chosen = PostgresExtractor::new(&url, PostgresOptions::default())
            .unwrap()
            .with_tables(["customers"])
            .with_query("per_customer", "SELECT customer_id, count(*) AS n, sum(total) AS spent FROM orders GROUP BY 1 ORDER BY 1");
        let names: Vec<String> = chosen
            .tables()
            .await
            .unwrap()
            .iter()
            .map(|t| t.name().to_owned())
            .collect();
        assert_eq!(names, ["customers", "per_customer"]);
        let (batches, _) = extract(&chosen, "per_customer", None).await;
        let per = read_all(&batches);
        assert_eq!(per.num_rows(), 2);
        assert_eq!(per.schema().field(1).data_type(), &DataType::Int64);
        // sum() of numeric(10,2) is an unconstrained numeric: its exact digits.
        assert_eq!(per.schema().field(2).data_type(), &DataType::Utf8);
        assert_eq!(
            array_value_to_string(per.column(2), 0).unwrap(),
            "125012500.00"
        );
        // A table that does not exist, and a bad query, are named.
        let missing = PostgresExtractor::new(&url, PostgresOptions::default())
            .unwrap()
            .with_tables(["nope"])
            .with_query("broken", "SELECT nothing FROM nowhere");
        let found = missing.discover().await.unwrap();
        let errors: Vec<String> = found
            .iter()
            .map(|d| match d {
                etl_core::Discovered::Failed { error, .. } => error.to_string(),
                other => panic!("{}", other.name()),
            })
            .collect();
        assert!(
            errors[0].contains("no table or view \"nope\""),
            "{}",
            errors[0]
        );
        assert!(errors[1].contains("nowhere"), "{}", errors[1]);
        assert!(!errors.concat().contains(etl_testing::postgres::PASSWORD));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn incremental_reads_take_only_what_changed_in_one_snapshot() {
        let url = shop().await;
        let source = PostgresExtractor::new(&url, PostgresOptions::default())
            .unwrap()
            .with_incremental("orders", "updated_at");
        let (batches, cursor) = extract(&source, "orders", None).await;
        assert_eq!(read_all(&batches).num_rows(), 20_000);
        let cursor = cursor.expect("a cursor");
        assert_eq!(cursor, "2026-12-14 21:20:00+00");
        // Nothing new: no rows, and the stored cursor stays.
        let (batches, again) = extract(&source, "orders", Some(cursor.clone())).await;
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);
        assert_eq!(again.as_deref(), Some(cursor.as_str()));
        admin(
            &url,
            "INSERT INTO orders VALUES (20001, 1, 1, 1, '2026-01-01', '2027-01-01 00:00+00'); \
             UPDATE orders SET updated_at = '2027-01-02 00:00+00', total = 99 WHERE id = 7",
        )
        .await;
        let (batches, next) = extract(&source, "orders", Some(cursor)).await;
        let changed = read_all(&batches);
        let mut ids: Vec<i64> = changed
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .values()
            .to_vec();
        ids.sort();
        assert_eq!(ids, [7, 20001]);
        assert_eq!(next.as_deref(), Some("2027-01-02 00:00:00+00"));
        // A hostile stored cursor is a value, never SQL.
        let spec = source
            .tables()
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.name() == "orders")
            .unwrap();
        let hostile = "2026-01-01' OR '1'='1\\'; DROP TABLE orders; --".to_owned();
        let err = source
            .extract(&spec, &ExtractOptions::default().with_since(Some(hostile)))
            .await
            .unwrap()
            .collect_batches()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("invalid input syntax"), "{err}");
        assert!(
            query_text(&url, "SELECT count(*)::text FROM orders")
                .await
                .is_some()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn types_arrow_lacks_are_read_as_documented() {
        let url = etl_testing::postgres::shared().database().await;
        admin(
            &url,
            "CREATE TYPE mood AS ENUM ('sad', 'ok');
             CREATE TABLE odd (
                 id int PRIMARY KEY, wide numeric(50,10), free numeric, doc jsonb, raw json,
                 feeling mood, tags text[], grid int[], span int4range, uid uuid, small varchar(3),
                 nan numeric(10,2), fine numeric(10,2));
             INSERT INTO odd VALUES (1, 12345678901234567890123456789012345678.0123456789,
                 1e-40, '{\"b\": 1, \"a\": [true]}', '{\"x\": 1}', 'ok', '{a,NULL,\"c d\"}',
                 '{1,2}', '[1,5)', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'abc', 'NaN', 1.5),
                 (2, NULL, NULL, NULL, NULL, NULL, '{}', NULL, 'empty', NULL, NULL, NULL, NULL);",
        )
        .await;
        let source = PostgresExtractor::new(&url, PostgresOptions::default()).unwrap();
        let spec = source.tables().await.unwrap().remove(0);
        let types: Vec<String> = spec
            .schema()
            .fields()
            .iter()
            .map(|f| format!("{} {}", f.name(), f.data_type()))
            .collect();
        assert_eq!(
            types,
            [
                "id Int32",
                "wide Utf8",
                "free Utf8",
                "doc Utf8",
                "raw Utf8",
                "feeling Utf8",
                "tags List(Utf8)",
                "grid List(Int32)",
                "span Utf8",
                "uid Utf8",
                "small Utf8",
                "nan Decimal128(10, 2)",
                "fine Decimal128(10, 2)",
            ]
            .map(|t| t
                .replace(
                    "List(Utf8)",
                    &DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))).to_string()
                )
                .replace(
                    "List(Int32)",
                    &DataType::List(Arc::new(Field::new("item", DataType::Int32, true)))
                        .to_string()
                ))
        );
        // NaN has no Arrow decimal: the error names the table, column and row.
        let err = source
            .extract(&spec, &ExtractOptions::default())
            .await
            .unwrap()
            .collect_batches()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Value { table, column, row: 0, .. } if table == "odd" && column == "nan"),
            "{err:?}"
        );
        admin(&url, "UPDATE odd SET nan = NULL").await;
        let (batches, _) = extract(&source, "odd", None).await;
        let got = read_all(&batches);
        let cell = |c: &str, row: usize| {
            array_value_to_string(got.column_by_name(c).unwrap(), row).unwrap()
        };
        assert_eq!(
            cell("wide", 0),
            "12345678901234567890123456789012345678.0123456789"
        );
        assert_eq!(
            cell("free", 0),
            "0.0000000000000000000000000000000000000001"
        );
        assert_eq!(cell("doc", 0), "{\"a\": [true], \"b\": 1}");
        assert_eq!(cell("raw", 0), "{\"x\": 1}");
        assert_eq!(cell("feeling", 0), "ok");
        assert_eq!(cell("tags", 0), "[a, , c d]");
        assert_eq!(cell("tags", 1), "[]");
        assert_eq!(cell("grid", 0), "[1, 2]");
        assert_eq!(cell("span", 0), "[1,5)");
        assert_eq!(cell("span", 1), "empty");
        assert_eq!(cell("uid", 0), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        assert_eq!(cell("fine", 0), "1.50");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wide_keyless_and_renamed_tables() {
        let url = etl_testing::postgres::shared().database().await;
        let columns: Vec<String> = (0..1_600)
            .map(|i| format!("c{i} int DEFAULT {i}"))
            .collect();
        admin(
            &url,
            &format!(
                "CREATE TABLE wide ({}); INSERT INTO wide (c0) SELECT generate_series(1, 100);",
                columns.join(", ")
            ),
        )
        .await;
        let source = PostgresExtractor::new(&url, PostgresOptions::default()).unwrap();
        let spec = source.tables().await.unwrap().remove(0);
        assert_eq!(spec.schema().fields().len(), 1_600);
        assert!(spec.primary_key().is_empty());
        let (batches, _) = extract(&source, "wide", None).await;
        let got = read_all(&batches);
        assert_eq!((got.num_rows(), got.num_columns()), (100, 1_600));
        assert_eq!(array_value_to_string(got.column(1_599), 0).unwrap(), "1599");
        // Loaded into a warehouse as it is.
        let w = PostgresWarehouse::connect_with(&url, PostgresOptions::default().schema("copy"))
            .await
            .unwrap();
        let summary = etl_core::ETLWorkflow::new(source.clone(), w.clone())
            .run()
            .await
            .unwrap();
        assert_eq!(summary.tables[0].rows, 100);
        // Renamed after the listing: the read names the table.
        admin(&url, "ALTER TABLE wide RENAME TO narrow").await;
        let err = source
            .extract(&spec, &ExtractOptions::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("\"wide\" is gone"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rename_during_a_read_waits_for_the_read() {
        let url = shop().await;
        let source = PostgresExtractor::new(&url, PostgresOptions::default()).unwrap();
        let spec = source
            .tables()
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.name() == "orders")
            .unwrap();
        let mut stream = source
            .extract(&spec, &ExtractOptions::with_batch_size(1_000))
            .await
            .unwrap();
        let first = stream.next_batch().await.unwrap().unwrap();
        assert_eq!(first.num_rows(), 1_000);
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let err = client
            .batch_execute("SET lock_timeout = '300ms'; ALTER TABLE orders RENAME TO gone")
            .await
            .unwrap_err();
        assert!(
            err.as_db_error()
                .is_some_and(|e| e.message().contains("lock timeout")),
            "{err:?}"
        );
        let mut rows = first.num_rows();
        while let Some(batch) = stream.next_batch().await {
            rows += batch.unwrap().num_rows();
        }
        assert_eq!(rows, 20_000, "the read saw the table whole");
    }

    /// 400,000 rows over 4,096 pages of 8 kB: read in two ranges.
    const BIG: &str = "
        CREATE TABLE big (id bigint PRIMARY KEY, v int NOT NULL, pad text);
        INSERT INTO big SELECT i, i % 1000, repeat('x', 60) FROM generate_series(1, 400000) i;
    ";

    /// The ids and the sum of `v` of `batches`.
    fn ids_and_sum(batches: &[RecordBatch]) -> (Vec<i64>, i64) {
        let mut ids = Vec::new();
        let mut sum = 0;
        for b in batches {
            ids.extend(
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values(),
            );
            let v = b.column(1).as_any().downcast_ref::<Int32Array>().unwrap();
            sum += v.values().iter().map(|&x| i64::from(x)).sum::<i64>();
        }
        ids.sort_unstable();
        (ids, sum)
    }

    /// The `COPY` statements of this database running now.
    async fn copies_running(url: &str) -> i64 {
        query_text(
            url,
            "SELECT count(*)::text FROM pg_stat_activity WHERE datname = current_database() \
             AND state = 'active' AND query LIKE 'COPY (SELECT %' AND pid <> pg_backend_pid()",
        )
        .await
        .unwrap()
        .parse()
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_large_table_is_read_in_ranges_over_two_connections_in_one_snapshot() {
        let url = etl_testing::postgres::shared().database().await;
        admin(&url, BIG).await;
        let pages = query_text(&url, "SELECT (pg_relation_size('big') / 8192)::text").await;
        let pages: i64 = pages.unwrap().parse().unwrap();
        assert!(pages >= 4_096, "big enough for two ranges: {pages} pages");
        let source = PostgresExtractor::new(&url, PostgresOptions::default())
            .unwrap()
            .with_tables(["big"]);
        let spec = source.tables().await.unwrap().remove(0);
        // Rows of the first range rewritten one by one, each committed, as
        // the read starts: each new version lands in the last range, so a
        // range read in a later snapshot than the first's would read a
        // row twice.
        let (writer, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writing = tokio::spawn({
            let stop = stop.clone();
            async move {
                let mut id = 1i64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    writer
                        .execute("UPDATE big SET v = v WHERE id = $1", &[&id])
                        .await
                        .unwrap();
                    id += 1;
                }
                id
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut stream = source
            .extract(&spec, &ExtractOptions::with_batch_size(1_000))
            .await
            .unwrap();
        let mut batches = vec![stream.next_batch().await.unwrap().unwrap()];
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let rewritten = writing.await.unwrap();
        assert!(
            rewritten > 10,
            "rows rewritten during the read: {rewritten}"
        );
        // Two COPYs at once, each a range of the table's pages.
        assert_eq!(copies_running(&url).await, 2);
        // Every row changed, some gone, some new, committed mid-read: the
        // read sees none of it, and no row twice (the new versions of the
        // updated rows sit past the pages counted, in the last range).
        admin(
            &url,
            "UPDATE big SET v = v + 1; DELETE FROM big WHERE id % 10 = 0; \
             INSERT INTO big SELECT i, 0, NULL FROM generate_series(400001, 400100) i",
        )
        .await;
        // Nothing rewrites or renames the table under the read.
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .batch_execute("SET lock_timeout = '300ms'")
            .await
            .unwrap();
        for statement in ["VACUUM FULL big", "ALTER TABLE big RENAME TO gone"] {
            let err = client.batch_execute(statement).await.unwrap_err();
            assert!(
                err.as_db_error()
                    .is_some_and(|e| e.message().contains("lock timeout")),
                "{statement}: {err:?}"
            );
        }
        while let Some(batch) = stream.next_batch().await {
            batches.push(batch.unwrap());
        }
        let (ids, sum) = ids_and_sum(&batches);
        assert_eq!(ids, (1..=400_000).collect::<Vec<i64>>());
        let expected: i64 = (1..=400_000i64).map(|i| i % 1000).sum();
        assert_eq!(sum, expected, "the values as they were when the read began");
        assert_eq!(copies_running(&url).await, 0);

        // Incremental, in ranges: the cursor's filter holds in each range.
        let source = source.with_incremental("big", "id");
        let spec = source.tables().await.unwrap().remove(0);
        let stream = source
            .extract(
                &spec,
                &ExtractOptions::default().with_since(Some("399000".into())),
            )
            .await
            .unwrap();
        let notes = stream.notes().clone();
        let (ids, _) = ids_and_sum(&stream.collect_batches().await.unwrap());
        let expected: Vec<i64> = (399_001..=400_100)
            .filter(|i| i % 10 != 0 || *i > 400_000)
            .collect();
        assert_eq!(ids, expected);
        assert_eq!(notes.cursor_value().as_deref(), Some("400100"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_in_ranges_never_waits_for_a_connection_it_cannot_have() {
        let url = etl_testing::postgres::shared().database().await;
        admin(&url, BIG).await;
        // One connection in the pool, and two tables read at once by a
        // pool of two: each read takes what is free and reads the rest
        // over it, never waiting on the other.
        for (pool, tables) in [(1, vec!["big"]), (2, vec!["big", "big"])] {
            let mut options = PostgresOptions::default().read_connections(4);
            options.pool_size = pool;
            let source = PostgresExtractor::new(&url, options)
                .unwrap()
                .with_tables(["big"]);
            let spec = source.tables().await.unwrap().remove(0);
            let reads = tables.iter().map(|_| async {
                let batches = source
                    .extract(&spec, &ExtractOptions::default())
                    .await
                    .unwrap()
                    .collect_batches()
                    .await
                    .unwrap();
                ids_and_sum(&batches).0.len()
            });
            let rows =
                tokio::time::timeout(Duration::from_secs(120), futures::future::join_all(reads))
                    .await
                    .expect("no read waits for a connection another holds");
            assert!(rows.iter().all(|&n| n == 400_000), "pool {pool}: {rows:?}");
        }
        // One connection asked for: one COPY, however large the table.
        let source = PostgresExtractor::new(&url, PostgresOptions::default().read_connections(1))
            .unwrap()
            .with_tables(["big"]);
        let spec = source.tables().await.unwrap().remove(0);
        let mut stream = source
            .extract(&spec, &ExtractOptions::with_batch_size(1_000))
            .await
            .unwrap();
        stream.next_batch().await.unwrap().unwrap();
        assert_eq!(copies_running(&url).await, 1);
        drop(stream);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_used_when_asked_and_the_certificate_is_checked() {
    let (pg, cert) =
        tokio::task::block_in_place(etl_testing::postgres::TestPostgres::start_with_tls)
            .unwrap_or_else(|e| panic!("{e}"));
    let url = pg.database().await;
    let required = format!("{url}?sslmode=require");
    // Trusting the server's certificate: the load goes over TLS.
    let w = PostgresWarehouse::connect_with(
        &required,
        PostgresOptions::default().root_certificates(&cert),
    )
    .await
    .unwrap();
    write(&w, "t", WriteMode::Replace, &ids(&[1, 2]))
        .await
        .unwrap();
    assert_eq!(read_ids(&w, "t").await, [1, 2]);
    let client = w.client().await.unwrap();
    let over_tls: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(over_tls, "the connection is encrypted");
    // Not trusting it: refused, with require and with prefer alike (a
    // certificate is always checked), naming the server, never the password.
    for mode in ["require", "prefer"] {
        let err = PostgresWarehouse::connect(&format!("{url}?sslmode={mode}"))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("certificate"), "{mode}: {text}");
        assert!(
            text.contains(&format!("127.0.0.1:{}", pg.port())),
            "{mode}: {text}"
        );
        assert!(
            !text.contains(etl_testing::postgres::PASSWORD),
            "{mode}: {text}"
        );
    }
    // Without TLS, when the file says so.
    let plain = PostgresWarehouse::connect(&format!("{url}?sslmode=disable"))
        .await
        .unwrap();
    assert_eq!(read_ids(&plain, "t").await, [1, 2]);
    // A root certificate file that is not one is named.
    let err = PostgresWarehouse::new(
        &required,
        PostgresOptions::default().root_certificates("/nonexistent/ca.pem"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_round_trip_from_a_warehouse_to_the_extractor() {
    use etl_core::{ExtractOptions, Extractor};
    let url = fresh_database();
    let schema = "sch\"ema; DROP TABLE x --";
    let table = "ta\"ble'); DROP TABLE customers; --";
    let column = "co\"l 'ü' select";
    let w = PostgresWarehouse::connect_with(&url, PostgresOptions::default().schema(schema))
        .await
        .unwrap();
    let b = batch(vec![(
        column,
        Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef,
    )]);
    w.write(
        &TableSpec::new(table, b.schema()).with_primary_key([column]),
        BatchStream::from_batches(b.schema(), vec![b]),
        &WriteOptions::default(),
    )
    .await
    .unwrap();
    let source =
        etl_warehouses::PostgresExtractor::new(&url, PostgresOptions::default().schema(schema))
            .unwrap()
            .with_incremental(table, column);
    let spec = source.tables().await.unwrap().remove(0);
    assert_eq!(
        (spec.name(), spec.primary_key()),
        (table, &[column.to_owned()][..])
    );
    let stream = source
        .extract(
            &spec,
            &ExtractOptions::default().with_since(Some("1".into())),
        )
        .await
        .unwrap();
    let notes = stream.notes().clone();
    let rows: usize = stream
        .collect_batches()
        .await
        .unwrap()
        .iter()
        .map(RecordBatch::num_rows)
        .sum();
    assert_eq!(rows, 2, "past the cursor 1");
    assert_eq!(notes.cursor_value().as_deref(), Some("3"));
}
