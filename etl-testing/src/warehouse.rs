//! The conformance suite every [`Warehouse`] passes, yours included.
//!
//! Each check takes a function that opens the warehouse in a folder it is
//! given (a fresh temporary folder per check), runs against real files, and
//! panics with a message saying what broke. [`warehouse_conformance!`](crate::warehouse_conformance) writes
//! one `#[tokio::test]` per check:
//!
//! ```text
//! etl_testing::warehouse_conformance!(|dir: &std::path::Path| MyWarehouse::open(dir.join("w.db")));
//! ```
//!
//! What a conforming warehouse does:
//!
//! - every common Arrow type, nulls included, reads back with the same values
//!   (a warehouse may widen a type, and may store nested values as JSON text);
//! - a stream that fails half-way leaves the table exactly as it was, in every
//!   write mode, and the failure is recorded in `_etl_loads`;
//! - table and column names with spaces, quotes, unicode and SQL keywords
//!   round-trip unchanged;
//! - new columns are added, an incompatible type change is refused before
//!   anything is written;
//! - merge upserts on the primary key, the last row of a key winning;
//! - `recreate` drops and recreates, empty tables are created, a load with no
//!   columns is refused with an error naming the table, and a million rows load;
//! - an incremental cursor is stored with the data in the same transaction,
//!   per (source, table): a failed write leaves the old one;
//! - merge equals "the last row of each key" for random loads with keys
//!   repeated within and across many batches;
//! - names starting with `_etl_` in any case, and columns that differ only in
//!   case, are refused before anything is written; a load's column that
//!   differs from the table's only in case writes that column;
//! - appends take a column with no value (Arrow `Null`) into any existing
//!   type, and whole numbers into a `DOUBLE` column when each is exact there.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use etl_core::arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Date64Array, Decimal128Array,
    DictionaryArray, FixedSizeBinaryArray, Float32Array, Float64Array, Int8Array, Int16Array,
    Int32Array, Int64Array, LargeBinaryArray, LargeStringArray, ListArray, RecordBatch,
    StringArray, StringViewArray, StructArray, Time32SecondArray, Time64MicrosecondArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array, new_null_array,
};
use etl_core::arrow::compute::{
    SortOptions, concat_batches, lexsort_to_indices, take_record_batch,
};
use etl_core::arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef, TimeUnit};
use etl_core::arrow::util::pretty::pretty_format_batches;

use etl_core::{
    BatchStream, Error, LoadStatus, Result, TableSpec, Warehouse, WriteMode, WriteOptions,
};

/// Writes one `#[tokio::test]` per conformance check, for a warehouse opened
/// by `$open`, a `Fn(&Path) -> Result<W>` given a fresh temporary folder.
#[macro_export]
macro_rules! warehouse_conformance {
    ($open:expr) => {
        $crate::warehouse_conformance!(@tests $open;
            type_round_trips, failed_stream_leaves_table_untouched, hostile_identifiers,
            schema_evolution, incompatible_type_change_is_refused, merge_upserts_on_primary_key,
            recreate_drops_and_recreates, empty_tables, zero_column_loads_are_refused,
            unsupported_types_are_named, loads_are_recorded, cancelled_write_leaves_table_untouched,
            cursors_are_kept_with_the_data, million_rows, merge_keeps_the_last_row_of_each_key,
            reserved_and_case_colliding_names_are_refused, appends_take_day_to_day_changes);
    };
    (@tests $open:expr; $($check:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::warehouse::$check($open).await;
            }
        )*
    };
}

/// Runs `check` with a warehouse opened by `open` in a fresh temporary folder.
async fn with_warehouse<W, O, C, F>(open: O, check: C)
where
    W: Warehouse,
    O: Fn(&Path) -> Result<W>,
    C: FnOnce(W) -> F,
    F: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("a temporary folder");
    let warehouse = open(dir.path()).expect("the warehouse opens");
    check(warehouse).await;
}

fn stream_of(batch: &RecordBatch) -> BatchStream {
    BatchStream::from_batches(batch.schema(), vec![batch.clone()])
}

/// A stream of `good` batches, then an error: an extractor failing half-way.
fn failing_stream(good: Vec<RecordBatch>, schema: SchemaRef) -> BatchStream {
    let items: Vec<Result<RecordBatch>> = good
        .into_iter()
        .map(Ok)
        .chain(std::iter::once(Err(Error::Extract {
            table: "injected".into(),
            source: "injected mid-stream failure".into(),
            retryable: false,
        })))
        .collect();
    BatchStream::new(schema, futures::stream::iter(items))
}

async fn write<W: Warehouse>(
    warehouse: &W,
    spec: &TableSpec,
    batch: &RecordBatch,
) -> etl_core::WriteSummary {
    warehouse
        .write(spec, stream_of(batch), &WriteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("writing {:?} failed: {e}", spec.name()))
}

async fn read<W: Warehouse>(warehouse: &W, table: &str) -> RecordBatch {
    let schema = warehouse
        .table_schema(table)
        .await
        .expect("table_schema")
        .unwrap_or_else(|| panic!("table {table:?} does not exist"));
    let batches = warehouse.read_table(table).await.expect("read_table");
    let schema = batches.first().map(|b| b.schema()).unwrap_or(schema);
    concat_batches(&schema, &batches).expect("batches of one schema")
}

fn sorted_by(batch: &RecordBatch, keys: &[&str]) -> RecordBatch {
    if batch.num_rows() == 0 {
        return batch.clone();
    }
    let columns: Vec<arrow::compute::SortColumn> = keys
        .iter()
        .map(|k| arrow::compute::SortColumn {
            values: batch
                .column_by_name(k)
                .unwrap_or_else(|| panic!("no column {k:?} to sort by"))
                .clone(),
            options: Some(SortOptions::default()),
        })
        .collect();
    let indices = lexsort_to_indices(&columns, None).expect("sortable keys");
    take_record_batch(batch, &indices).expect("take")
}

fn pretty(batch: &RecordBatch) -> String {
    pretty_format_batches(std::slice::from_ref(batch))
        .map(|t| t.to_string())
        .unwrap_or_else(|e| format!("<unprintable: {e}>"))
}

