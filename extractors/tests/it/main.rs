//! Integration tests of the extractors: the files extractor against real
//! files (the fixtures in `tests/fixtures/` and files written by the tests),
//! the Airtable extractor against the local Airtable server.

mod airtable;
mod edges;
mod hostile_http;
mod http;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use etl_core::arrow::array::{Int64Array, RecordBatch, StringArray};
use etl_core::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use etl_core::arrow::util::pretty::pretty_format_batches;
use etl_core::{Error, ExtractOptions, Extractor, TableSpec};
use etl_extractors::{FilesConfig, FilesExtractor};
use futures::StreamExt;

/// The fixtures folder, found at run time: a test binary built from another
/// checkout of the same sources (a shared target directory) must not read
/// that checkout's files.
fn fixture(path: &str) -> PathBuf {
    manifest_dir().join("tests/fixtures").join(path)
}

fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf())
}

async fn spec(files: &FilesExtractor, table: &str) -> TableSpec {
    files
        .tables()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.name() == table)
        .unwrap_or_else(|| panic!("no table {table}"))
}

async fn extract(
    files: &FilesExtractor,
    table: &str,
    batch_size: usize,
) -> etl_core::Result<Vec<RecordBatch>> {
    let spec = spec(files, table).await;
    files
        .extract(&spec, &ExtractOptions::with_batch_size(batch_size))
        .await?
        .collect_batches()
        .await
}

fn pretty(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches).unwrap().to_string()
}

fn types(spec: &TableSpec) -> Vec<String> {
    spec.schema()
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect()
}

#[tokio::test]
async fn a_folder_gives_one_table_per_file_and_per_folder_of_parts() {
    let files = FilesExtractor::open(fixture("shop")).unwrap();
    assert_eq!(
        files.table_names(),
        ["customers", "events", "orders", "products"]
    );
    let tables = files.tables().await.unwrap();
    let names: Vec<_> = tables.iter().map(|t| t.name()).collect();
    assert_eq!(names, ["customers", "events", "orders", "products"]);
}

#[tokio::test]
async fn csv_schemas_are_inferred_and_values_parsed() {
    let files = FilesExtractor::open(fixture("shop")).unwrap();
    let customers = spec(&files, "customers").await;
    assert_eq!(
        types(&customers),
        [
            "id: Int64",
            "name: Utf8",
            "signed_up: Date32",
            "vip: Boolean",
            "balance: Float64"
        ]
    );
    let batches = extract(&files, "customers", 1024).await.unwrap();
    assert_eq!(
        pretty(&batches),
        "\
+----+---------------+------------+-------+---------+
| id | name          | signed_up  | vip   | balance |
+----+---------------+------------+-------+---------+
| 1  | Ada Lovelace  | 2024-01-05 | true  | 10.5    |
| 2  | Hopper, Grace | 2024-02-11 | false |         |
| 3  | Édouard       | 2024-03-01 |       | -3.25   |
+----+---------------+------------+-------+---------+"
    );
}

#[tokio::test]
async fn tsv_files_are_tab_separated() {
    let files = FilesExtractor::open(fixture("shop/products.tsv")).unwrap();
    let batches = extract(&files, "products", 1024).await.unwrap();
    assert_eq!(
        pretty(&batches),
        "\
+-----+--------+-------+
| sku | label  | price |
+-----+--------+-------+
| A-1 | Tea    | 3.5   |
| B-2 | Coffee | 4.0   |
+-----+--------+-------+"
    );
}

#[tokio::test]
async fn json_lines_keep_nested_values_and_skip_blank_lines() {
    let files = FilesExtractor::open(fixture("shop")).unwrap();
    let orders = spec(&files, "orders").await;
    assert_eq!(
        types(&orders),
        [
            "order_id: Int64",
            "customer: Int64",
            "items: List(Utf8)",
            "shipping: Struct(\"city\": Utf8, \"express\": Boolean)"
        ]
    );
    let batches = extract(&files, "orders", 1024).await.unwrap();
    assert_eq!(
        pretty(&batches),
        "\
+----------+----------+------------+-----------------------------------+
| order_id | customer | items      | shipping                          |
+----------+----------+------------+-----------------------------------+
| 100      | 1        | [A-1, B-2] | {city: London, express: true}     |
| 101      | 2        | []         | {city: Arlington, express: false} |
| 102      | 3        |            |                                   |
+----------+----------+------------+-----------------------------------+"
    );
}

#[tokio::test]
async fn parts_of_a_folder_are_one_table_with_widened_types() {
    let files = FilesExtractor::open(fixture("shop")).unwrap();
    let events = spec(&files, "events").await;
    assert_eq!(types(&events), ["day: Date32", "clicks: Float64"]);
    let batches = extract(&files, "events", 1).await.unwrap();
    assert_eq!(batches.len(), 3, "one batch per row at batch size 1");
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 3);
}

