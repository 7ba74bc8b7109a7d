use std::path::Path;
use std::sync::Arc;

use etl_core::arrow::array::{
    ArrayRef, Decimal128Array, Int64Array, ListArray, RecordBatch, StringArray,
    TimestampNanosecondArray, UInt64Array,
};
use etl_core::arrow::datatypes::{DataType, Field, Int32Type, Schema};
use etl_core::{BatchStream, Error, TableSpec, Warehouse, WriteMode, WriteOptions};
use etl_warehouses::SqliteWarehouse;

mod conformance {
    use super::*;
    etl_testing::warehouse_conformance!(|dir: &Path| SqliteWarehouse::open(dir.join("dwh.sqlite")));
}

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

async fn write(w: &SqliteWarehouse, table: &str, b: &RecordBatch) -> etl_core::Result<()> {
    let spec = TableSpec::new(table, b.schema()).with_mode(WriteMode::Append);
    w.write(
        &spec,
        BatchStream::from_batches(b.schema(), vec![b.clone()]),
        &WriteOptions::default(),
    )
    .await
    .map(|_| ())
}

#[tokio::test]
async fn declared_types_and_storage_classes_follow_the_documented_table() {
    let dir = tempfile::tempdir().unwrap();
    let w = SqliteWarehouse::open(dir.path().join("t.sqlite")).unwrap();
    let b = etl_testing::warehouse::all_types_batch();
    let spec = TableSpec::new("all", b.schema()).with_primary_key(["id"]);
    w.write(
        &spec,
        BatchStream::from_batches(b.schema(), vec![b]),
        &WriteOptions::default(),
    )
    .await
    .unwrap();
    let described = w
        .with_connection(|c| {
            let mut stmt = c
                .prepare("SELECT name, type FROM pragma_table_info('all') ORDER BY cid")
                .unwrap();
            let rows = stmt
                .query_map([], |r| Ok(format!("{} {}", r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let stored: Vec<String> = c
                .query_row(
                    "SELECT typeof(bool), typeof(u64), typeof(date32), ts_tz, decimal, list, struct, time32, ts_ns \
                     FROM \"all\" WHERE id = 2",
                    [],
                    |r| (0..9).map(|i| r.get::<_, String>(i)).collect(),
                )
                .unwrap();
            Ok((rows, stored))
        })
        .await
        .unwrap();
    let (types, stored) = described;
    assert_eq!(
        types.join(", "),
        "id BIGINT, bool BOOLEAN, i8 TINYINT, i16 SMALLINT, i32 INTEGER, i64 BIGINT, u8 UTINYINT, \
         u16 USMALLINT, u32 UINTEGER, u64 UBIGINT, f16 FLOAT, f32 FLOAT, f64 DOUBLE, utf8 TEXT, \
         large_utf8 TEXT, utf8_view TEXT, binary BLOB, large_binary BLOB, fixed_binary BLOB, \
         date32 DATE, date64 DATE, time32 TIME, time64 TIME, ts_s TIMESTAMP_S, ts_ms TIMESTAMP_MS, \
         ts_us TIMESTAMP, ts_ns TIMESTAMP_NS, ts_tz TIMESTAMPTZ, decimal DECIMAL_TEXT(38,10), \
         list JSON, struct JSON, dictionary TEXT, null TEXT"
    );
    assert_eq!(
        stored,
        [
            "integer",
            "integer",
            "text",
            "2023-11-14 22:13:20.123456+00:00",
            "-0.0000000001",
            "[]",
            r#"{"x":null,"label":"b"}"#,
            "23:59:59",
            "2023-11-14 22:13:20.123456000",
        ]
    );
}

#[tokio::test]
async fn sqlite_date_functions_read_the_stored_text() {
    let dir = tempfile::tempdir().unwrap();
    let w = SqliteWarehouse::open(dir.path().join("t.sqlite")).unwrap();
    let ts = TimestampNanosecondArray::from(vec![1_700_000_000_123_456_789]);
    write(&w, "events", &batch(vec![("at", Arc::new(ts))]))
        .await
        .unwrap();
    let (day, unix): (String, i64) = w
        .with_connection(|c| {
            Ok(
                c.query_row("SELECT date(at), unixepoch(at) FROM events", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap(),
            )
        })
        .await
        .unwrap();
    assert_eq!((day.as_str(), unix), ("2023-11-14", 1_700_000_000));
}

#[tokio::test]
async fn a_u64_beyond_sqlite_integers_is_an_error_naming_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let w = SqliteWarehouse::open(dir.path().join("t.sqlite")).unwrap();
    let values = UInt64Array::from(vec![1, 2, u64::MAX]);
    let err = write(&w, "counters", &batch(vec![("n", Arc::new(values))]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Value { table, column, row: 2, .. } if table == "counters" && column == "n"),
        "{err:?}"
    );
    assert!(err.to_string().contains("18446744073709551615"), "{err}");
    assert_eq!(
        w.table_schema("counters").await.unwrap(),
        None,
        "nothing was created"
    );
}

#[tokio::test]
async fn wide_decimals_stay_exact_and_lists_are_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sqlite");
    {
        let w = SqliteWarehouse::open(&path).unwrap();
        // The widest DECIMAL(38,2): 38 nines.
        let dec = Decimal128Array::from(vec![10_i128.pow(38) - 1])
            .with_precision_and_scale(38, 2)
            .unwrap();
        let list =
            ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1), None])]);
        write(
            &w,
            "t",
            &batch(vec![("d", Arc::new(dec)), ("l", Arc::new(list))]),
        )
        .await
        .unwrap();
    }
    // Reopened from the file: the rows were committed.
    let w = SqliteWarehouse::open(&path).unwrap();
    let got = w.read_table("t").await.unwrap();
    let d = got[0]
        .column(0)
        .as_any()
        .downcast_ref::<Decimal128Array>()
        .unwrap();
    assert_eq!(
        d.value_as_string(0),
        "999999999999999999999999999999999999.99"
    );
    let l = got[0]
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(l.value(0), "[1,null]");
}