/// Asserts `got` holds the values of `expected`, column by column, rows in
/// the order of `keys`. A column may come back in a wider type (compared
/// after casting to the expected type), or a nested column as JSON text.
pub fn assert_same_values(expected: &RecordBatch, got: &RecordBatch, keys: &[&str]) {
    let expected = sorted_by(expected, keys);
    let got = sorted_by(got, keys);
    assert_eq!(
        got.num_rows(),
        expected.num_rows(),
        "row count differs\nexpected:\n{}\ngot:\n{}",
        pretty(&expected),
        pretty(&got)
    );
    for (field, want) in expected.schema().fields().iter().zip(expected.columns()) {
        let have = got.column_by_name(field.name()).unwrap_or_else(|| {
            panic!(
                "column {:?} is missing; got columns {:?}",
                field.name(),
                got.schema()
                    .fields()
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
            )
        });
        assert_column(field.name(), want, have);
    }
}

fn assert_column(name: &str, want: &ArrayRef, have: &ArrayRef) {
    if want.data_type() == &DataType::Null {
        assert_eq!(
            have.null_count(),
            have.len(),
            "column {name:?} should be all nulls"
        );
        return;
    }
    if want.data_type().is_nested()
        && matches!(have.data_type(), DataType::Utf8 | DataType::LargeUtf8)
    {
        let have = arrow::compute::cast(have, &DataType::Utf8).expect("text");
        let have = have.as_any().downcast_ref::<StringArray>().expect("utf8");
        let want_json = json_rows(name, want);
        for (row, want) in want_json.iter().enumerate() {
            let got = (!have.is_null(row)).then(|| {
                serde_json::from_str::<serde_json::Value>(have.value(row)).unwrap_or_else(|e| {
                    panic!(
                        "column {name:?}, row {row}: not JSON ({e}): {}",
                        have.value(row)
                    )
                })
            });
            assert_eq!(&got, want, "column {name:?}, row {row}");
        }
        return;
    }
    match arrow::compute::cast(have, want.data_type()) {
        Ok(cast) if cast.as_ref() == want.as_ref() => {}
        Ok(cast) => {
            // Types that cast but compare unequal: compare as JSON, which
            // ignores names of nested list items and map entries.
            if json_rows(name, want) != json_rows(name, &cast) {
                panic!(
                    "column {name:?} differs\nexpected: {want:?}\ngot ({}): {have:?}",
                    have.data_type()
                );
            }
        }
        Err(e) => {
            if json_rows(name, want) != json_rows(name, have) {
                panic!(
                    "column {name:?} came back as {} and cannot be compared with {}: {e}\nexpected: {want:?}\ngot: {have:?}",
                    have.data_type(),
                    want.data_type()
                );
            }
        }
    }
}

fn json_rows(name: &str, array: &ArrayRef) -> Vec<Option<serde_json::Value>> {
    use etl_core::arrow::json::writer::{EncoderOptions, make_encoder};
    let field = Arc::new(Field::new(name, array.data_type().clone(), true));
    let options = EncoderOptions::default().with_explicit_nulls(true);
    let mut encoder = make_encoder(&field, array.as_ref(), &options)
        .unwrap_or_else(|e| panic!("column {name:?}: cannot encode as JSON: {e}"));
    (0..array.len())
        .map(|row| {
            (!array.is_null(row)).then(|| {
                let mut buf = Vec::new();
                encoder.encode(row, &mut buf);
                serde_json::from_slice(&buf).expect("arrow writes JSON")
            })
        })
        .collect()
}

/// A batch with one column of each common Arrow type, and nulls in each.
pub fn all_types_batch() -> RecordBatch {
    let day = 86_400_000_i64;
    let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
        Some(vec![Some(1), None, Some(3)]),
        Some(vec![]),
        None,
    ]);
    let strukt = StructArray::from(vec![
        (
            Arc::new(Field::new("x", DataType::Int64, true)),
            Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])) as ArrayRef,
        ),
        (
            Arc::new(Field::new("label", DataType::Utf8, true)),
            Arc::new(StringArray::from(vec![Some("a"), Some("b"), None])) as ArrayRef,
        ),
    ]);
    let dictionary: DictionaryArray<Int32Type> =
        vec![Some("red"), None, Some("red")].into_iter().collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3]))),
        (
            "bool",
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
        ),
        (
            "i8",
            Arc::new(Int8Array::from(vec![Some(i8::MIN), Some(i8::MAX), None])),
        ),
        (
            "i16",
            Arc::new(Int16Array::from(vec![Some(i16::MIN), Some(i16::MAX), None])),
        ),
        (
            "i32",
            Arc::new(Int32Array::from(vec![Some(i32::MIN), Some(i32::MAX), None])),
        ),
        (
            "i64",
            Arc::new(Int64Array::from(vec![Some(i64::MIN), Some(i64::MAX), None])),
        ),
        (
            "u8",
            Arc::new(UInt8Array::from(vec![Some(0), Some(u8::MAX), None])),
        ),
        (
            "u16",
            Arc::new(UInt16Array::from(vec![Some(0), Some(u16::MAX), None])),
        ),
        (
            "u32",
            Arc::new(UInt32Array::from(vec![Some(0), Some(u32::MAX), None])),
        ),
        (
            "u64",
            Arc::new(UInt64Array::from(vec![
                Some(0),
                Some(i64::MAX as u64),
                None,
            ])),
        ),
        (
            "f16",
            arrow::compute::cast(
                &Float32Array::from(vec![Some(1.5), Some(-2.25), None]),
                &DataType::Float16,
            )
            .expect("f16"),
        ),
        (
            "f32",
            Arc::new(Float32Array::from(vec![Some(1.5), Some(-3.25e10), None])),
        ),
        (
            "f64",
            Arc::new(Float64Array::from(vec![
                Some(0.1),
                Some(-1.7976931348623157e308),
                None,
            ])),
        ),
        (
            "utf8",
            Arc::new(StringArray::from(vec![Some("héllo ✓"), Some(""), None])),
        ),
        (
            "large_utf8",
            Arc::new(LargeStringArray::from(vec![
                Some("large"),
                Some("'quoted'"),
                None,
            ])),
        ),
        (
            "utf8_view",
            Arc::new(StringViewArray::from(vec![
                Some("a view string longer than twelve bytes"),
                Some("short"),
                None,
            ])),
        ),
        (
            "binary",
            Arc::new(BinaryArray::from(vec![
                Some(&b"\x00\x01\xff"[..]),
                Some(&b""[..]),
                None,
            ])),
        ),
        (
            "large_binary",
            Arc::new(LargeBinaryArray::from(vec![
                Some(&b"xyz"[..]),
                Some(&b"\n"[..]),
                None,
            ])),
        ),
        (
            "fixed_binary",
            Arc::new(
                FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                    vec![Some(*b"abcd"), Some(*b"\x00\x00\x00\x00"), None].into_iter(),
                    4,
                )
                .expect("fixed binary"),
            ),
        ),
        (
            "date32",
            Arc::new(Date32Array::from(vec![Some(0), Some(19_723), None])),
        ),
        (
            "date64",
            Arc::new(Date64Array::from(vec![Some(0), Some(19_723 * day), None])),
        ),
        (
            "time32",
            Arc::new(Time32SecondArray::from(vec![Some(0), Some(86_399), None])),
        ),
        (
            "time64",
            Arc::new(Time64MicrosecondArray::from(vec![
                Some(1),
                Some(86_399_999_999),
                None,
            ])),
        ),
        (
            "ts_s",
            Arc::new(TimestampSecondArray::from(vec![
                Some(0),
                Some(1_700_000_000),
                None,
            ])),
        ),
        (
            "ts_ms",
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(-1),
                Some(1_700_000_000_123),
                None,
            ])),
        ),
        (
            "ts_us",
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(1),
                Some(1_700_000_000_123_456),
                None,
            ])),
        ),
        (
            "ts_ns",
            Arc::new(TimestampNanosecondArray::from(vec![
                Some(1_000),
                Some(1_700_000_000_123_456_000),
                None,
            ])),
        ),
        (
            "ts_tz",
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(0), Some(1_700_000_000_123_456), None])
                    .with_timezone("+02:00"),
            ),
        ),
        (
            "decimal",
            Arc::new(
                Decimal128Array::from(vec![
                    Some(12_345_678_901_234_567_890_123_456_789_i128),
                    Some(-1),
                    None,
                ])
                .with_precision_and_scale(38, 10)
                .expect("decimal"),
            ),
        ),
        ("list", Arc::new(list)),
        ("struct", Arc::new(strukt)),
        ("dictionary", Arc::new(dictionary)),
        ("null", new_null_array(&DataType::Null, 3)),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), *name != "id"))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .expect("a valid batch")
}