#[tokio::test]
async fn a_glob_picks_the_matching_files() {
    let pattern = format!("{}/*.csv", fixture("shop").display());
    let files = FilesExtractor::open(pattern).unwrap();
    assert_eq!(files.table_names(), ["customers"]);
}

fn write_parquet(path: &Path, rows: i64, start: i64) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("label", DataType::Utf8, true),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]));
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None).unwrap();
    let ids: Vec<i64> = (start..start + rows).collect();
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| format!("#{i}")),
            )),
            Arc::new(
                etl_core::arrow::array::TimestampMicrosecondArray::from(ids.clone())
                    .with_timezone("UTC"),
            ),
        ],
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[tokio::test]
async fn parquet_schemas_are_read_and_streamed_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("parts")).unwrap();
    write_parquet(&dir.path().join("single.parquet"), 10_000, 0);
    write_parquet(&dir.path().join("parts/a.pq"), 5, 0);
    write_parquet(&dir.path().join("parts/b.pq"), 5, 5);
    let files = FilesExtractor::open(dir.path()).unwrap();
    assert_eq!(files.table_names(), ["parts", "single"]);
    let single = spec(&files, "single").await;
    assert_eq!(
        types(&single),
        ["id: Int64", "label: Utf8", "at: Timestamp(µs, \"UTC\")"]
    );
    let batches = extract(&files, "single", 4096).await.unwrap();
    let sizes: Vec<_> = batches.iter().map(RecordBatch::num_rows).collect();
    assert_eq!(sizes, [4096, 4096, 1808]);
    let parts = extract(&files, "parts", 100).await.unwrap();
    let ids: Vec<i64> = parts
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
    assert_eq!(ids, (0..10).collect::<Vec<_>>());
}

#[tokio::test]
async fn parquet_parts_with_different_columns_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("t")).unwrap();
    write_parquet(&dir.path().join("t/a.parquet"), 1, 0);
    std::fs::write(dir.path().join("t/b.parquet"), b"").unwrap();
    let files = FilesExtractor::open(dir.path()).unwrap();
    let err = files.tables().await.unwrap_err();
    assert!(err.to_string().contains("b.parquet"), "{err}");
}

/// `from`, gzipped into `to`.
fn gzip(from: &Path, to: &Path) {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(to).unwrap(),
        flate2::Compression::default(),
    );
    encoder.write_all(&std::fs::read(from).unwrap()).unwrap();
    encoder.finish().unwrap();
}

/// Every table of `files`, its columns' types and its rows, as text.
async fn everything(files: &FilesExtractor) -> Vec<(String, Vec<String>, String)> {
    let mut out = Vec::new();
    for table in files.table_names() {
        let spec = spec(files, table).await;
        let rows = pretty(&extract(files, table, 2).await.unwrap());
        out.push((table.to_string(), types(&spec), rows));
    }
    out
}

#[tokio::test]
async fn gzipped_files_read_as_their_plain_twins() {
    let shop = fixture("shop");
    let dir = tempfile::tempdir().unwrap();
    for name in ["customers.csv", "products.tsv", "orders.jsonl"] {
        gzip(&shop.join(name), &dir.path().join(format!("{name}.gz")));
    }
    // Parts of one table, one gzipped and one not.
    std::fs::create_dir(dir.path().join("events")).unwrap();
    std::fs::copy(
        shop.join("events/part-0.csv"),
        dir.path().join("events/part-0.csv"),
    )
    .unwrap();
    gzip(
        &shop.join("events/part-1.csv"),
        &dir.path().join("events/part-1.CSV.GZ"),
    );

    let plain = FilesExtractor::open(&shop).unwrap();
    let gzipped = FilesExtractor::open(dir.path()).unwrap();
    assert_eq!(
        gzipped.table_names(),
        ["customers", "events", "orders", "products"]
    );
    assert_eq!(everything(&gzipped).await, everything(&plain).await);
}

#[tokio::test]
async fn a_bad_value_in_a_gzipped_csv_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad_value.csv.gz");
    gzip(&fixture("malformed/bad_value.csv"), &path);
    let files = FilesExtractor::new(FilesConfig::new(&path).with_infer_rows(Some(2))).unwrap();
    let err = extract(&files, "bad_value", 2).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("bad_value.csv.gz, line 4, column \"amount\""),
        "{text}"
    );
}

