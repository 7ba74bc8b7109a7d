//! The `etl` binary driven as a user drives it, on the example pipelines of
//! `examples/pipelines/`: each runs end to end into real warehouse files,
//! the Airtable and REST ones against the servers their headers say to
//! start (`cargo run --example sync_airtable -- --serve`, `sync_http --
//! --serve`), started here the same way. Each test works on a copy of
//! `examples/` in a folder of its own, so nothing is written into the
//! checkout.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use etl::StepStatus;
use etl::state::{RunRecord, SqliteStore};
use serde_json::Value;

use crate::{exits, manifest_dir, text};

fn etl_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_etl"))
}

/// A folder holding a copy of `examples/pipelines`, `examples/data` and
/// `examples/api`, laid out as in the checkout.
struct Examples {
    dir: tempfile::TempDir,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if !entry
            .path()
            .extension()
            .is_some_and(|e| e == "duckdb" || e == "sqlite" || e == "wal")
        {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

impl Examples {
    fn new() -> Examples {
        let dir = tempfile::tempdir().unwrap();
        for part in ["pipelines", "data", "api"] {
            copy_dir(
                &manifest_dir().join("examples").join(part),
                &dir.path().join(part),
            );
        }
        Examples { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `etl ARGS` in this folder, with only `env` of the variables the
    /// pipelines read.
    fn etl(&self, args: &[&str], env: &[(String, String)]) -> Output {
        let mut command = std::process::Command::new(etl_bin());
        command
            .current_dir(self.dir.path())
            .args(args)
            .env_remove("ETL_STATE")
            .env_remove("ETL_OUTPUTS")
            .env_remove("RUST_LOG");
        for var in [
            "AIRTABLE_TOKEN",
            "AIRTABLE_BASE_ID",
            "AIRTABLE_API_URL",
            "USERS_API_URL",
            "USERS_API_TOKEN",
            "PG_URL",
            "PGPASSWORD",
        ] {
            command.env_remove(var);
        }
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let mut command = assert_cmd::Command::from_std(command);
        command.timeout(Duration::from_secs(180));
        tokio::task::block_in_place(|| command.output().unwrap())
    }

    fn store(&self) -> SqliteStore {
        SqliteStore::open(self.path("etl-state.sqlite")).unwrap()
    }
}

fn duckdb_rows(path: &Path, sql: &str) -> Vec<Vec<String>> {
    let conn = duckdb::Connection::open(path).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let mut rows = stmt.query([]).unwrap();
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        let n = row.as_ref().column_count();
        out.push(
            (0..n)
                .map(|i| match row.get_ref(i).unwrap() {
                    duckdb::types::ValueRef::Null => "NULL".to_owned(),
                    v => format!("{:?}", v.to_owned()),
                })
                .collect(),
        );
    }
    out
}

fn sqlite_count(path: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
        r.get(0)
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_files_pipeline_is_checked_planned_and_run_into_duckdb() {
    let ex = Examples::new();
    let file = "pipelines/files_to_duckdb.toml";
    let warehouse = ex.path("pipelines/shop.duckdb");

    let (out, _) = exits(&ex.etl(&["check", file], &[]), 0);
    assert!(out.contains("ok (2 steps; 1 SQL step planned)"), "{out}");
    assert!(!warehouse.exists(), "check moves no data");

    let (plan, _) = exits(&ex.etl(&["plan", file], &[]), 0);
    insta::assert_snapshot!("files_pipeline_plan", plan);

    let (out, err) = exits(&ex.etl(&["run", file], &[]), 0);
    assert!(
        out.contains("load") && out.contains("revenue_by_country"),
        "{out}\n{err}"
    );
    let revenue = duckdb_rows(
        &warehouse,
        "SELECT country, orders, revenue FROM revenue_by_country ORDER BY country",
    );
    assert_eq!(
        revenue,
        [
            ["Text(\"FR\")", "BigInt(1)", "Double(27.0)"],
            ["Text(\"GB\")", "BigInt(1)", "Double(31.5)"],
            ["Text(\"US\")", "BigInt(1)", "Double(12.0)"],
        ],
        "order 1003 (total 0) is under min_total's default, 1"
    );
    assert_eq!(
        duckdb_rows(&warehouse, "SELECT count(*) FROM customers"),
        [["BigInt(5)"]]
    );
    // Only the tables the step names were loaded.
    let tables = duckdb_rows(
        &warehouse,
        "SELECT table_name FROM information_schema.tables WHERE table_name NOT LIKE '\\_etl%' ESCAPE '\\' ORDER BY 1",
    );
    assert_eq!(
        tables,
        [
            ["Text(\"customers\")"],
            ["Text(\"orders\")"],
            ["Text(\"products\")"],
            ["Text(\"revenue_by_country\")"]
        ]
    );

    // A parameter given on the command line, checked against its type.
    exits(&ex.etl(&["run", file, "--param", "min_total=20"], &[]), 0);
    assert_eq!(
        duckdb_rows(
            &warehouse,
            "SELECT country FROM revenue_by_country ORDER BY 1"
        ),
        [["Text(\"FR\")"], ["Text(\"GB\")"]]
    );
    let (_, err) = exits(
        &ex.etl(&["check", file, "--param", "min_total=lots"], &[]),
        1,
    );
    assert!(
        err.contains("parameter \"min_total\": \"lots\" is not a whole number"),
        "{err}"
    );
    let (_, err) = exits(&ex.etl(&["run", file, "--param", "min_total=lots"], &[]), 2);
    assert!(
        err.contains("parameter \"min_total\": \"lots\" is not a whole number"),
        "{err}"
    );

    // Every run recorded, as for a Rust workflow.
    let runs = ex.store().runs("files_to_duckdb", 10).unwrap();
    assert_eq!(runs.len(), 2, "the refused run was never started");
    assert!(runs.iter().all(|r| r.status == StepStatus::Succeeded));
    let (history, _) = exits(&ex.etl(&["history", file], &[]), 0);
    assert!(history.contains("SUCCEEDED"), "{history}");
    let (graph, _) = exits(&ex.etl(&["graph", file], &[]), 0);
    assert!(
        graph.contains("load") && graph.contains("revenue_by_country"),
        "{graph}"
    );
}

/// Starts an example with `--serve` and reads the `export …` line it
/// prints: the variables that point a client at it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_files_pipeline_loads_into_postgres_checked_online_first() {
    let ex = Examples::new();
    let file = "pipelines/files_to_postgres.toml";
    let url = etl_testing::postgres::shared().database().await;
    let env = [("PG_URL".to_owned(), url.clone())];

    // Unset, the URL is named; offline, the server is not asked.
    let (_, err) = exits(&ex.etl(&["check", file], &[]), 1);
    assert!(
        err.contains("the environment variable PG_URL is not set"),
        "{err}"
    );
    let (out, _) = exits(&ex.etl(&["check", file], &env), 0);
    assert!(out.contains("checked, with --online"), "{out}");
    // Online, a wrong password is a problem at the warehouse, redacted.
    let password = etl_testing::postgres::PASSWORD;
    let wrong = [(
        "PG_URL".to_owned(),
        url.replace(password, "not-the-password"),
    )];
    let (_, err) = exits(&ex.etl(&["check", "--online", file], &wrong), 1);
    assert!(err.contains("warehouses.pg: "), "{err}");
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");
    let (out, _) = exits(&ex.etl(&["check", "--online", file], &env), 0);
    assert!(out.contains("ok (2 steps; 1 SQL step planned)"), "{out}");

    let (_, err) = exits(&ex.etl(&["run", file], &env), 0);
    assert!(!err.contains(password), "{err}");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT country, orders::text, revenue::text FROM shop.revenue_by_country ORDER BY country",
            &[],
        )
        .await
        .unwrap();
    let rows: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        rows,
        [
            ("FR".into(), "1".into(), "27".into()),
            ("GB".into(), "2".into(), "31.5".into()),
            ("US".into(), "1".into(), "12".into()),
        ]
    );
    let customers: i64 = client
        .query_one("SELECT count(*) FROM shop.customers", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(customers, 5);
    // A second run replaces, and both are recorded beside the tables.
    exits(&ex.etl(&["run", file], &env), 0);
    let loads: i64 = client
        .query_one(
            "SELECT count(*) FROM shop._etl_loads WHERE table_name = 'customers' AND status = 'SUCCEEDED'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(loads, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_schema_is_seeded_by_the_example_and_copied_into_duckdb() {
    let ex = Examples::new();
    let url = etl_testing::postgres::shared().database().await;
    let password = etl_testing::postgres::PASSWORD;
    // The example, as its header says: seed schema shop, then copy it.
    let output = tokio::task::block_in_place(|| {
        std::process::Command::new(crate::example("pg_to_duckdb"))
            .current_dir(ex.dir.path())
            .args(["--seed", "--out", "example.duckdb"])
            .env("PG_URL", &url)
            .env("CARGO_MANIFEST_DIR", manifest_dir())
            .output()
            .unwrap()
    });
    let (out, err) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{out}\n{err}");
    assert!(
        !out.contains(password) && !err.contains(password),
        "{out}\n{err}"
    );
    assert!(out.contains("seeded schema \"shop\""), "{out}");
    let copied = ex.path("example.duckdb");
    assert_eq!(
        duckdb_rows(&copied, "SELECT count(*) FROM customers"),
        [["BigInt(5)"]]
    );
    let lines = std::fs::read_to_string(ex.path("data/orders.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    assert_eq!(
        duckdb_rows(&copied, "SELECT count(*) FROM orders"),
        [[format!("BigInt({lines})")]]
    );

    // The pipeline file: the tables, the query, and orders incrementally.
    let file = "pipelines/pg_to_duckdb.toml";
    let env = [("PG_URL".to_owned(), url.clone())];
    let (out, _) = exits(&ex.etl(&["check", "--online", file], &env), 0);
    assert!(out.contains("ok"), "{out}");
    exits(&ex.etl(&["run", file], &env), 0);
    let warehouse = ex.path("pipelines/pg_copy.duckdb");
    let orders = |w: &Path| duckdb_rows(w, "SELECT count(*) FROM orders");
    let first = orders(&warehouse);
    assert_eq!(
        duckdb_rows(&warehouse, "SELECT count(*) FROM big_orders"),
        duckdb_rows(&copied, "SELECT count(*) FROM orders WHERE total >= 10")
    );
    // A new order in PostgreSQL: the next run reads only it.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(
            "INSERT INTO shop.orders (order_id, customer_id, total) VALUES (99999, 1, 5); \
             UPDATE shop.orders SET total = -1 WHERE order_id = 1001",
        )
        .await
        .unwrap();
    exits(&ex.etl(&["run", file], &env), 0);
    let second = orders(&warehouse);
    assert_ne!(first, second);
    assert_eq!(
        duckdb_rows(
            &warehouse,
            "SELECT CAST(total AS VARCHAR) FROM orders WHERE order_id IN (1001, 99999) ORDER BY order_id"
        ),
        [["Text(\"31.5\")"], ["Text(\"5.0\")"]],
        "order 1001 changed below the cursor: not read again"
    );
    let loads: i64 = client
        .query_one("SELECT count(*) FROM shop._etl_loads", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        loads >= 5,
        "the seed's loads are recorded in PostgreSQL: {loads}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_the_reader_does_not_know_is_opened_through_the_registry() {
    let ex = Examples::new();
    // A SQLite file as a source: a kind registered by its connector alone.
    let seed = etl::SqliteWarehouse::open(ex.path("pipelines/src.sqlite")).unwrap();
    etl::ETLWorkflow::new(etl::FilesExtractor::open(ex.path("data")).unwrap(), seed)
        .run()
        .await
        .unwrap();
    let file = ex.path("pipelines/copy.toml");
    let write = |text: &str| std::fs::write(&file, text).unwrap();
    let good = r#"name = "copy"
[sources.old]
sqlite = { path = "src.sqlite", tables = ["customers", "products"] }
[warehouses.new]
duckdb = { path = "copy.duckdb" }
[[steps]]
name = "copy"
source = "old"
warehouse = "new"
"#;
    write(good);
    let (out, _) = exits(&ex.etl(&["check", "pipelines/copy.toml"], &[]), 0);
    assert!(out.contains("ok"), "{out}");
    exits(&ex.etl(&["run", "pipelines/copy.toml"], &[]), 0);
    assert_eq!(
        duckdb_rows(
            &ex.path("pipelines/copy.duckdb"),
            "SELECT count(*) FROM customers"
        ),
        [["BigInt(5)"]]
    );
    assert_eq!(
        duckdb_rows(
            &ex.path("pipelines/copy.duckdb"),
            "SELECT table_name FROM information_schema.tables WHERE table_name NOT LIKE '\\_etl%' ESCAPE '\\' ORDER BY 1"
        ),
        [["Text(\"customers\")"], ["Text(\"products\")"]],
        "only the tables the source chose"
    );
    // Its configuration's own errors, at the source's line.
    write(&good.replace("tables = [", "colour = \"red\", tables = ["));
    let (_, err) = exits(&ex.etl(&["check", "pipelines/copy.toml"], &[]), 1);
    let column = good.lines().nth(2).unwrap().find("tables").unwrap() + 1;
    assert!(
        err.contains(&format!("pipelines/copy.toml:3:{column}: sources.old: "))
            && err.contains("unknown field `colour`"),
        "the unknown key, at its line and column: {err}"
    );
    write(&good.replace("\"products\"]", "7]"));
    let (_, err) = exits(&ex.etl(&["check", "pipelines/copy.toml"], &[]), 1);
    let column = good.lines().nth(2).unwrap().find("\"products\"").unwrap() + 1;
    assert!(
        err.contains(&format!("pipelines/copy.toml:3:{column}: "))
            && err.contains("sources.old.sqlite.tables[1]: invalid type: integer `7`"),
        "the value at fault, at its line and column: {err}"
    );
    // A run's parameter is never in a registered kind's table.
    write(&good.replace(
        "path = \"src.sqlite\"",
        "path = \"${params.file}\"",
    ).replace("name = \"copy\"\n[sources", "name = \"copy\"\n[params.file]\ntype = \"string\"\ndefault = \"src.sqlite\"\n[sources"));
    // (A file that does not read exits 2; one that reads, with problems, 1.)
    let (_, err) = exits(&ex.etl(&["check", "pipelines/copy.toml"], &[]), 2);
    assert!(err.contains("never a run's parameter"), "{err}");
    // A kind nobody registered: the registered ones are listed.
    write(&good.replace("sqlite = {", "mysql = {"));
    let (_, err) = exits(&ex.etl(&["check", "pipelines/copy.toml"], &[]), 2);
    assert!(
        err.contains("give one of `airtable`, `http`, `files`, `postgres`, `duckdb`, `sqlite`"),
        "{err}"
    );
}

fn serve_example(name: &str) -> (Child, Vec<(String, String)>) {
    let mut child = std::process::Command::new(crate::example(name))
        .arg("--serve")
        .env_remove("AIRTABLE_TOKEN")
        .env_remove("AIRTABLE_BASE_ID")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let export = loop {
        match lines.next() {
            Some(Ok(line)) if line.starts_with("export ") => break line,
            Some(Ok(_)) => continue,
            other => {
                let _ = child.kill();
                panic!("{name} --serve printed no `export` line: {other:?}");
            }
        }
    };
    let vars = export
        .trim_start_matches("export ")
        .split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    (child, vars)
}

/// A process killed when dropped (a test that fails leaves none behind),
/// or stopped as a service manager stops it.
struct Killed(Option<Child>);

impl Killed {
    fn new(child: Child) -> Killed {
        Killed(Some(child))
    }

    /// SIGTERM; it must then exit 0. What it said on stderr.
    fn stop(mut self) -> String {
        let child = self.0.take().expect("running");
        std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let out = tokio::task::block_in_place(|| child.wait_with_output().unwrap());
        let err = text(&out.stderr);
        assert!(out.status.success(), "{err}");
        err
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Examples {
    /// The runs of `workflow` once `n` of them have ended (60 s at most).
    async fn ended(&self, workflow: &str, n: usize) -> Vec<RunRecord> {
        let start = std::time::Instant::now();
        loop {
            let runs = self.store().runs(workflow, 100).unwrap_or_default();
            if runs.iter().filter(|r| r.finished_at.is_some()).count() >= n {
                return runs;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{n} runs of {workflow} did not end in 60 s: {runs:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_airtable_pipeline_runs_against_the_sample_base_the_example_serves() {
    let ex = Examples::new();
    let (child, env) = serve_example("sync_airtable");
    let _server = Killed::new(child);
    let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["AIRTABLE_API_URL", "AIRTABLE_BASE_ID", "AIRTABLE_TOKEN"]
    );
    let token = env[2].1.clone();
    let file = "pipelines/airtable.toml";

    let (out, err) = exits(&ex.etl(&["check", file, "--online"], &env), 0);
    assert!(out.contains("1 SQL step planned"), "{out}\n{err}");

    let (out, err) = exits(&ex.etl(&["run", file], &env), 0);
    let warehouse = ex.path("pipelines/airtable.sqlite");
    assert_eq!(sqlite_count(&warehouse, "Customers"), 400);
    assert_eq!(sqlite_count(&warehouse, "Products"), 250);
    assert_eq!(sqlite_count(&warehouse, "Orders"), 2000);
    let conn = rusqlite::Connection::open(&warehouse).unwrap();
    let (statuses, orders): (i64, i64) = conn
        .query_row(
            "SELECT count(*), sum(orders) FROM orders_by_status",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(statuses > 1, "{statuses}");
    assert_eq!(orders, 2000, "every order counted once");

    // The token went to the API and nowhere else.
    let store = std::fs::read(ex.path("etl-state.sqlite")).unwrap();
    for (what, bytes) in [
        ("stdout", out.as_bytes()),
        ("stderr", err.as_bytes()),
        ("the state store", &store),
    ] {
        assert!(
            !String::from_utf8_lossy(bytes).contains(&token),
            "the token is in {what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_pipeline_runs_against_the_api_the_example_serves() {
    let ex = Examples::new();
    let (child, env) = serve_example("sync_http");
    let _server = Killed::new(child);
    let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["USERS_API_URL", "USERS_API_TOKEN"]);
    let file = "pipelines/rest.toml";
    let warehouse = ex.path("pipelines/users.duckdb");

    let (out, err) = exits(&ex.etl(&["check", file, "--online"], &env), 0);
    assert!(
        out.contains("ok (1 step; 0 SQL steps planned)"),
        "{out}\n{err}"
    );
    let (plan, _) = exits(&ex.etl(&["plan", file], &env), 0);
    assert!(
        plan.contains(
            "load http source \"users_api\" into warehouse \"dwh\" (merge on each table's key)"
        ),
        "{plan}"
    );
    exits(&ex.etl(&["run", file], &env), 0);
    assert_eq!(
        duckdb_rows(&warehouse, "SELECT count(*), count(DISTINCT id) FROM users"),
        [["BigInt(120)", "BigInt(120)"]]
    );
    assert_eq!(
        duckdb_rows(&warehouse, "SELECT count(*) FROM orders"),
        [["BigInt(120)"]]
    );
    // Again: incremental, merged on the keys, nothing doubled.
    exits(&ex.etl(&["run", file], &env), 0);
    assert_eq!(
        duckdb_rows(&warehouse, "SELECT count(*), count(DISTINCT id) FROM users"),
        [["BigInt(120)", "BigInt(120)"]]
    );
    assert_eq!(
        duckdb_rows(&warehouse, "SELECT count(*) FROM orders"),
        [["BigInt(120)"]]
    );

    // A wrong token: the load fails and says so, and the token sent is
    // never printed.
    let mut wrong = env.clone();
    wrong[1].1 = "not-the-token-4242".into();
    let (out, err) = exits(&ex.etl(&["check", file, "--online"], &wrong), 1);
    assert!(
        err.starts_with("pipelines/rest.toml:24:10: sources.users_api: ") && err.contains("401"),
        "{out}\n{err}"
    );
    assert!(!out.contains("not-the-token-4242") && !err.contains("not-the-token-4242"));
    let (out, err) = exits(&ex.etl(&["run", file], &wrong), 1);
    assert!(err.contains("401"), "{out}\n{err}");
    assert!(!out.contains("not-the-token-4242") && !err.contains("not-the-token-4242"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_on_a_column_the_source_does_not_have_before_any_data_moves() {
    let ex = Examples::new();
    let path = ex.path("pipelines/files_to_duckdb.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("sum(o.total)", "sum(o.totl)")).unwrap();
    let line = text.lines().position(|l| l.starts_with("sql = ")).unwrap() + 1;

    let (out, err) = exits(
        &ex.etl(&["check", "pipelines/files_to_duckdb.toml"], &[]),
        1,
    );
    assert!(
        err.starts_with(&format!(
            "pipelines/files_to_duckdb.toml:{line}:7: steps.revenue_by_country.sql: "
        )),
        "{out}\n{err}"
    );
    assert!(err.contains("totl"), "{err}");
    assert!(err.contains("has 1 problem"), "{err}");
    assert!(!ex.path("pipelines/shop.duckdb").exists(), "no data moved");

    // `run` checks what it can first too: nothing is loaded.
    let (_, err) = exits(&ex.etl(&["run", "pipelines/files_to_duckdb.toml"], &[]), 2);
    assert!(err.contains("totl"), "{err}");
    assert!(!ex.path("pipelines/shop.duckdb").exists(), "no data moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_airflow_export_of_a_pipeline_file_runs_under_the_harness() {
    let ex = Examples::new();
    let file = "pipelines/files_to_duckdb.toml";
    let bin = etl_bin();
    let (_, err) = exits(
        &ex.etl(
            &[
                "export",
                "airflow",
                file,
                "-o",
                "dag.py",
                "--bin",
                bin.to_str().unwrap(),
            ],
            &[],
        ),
        0,
    );
    assert!(
        err.contains("wrote dag.py: DAG \"files_to_duckdb\", 2 tasks"),
        "{err}"
    );
    let dag = std::fs::read_to_string(ex.path("dag.py")).unwrap();
    let absolute = ex.path(file).canonicalize().unwrap();
    assert!(
        dag.contains(&format!("ETL_FILE = \"{}\"", absolute.display())),
        "{dag}"
    );
    assert!(
        dag.contains("tz=\"Europe/Paris\""),
        "the file's zone: {dag}"
    );

    let run_id = "scheduled__2024-01-01T05:00:00+00:00";
    let harness = manifest_dir().join("tests/fixtures/airflow_harness.py");
    let output = tokio::task::block_in_place(|| {
        std::process::Command::new("python3")
            .arg(harness)
            .args(["3", "dag.py", run_id])
            .current_dir(ex.dir.path())
            .output()
            .expect("python3 runs the Airflow harness")
    });
    assert!(output.status.success(), "{}", text(&output.stderr));
    let result: Value = serde_json::from_str(&text(&output.stdout)).unwrap();
    assert_eq!(result["dag"]["dag_id"], "files_to_duckdb");
    assert_eq!(result["dag"]["schedule"], "0 6 * * *");
    assert_eq!(
        result["upstream"]["revenue_by_country"],
        serde_json::json!(["load"])
    );
    assert_eq!(result["tasks"]["load"]["retries"], 2);
    for task in ["load", "revenue_by_country"] {
        assert_eq!(result["ended"][task], 0, "{result}");
    }
    let run = ex.store().run(run_id).unwrap().unwrap();
    assert_eq!((run.status, run.succeeded), (StepStatus::Succeeded, 2));
    assert_eq!(
        duckdb_rows(
            &ex.path("pipelines/shop.duckdb"),
            "SELECT count(*) FROM revenue_by_country"
        ),
        [["BigInt(3)"]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_clear_error() {
    let ex = Examples::new();

    // A missing file.
    let (_, err) = exits(&ex.etl(&["run", "pipelines/nope.toml"], &[]), 2);
    assert!(
        err.contains("reading pipeline file pipelines/nope.toml"),
        "{err}"
    );

    // A file that never ends, or is too large, is refused by its size.
    for endless in ["/dev/zero", "big.toml"] {
        if endless == "big.toml" {
            std::fs::write(ex.path("big.toml"), "# x\n".repeat(300_000)).unwrap();
        }
        let (_, err) = exits(&ex.etl(&["check", endless], &[]), 2);
        assert!(
            err.contains("a pipeline file holds at most 1048576"),
            "{err}"
        );
    }

    // Text that is not TOML, at its place.
    std::fs::write(ex.path("bad.toml"), "name = \"x\"\n[steps\n").unwrap();
    let (_, err) = exits(&ex.etl(&["check", "bad.toml"], &[]), 2);
    assert!(err.starts_with("bad.toml:2:"), "{err}");
    assert!(err.contains("not TOML"), "{err}");

    // A file whose every section has a mistake: every problem at once.
    std::fs::copy(
        manifest_dir().join("etl-pipeline/tests/it/fixtures/broken.toml"),
        ex.path("broken.toml"),
    )
    .unwrap();
    let (_, err) = exits(&ex.etl(&["check", "broken.toml"], &[]), 2);
    let problems = err
        .lines()
        .filter(|l| l.starts_with("broken.toml:"))
        .count();
    assert!(problems >= 20, "{err}");
    assert!(err.contains(&format!("has {problems} problems")), "{err}");
    assert!(!err.contains("patSECRETSECRET"), "{err}");

    // An unset variable is named; a set one's value is never printed.
    let secret = "appSECRETbase0001";
    let env = [("AIRTABLE_BASE_ID".to_owned(), secret.to_owned())];
    let (out, err) = exits(&ex.etl(&["check", "pipelines/airtable.toml"], &env), 1);
    assert!(
        err.contains("the environment variable AIRTABLE_TOKEN is not set"),
        "{err}"
    );
    assert!(
        !err.contains(secret) && !out.contains(secret),
        "{out}\n{err}"
    );
    let (out, err) = exits(&ex.etl(&["run", "pipelines/airtable.toml"], &env), 2);
    assert!(err.contains("AIRTABLE_TOKEN is not set"), "{err}");
    assert!(
        !err.contains(secret) && !out.contains(secret),
        "{out}\n{err}"
    );
    assert!(!ex.path("pipelines/airtable.sqlite").exists());

    // A cycle, named whole.
    std::fs::write(
        ex.path("loop.toml"),
        r#"name = "loop"
[warehouses.w]
sqlite = { path = "w.sqlite" }
[[steps]]
name = "a"
sql = "SELECT 1 AS one"
table = "a"
warehouse = "w"
depends_on = ["b"]
[[steps]]
name = "b"
sql = "SELECT 1 AS one"
table = "b"
warehouse = "w"
depends_on = ["a"]
"#,
    )
    .unwrap();
    let (_, err) = exits(&ex.etl(&["run", "loop.toml"], &[]), 2);
    assert!(
        err.contains("loop.toml:5:8: steps: dependency cycle: a -> b -> a"),
        "{err}"
    );

    // What a file cannot say points to #[workflow].
    std::fs::write(
        ex.path("incremental.toml"),
        r#"name = "inc"
[sources.f]
files = { path = "data" }
[warehouses.w]
sqlite = { path = "w.sqlite" }
[[steps]]
name = "load"
source = "f"
warehouse = "w"
incremental = true
"#,
    )
    .unwrap();
    let (_, err) = exits(&ex.etl(&["check", "incremental.toml"], &[]), 2);
    assert!(err.contains("#[workflow]"), "{err}");

    // A run's parameters (which a webhook may give) never lead out of a
    // folder, nor say where credentials go.
    std::fs::write(
        ex.path("pipelines/by_folder.toml"),
        r#"name = "by_folder"
[params.folder]
default = "data"
[sources.f]
files = { path = "../${params.folder}" }
[warehouses.w]
sqlite = { path = "w-${params.folder}.sqlite" }
[[steps]]
name = "load"
source = "f"
warehouse = "w"
"#,
    )
    .unwrap();
    exits(&ex.etl(&["run", "pipelines/by_folder.toml"], &[]), 0);
    assert!(ex.path("pipelines/w-data.sqlite").exists());
    for hostile in ["..", "../..", "data/../..", "/etc", "a\\b"] {
        let param = format!("folder={hostile}");
        let (_, err) = exits(
            &ex.etl(&["run", "pipelines/by_folder.toml", "--param", &param], &[]),
            2,
        );
        assert!(
            err.contains("in a path a parameter is one name"),
            "{hostile}: {err}"
        );
    }
    std::fs::write(
        ex.path("elsewhere.toml"),
        r#"name = "elsewhere"
[params.api]
default = "https://api.airtable.com"
[sources.base]
airtable = { base = "app1", token = "${AIRTABLE_TOKEN}", api_url = "${params.api}" }
[sources.rest.http]
base_url = "${params.api}/v1"
follow_hosts = ["${params.api}"]
[warehouses.w]
sqlite = { path = "w.sqlite" }
[[steps]]
name = "load"
source = "base"
warehouse = "w"
"#,
    )
    .unwrap();
    let (_, err) = exits(&ex.etl(&["check", "elsewhere.toml"], &[]), 2);
    assert_eq!(
        err.matches("where credentials are sent is never a run's parameter")
            .count(),
        3,
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parameter_in_sql_is_a_literal_never_sql() {
    let ex = Examples::new();
    std::fs::write(
        ex.path("pipelines/by_country.toml"),
        r#"name = "by_country"
[params.country]
type = "string"
default = "GB"
[params.since]
type = "date"
default = "2024-03-02"
[sources.data]
files = { path = "../data" }
[warehouses.w]
duckdb = { path = "w.duckdb" }
[[steps]]
name = "load"
source = "data"
warehouse = "w"
tables = ["customers", "orders"]
[[steps]]
name = "picked"
sql = """
SELECT c.name, o.order_id FROM orders o JOIN customers c ON c.id = o.customer_id
WHERE c.country = ${params.country} AND CAST(o.ordered_at AS DATE) >= ${params.since}
ORDER BY o.order_id
"""
table = "picked"
warehouse = "w"
depends_on = ["load"]
"#,
    )
    .unwrap();
    let file = "pipelines/by_country.toml";
    let warehouse = ex.path("pipelines/w.duckdb");
    let picked = || duckdb_rows(&warehouse, "SELECT name, order_id FROM picked");

    exits(&ex.etl(&["run", file], &[]), 0);
    assert_eq!(picked(), [["Text(\"Ada Lovelace\")", "BigInt(1003)"]]);
    exits(
        &ex.etl(
            &[
                "run",
                file,
                "--param",
                "country=US",
                "--param",
                "since=2024-01-01",
            ],
            &[],
        ),
        0,
    );
    assert_eq!(picked(), [["Text(\"Grace Hopper\")", "BigInt(1002)"]]);
    // A value that would be SQL, written into the query, is a string.
    exits(
        &ex.etl(&["run", file, "--param", "country=GB' OR 'a'='a"], &[]),
        0,
    );
    assert_eq!(picked(), Vec::<Vec<String>>::new());
    let (_, err) = exits(
        &ex.etl(
            &["run", file, "--param", "since=2024-03-02' OR true --"],
            &[],
        ),
        2,
    );
    assert!(err.contains("not a date (YYYY-MM-DD)"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_pipeline_run_is_run_by_a_worker_and_a_failed_one_resumed() {
    let ex = Examples::new();
    let file = "pipelines/files_to_duckdb.toml";

    // Queued, then run by a worker reading the same file.
    let (out, err) = exits(&ex.etl(&["run", file, "--queue"], &[]), 0);
    let queued = out.trim().to_owned();
    assert!(!queued.is_empty(), "{err}");
    let worker = Killed::new(
        std::process::Command::new(etl_bin())
            .current_dir(ex.dir.path())
            .args(["worker", file])
            .env_remove("ETL_STATE")
            .env_remove("ETL_OUTPUTS")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let done = ex.ended("files_to_duckdb", 1).await.remove(0);
    worker.stop();
    assert_eq!(done.run_id, queued);
    assert_eq!((done.status, done.succeeded), (StepStatus::Succeeded, 2));

    // A SQL step that plans but fails on the data: the run fails at it,
    // the load's output kept.
    let path = ex.path(file);
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        good.replace(
            "sum(o.total) AS revenue",
            "sum(CAST(c.name AS BIGINT)) AS revenue",
        ),
    )
    .unwrap();
    let (_, err) = exits(&ex.etl(&["run", file], &[]), 1);
    assert!(err.contains("revenue_by_country"), "{err}");
    let failed = ex.store().runs("files_to_duckdb", 1).unwrap().remove(0);
    assert_eq!(failed.status, StepStatus::Failed);

    // Mended, then resumed: only the failed step runs again.
    let warehouse = ex.path("pipelines/shop.duckdb");
    let loads = || {
        duckdb_rows(
            &warehouse,
            "SELECT count(*) FROM _etl_loads WHERE table_name = 'customers'",
        )
    };
    let before = loads();
    std::fs::write(&path, &good).unwrap();
    let (out, err) = exits(&ex.etl(&["resume", file, &failed.run_id], &[]), 0);
    assert!(out.contains("SUCCEEDED"), "{out}\n{err}");
    let steps = ex.store().steps(&failed.run_id).unwrap();
    assert!(
        steps.iter().all(|s| s.status == StepStatus::Succeeded),
        "{steps:?}"
    );
    // The SQL step wrote its table once more; no table was loaded again.
    assert_eq!(
        duckdb_rows(&warehouse, "SELECT count(*) FROM revenue_by_country"),
        [["BigInt(3)"]]
    );
    assert_eq!(loads(), before, "the load was not run again");
}

/// `etl serve FILE`: the file's workflow registered with the store, a run
/// started through the API with a parameter, run by `etl worker FILE`.
#[cfg(feature = "server")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_served_pipeline_takes_runs_with_parameters_from_the_api() {
    const TOKEN: &str = "pipeline-server-test-token";
    let ex = Examples::new();
    let file = "pipelines/by_country.toml";
    std::fs::write(
        ex.path(file),
        r#"name = "by_country"
[params.country]
default = "GB"
[sources.data]
files = { path = "../data" }
[warehouses.w]
duckdb = { path = "w.duckdb" }
[[steps]]
name = "load"
source = "data"
warehouse = "w"
tables = ["customers"]
[[steps]]
name = "picked"
sql = "SELECT name FROM customers WHERE country = ${params.country} ORDER BY name"
table = "picked"
warehouse = "w"
depends_on = ["load"]
"#,
    )
    .unwrap();
    let command = |args: &[&str]| {
        let mut c = std::process::Command::new(etl_bin());
        c.current_dir(ex.dir.path())
            .args(args)
            .env_remove("ETL_STATE")
            .env_remove("ETL_OUTPUTS")
            .env("ETL_SERVER_TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    let mut server = command(&["serve", file, "--bind", "127.0.0.1:0"])
        .spawn()
        .unwrap();
    let stderr = BufReader::new(server.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if let Some((_, rest)) = line.split_once(" on http://") {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
    });
    let server = Killed::new(server);
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("serve says its address");
    let client = reqwest::Client::new();
    let api = |path: &str| format!("http://{addr}{path}");

    let workflows: Value = serde_json::from_str(
        &client
            .get(api("/api/workflows"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(workflows[0]["name"], "by_country", "{workflows}");

    // A parameter that would be SQL, given through the API, stays a value.
    let mut ids = Vec::new();
    for country in ["US", "GB' OR 'a'='a"] {
        let response = client
            .post(api("/api/workflows/by_country/runs"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(serde_json::json!({ "params": { "country": country } }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let run: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        ids.push(run["run_id"].as_str().unwrap().to_owned());
    }
    let _worker = Killed::new(command(&["worker", file]).spawn().unwrap());
    ex.ended("by_country", 2).await;
    // The rows each run's SQL step wrote: both US customers, then none.
    for (id, rows) in ids.iter().zip([2, 0]) {
        let run = ex.store().run(id).unwrap().unwrap();
        assert_eq!(run.status, StepStatus::Succeeded, "{run:?}");
        let steps = ex.store().steps(id).unwrap();
        let picked = steps.iter().find(|s| s.step == "picked").unwrap();
        assert_eq!(picked.rows, Some(rows), "{:?}", run.params);
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_airtable_load_reads_only_what_changed_since_the_last_run() {
    let server = crate::airtable::server().await;
    let ex = Examples::new();
    let file = "pipelines/orders.toml";
    std::fs::write(
        ex.path(file),
        r#"name = "orders"
[sources.base]
airtable = { base = "${AIRTABLE_BASE_ID}", token = "${AIRTABLE_TOKEN}", api_url = "${AIRTABLE_API_URL}", tables = ["Orders"] }
[warehouses.w]
duckdb = { path = "orders.duckdb" }
[[steps]]
name = "load"
source = "base"
warehouse = "w"
incremental = true
"#,
    )
    .unwrap();
    let env = [
        ("AIRTABLE_TOKEN".to_owned(), server.token().to_owned()),
        ("AIRTABLE_BASE_ID".to_owned(), server.base_id()),
        ("AIRTABLE_API_URL".to_owned(), server.url()),
    ];
    let loaded = |run: &str| {
        let steps = ex.store().steps(run).unwrap();
        steps.iter().find(|s| s.step == "load").unwrap().rows
    };
    let newest = || ex.store().runs("orders", 1).unwrap().remove(0).run_id;
    let (plan, _) = exits(&ex.etl(&["plan", file], &env), 0);
    assert!(
        plan.contains("(merge on each record's id, incremental)"),
        "{plan}"
    );

    exits(&ex.etl(&["run", file], &env), 0);
    assert_eq!(loaded(&newest()), Some(2000));

    // Two edits and a new record: the next run reads those three, merged.
    let warehouse = ex.path("pipelines/orders.duckdb");
    let ids = duckdb_rows(
        &warehouse,
        "SELECT _airtable_id FROM \"Orders\" ORDER BY 1 LIMIT 2",
    );
    let mut fields = serde_json::Map::new();
    fields.insert("Gift note".into(), "edited".into());
    for id in &ids {
        let id = id[0].trim_start_matches("Text(\"").trim_end_matches("\")");
        assert!(server.update_record("Orders", id, fields.clone()), "{id}");
    }
    server.create_record("Orders", fields).unwrap();
    exits(&ex.etl(&["run", file], &env), 0);
    assert_eq!(loaded(&newest()), Some(3));
    assert_eq!(
        duckdb_rows(&warehouse, "SELECT count(*) FROM \"Orders\""),
        [["BigInt(2001)"]]
    );
}

/// `export prefect` of a pipeline file, run under a real Prefect 3: each
/// task runs `etl run FILE --step STEP` of one shared run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prefect_export_of_a_pipeline_file_runs_under_prefect_3() {
    let ex = Examples::new();
    let file = "pipelines/files_to_duckdb.toml";
    let bin = etl_bin();
    let (_, err) = exits(
        &ex.etl(
            &[
                "export",
                "prefect",
                file,
                "-o",
                "flow.py",
                "--bin",
                bin.to_str().unwrap(),
            ],
            &[],
        ),
        0,
    );
    assert!(err.contains("wrote flow.py"), "{err}");
    let flow = std::fs::read_to_string(ex.path("flow.py")).unwrap();
    let absolute = ex.path(file).canonicalize().unwrap();
    assert!(
        flow.contains(&format!("ETL_FILE = \"{}\"", absolute.display())),
        "{flow}"
    );

    let out = tokio::task::block_in_place(|| {
        std::process::Command::new(crate::queued_work::prefect_python())
            .arg("flow.py")
            .current_dir(ex.dir.path())
            .env_remove("ETL_STATE")
            .env_remove("ETL_OUTPUTS")
            .env("PREFECT_HOME", ex.path("prefect-home"))
            .env("DO_NOT_TRACK", "1")
            .env("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
            .env("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
            .output()
            .unwrap()
    });
    assert!(out.status.success(), "{}", text(&out.stderr));
    let runs = ex.store().runs("files_to_duckdb", 10).unwrap();
    assert_eq!(runs.len(), 1, "one flow run, one run: {runs:?}");
    assert_eq!(
        (runs[0].status, runs[0].trigger.as_str(), runs[0].succeeded),
        (StepStatus::Succeeded, "step", 2)
    );
    assert_eq!(
        duckdb_rows(
            &ex.path("pipelines/shop.duckdb"),
            "SELECT count(*) FROM revenue_by_country"
        ),
        [["BigInt(3)"]]
    );
}

/// `etl schedule FILE` on the file's own cron and zone, its stages run in
/// their order: each tick one run, the second transform after the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_is_scheduled_in_its_zone_and_its_stages_run_in_order() {
    let ex = Examples::new();
    let file = "pipelines/staged.toml";
    std::fs::write(
        ex.path(file),
        r#"name = "staged"
[schedule]
cron = "* * * * * *"
zone = "Asia/Tokyo"
[sources.data]
files = { path = "../data" }
[warehouses.w]
sqlite = { path = "staged.sqlite" }
[[steps]]
name = "load"
source = "data"
warehouse = "w"
tables = ["customers", "orders"]
[[steps]]
name = "first"
sql = "SELECT count(*) AS n FROM customers"
table = "first"
warehouse = "w"
[[steps]]
name = "second"
sql = "SELECT count(*) AS n FROM orders"
table = "second"
warehouse = "w"
[[stages]]
name = "extract"
steps = ["load"]
[[stages]]
name = "transform"
steps = ["first", "second"]
depends_on = ["extract"]
parallel = false
"#,
    )
    .unwrap();
    let (plan, _) = exits(&ex.etl(&["plan", file], &[]), 0);
    assert!(
        plan.contains("3. second: ") && plan.contains("after: load, first"),
        "{plan}"
    );

    let scheduler = Killed::new(
        std::process::Command::new(etl_bin())
            .current_dir(ex.dir.path())
            .args(["schedule", file])
            .env_remove("ETL_STATE")
            .env_remove("ETL_OUTPUTS")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    ex.ended("staged", 2).await;
    let err = scheduler.stop();
    assert!(
        err.contains("on \"* * * * * *\" (Asia/Tokyo)"),
        "the file's zone: {err}"
    );
    for run in ex.store().runs("staged", 10).unwrap() {
        assert_eq!(
            (run.status, run.trigger.as_str()),
            (StepStatus::Succeeded, "schedule"),
            "{run:?}"
        );
        let steps = ex.store().steps(&run.run_id).unwrap();
        let at = |name: &str| steps.iter().find(|s| s.step == name).unwrap().clone();
        let (load, first, second) = (at("load"), at("first"), at("second"));
        assert!(first.started_at >= load.finished_at, "{steps:?}");
        assert!(
            second.started_at >= first.finished_at,
            "not parallel: {steps:?}"
        );
    }
}