fn people(ids: &[i64], names: &[&str]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(names.to_vec())),
        ],
    )
    .expect("a valid batch")
}

fn people_spec(mode: WriteMode) -> TableSpec {
    TableSpec::new("people", people(&[], &[]).schema())
        .with_primary_key(["id"])
        .with_mode(mode)
}

/// Every common Arrow type, with nulls, reads back with the same values.
pub async fn type_round_trips<W: Warehouse, O: Fn(&Path) -> Result<W>>(open: O) {
    with_warehouse(open, |warehouse| async move {
        let batch = all_types_batch();
        let spec = TableSpec::new("all_types", batch.schema()).with_primary_key(["id"]);
        let summary = write(&warehouse, &spec, &batch).await;
        assert_eq!(summary.rows, 3);
        assert_eq!(summary.columns, batch.num_columns());
        let got = read(&warehouse, "all_types").await;
        let names: Vec<_> = got
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let want: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, want, "columns come back in their order");
        assert_same_values(&batch, &got, &["id"]);
    })
    .await;
}

/// A stream failing half-way leaves the table exactly as it was, in every mode.
pub async fn failed_stream_leaves_table_untouched<W: Warehouse, O: Fn(&Path) -> Result<W>>(
    open: O,
) {
    with_warehouse(open, |warehouse| async move {
        let before = people(&[1, 2, 3], &["ada", "bob", "cy"]);
        write(&warehouse, &people_spec(WriteMode::Replace), &before).await;
        let schema_before = warehouse.table_schema("people").await.unwrap();
        // The failing load also brings a new column: adding it must roll back too.
        let wider = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("extra", DataType::Float64, true),
        ]));
        let good = |ids: Vec<i64>| {
            RecordBatch::try_new(
                wider.clone(),
                vec![
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(StringArray::from(vec!["changed", "new"])),
                    Arc::new(Float64Array::from(vec![1.0, 2.0])),
                ],
            )
            .unwrap()
        };
        for mode in [WriteMode::Replace, WriteMode::Append, WriteMode::Merge] {
            for recreate in [false, true] {
                let spec = people_spec(mode).with_schema(wider.clone());
                let err = warehouse
                    .write(
                        &spec,
                        failing_stream(vec![good(vec![4, 5]), good(vec![6, 7])], wider.clone()),
                        &WriteOptions::recreate(recreate),
                    )
                    .await
                    .expect_err("a failing stream fails the write");
                assert!(
                    err.to_string().contains("injected mid-stream failure"),
                    "{mode} (recreate {recreate}): the error says why: {err}"
                );
                let after = read(&warehouse, "people").await;
                assert_same_values(&before, &after, &["id"]);
                assert_eq!(
                    warehouse.table_schema("people").await.unwrap(),
                    schema_before,
                    "{mode} (recreate {recreate}): the schema is as it was"
                );
                assert_eq!(
                    warehouse.table_names().await.unwrap(),
                    vec!["people".to_owned()],
                    "{mode} (recreate {recreate}): no staging table is left behind"
                );
            }
        }
        let loads = warehouse.loads().await.unwrap();
        let failed = loads
            .iter()
            .filter(|l| l.status == LoadStatus::Failed)
            .count();
        assert_eq!(failed, 6, "every failed load is recorded: {loads:?}");
        assert!(
            loads
                .iter()
                .filter(|l| l.status == LoadStatus::Failed)
                .all(|l| l.rows == 0 && l.error.as_deref().is_some_and(|e| e.contains("injected")))
        );
    })
    .await;
}