#[tokio::test]
async fn a_string_column_of_another_tool_reads_back_by_affinity() {
    let dir = tempfile::tempdir().unwrap();
    let w = SqliteWarehouse::open(dir.path().join("t.sqlite")).unwrap();
    w.with_connection(|c| {
        c.execute_batch(
            "CREATE TABLE legacy (id INT, name VARCHAR(20), price NUMERIC);
             INSERT INTO legacy VALUES (1, 'a', 1.5), (2, NULL, 3);",
        )
        .unwrap();
        Ok(())
    })
    .await
    .unwrap();
    let schema = w.table_schema("legacy").await.unwrap().unwrap();
    let types: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(types, [DataType::Int64, DataType::Utf8, DataType::Float64]);
    let got = w.read_table("legacy").await.unwrap();
    let ids = got[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(ids.values(), &[1, 2]);
    assert_eq!(w.table_names().await.unwrap(), vec!["legacy".to_owned()]);
}

fn people(ids: Vec<i64>, names: Vec<&str>) -> RecordBatch {
    batch(vec![
        ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
        ("name", Arc::new(StringArray::from(names)) as ArrayRef),
    ])
}

#[tokio::test]
async fn a_view_of_a_replaced_table_reads_the_new_rows() {
    let dir = tempfile::tempdir().unwrap();
    let w = SqliteWarehouse::open(dir.path().join("v.sqlite")).unwrap();
    let replace = |b: RecordBatch| {
        let w = w.clone();
        async move {
            let spec = TableSpec::new("people", b.schema()).with_primary_key(["id"]);
            w.write(
                &spec,
                BatchStream::from_batches(b.schema(), vec![b]),
                &WriteOptions::default(),
            )
            .await
        }
    };
    replace(people(vec![1], vec!["ada"])).await.unwrap();
    w.with_connection(|c| {
        c.execute_batch("CREATE VIEW names AS SELECT name FROM people ORDER BY name")
            .map_err(|e| Error::Internal(e.to_string()))
    })
    .await
    .unwrap();
    for round in 0..2 {
        replace(people(vec![1, 2], vec!["ada", &format!("bob {round}")]))
            .await
            .unwrap_or_else(|e| panic!("replace {round} with a view on the table: {e}"));
        let names = w
            .with_connection(|c| {
                let mut stmt = c.prepare("SELECT name FROM names").unwrap();
                let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
                Ok(rows.collect::<Result<Vec<_>, _>>().unwrap())
            })
            .await
            .unwrap();
        assert_eq!(names, ["ada".to_owned(), format!("bob {round}")]);
    }
    // Views keep SQLite's own check for everything else: the rename left
    // the flag off for the connection.
    let legacy: bool = w
        .with_connection(|c| {
            c.query_row("PRAGMA legacy_alter_table", [], |r| r.get(0))
                .map_err(|e| Error::Internal(e.to_string()))
        })
        .await
        .unwrap();
    assert!(!legacy);
}

/// Another process holds the file's write lock (an `IMMEDIATE` transaction
/// of its own) for `hold`, starting now.
fn hold_write_lock(path: &Path, hold: std::time::Duration) -> std::thread::JoinHandle<()> {
    let path = path.to_owned();
    let (locked, ready) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let mut other = rusqlite::Connection::open(&path).unwrap();
        let tx = other
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        locked.send(()).unwrap();
        std::thread::sleep(hold);
        tx.commit().unwrap();
    });
    ready.recv().unwrap();
    holder
}

async fn people_rows(w: &SqliteWarehouse) -> i64 {
    w.with_connection(|c| {
        Ok(c.query_row("SELECT count(*) FROM people", [], |r| r.get(0))
            .unwrap())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_waits_its_turn_and_a_lock_held_too_long_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.sqlite");
    let w = SqliteWarehouse::open(&path).unwrap();
    let b = people(vec![1, 2], vec!["ada", "bob"]);
    write(&w, "people", &b).await.unwrap();
    // Longer than SQLite's usual 5 s would allow: the load waits, then loads.
    let holder = hold_write_lock(&path, std::time::Duration::from_millis(5500));
    let started = std::time::Instant::now();
    write(&w, "people", &b).await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_secs(5));
    holder.join().unwrap();
    assert_eq!(people_rows(&w).await, 4);
    // A bound of its own, shorter than the other writer's hold: an error
    // naming the file and the wait, retryable, nothing written.
    let w = w
        .busy_timeout(std::time::Duration::from_millis(300))
        .unwrap();
    let holder = hold_write_lock(&path, std::time::Duration::from_millis(1500));
    let err = write(&w, "people", &b).await.unwrap_err();
    holder.join().unwrap();
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(
        text.contains("waited 0.3 s") && text.contains("busy_timeout"),
        "{text}"
    );
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(people_rows(&w).await, 4);
}

#[test]
fn a_file_that_is_not_a_database_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.sqlite");
    std::fs::write(&path, b"not a database at all".repeat(100)).unwrap();
    let err = SqliteWarehouse::open(&path).unwrap_err().to_string();
    assert!(err.contains("garbage.sqlite"), "{err}");
    assert!(err.contains("not a database"), "{err}");
    // The file is left as it was.
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"not a database at all".repeat(100)
    );
}