#[tokio::test]
async fn a_corrupt_or_cut_gzip_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // Not gzip at all: found while inferring the schema.
    let path = dir.path().join("plain.csv.gz");
    std::fs::write(&path, "id,name\n1,ada\n").unwrap();
    let files = FilesExtractor::open(&path).unwrap();
    let err = files.tables().await.unwrap_err().to_string();
    assert!(
        err.contains("plain.csv.gz: reading it as gzip: invalid gzip header"),
        "{err}"
    );

    // Cut short after the rows the schema was inferred from: found while
    // reading, and the stream ends with the error, not with fewer rows.
    let full = dir.path().join("full.csv");
    let mut text = String::from("id,name\n");
    for i in 0..20_000 {
        text.push_str(&format!("{i},name {i}\n"));
    }
    std::fs::write(&full, text).unwrap();
    let whole = dir.path().join("whole.gz");
    gzip(&full, &whole);
    let bytes = std::fs::read(&whole).unwrap();
    let path = dir.path().join("cut.csv.gz");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let files = FilesExtractor::new(FilesConfig::new(&path).with_infer_rows(Some(10))).unwrap();
    let err = extract(&files, "cut", 1024).await.unwrap_err().to_string();
    assert!(
        err.contains("cut.csv.gz: reading it as gzip: ")
            && err.contains("(is it cut short, or not gzip?)"),
        "{err}"
    );

    // Parquet is compressed inside the file: a gzipped one is not read.
    let path = dir.path().join("events.parquet.gz");
    std::fs::write(&path, b"").unwrap();
    let err = FilesExtractor::open(&path).unwrap_err().to_string();
    assert!(
        err.contains("events.parquet.gz: not a CSV, TSV, Parquet or JSON Lines file"),
        "{err}"
    );
}

#[tokio::test]
async fn a_bad_csv_value_names_file_line_and_column() {
    let files = FilesExtractor::new(
        FilesConfig::new(fixture("malformed/bad_value.csv")).with_infer_rows(Some(2)),
    )
    .unwrap();
    let err = extract(&files, "bad_value", 2).await.unwrap_err();
    match &err {
        Error::Malformed {
            path, line, column, ..
        } => {
            assert!(path.ends_with("bad_value.csv"));
            assert_eq!(
                *line,
                Some(4),
                "the header is line 1, the bad row line 4: {err}"
            );
            assert_eq!(column.as_deref(), Some("amount"));
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("bad_value.csv, line 4, column \"amount\""),
        "{text}"
    );
    assert!(text.contains("oops"), "{text}");
}

#[tokio::test]
async fn a_csv_row_with_too_many_fields_names_its_line() {
    // Seen while inferring the schema: the error comes before any data moves.
    let files = FilesExtractor::open(fixture("malformed/bad_width.csv")).unwrap();
    let err = files.tables().await.unwrap_err();
    assert!(
        matches!(&err, Error::Malformed { line: Some(3), .. }),
        "the bad row is line 3: {err}"
    );
    // Past the rows sampled: the stream ends with the error.
    let files = FilesExtractor::new(
        FilesConfig::new(fixture("malformed/bad_width.csv")).with_infer_rows(Some(1)),
    )
    .unwrap();
    let err = extract(&files, "bad_width", 1024).await.unwrap_err();
    assert!(
        matches!(&err, Error::Malformed { line: Some(3), .. }),
        "the bad row is line 3: {err}"
    );
    assert!(err.to_string().contains("bad_width.csv, line 3"), "{err}");
}

#[tokio::test]
async fn a_bad_json_value_names_file_line_and_column() {
    let files = FilesExtractor::new(
        FilesConfig::new(fixture("malformed/bad_type.jsonl")).with_infer_rows(Some(2)),
    )
    .unwrap();
    let err = extract(&files, "bad_type", 1024).await.unwrap_err();
    match &err {
        Error::Malformed { line, column, .. } => {
            assert_eq!(*line, Some(3), "{err}");
            assert_eq!(column.as_deref(), Some("tags"), "{err}");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_json_field_unseen_while_inferring_is_an_error_not_a_silent_drop() {
    let files = FilesExtractor::new(
        FilesConfig::new(fixture("malformed/late_field.jsonl")).with_infer_rows(Some(2)),
    )
    .unwrap();
    let err = extract(&files, "late_field", 1024).await.unwrap_err();
    assert!(
        matches!(&err, Error::Malformed { line: Some(3), column: Some(c), .. } if c == "surprise"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("infer_rows"),
        "the error says what to do: {err}"
    );
    // Sampling every row finds the field.
    let files = FilesExtractor::new(
        FilesConfig::new(fixture("malformed/late_field.jsonl")).with_infer_rows(None),
    )
    .unwrap();
    let batches = extract(&files, "late_field", 1024).await.unwrap();
    assert_eq!(batches[0].num_columns(), 2);
}

#[tokio::test]
async fn two_files_making_one_table_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "a\n1\n").unwrap();
    std::fs::write(dir.path().join("t.jsonl"), "{\"a\": 1}\n").unwrap();
    let err = FilesExtractor::open(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("would both be table \"t\""),
        "{err}"
    );
}

#[tokio::test]
async fn an_empty_folder_and_a_missing_path_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = FilesExtractor::open(dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("no CSV, Parquet or JSON Lines files"),
        "{err}"
    );
    let err = FilesExtractor::open(dir.path().join("missing")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

#[tokio::test]
async fn a_header_only_csv_is_an_empty_table_and_an_empty_file_has_no_columns() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("header.csv"), "a,b\n").unwrap();
    std::fs::write(dir.path().join("nothing.csv"), "").unwrap();
    let files = FilesExtractor::open(dir.path()).unwrap();
    let header = spec(&files, "header").await;
    assert_eq!(header.schema().fields().len(), 2);
    assert!(
        extract(&files, "header", 10)
            .await
            .unwrap()
            .iter()
            .all(|b| b.num_rows() == 0)
    );
    let nothing = spec(&files, "nothing").await;
    assert_eq!(nothing.schema().fields().len(), 0);
}

#[tokio::test]
async fn dropping_the_stream_stops_reading() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("big.parquet"), 200_000, 0);
    let files = FilesExtractor::open(dir.path()).unwrap();
    let spec = spec(&files, "big").await;
    let mut stream = files
        .extract(&spec, &ExtractOptions::with_batch_size(1000))
        .await
        .unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.num_rows(), 1000);
    drop(stream); // the reader thread sees the closed channel and stops
}