/// A stream's cursor is stored with its data, per source and table, and a
/// failed write leaves the cursor where it was.
pub async fn cursors_are_kept_with_the_data<W: Warehouse, O: Fn(&Path) -> Result<W>>(open: O) {
    with_warehouse(open, |warehouse| async move {
        let spec = people_spec(WriteMode::Merge).with_cursor_field("updated_at");
        let table = "people";
        assert_eq!(warehouse.stored_cursor("src", table).await.unwrap(), None);

        let batch = people(&[1, 2], &["ada", "bob"]);
        let with_cursor = |batches: Vec<RecordBatch>, cursor: &str| {
            let stream = BatchStream::from_batches(batch.schema(), batches);
            stream.notes().set_cursor_value(cursor);
            stream
        };
        let options = WriteOptions::default().with_source("src");
        warehouse
            .write(&spec, with_cursor(vec![batch.clone()], "c1"), &options)
            .await
            .unwrap();
        assert_eq!(
            warehouse
                .stored_cursor("src", table)
                .await
                .unwrap()
                .as_deref(),
            Some("c1")
        );
        assert_eq!(
            warehouse.stored_cursor("other", table).await.unwrap(),
            None,
            "per source"
        );

        // A write without a source leaves the cursor alone; so does a stream without one.
        warehouse
            .write(
                &spec,
                with_cursor(vec![batch.clone()], "ignored"),
                &WriteOptions::default(),
            )
            .await
            .unwrap();
        warehouse
            .write(&spec, stream_of(&batch), &options)
            .await
            .unwrap();
        assert_eq!(
            warehouse
                .stored_cursor("src", table)
                .await
                .unwrap()
                .as_deref(),
            Some("c1")
        );

        // A failing stream that set a cursor: neither rows nor cursor move.
        let failing = failing_stream(vec![people(&[3, 4], &["cy", "di"])], batch.schema());
        failing.notes().set_cursor_value("c2");
        warehouse
            .write(&spec, failing, &options)
            .await
            .expect_err("a failing stream fails the write");
        assert_eq!(
            warehouse
                .stored_cursor("src", table)
                .await
                .unwrap()
                .as_deref(),
            Some("c1")
        );
        assert_eq!(read(&warehouse, table).await.num_rows(), 2);

        warehouse
            .write(
                &spec,
                with_cursor(vec![people(&[3], &["cy"])], "c3"),
                &options,
            )
            .await
            .unwrap();
        assert_eq!(
            warehouse
                .stored_cursor("src", table)
                .await
                .unwrap()
                .as_deref(),
            Some("c3")
        );
        assert_eq!(
            warehouse.table_names().await.unwrap(),
            vec![table.to_owned()],
            "the state table is the warehouse's own"
        );
    })
    .await;
}

/// Names with spaces, quotes, unicode and SQL keywords round-trip unchanged.
pub async fn hostile_identifiers<W: Warehouse, O: Fn(&Path) -> Result<W>>(open: O) {
    with_warehouse(open, |warehouse| async move {
        let table = "we\"ird table ✓; DROP TABLE x; --";
        let names = [
            "select",
            "a b",
            "quo\"te",
            "ünïcödé",
            "semi;colon",
            "--dash",
            "'single'",
            "order",
        ];
        let fields: Vec<Field> = names
            .iter()
            .map(|n| Field::new(*n, DataType::Int64, *n != "select"))
            .collect();
        let columns: Vec<ArrayRef> = (0..names.len())
            .map(|i| Arc::new(Int64Array::from(vec![i as i64, 10 + i as i64])) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let spec = |mode| {
            TableSpec::new(table, batch.schema())
                .with_primary_key(["select"])
                .with_mode(mode)
        };
        write(&warehouse, &spec(WriteMode::Replace), &batch).await;
        write(&warehouse, &spec(WriteMode::Merge), &batch).await;
        // Append brings new keys: 100 + the first column.
        let more_columns: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| {
                arrow::compute::kernels::numeric::add(c, &Int64Array::new_scalar(100)).unwrap()
            })
            .collect();
        let more = RecordBatch::try_new(batch.schema(), more_columns).unwrap();
        write(&warehouse, &spec(WriteMode::Append), &more).await;
        assert_eq!(
            warehouse.table_names().await.unwrap(),
            vec![table.to_owned()]
        );
        let got = read(&warehouse, table).await;
        let got_names: Vec<_> = got
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(got_names, names.map(String::from));
        let expected = concat_batches(&batch.schema(), [&batch, &more]).unwrap();
        assert_same_values(&expected, &got, &["select"]);
        assert!(warehouse.drop_table(table).await.unwrap());
        assert!(warehouse.table_names().await.unwrap().is_empty());
    })
    .await;
}

/// New columns are added; missing ones are left null; old rows read null in new columns.
pub async fn schema_evolution<W: Warehouse, O: Fn(&Path) -> Result<W>>(open: O) {
    with_warehouse(open, |warehouse| async move {
        write(
            &warehouse,
            &people_spec(WriteMode::Append),
            &people(&[1], &["ada"]),
        )
        .await;
        let wider = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, false),
                Field::new("name", DataType::Utf8, true),
                Field::new("score", DataType::Float64, true),
                Field::new("new col ✓", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(Int64Array::from(vec![2])),
                Arc::new(StringArray::from(vec!["bob"])),
                Arc::new(Float64Array::from(vec![9.5])),
                Arc::new(StringArray::from(vec!["x"])),
            ],
        )
        .unwrap();
        let spec = people_spec(WriteMode::Append).with_schema(wider.schema());
        let summary = write(&warehouse, &spec, &wider).await;
        assert_eq!(
            summary.added_columns,
            vec!["score".to_owned(), "new col ✓".to_owned()]
        );
        assert_eq!(summary.columns, 4);
        // A load without some columns leaves them null; a narrower integer is accepted.
        let narrow = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("id", DataType::Int32, false)])),
            vec![Arc::new(Int32Array::from(vec![3]))],
        )
        .unwrap();
        let spec = TableSpec::new("people", narrow.schema()).with_mode(WriteMode::Append);
        write(&warehouse, &spec, &narrow).await;
        let got = read(&warehouse, "people").await;
        let expected = RecordBatch::try_new(
            wider.schema(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![Some("ada"), Some("bob"), None])),
                Arc::new(Float64Array::from(vec![None, Some(9.5), None])),
                Arc::new(StringArray::from(vec![None, Some("x"), None])),
            ],
        )
        .unwrap();
        assert_same_values(&expected, &got, &["id"]);
    })
    .await;
}

