//! Files written by somebody else, loaded end to end into both warehouses:
//! names that collide in case or forge etl's own tables, tables whose first
//! rows are broken, columns empty for a long time, quoting that would merge
//! rows. Each bad table fails alone, naming itself; the others load.

use std::path::Path;

use etl::arrow::array::{Array, StringArray};
use etl::arrow::compute::{cast, concat_batches};
use etl::arrow::datatypes::DataType;
use etl::{
    AirtableConfig, AirtableExtractor, DuckDbWarehouse, ETLWorkflow, Error, FilesExtractor,
    SqliteWarehouse, Warehouse,
};
use etl_airtable_server::{AirtableServer, Base};

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) {
    std::fs::write(dir.join(name), contents).unwrap();
}

/// Runs the folder into `warehouse`; returns each table's error (None when it loaded).
async fn run<W: Warehouse>(dir: &Path, warehouse: W) -> (Vec<(String, Option<String>)>, W) {
    let workflow = ETLWorkflow::new(FilesExtractor::open(dir).unwrap(), warehouse);
    let report = match workflow.run().await {
        Ok(report) => report,
        Err(Error::TablesFailed { report, .. }) => *report,
        Err(other) => panic!("the run failed as a whole: {other}"),
    };
    let outcome = report
        .tables
        .iter()
        .map(|t| (t.table.clone(), t.error.clone()))
        .collect();
    (outcome, workflow.into_parts().1)
}

fn error_of<'a>(outcome: &'a [(String, Option<String>)], table: &str) -> &'a str {
    outcome
        .iter()
        .find(|(t, _)| t == table)
        .unwrap_or_else(|| panic!("no table {table:?} in {outcome:?}"))
        .1
        .as_deref()
        .unwrap_or_else(|| panic!("table {table:?} should have failed: {outcome:?}"))
}

fn loaded(outcome: &[(String, Option<String>)], table: &str) {
    let entry = outcome.iter().find(|(t, _)| t == table);
    assert!(
        matches!(entry, Some((_, None))),
        "table {table:?} should have loaded: {outcome:?}"
    );
}

/// Column `column` of `table` as text, in the warehouse's row order.
async fn texts<W: Warehouse>(warehouse: &W, table: &str, column: &str) -> Vec<Option<String>> {
    let batches = warehouse.read_table(table).await.unwrap();
    let batch = concat_batches(&batches[0].schema(), &batches).unwrap();
    let column = cast(batch.column_by_name(column).unwrap(), &DataType::Utf8).unwrap();
    let column = column.as_any().downcast_ref::<StringArray>().unwrap();
    (0..column.len())
        .map(|i| (!column.is_null(i)).then(|| column.value(i).to_owned()))
        .collect()
}

async fn both(check: impl AsyncFn(&Path, Box<dyn Fn() -> Warehouses>)) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let sqlite = dir.path().join("w.sqlite");
    let duckdb = dir.path().join("w.duckdb");
    check(
        &data,
        Box::new(move || Warehouses {
            sqlite: SqliteWarehouse::open(&sqlite).unwrap(),
            duckdb: DuckDbWarehouse::open(&duckdb).unwrap(),
        }),
    )
    .await;
}