#[tokio::test]
async fn keys_and_modes_can_be_declared_per_table() {
    let files = FilesExtractor::new(
        FilesConfig::new(fixture("shop"))
            .with_primary_key("customers", ["id"])
            .with_write_mode("customers", etl_core::WriteMode::Merge),
    )
    .unwrap();
    let customers = spec(&files, "customers").await;
    assert_eq!(customers.primary_key(), ["id"]);
    assert_eq!(customers.mode(), etl_core::WriteMode::Merge);
    customers.validate().unwrap();
}

#[tokio::test]
async fn json_integers_past_64_bits_stay_exact() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("big.jsonl"),
        "{\"id\": 1, \"big\": 18446744073709551617, \"mixed\": 99999999999999999999, \"small\": 9007199254740993, \"nested\": {\"v\": 340282366920938463463374607431768211457}}\n\
         {\"id\": 2, \"big\": -12, \"mixed\": 0.5, \"small\": 1, \"nested\": {\"v\": 3}}\n",
    )
    .unwrap();
    let files = FilesExtractor::open(dir.path()).unwrap();
    let table = spec(&files, "big").await;
    assert_eq!(
        types(&table),
        [
            "id: Int64",
            "big: Decimal128(38, 0)",
            "mixed: Utf8",
            "small: Int64",
            "nested: Struct(\"v\": Utf8)"
        ]
    );
    let batches = extract(&files, "big", 10).await.unwrap();
    let text = pretty(&batches);
    assert!(text.contains("18446744073709551617"), "{text}");
    assert!(text.contains("99999999999999999999"), "{text}");
    assert!(text.contains("9007199254740993"), "{text}");
    assert!(text.contains("0.5"), "{text}");
    assert!(
        text.contains("340282366920938463463374607431768211457"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_pass_the_extractor_conformance_suite() {
    // CSV, TSV, JSON Lines and a folder of parts, and a Parquet file.
    let dir = tempfile::tempdir().unwrap();
    for name in ["customers.csv", "orders.jsonl", "products.tsv"] {
        std::fs::copy(fixture("shop").join(name), dir.path().join(name)).unwrap();
    }
    std::fs::create_dir(dir.path().join("events")).unwrap();
    for part in std::fs::read_dir(fixture("shop/events")).unwrap() {
        let part = part.unwrap().path();
        std::fs::copy(
            &part,
            dir.path().join("events").join(part.file_name().unwrap()),
        )
        .unwrap();
    }
    write_parquet(&dir.path().join("numbers.parquet"), 50, 0);
    let path = dir.path().to_owned();
    etl_testing::extractor::check_extractor(etl_testing::extractor::Subject::new(
        "files",
        move || FilesExtractor::open(&path).unwrap(),
    ))
    .await;
    // The same behind `Box<dyn DynExtractor>`, as chosen at run time.
    let path = dir.path().to_owned();
    etl_testing::extractor::check_extractor(etl_testing::extractor::Subject::new(
        "files, boxed",
        move || Box::new(FilesExtractor::open(&path).unwrap()) as etl_core::BoxedExtractor,
    ))
    .await;
}