/// A column whose type changes incompatibly is refused, naming it; nothing is written.
pub async fn incompatible_type_change_is_refused<W: Warehouse, O: Fn(&Path) -> Result<W>>(open: O) {
    with_warehouse(open, |warehouse| async move {
        let before = people(&[1, 2], &["ada", "bob"]);
        write(&warehouse, &people_spec(WriteMode::Append), &before).await;
        let changed = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, false),
                Field::new("name", DataType::Boolean, true),
                Field::new("added", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(Int64Array::from(vec![3])),
                Arc::new(BooleanArray::from(vec![true])),
                Arc::new(StringArray::from(vec!["x"])),
            ],
        )
        .unwrap();
        for mode in [WriteMode::Append, WriteMode::Merge] {
            let spec = people_spec(mode).with_schema(changed.schema());
            let err = warehouse
                .write(&spec, stream_of(&changed), &WriteOptions::default())
                .await
                .expect_err("an incompatible type is refused");
            assert!(
                matches!(&err, Error::IncompatibleSchema { table, column, .. } if table == "people" && column == "name"),
                "{mode}: the error names table and column: {err:?}"
            );
            let after = read(&warehouse, "people").await;
            assert_eq!(after.num_columns(), 2, "{mode}: no column was added");
            assert_same_values(&before, &after, &["id"]);
        }
    })
    .await;
}

/// Merge inserts new keys, updates existing ones, the last row of a key winning.
pub async fn merge_upserts_on_primary_key<W: Warehouse, O: Fn(&Path) -> Result<W>>(open: O) {
    with_warehouse(open, |warehouse| async move {
        let spec = people_spec(WriteMode::Merge);
        write(
            &warehouse,
            &spec,
            &people(&[1, 2, 3], &["ada", "bob", "cy"]),
        )
        .await;
        let summary = write(
            &warehouse,
            &spec,
            &people(&[2, 4, 4, 5], &["bob 2", "dee", "dee 2", "eve"]),
        )
        .await;
        assert_eq!(summary.rows, 4, "rows counts the rows of the load");
        let got = read(&warehouse, "people").await;
        let expected = people(&[1, 2, 3, 4, 5], &["ada", "bob 2", "cy", "dee 2", "eve"]);
        assert_same_values(&expected, &got, &["id"]);

        // A merge keyed on another column than the table's key is refused.
        let other = TableSpec::new("people", people(&[], &[]).schema())
            .with_primary_key(["name"])
            .with_mode(WriteMode::Merge);
        let err = warehouse
            .write(
                &other,
                stream_of(&people(&[9], &["zed"])),
                &WriteOptions::default(),
            )
            .await
            .expect_err("a different key is refused");
        assert!(
            err.to_string().contains("people") && err.to_string().contains("name"),
            "{err}"
        );
        assert_same_values(&expected, &read(&warehouse, "people").await, &["id"]);

        // A composite key.
        let schema = Arc::new(Schema::new(vec![
            Field::new("day", DataType::Date32, false),
            Field::new("shop", DataType::Utf8, false),
            Field::new("sales", DataType::Int64, true),
        ]));
        let sales = |days: Vec<i32>, shops: Vec<&str>, n: Vec<i64>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Date32Array::from(days)),
                    Arc::new(StringArray::from(shops)),
                    Arc::new(Int64Array::from(n)),
                ],
            )
            .unwrap()
        };
        let spec = TableSpec::new("sales", schema.clone())
            .with_primary_key(["day", "shop"])
            .with_mode(WriteMode::Merge);
        write(
            &warehouse,
            &spec,
            &sales(vec![1, 1, 2], vec!["a", "b", "a"], vec![10, 20, 30]),
        )
        .await;
        write(
            &warehouse,
            &spec,
            &sales(vec![1, 2], vec!["b", "b"], vec![21, 40]),
        )
        .await;
        let expected = sales(
            vec![1, 1, 2, 2],
            vec!["a", "b", "a", "b"],
            vec![10, 21, 30, 40],
        );
        assert_same_values(
            &expected,
            &read(&warehouse, "sales").await,
            &["day", "shop"],
        );
    })
    .await;
}

/// `recreate` drops the table and creates it anew from the load's schema.
pub async fn recreate_drops_and_recreates<W: Warehouse, O: Fn(&Path) -> Result<W>>(open: O) {
    with_warehouse(open, |warehouse| async move {
        write(
            &warehouse,
            &people_spec(WriteMode::Append),
            &people(&[1, 2], &["ada", "bob"]),
        )
        .await;
        let other = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Utf8, false),
                Field::new("value", DataType::Float64, true),
            ])),
            vec![
                Arc::new(StringArray::from(vec!["x"])),
                Arc::new(Float64Array::from(vec![1.5])),
            ],
        )
        .unwrap();
        for mode in [WriteMode::Append, WriteMode::Merge, WriteMode::Replace] {
            let spec = TableSpec::new("people", other.schema())
                .with_primary_key(["id"])
                .with_mode(mode);
            warehouse
                .write(&spec, stream_of(&other), &WriteOptions::recreate(true))
                .await
                .unwrap_or_else(|e| panic!("{mode}: recreate failed: {e}"));
            let got = read(&warehouse, "people").await;
            let names: Vec<_> = got
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            assert_eq!(names, vec!["id", "value"], "{mode}: only the new columns");
            assert_same_values(&other, &got, &["id"]);
        }
        assert!(warehouse.drop_table("people").await.unwrap());
        assert!(!warehouse.drop_table("people").await.unwrap());
        assert_eq!(warehouse.table_schema("people").await.unwrap(), None);
    })
    .await;
}

/// An empty stream creates the table with its columns and no rows.
pub async fn empty_tables<W: Warehouse, O: Fn(&Path) -> Result<W>>(open: O) {
    with_warehouse(open, |warehouse| async move {
        for mode in [WriteMode::Replace, WriteMode::Append, WriteMode::Merge] {
            let table = format!("empty_{mode}");
            let spec = TableSpec::new(table.clone(), people(&[], &[]).schema())
                .with_primary_key(["id"])
                .with_mode(mode);
            let summary = warehouse
                .write(
                    &spec,
                    BatchStream::empty(spec.schema().clone()),
                    &WriteOptions::default(),
                )
                .await
                .unwrap_or_else(|e| panic!("{mode}: an empty load fails: {e}"));
            assert_eq!(summary.rows, 0);
            let got = read(&warehouse, &table).await;
            assert_eq!(got.num_rows(), 0);
            assert_eq!(got.num_columns(), 2);
        }
        // Zero-row batches in a stream are fine too.
        let spec = people_spec(WriteMode::Append);
        let empty = people(&[], &[]);
        let stream = BatchStream::from_batches(
            empty.schema(),
            vec![empty.clone(), people(&[1], &["ada"]), empty],
        );
        let summary = warehouse
            .write(&spec, stream, &WriteOptions::default())
            .await
            .unwrap();
        assert_eq!(summary.rows, 1);
        let schema = warehouse
            .ensure_table(&people_spec(WriteMode::Append))
            .await
            .unwrap();
        assert_eq!(schema.fields().len(), 2);
    })
    .await;
}

