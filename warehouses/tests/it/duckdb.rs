use std::path::Path;
use std::sync::Arc;

use etl_core::arrow::array::{
    ArrayRef, DurationSecondArray, Int32Array, Int64Array, RecordBatch, StringArray,
};
use etl_core::arrow::datatypes::{DataType, Field, Schema};
use etl_core::{BatchStream, Error, TableSpec, Warehouse, WriteMode, WriteOptions};
use etl_warehouses::DuckDbWarehouse;

mod conformance {
    use super::*;
    etl_testing::warehouse_conformance!(|dir: &Path| DuckDbWarehouse::open(dir.join("dwh.duckdb")));
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

async fn append(w: &DuckDbWarehouse, table: &str, b: &RecordBatch) -> etl_core::Result<()> {
    write(
        w,
        &TableSpec::new(table, b.schema()).with_mode(WriteMode::Append),
        b,
    )
    .await
}

/// Replaces `people`, keyed on `id`.
async fn replace(w: &DuckDbWarehouse, b: &RecordBatch) -> etl_core::Result<()> {
    write(
        w,
        &TableSpec::new("people", b.schema()).with_primary_key(["id"]),
        b,
    )
    .await
}

async fn write(w: &DuckDbWarehouse, spec: &TableSpec, b: &RecordBatch) -> etl_core::Result<()> {
    w.write(
        spec,
        BatchStream::from_batches(b.schema(), vec![b.clone()]),
        &WriteOptions::default(),
    )
    .await
    .map(|_| ())
}

/// Runs `sql`, which selects `columns` VARCHAR columns, and flattens the rows.
async fn query_strings(w: &DuckDbWarehouse, sql: &'static str, columns: usize) -> Vec<String> {
    w.with_connection(move |c| {
        let mut stmt = c.prepare(sql).unwrap();
        let rows = stmt
            .query_map([], |r| {
                (0..columns)
                    .map(|i| r.get::<_, String>(i))
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        Ok(rows.into_iter().flatten().collect())
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn nested_types_are_native_duckdb_types() {
    let dir = tempfile::tempdir().unwrap();
    let w = DuckDbWarehouse::open(dir.path().join("t.duckdb")).unwrap();
    let b = etl_testing::warehouse::all_types_batch();
    let spec = TableSpec::new("all", b.schema()).with_primary_key(["id"]);
    w.write(
        &spec,
        BatchStream::from_batches(b.schema(), vec![b]),
        &WriteOptions::default(),
    )
    .await
    .unwrap();
    let types = query_strings(
        &w,
        "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY column_index) \
         FROM duckdb_columns() WHERE table_name = 'all'",
        1,
    )
    .await;
    assert_eq!(
        types[0],
        "id BIGINT, bool BOOLEAN, i8 TINYINT, i16 SMALLINT, i32 INTEGER, i64 BIGINT, u8 UTINYINT, \
         u16 USMALLINT, u32 UINTEGER, u64 UBIGINT, f16 FLOAT, f32 FLOAT, f64 DOUBLE, utf8 VARCHAR, \
         large_utf8 VARCHAR, utf8_view VARCHAR, binary BLOB, large_binary BLOB, fixed_binary BLOB, \
         date32 DATE, date64 DATE, time32 TIME, time64 TIME, ts_s TIMESTAMP_S, ts_ms TIMESTAMP_MS, \
         ts_us TIMESTAMP, ts_ns TIMESTAMP_NS, ts_tz TIMESTAMP WITH TIME ZONE, decimal DECIMAL(38,10), \
         list INTEGER[], struct STRUCT(x BIGINT, \"label\" VARCHAR), dictionary VARCHAR, null VARCHAR"
    );
    let values = query_strings(
        &w,
        "SELECT CAST(list[3] AS VARCHAR), struct.label, CAST(len(list) AS VARCHAR) FROM \"all\" WHERE id = 1",
        3,
    )
    .await;
    assert_eq!(values, ["3", "a", "3"]);
}

#[tokio::test]
async fn narrower_types_widen_into_existing_columns_and_wider_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let w = DuckDbWarehouse::open(dir.path().join("t.duckdb")).unwrap();
    append(
        &w,
        "n",
        &batch(vec![("v", Arc::new(Int64Array::from(vec![1])))]),
    )
    .await
    .unwrap();
    append(
        &w,
        "n",
        &batch(vec![("v", Arc::new(Int32Array::from(vec![2])))]),
    )
    .await
    .unwrap();
    append(
        &w,
        "m",
        &batch(vec![("v", Arc::new(Int32Array::from(vec![1])))]),
    )
    .await
    .unwrap();
    let err = append(
        &w,
        "m",
        &batch(vec![("v", Arc::new(Int64Array::from(vec![i64::MAX])))]),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::IncompatibleSchema { table, column, existing, .. }
            if table == "m" && column == "v" && existing == "INTEGER"),
        "{err:?}"
    );
    let got = w.read_table("n").await.unwrap();
    let v = got[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(v.values(), &[1, 2]);
}

#[tokio::test]
async fn durations_become_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let w = DuckDbWarehouse::open(dir.path().join("t.duckdb")).unwrap();
    let d = DurationSecondArray::from(vec![Some(90), None]);
    append(&w, "spans", &batch(vec![("d", Arc::new(d))]))
        .await
        .unwrap();
    let got = query_strings(
        &w,
        "SELECT CAST(d AS VARCHAR) FROM spans WHERE d IS NOT NULL",
        1,
    )
    .await;
    assert_eq!(got, ["00:01:30"]);
}

#[tokio::test]
async fn loads_persist_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.duckdb");
    {
        let w = DuckDbWarehouse::open(&path).unwrap();
        append(
            &w,
            "t",
            &batch(vec![("s", Arc::new(StringArray::from(vec!["kept"])))]),
        )
        .await
        .unwrap();
    }
    let w = DuckDbWarehouse::open(&path).unwrap();
    let got = w.read_table("t").await.unwrap();
    assert_eq!(
        got[0]
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .value(0),
        "kept"
    );
    assert_eq!(w.loads().await.unwrap().len(), 1);
    let schema = w.table_schema("t").await.unwrap().unwrap();
    assert_eq!(schema.field(0).data_type(), &DataType::Utf8);
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
    let w = DuckDbWarehouse::open(dir.path().join("v.duckdb")).unwrap();
    replace(&w, &people(vec![1], vec!["ada"])).await.unwrap();
    w.with_connection(|c| {
        c.execute_batch("CREATE VIEW names AS SELECT name FROM people ORDER BY name")
            .map_err(|e| Error::Internal(e.to_string()))
    })
    .await
    .unwrap();
    for round in 0..2 {
        replace(
            &w,
            &people(vec![1, 2], vec!["ada", &format!("bob {round}")]),
        )
        .await
        .unwrap_or_else(|e| panic!("replace {round} with a view on the table: {e}"));
        let names = query_strings(&w, "SELECT name FROM names", 1).await;
        assert_eq!(names, ["ada".to_owned(), format!("bob {round}")]);
    }
}

#[tokio::test]
async fn a_failed_insert_reports_its_own_cause() {
    let dir = tempfile::tempdir().unwrap();
    let w = DuckDbWarehouse::open(dir.path().join("k.duckdb")).unwrap();
    replace(&w, &people(vec![1], vec!["ada"])).await.unwrap();
    // A replace whose load repeats a key: the staging table's key refuses it.
    let err = replace(&w, &people(vec![7, 7], vec!["x", "y"]))
        .await
        .expect_err("a repeated key fails the replace");
    let text = err.to_string();
    assert!(
        text.to_lowercase().contains("duplicate key")
            && text.contains("people")
            && !text.contains("aborted"),
        "the insert's cause, not the aborted transaction's: {text}"
    );
    // `_etl_loads` keeps the same cause (its table is a column there).
    let loads = w.loads().await.unwrap();
    let recorded = loads.last().unwrap().error.clone().unwrap();
    assert!(
        recorded.contains("duplicate key") && !recorded.contains("aborted"),
        "{recorded}"
    );
    // The connection is usable and the old rows are there.
    replace(&w, &people(vec![2], vec!["bob"])).await.unwrap();
    assert_eq!(
        query_strings(&w, "SELECT name FROM people", 1).await,
        ["bob"]
    );
}

#[tokio::test]
async fn duckdb_folds_ascii_case_only_as_names_fold_does() {
    let w = DuckDbWarehouse::open_in_memory().unwrap();
    let folded = w
        .with_connection(|c| {
            c.execute_batch(r#"CREATE TABLE t ("é" INTEGER, "É" INTEGER)"#)
                .map_err(|e| Error::Internal(e.to_string()))?;
            let same_ascii = c
                .execute_batch(r#"CREATE TABLE u ("a" INTEGER, "A" INTEGER)"#)
                .is_err();
            Ok(same_ascii)
        })
        .await
        .unwrap();
    assert!(folded, "DuckDB takes \"a\" and \"A\" as one column");
    assert_ne!(etl_core::names::fold("é"), etl_core::names::fold("É"));
    assert_eq!(etl_core::names::fold("a"), etl_core::names::fold("A"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_file_opened_twice_in_a_process_keeps_both_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.duckdb");
    // Two opens of one file, as two pipeline steps into one warehouse make,
    // one of them spelled differently; loads from both at once.
    let a = DuckDbWarehouse::open(&path).unwrap();
    let b = DuckDbWarehouse::open(dir.path().join(".").join("shared.duckdb")).unwrap();
    let rows = |n: i64| {
        batch(vec![(
            "id",
            Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef,
        )])
    };
    let (small, large) = (rows(1_000), rows(2_000));
    let (x, y) = tokio::join!(append(&a, "first", &small), append(&b, "second", &large));
    x.unwrap();
    y.unwrap();
    drop((a, b));
    let reopened = DuckDbWarehouse::open(&path).unwrap();
    assert_eq!(
        etl_core::Warehouse::table_names(&reopened).await.unwrap(),
        ["first", "second"],
        "neither instance dropped the other's table"
    );
}