struct Warehouses {
    sqlite: SqliteWarehouse,
    duckdb: DuckDbWarehouse,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_whose_names_differ_only_in_case_both_fail_and_the_rest_load() {
    both(async |data: &Path, open: Box<dyn Fn() -> Warehouses>| {
        write(data, "Orders.csv", "id\n1\n");
        write(data, "orders.csv", "id\n2\n");
        write(data, "users.csv", "id\n3\n");
        let w = open();
        let (sqlite, w_sqlite) = run(data, w.sqlite).await;
        let (duckdb, w_duckdb) = run(data, w.duckdb).await;
        for outcome in [&sqlite, &duckdb] {
            let upper = error_of(outcome, "Orders");
            assert!(
                upper.contains("\"Orders\"")
                    && upper.contains("\"orders\"")
                    && upper.contains("case"),
                "{upper}"
            );
            assert!(error_of(outcome, "orders").contains("\"Orders\""));
            loaded(outcome, "users");
        }
        assert_eq!(w_sqlite.table_names().await.unwrap(), ["users"]);
        assert_eq!(w_duckdb.table_names().await.unwrap(), ["users"]);
    })
    .await;
}

/// An Airtable base of `tables` (name, fields), one record in `Good`.
fn hostile_base(tables: &[(&str, &[&str])]) -> Base {
    let meta = serde_json::json!({
        "id": "appHostileBase001",
        "tables": tables.iter().enumerate().map(|(t, (name, fields))| serde_json::json!({
            "id": format!("tblHostile{t:06}"),
            "name": name,
            "primaryFieldId": format!("fldHostile{t:03}000"),
            "fields": fields.iter().enumerate().map(|(f, field)| serde_json::json!({
                "id": format!("fldHostile{t:03}{f:03}"),
                "name": field,
                "type": "singleLineText",
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let good = tables.iter().position(|(n, _)| *n == "Good").unwrap();
    let records = serde_json::json!({
        "table": format!("tblHostile{good:06}"),
        "records": [{"id": "recHostile000001", "createdTime": "2024-01-31T09:15:00.000Z",
                     "fields": {"Name": "kept"}}],
    });
    Base::from_json(&meta.to_string(), &[&records.to_string()]).unwrap()
}

/// Loads the base into a SQLite and a DuckDB warehouse; the reports of both runs.
async fn airtable_into_both(base: Base, snake_case: bool, good: &str) -> Vec<etl::LoadReport> {
    let server = AirtableServer::start(base).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let extractor = || {
        AirtableExtractor::new(
            AirtableConfig::new(server.token(), server.base_id())
                .with_api_url(server.url())
                .with_requests_per_second(None)
                .with_snake_case(snake_case),
        )
        .unwrap()
    };
    let sqlite = SqliteWarehouse::open(dir.path().join("w.sqlite")).unwrap();
    let duckdb = DuckDbWarehouse::open(dir.path().join("w.duckdb")).unwrap();
    let mut reports = Vec::new();
    for outcome in [
        ETLWorkflow::new(extractor(), sqlite.clone()).run().await,
        ETLWorkflow::new(extractor(), duckdb.clone()).run().await,
    ] {
        let err = outcome.expect_err("the hostile tables fail");
        reports.push(err.report().expect("a report").clone());
    }
    assert_eq!(sqlite.table_names().await.unwrap(), [good]);
    assert_eq!(duckdb.table_names().await.unwrap(), [good]);
    // Nothing else was written, the warehouses' own tables least of all.
    assert!(
        sqlite
            .loads()
            .await
            .unwrap()
            .iter()
            .all(|l| l.table == good)
    );
    assert!(
        duckdb
            .loads()
            .await
            .unwrap()
            .iter()
            .all(|l| l.table == good)
    );
    assert_eq!(sqlite.stored_cursor("x", "Orders").await.unwrap(), None);
    reports
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_airtable_base_cannot_forge_etls_tables_or_merge_two_into_one() {
    let base = hostile_base(&[
        ("_ETL_STATE", &["source", "table_name", "cursor"]),
        ("Orders", &["Name"]),
        ("orders", &["Name"]),
        ("Blank", &["Name", ""]),
        ("Good", &["Name"]),
    ]);
    for report in airtable_into_both(base, false, "Good").await {
        let error = |t: &str| {
            report
                .table(t)
                .and_then(|t| t.error.clone())
                .unwrap_or_default()
        };
        assert!(error("_ETL_STATE").contains("reserved"), "{report}");
        assert!(error("Orders").contains("\"orders\""), "{report}");
        assert!(error("orders").contains("\"Orders\""), "{report}");
        assert!(
            error("Blank").contains("column name must not be empty"),
            "{report}"
        );
        assert_eq!(report.table("Good").unwrap().rows, 1, "{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn airtable_fields_that_snake_case_to_one_fail_their_table_only() {
    let base = hostile_base(&[
        ("Twins", &["Name", "First Name", "first_name"]),
        ("Good", &["Name"]),
    ]);
    for report in airtable_into_both(base, true, "good").await {
        let twins = report
            .table("twins")
            .and_then(|t| t.error.clone())
            .unwrap_or_default();
        assert!(twins.contains("first_name"), "{report}");
        assert_eq!(report.table("good").unwrap().rows, 1, "{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_broken_in_its_first_rows_fails_alone() {
    both(async |data: &Path, open: Box<dyn Fn() -> Warehouses>| {
        write(data, "ragged.csv", "a,b\n1,2\n3\n");
        write(data, "latin1.csv", b"name\ncaf\xe9\n".as_slice());
        write(data, "unclosed.csv", "id,text\n1,\"never closed\n2,b\n");
        write(
            data,
            "deep.jsonl",
            format!("{}1{}\n", "[".repeat(300), "]".repeat(300)),
        );
        write(data, "good.csv", "id\n1\n2\n");
        let w = open();
        let (sqlite, _) = run(data, w.sqlite).await;
        let (duckdb, duckdb_w) = run(data, w.duckdb).await;
        for outcome in [&sqlite, &duckdb] {
            assert!(error_of(outcome, "ragged").contains("ragged.csv"));
            assert!(error_of(outcome, "latin1").contains("latin1.csv"));
            let unclosed = error_of(outcome, "unclosed");
            assert!(
                unclosed.contains("unclosed.csv, line 2") && unclosed.contains("never closed"),
                "{unclosed}"
            );
            assert!(error_of(outcome, "deep").contains("deep.jsonl"));
            loaded(outcome, "good");
        }
        assert_eq!(texts(&duckdb_w, "good", "id").await.len(), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_column_empty_in_the_whole_sample_still_loads_what_comes_later() {
    both(async |data: &Path, open: Box<dyn Fn() -> Warehouses>| {
        let mut csv = String::from("id,note,price\n");
        for i in 0..10_500 {
            if i < 10_000 {
                csv.push_str(&format!("{i},,\n"));
            } else {
                csv.push_str(&format!("{i},late {i},{i}.5\n"));
            }
        }
        write(data, "late.csv", csv);
        let w = open();
        let (sqlite, sqlite_w) = run(data, w.sqlite).await;
        let (duckdb, duckdb_w) = run(data, w.duckdb).await;
        loaded(&sqlite, "late");
        loaded(&duckdb, "late");
        for notes in [
            texts(&sqlite_w, "late", "note").await,
            texts(&duckdb_w, "late", "note").await,
        ] {
            let filled: Vec<_> = notes.iter().flatten().collect();
            assert_eq!(filled.len(), 500, "every later value loads");
            assert!(filled.contains(&&"late 10499".to_owned()));
        }
        let prices = texts(&duckdb_w, "late", "price").await;
        assert!(
            prices.contains(&Some("10000.5".into())),
            "typed from the values after the sample"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quoting_loads_as_written_or_fails_naming_the_line() {
    both(async |data: &Path, open: Box<dyn Fn() -> Warehouses>| {
        // TSV has no quoting: each quote is part of its field.
        write(
            data,
            "quotes.tsv",
            "id\ttext\n1\t\"quoted\"\n2\t\"opens\n3\tin \"the\" middle\n4\t\"a\"b\n",
        );
        // CSV: text after a closing quote would be glued on silently.
        write(data, "glued.csv", "id,text\n1,ok\n2,\"ab\"cd\n3,x\n");
        // CSV: a well-quoted file with a newline, a comma and a doubled quote.
        write(
            data,
            "fine.csv",
            "id,text\n1,\"a, \"\"b\"\"\nc\"\n2,plain\n",
        );
        let w = open();
        let (sqlite, sqlite_w) = run(data, w.sqlite).await;
        let (duckdb, duckdb_w) = run(data, w.duckdb).await;
        for outcome in [&sqlite, &duckdb] {
            loaded(outcome, "quotes");
            loaded(outcome, "fine");
            let glued = error_of(outcome, "glued");
            assert!(
                glued.contains("glued.csv, line 3") && glued.contains("closing quote"),
                "{glued}"
            );
        }
        for w in [&sqlite_w as &dyn TextsOf, &duckdb_w] {
            let mut quotes = w.texts_of("quotes", "text").await;
            quotes.sort();
            assert_eq!(
                quotes,
                [
                    Some("\"a\"b".to_owned()),
                    Some("\"opens".to_owned()),
                    Some("\"quoted\"".to_owned()),
                    Some("in \"the\" middle".to_owned()),
                ]
            );
            let mut fine = w.texts_of("fine", "text").await;
            fine.sort();
            assert_eq!(
                fine,
                [Some("a, \"b\"\nc".to_owned()), Some("plain".to_owned())]
            );
        }
    })
    .await;
}

/// [`texts`] behind a trait object, to loop over both warehouses.
trait TextsOf {
    fn texts_of<'a>(
        &'a self,
        table: &'a str,
        column: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Vec<Option<String>>> + 'a>>;
}

impl<W: Warehouse> TextsOf for W {
    fn texts_of<'a>(
        &'a self,
        table: &'a str,
        column: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Vec<Option<String>>> + 'a>> {
        Box::pin(texts(self, table, column))
    }
}