/// A load with no columns is refused with an error naming the table; nothing is created.
pub async fn zero_column_loads_are_refused<W: Warehouse, O: Fn(&Path) -> Result<W>>(open: O) {
    with_warehouse(open, |warehouse| async move {
        let schema = Arc::new(Schema::empty());
        let spec = TableSpec::new("nothing", schema.clone());
        let batch = RecordBatch::try_new_with_options(
            schema.clone(),
            vec![],
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(5)),
        )
        .unwrap();
        let err = warehouse
            .write(
                &spec,
                BatchStream::from_batches(schema, vec![batch]),
                &WriteOptions::default(),
            )
            .await
            .expect_err("no columns, no table");
        assert!(
            err.to_string().contains("\"nothing\""),
            "the error names the table: {err}"
        );
        assert_eq!(warehouse.table_schema("nothing").await.unwrap(), None);
        assert!(warehouse.ensure_table(&spec).await.is_err());
    })
    .await;
}

/// A type the warehouse cannot store is an error naming table and column, before anything is written.
pub async fn unsupported_types_are_named<W: Warehouse, O: Fn(&Path) -> Result<W>>(open: O) {
    with_warehouse(open, |warehouse| async move {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("huge", DataType::Decimal256(76, 0), true),
        ]));
        let spec = TableSpec::new("wide_numbers", schema.clone());
        match warehouse
            .write(&spec, BatchStream::empty(schema), &WriteOptions::default())
            .await
        {
            Err(Error::UnsupportedType { table, column, .. }) => {
                assert_eq!((table.as_str(), column.as_str()), ("wide_numbers", "huge"));
                assert_eq!(warehouse.table_schema("wide_numbers").await.unwrap(), None);
            }
            Err(other) => panic!("expected UnsupportedType naming the column, got {other}"),
            Ok(_) => {
                // A warehouse that stores it must read it back.
                assert!(
                    warehouse
                        .table_schema("wide_numbers")
                        .await
                        .unwrap()
                        .is_some()
                );
            }
        }
    })
    .await;
}

/// Every load, succeeded or failed, is in `_etl_loads` with its numbers.
pub async fn loads_are_recorded<W: Warehouse, O: Fn(&Path) -> Result<W>>(open: O) {
    with_warehouse(open, |warehouse| async move {
        let first = write(
            &warehouse,
            &people_spec(WriteMode::Replace),
            &people(&[1, 2], &["a", "b"]),
        )
        .await;
        let second = write(
            &warehouse,
            &people_spec(WriteMode::Merge),
            &people(&[3], &["c"]),
        )
        .await;
        let spec = people_spec(WriteMode::Append);
        warehouse
            .write(
                &spec,
                failing_stream(vec![people(&[4], &["d"])], spec.schema().clone()),
                &WriteOptions::default(),
            )
            .await
            .expect_err("fails");
        let loads = warehouse.loads().await.unwrap();
        assert_eq!(loads.len(), 3, "{loads:?}");
        assert_eq!(loads[0].load_id, first.load_id);
        assert_eq!(
            (
                loads[0].table.as_str(),
                loads[0].mode.as_str(),
                loads[0].rows
            ),
            ("people", "replace", 2)
        );
        assert_eq!(loads[0].status, LoadStatus::Succeeded);
        assert_eq!(loads[0].error, None);
        assert_eq!(loads[1].load_id, second.load_id);
        assert_eq!((loads[1].mode.as_str(), loads[1].rows), ("merge", 1));
        assert_eq!(loads[2].status, LoadStatus::Failed);
        assert_eq!(loads[2].mode, "append");
        assert!(
            loads
                .iter()
                .all(|l| l.started_at <= l.finished_at && l.started_at.ends_with('Z'))
        );
        assert!(
            !warehouse
                .table_names()
                .await
                .unwrap()
                .iter()
                .any(|t| t.starts_with("_etl"))
        );
    })
    .await;
}

/// A write whose caller gives up half-way (a timeout) rolls back and is recorded as failed.
pub async fn cancelled_write_leaves_table_untouched<W: Warehouse, O: Fn(&Path) -> Result<W>>(
    open: O,
) {
    with_warehouse(open, |warehouse| async move {
        let before = people(&[1, 2], &["ada", "bob"]);
        write(&warehouse, &people_spec(WriteMode::Replace), &before).await;
        for mode in [WriteMode::Replace, WriteMode::Append] {
            let spec = people_spec(mode);
            // One batch, then a stream that never ends.
            let stream = BatchStream::new(
                spec.schema().clone(),
                futures::StreamExt::chain(
                    futures::stream::iter(vec![Ok(people(&[3], &["cy"]))]),
                    futures::stream::pending(),
                ),
            );
            let options = WriteOptions::default();
            let write = warehouse.write(&spec, stream, &options);
            let timed_out =
                tokio::time::timeout(std::time::Duration::from_millis(200), write).await;
            assert!(timed_out.is_err(), "{mode}: the write cannot finish");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                let loads = warehouse.loads().await.unwrap();
                let failed = loads
                    .iter()
                    .filter(|l| l.status == LoadStatus::Failed)
                    .count();
                if failed == 1 + (mode == WriteMode::Append) as usize {
                    assert!(
                        loads
                            .last()
                            .unwrap()
                            .error
                            .as_deref()
                            .unwrap_or_default()
                            .contains("cancelled"),
                        "{loads:?}"
                    );
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{mode}: the cancelled load is never recorded: {loads:?}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            assert_same_values(&before, &read(&warehouse, "people").await, &["id"]);
        }
    })
    .await;
}

/// A million rows, streamed in batches, all arrive.
pub async fn million_rows<W: Warehouse, O: Fn(&Path) -> Result<W>>(open: O) {
    with_warehouse(open, |warehouse| async move {
        const ROWS: i64 = 1_000_000;
        const BATCH: i64 = 65_536;
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("value", DataType::Float64, true),
            Field::new("label", DataType::Utf8, true),
            Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        ]));
        let batch_schema = schema.clone();
        let batches = (0..ROWS).step_by(BATCH as usize).map(move |start| {
            let ids: Vec<i64> = (start..(start + BATCH).min(ROWS)).collect();
            RecordBatch::try_new(
                batch_schema.clone(),
                vec![
                    Arc::new(Int64Array::from(ids.clone())),
                    Arc::new(Float64Array::from_iter(
                        ids.iter().map(|i| (*i as f64) * 0.5),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        ids.iter().map(|i| format!("row {i}")),
                    )),
                    Arc::new(TimestampMicrosecondArray::from_iter_values(
                        ids.iter().map(|i| i * 1_000_000),
                    )),
                ],
            )
            .map_err(|e| Error::arrow("building a batch", e))
        });
        let stream = BatchStream::new(schema.clone(), futures::stream::iter(batches));
        let spec = TableSpec::new("big", schema);
        let summary = warehouse
            .write(&spec, stream, &WriteOptions::default())
            .await
            .unwrap();
        assert_eq!(summary.rows, ROWS as u64);
        let got = read(&warehouse, "big").await;
        assert_eq!(got.num_rows(), ROWS as usize);
        let ids = arrow::compute::cast(got.column(0), &DataType::Int64).unwrap();
        let ids = ids.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(arrow::compute::sum(ids), Some(ROWS * (ROWS - 1) / 2));
        let labels = arrow::compute::cast(got.column(2), &DataType::Utf8).unwrap();
        let labels = labels.as_any().downcast_ref::<StringArray>().unwrap();
        let at = ids
            .values()
            .iter()
            .position(|i| *i == 765_432)
            .expect("row 765432");
        assert_eq!(labels.value(at), "row 765432");
    })
    .await;
}

/// A small deterministic generator (SplitMix64): the property checks below
/// draw their cases from fixed seeds, so a failure names a seed that
/// reproduces it.
struct Cases(u64);

impl Cases {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Merge, for random tables with repeated keys over many batches, equals
/// "the last row of each key" computed here: for each seed, a few merges of
/// up to 5,000 rows in batches of 1 to 3,000 rows, keys drawn from a small
/// range so they repeat within and across batches and loads (past DuckDB's
/// 2,048-row chunks, where its insertion order stops following the input).
pub async fn merge_keeps_the_last_row_of_each_key<W: Warehouse, O: Fn(&Path) -> Result<W>>(
    open: O,
) {
    with_warehouse(open, |warehouse| async move {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("version", DataType::Int64, true),
            Field::new("text", DataType::Utf8, true),
        ]));
        for seed in 1..=8_u64 {
            let table = format!("merged_{seed}");
            let spec = TableSpec::new(&table, schema.clone())
                .with_primary_key(["id"])
                .with_mode(WriteMode::Merge);
            let mut cases = Cases(seed);
            let mut expected: std::collections::BTreeMap<i64, (i64, String)> =
                std::collections::BTreeMap::new();
            let mut version = 0_i64;
            for _load in 0..3 {
                let keys = 1 + cases.below(2_000) as i64;
                let rows = 1 + cases.below(5_000) as usize;
                let mut batches = Vec::new();
                let mut left = rows;
                while left > 0 {
                    let n = (1 + cases.below(3_000) as usize).min(left);
                    left -= n;
                    let mut ids = Vec::with_capacity(n);
                    let mut versions = Vec::with_capacity(n);
                    let mut texts = Vec::with_capacity(n);
                    for _ in 0..n {
                        let id = cases.below(keys as u64) as i64;
                        version += 1;
                        let text = format!("seed {seed} version {version}");
                        expected.insert(id, (version, text.clone()));
                        ids.push(id);
                        versions.push(version);
                        texts.push(text);
                    }
                    batches.push(
                        RecordBatch::try_new(
                            schema.clone(),
                            vec![
                                Arc::new(Int64Array::from(ids)),
                                Arc::new(Int64Array::from(versions)),
                                Arc::new(StringArray::from(texts)),
                            ],
                        )
                        .expect("a valid batch"),
                    );
                }
                warehouse
                    .write(
                        &spec,
                        BatchStream::from_batches(schema.clone(), batches),
                        &WriteOptions::default(),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("seed {seed}: the merge failed: {e}"));
            }
            let want = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from_iter_values(expected.keys().copied())),
                    Arc::new(Int64Array::from_iter_values(expected.values().map(|v| v.0))),
                    Arc::new(StringArray::from_iter_values(
                        expected.values().map(|v| v.1.as_str()),
                    )),
                ],
            )
            .expect("a valid batch");
            let got = read(&warehouse, &table).await;
            let got = sorted_by(&got, &["id"]);
            let versions = |b: &RecordBatch| {
                arrow::compute::cast(
                    b.column_by_name("version").expect("version"),
                    &DataType::Int64,
                )
                .expect("integers")
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("Int64")
                .values()
                .to_vec()
            };
            assert_eq!(
                versions(&got),
                versions(&want),
                "seed {seed}: each key must hold its last row's version"
            );
            assert_same_values(&want, &got, &["id"]);
        }
    })
    .await;
}

/// Names that a warehouse would resolve to its own tables or columns, in
/// any case, and columns that differ only in case, are refused before
/// anything is written; the warehouse's own tables stay as they were.
pub async fn reserved_and_case_colliding_names_are_refused<
    W: Warehouse,
    O: Fn(&Path) -> Result<W>,
>(
    open: O,
) {
    with_warehouse(open, |warehouse| async move {
        let batch = people(&[1], &["forged"]);
        for table in [
            "_etl_state",
            "_ETL_STATE",
            "_Etl_Loads",
            "_ETL_staging_people",
        ] {
            let err = warehouse
                .write(
                    &TableSpec::new(table, batch.schema()),
                    stream_of(&batch),
                    &WriteOptions::default(),
                )
                .await
                .expect_err("a reserved name is refused");
            assert!(
                err.to_string().contains("reserved") && err.to_string().contains(table),
                "{table}: {err}"
            );
        }
        assert!(
            warehouse
                .loads()
                .await
                .expect("loads")
                .iter()
                .all(|l| l.table != "forged"),
            "_etl_loads is intact"
        );
        assert_eq!(
            warehouse
                .stored_cursor("any", "people")
                .await
                .expect("cursor"),
            None
        );

        let twins = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, false),
                Field::new("ID", DataType::Int64, true),
            ])),
            vec![
                Arc::new(Int64Array::from(vec![1])),
                Arc::new(Int64Array::from(vec![2])),
            ],
        )
        .expect("a valid batch");
        let err = warehouse
            .write(
                &TableSpec::new("twins", twins.schema()),
                stream_of(&twins),
                &WriteOptions::default(),
            )
            .await
            .expect_err("columns that differ only in case are refused");
        assert!(
            err.to_string().contains("\"id\" and \"ID\""),
            "the error names both: {err}"
        );
        assert!(
            warehouse
                .table_schema("twins")
                .await
                .expect("schema")
                .is_none()
        );

        // A load whose column differs from the table's only in case writes
        // that column, as the database resolves it, instead of adding one.
        write(
            &warehouse,
            &people_spec(WriteMode::Append),
            &people(&[1], &["ada"]),
        )
        .await;
        let shouted = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("ID", DataType::Int64, false),
                Field::new("NAME", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(Int64Array::from(vec![2])),
                Arc::new(StringArray::from(vec!["bob"])),
            ],
        )
        .expect("a valid batch");
        let summary = write(
            &warehouse,
            &TableSpec::new("people", shouted.schema()).with_mode(WriteMode::Append),
            &shouted,
        )
        .await;
        assert!(
            summary.added_columns.is_empty(),
            "{:?}",
            summary.added_columns
        );
        assert_same_values(
            &people(&[1, 2], &["ada", "bob"]),
            &read(&warehouse, "people").await,
            &["id"],
        );
    })
    .await;
}

/// Appends take ordinary day-to-day changes: a column with no value today
/// (Arrow `Null`) fits the column's type of yesterday, and whole numbers
/// fit yesterday's `DOUBLE`, exactly; an integer that a double cannot hold
/// exactly is refused naming table, column and row, nothing written.
pub async fn appends_take_day_to_day_changes<W: Warehouse, O: Fn(&Path) -> Result<W>>(open: O) {
    with_warehouse(open, |warehouse| async move {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("quantity", DataType::Int64, true),
            Field::new("price", DataType::Float64, true),
        ]));
        let yesterday = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1])),
                Arc::new(Int64Array::from(vec![3])),
                Arc::new(Float64Array::from(vec![9.5])),
            ],
        )
        .expect("a valid batch");
        let append = |schema: SchemaRef| TableSpec::new("orders", schema).with_mode(WriteMode::Append);
        write(&warehouse, &append(schema.clone()), &yesterday).await;

        let today_schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("quantity", DataType::Null, true),
            Field::new("price", DataType::Int64, true),
        ]));
        let today = RecordBatch::try_new(
            today_schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![2, 3])),
                new_null_array(&DataType::Null, 2),
                Arc::new(Int64Array::from(vec![12, 1 << 53])),
            ],
        )
        .expect("a valid batch");
        write(&warehouse, &append(today_schema.clone()), &today).await;
        let got = read(&warehouse, "orders").await;
        let expected = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(Int64Array::from(vec![Some(3), None, None])),
                Arc::new(Float64Array::from(vec![9.5, 12.0, (1_u64 << 53) as f64])),
            ],
        )
        .expect("a valid batch");
        assert_same_values(&expected, &got, &["id"]);
        let types: Vec<DataType> = got.schema().fields().iter().map(|f| f.data_type().clone()).collect();
        assert_eq!(types[1], DataType::Int64, "yesterday's type is kept");
        assert_eq!(types[2], DataType::Float64, "yesterday's type is kept");

        let inexact = RecordBatch::try_new(
            today_schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![4, 5])),
                new_null_array(&DataType::Null, 2),
                Arc::new(Int64Array::from(vec![7, (1 << 53) + 1])),
            ],
        )
        .expect("a valid batch");
        let err = warehouse
            .write(&append(today_schema), stream_of(&inexact), &WriteOptions::default())
            .await
            .expect_err("an integer without an exact double is refused");
        assert!(
            matches!(&err, Error::Value { table, column, row: 1, .. } if table == "orders" && column == "price"),
            "the error names table, column and row: {err:?}"
        );
        assert_same_values(&expected, &read(&warehouse, "orders").await, &["id"]);

        // A text column that is a guess from nulls (an API's optional field)
        // goes into yesterday's integer column while it holds only nulls.
        let guessed = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("quantity", DataType::Utf8, true).with_metadata(
                [(etl_core::SAMPLED_NULLS_ONLY.to_owned(), "true".to_owned())].into(),
            ),
        ]));
        let nulls = RecordBatch::try_new(
            guessed.clone(),
            vec![
                Arc::new(Int64Array::from(vec![6])),
                Arc::new(StringArray::from(vec![None::<&str>])),
            ],
        )
        .expect("a valid batch");
        write(&warehouse, &append(guessed.clone()), &nulls).await;
        let got = read(&warehouse, "orders").await;
        assert_eq!(got.num_rows(), 4);
        let types: Vec<DataType> = got.schema().fields().iter().map(|f| f.data_type().clone()).collect();
        assert_eq!(types[1], DataType::Int64, "yesterday's type is kept");
        let value = RecordBatch::try_new(
            guessed.clone(),
            vec![
                Arc::new(Int64Array::from(vec![7, 8])),
                Arc::new(StringArray::from(vec![None, Some("three")])),
            ],
        )
        .expect("a valid batch");
        let err = warehouse
            .write(&append(guessed), stream_of(&value), &WriteOptions::default())
            .await
            .expect_err("a value in a column guessed from nulls is refused");
        assert!(
            matches!(&err, Error::Value { column, row: 1, .. } if column == "quantity"),
            "the error names the column and row: {err:?}"
        );
        assert_eq!(read(&warehouse, "orders").await.num_rows(), 4, "nothing was written");
    })
    .await;
}
