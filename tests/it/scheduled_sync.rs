//! `examples/scheduled_sync.rs` driven as a user drives it: the built
//! binary, run in a folder of its own, reading a small Airtable base from a
//! local server this test serves, its runs recorded in a real state store.

use std::path::PathBuf;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use etl::StepStatus;
use etl::state::{RunRecord, SqliteStore};
use etl_airtable_server::{AirtableServer, Base, FailPage, Faults, ServerOptions};
use serde_json::Value;

use crate::{exits, manifest_dir, text};

/// The example, as `cargo test` builds it beside the test binaries.
fn bin() -> PathBuf {
    crate::example("scheduled_sync")
}

/// The sample base cut down to a page per table: a run takes about a second.
fn small_base() -> Base {
    let dir = manifest_dir().join("airtable-server/fixtures/sample_base");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let docs: Vec<String> = [
        ("customers.json", 20),
        ("products.json", 10),
        ("orders.json", 40),
    ]
    .into_iter()
    .map(|(file, keep)| {
        let mut doc: Value = serde_json::from_str(&read(file)).unwrap();
        doc["records"].as_array_mut().unwrap().truncate(keep);
        doc.to_string()
    })
    .collect();
    let docs: Vec<&str> = docs.iter().map(String::as_str).collect();
    Base::from_json(&read("meta.json"), &docs).unwrap()
}

struct Sync {
    server: AirtableServer,
    dir: tempfile::TempDir,
}

impl Sync {
    async fn start() -> Sync {
        // No limit on the server's side: the binary paces itself at
        // Airtable's 5 requests a second, but runs started back to back
        // could together cross it and wait out Airtable's 30 s penalty.
        let server = AirtableServer::start_with(
            small_base(),
            ServerOptions::default().with_rate_limit(None),
        )
        .await
        .unwrap();
        Sync {
            server,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// What points the binary at this test's base.
    fn airtable_env(&self) -> [(&'static str, String); 3] {
        [
            ("AIRTABLE_TOKEN", self.server.token().to_owned()),
            ("AIRTABLE_BASE_ID", self.server.base_id()),
            ("AIRTABLE_API_URL", self.server.url()),
        ]
    }

    /// The example, in this test's folder, reading this test's base.
    fn command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(bin());
        command
            .current_dir(self.dir.path())
            .envs(self.airtable_env())
            .env_remove("ETL_STATE")
            .env_remove("RUST_LOG");
        command
    }

    /// Runs the example with `args` to the end (the server keeps serving on
    /// the runtime's other thread).
    fn run(&self, args: &[&str]) -> Output {
        self.run_with(self.command(), args)
    }

    fn run_with(&self, command: std::process::Command, args: &[&str]) -> Output {
        let mut command = assert_cmd::Command::from_std(command);
        command.args(args).timeout(Duration::from_secs(120));
        tokio::task::block_in_place(|| command.output().unwrap())
    }

    /// `schedule` with `args`, started: its stderr is read by [`stop`],
    /// its stdout (each run's summary) dropped.
    fn schedule(&self, args: &[&str]) -> Child {
        self.command()
            .arg("schedule")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn store(&self) -> SqliteStore {
        SqliteStore::open(self.dir.path().join("etl-state.sqlite")).unwrap()
    }

    fn runs(&self) -> Vec<RunRecord> {
        self.store().runs("scheduled_sync", 100).unwrap()
    }

    fn warehouse_rows(&self, table: &str) -> i64 {
        let conn =
            rusqlite::Connection::open(self.dir.path().join("scheduled_sync.sqlite")).unwrap();
        conn.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
            r.get(0)
        })
        .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_then_history_show_list_and_graph() {
    let sync = Sync::start().await;
    let (out, err) = exits(&sync.run(&["run"]), 0);
    assert!(out.contains(": SUCCEEDED in"), "{out}");
    for line in [
        "customers  SUCCEEDED",
        "orders     SUCCEEDED",
        "load       SUCCEEDED",
    ] {
        assert!(out.contains(line), "{out}");
    }
    // Not a terminal: a plain line per status change.
    assert!(
        err.contains("orders RUNNING") && err.contains("orders SUCCEEDED, 40 rows"),
        "{err}"
    );
    assert_eq!(sync.warehouse_rows("Orders"), 40);

    let runs = sync.runs();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(
        (run.status, run.trigger.as_str()),
        (StepStatus::Succeeded, "run")
    );
    assert_eq!((run.steps, run.succeeded), (4, 4));
    assert!(!run.version.is_empty());

    let (history, _) = exits(&sync.run(&["history"]), 0);
    assert!(history.starts_with("run "), "{history}");
    assert!(
        history.contains(&format!("{}  SUCCEEDED  run", run.run_id)),
        "{history}"
    );

    let (show, _) = exits(&sync.run(&["show", &run.run_id]), 0);
    assert!(show.contains("status     SUCCEEDED"), "{show}");
    // Each step's output is saved with the run: Arrow for tables, JSON else.
    let outputs = sync.dir.path().join("runs").join(&run.run_id);
    for file in [
        "customers.arrow",
        "products.arrow",
        "orders.arrow",
        "load.json",
    ] {
        let path = outputs.join(file);
        assert!(path.exists(), "{} missing", path.display());
        assert!(show.contains(&path.display().to_string()), "{show}");
    }
    let steps = sync.store().steps(&run.run_id).unwrap();
    assert_eq!(steps[3].rows, Some(70), "load wrote 20 + 10 + 40 rows");

    let (list, _) = exits(&sync.run(&["list"]), 0);
    assert!(
        list.starts_with("workflow \"scheduled_sync\": 4 steps, schedule \"0 * * * *\""),
        "{list}"
    );
    assert!(
        list.contains("load       customers, products, orders"),
        "{list}"
    );
    let (graph, _) = exits(&sync.run(&["graph"]), 0);
    assert_eq!(
        graph,
        "flowchart LR\n    s0[\"customers\"]\n    s1[\"products\"]\n    s2[\"orders\"]\n    s3[\"load\"]\n    \
         s0 --> s3\n    s1 --> s3\n    s2 --> s3\n"
    );
    let (dot, _) = exits(&sync.run(&["graph", "--format", "dot"]), 0);
    assert!(
        dot.starts_with("digraph \"scheduled_sync\" {") && dot.contains("\"orders\" -> \"load\";"),
        "{dot}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_is_resumed_and_what_succeeded_is_reused() {
    let sync = Sync::start().await;
    // Airtable refuses the Orders table: every attempt fails.
    sync.server.set_faults(Faults {
        fail_page: Some(FailPage {
            table: Some("Orders".into()),
            page: 1,
            status: 403,
            times: None,
        }),
        ..Faults::default()
    });
    // With RUST_LOG, the runtime's tracing logs too: each retry is a warning.
    let mut logged = sync.command();
    logged.env("RUST_LOG", "warn");
    let (out, err) = exits(&sync.run_with(logged, &["run"]), 1);
    assert!(out.contains(": FAILED in"), "{out}");
    assert!(
        err.contains("WARN")
            && err.contains("step failed; retrying")
            && err.contains("step=\"orders\""),
        "{err}"
    );
    let run_id = sync.runs()[0].run_id.clone();
    let steps = sync.store().steps(&run_id).unwrap();
    let by_name = |name: &str| steps.iter().find(|s| s.step == name).unwrap().clone();
    assert_eq!(
        (by_name("orders").status, by_name("orders").attempts),
        (StepStatus::Failed, 3)
    );
    assert!(by_name("orders").error.unwrap().contains("HTTP 403"));
    assert_eq!(by_name("load").status, StepStatus::Skipped);
    assert_eq!(by_name("customers").status, StepStatus::Succeeded);

    // Airtable answers again: resume runs orders and load only.
    sync.server.set_faults(Faults::default());
    let requests_before = sync.server.stats().list_requests;
    let (out, err) = exits(&sync.run(&["resume", &run_id]), 0);
    assert!(
        err.contains("resuming run") && err.contains("load, orders"),
        "{err}"
    );
    assert!(out.contains(&format!("run {run_id}: SUCCEEDED")), "{out}");
    assert_eq!(
        sync.server.stats().list_requests - requests_before,
        1,
        "only Orders was read again"
    );
    let steps = sync.store().steps(&run_id).unwrap();
    let by_name = |name: &str| steps.iter().find(|s| s.step == name).unwrap().clone();
    assert_eq!(
        (by_name("orders").status, by_name("orders").attempts),
        (StepStatus::Succeeded, 4)
    );
    assert_eq!(by_name("customers").attempts, 1, "not run again");
    assert_eq!(by_name("load").status, StepStatus::Succeeded);
    // `show` lists each attempt of the step tried more than once: three
    // failed in the first run, the fourth, resumed, succeeded.
    let (show, _) = exits(&sync.run(&["show", &run_id]), 0);
    let attempts = show
        .split("\nattempts\n")
        .nth(1)
        .unwrap_or_else(|| panic!("an attempts table: {show}"));
    let lines: Vec<&str> = attempts.lines().skip(2).collect();
    assert_eq!(lines.len(), 4, "orders' attempts only: {show}");
    for (i, line) in lines.iter().enumerate() {
        let status = if i < 3 { "FAILED" } else { "SUCCEEDED" };
        assert!(
            line.starts_with("orders")
                && line.split_whitespace().nth(1) == Some(&*(i + 1).to_string())
                && line.contains(status),
            "attempt {}: {show}",
            i + 1
        );
    }
    assert!(lines[0].contains("HTTP 403"), "{show}");
    assert_eq!(sync.runs()[0].status, StepStatus::Succeeded);
    assert_eq!(sync.warehouse_rows("Customers"), 20);
    assert_eq!(sync.warehouse_rows("Orders"), 40);

    let (out, _) = exits(&sync.run(&["resume", &run_id]), 0);
    assert!(out.contains("nothing to resume"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_run_in_separate_processes_share_the_run() {
    let sync = Sync::start().await;
    for step in ["customers", "products", "orders"] {
        let (out, _) = exits(
            &sync.run(&[
                "run",
                "--step",
                step,
                "--run-id",
                "af-1",
                "--param",
                "day=2024-03-01",
            ]),
            0,
        );
        assert!(out.contains("(the run is RUNNING)"), "{out}");
    }
    let (out, _) = exits(&sync.run(&["run", "--step", "load", "--run-id", "af-1"]), 0);
    assert!(out.contains("(the run is SUCCEEDED)"), "{out}");
    let run = sync.store().run("af-1").unwrap().unwrap();
    assert_eq!(
        (run.status, run.trigger.as_str()),
        (StepStatus::Succeeded, "step")
    );
    assert_eq!(run.params["day"], "2024-03-01");
    assert_eq!(sync.warehouse_rows("Products"), 10);

    // A step whose inputs have not run in that run fails, saying so.
    let (_, err) = exits(&sync.run(&["run", "--step", "load", "--run-id", "af-2"]), 1);
    assert!(
        err.contains("input \"customers\" has not succeeded in run \"af-2\" (it is PENDING)"),
        "{err}"
    );
    assert_eq!(
        sync.store().run("af-2").unwrap().unwrap().status,
        StepStatus::Failed
    );
    // A parameter cannot change within a run.
    let (_, err) = exits(
        &sync.run(&[
            "run",
            "--step",
            "orders",
            "--run-id",
            "af-1",
            "--param",
            "day=2024-03-02",
        ]),
        2,
    );
    assert!(
        err.contains("run \"af-1\" has parameter day=2024-03-01, not 2024-03-02"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_of_some_steps_reuse_the_last_saved_outputs() {
    let sync = Sync::start().await;
    // Nothing saved yet: load cannot run alone.
    let (_, err) = exits(&sync.run(&["run", "--only", "load"]), 2);
    assert!(
        err.contains(
            "step \"load\" takes the output of step \"customers\", which no earlier run saved"
        ),
        "{err}"
    );
    exits(&sync.run(&["run"]), 0);
    let first = sync.runs()[0].run_id.clone();
    let (out, _) = exits(&sync.run(&["run", "--from", "load"]), 0);
    assert!(
        out.contains(&format!("not run: reused the output of run {first}")),
        "{out}"
    );
    let (out, _) = exits(&sync.run(&["run", "--only", "orders"]), 0);
    let run = &sync.runs()[0];
    assert_eq!((run.steps, run.succeeded), (1, 1), "{out}");
    assert!(out.contains("orders  SUCCEEDED         1    40"), "{out}");
    assert!(!out.contains("customers"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_clear_error() {
    let sync = Sync::start().await;
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "--only", "ordrs"],
            "workflow \"scheduled_sync\" has no step \"ordrs\"; its steps are: customers, products, orders, load",
        ),
        (
            &["run", "--step", "nope", "--run-id", "x"],
            "has no step \"nope\"",
        ),
        (&["show", "nope"], "no run \"nope\" in "),
        (&["resume", "nope"], "no run \"nope\" in "),
        (
            &["run", "--param", "day"],
            "--param takes KEY=VALUE, not \"day\"",
        ),
        (
            &["schedule", "--cron", "61 * * * *"],
            "cron \"61 * * * *\": minute field \"61\": 61 is out of range 0-59",
        ),
        (
            &["schedule", "--tz", "Mars/Olympus"],
            "unknown time zone \"Mars/Olympus\"",
        ),
        (
            &["--state", "/no/such/folder/state.sqlite", "history"],
            "state store /no/such/folder/state.sqlite",
        ),
    ];
    for (args, expected) in cases {
        let (_, err) = exits(&sync.run(args), 2);
        assert!(
            err.starts_with("error: ") && err.contains(expected),
            "{args:?}: {err}"
        );
    }
    // A usage mistake is clap's: exit status 2 too.
    let (_, err) = exits(&sync.run(&["run", "--step", "orders"]), 2);
    assert!(err.contains("--run-id"), "{err}");
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < timeout, "the process did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops a scheduler with SIGTERM, as a service manager would; what it said.
fn stop(mut scheduler: Child) -> String {
    signal(&scheduler, "TERM");
    let status = wait_exit(&mut scheduler, Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    text(&scheduler.wait_with_output().unwrap().stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_runs_each_tick_in_turn_and_stops_on_sigterm() {
    let sync = Sync::start().await;
    let child = sync.schedule(&["--cron", "* * * * * *", "--tz", "Europe/Paris"]);
    let err = tokio::task::block_in_place(|| {
        wait_for("three scheduled runs", Duration::from_secs(60), || {
            sync.runs()
                .iter()
                .filter(|r| r.status == StepStatus::Succeeded)
                .count()
                >= 3
        });
        stop(child)
    });
    assert!(
        err.contains("scheduling workflow \"scheduled_sync\" on \"* * * * * *\" (Europe/Paris)"),
        "{err}"
    );
    assert!(
        err.contains("schedule of workflow \"scheduled_sync\" stopped"),
        "{err}"
    );

    let mut runs = sync.runs();
    runs.reverse();
    assert!(runs.len() >= 3, "{runs:?}");
    for run in &runs {
        // Stopped after the running run: none is left running.
        assert_eq!(run.status, StepStatus::Succeeded, "{run:?}");
        assert_eq!(run.trigger, "schedule");
        assert!(run.scheduled_for.is_some());
    }
    // One at a time: each started after the one before had finished, for a later tick.
    for pair in runs.windows(2) {
        assert!(
            pair[1].started_at >= pair[0].finished_at.unwrap(),
            "{pair:?}"
        );
        assert!(pair[1].scheduled_for > pair[0].scheduled_for, "{pair:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_process_died_is_marked_abandoned() {
    let sync = Sync::start().await;
    // Airtable is slow enough that the run is still going when it is killed.
    sync.server.set_faults(Faults {
        delay: Some(Duration::from_secs(60)),
        ..Faults::default()
    });
    let mut child = sync
        .command()
        .arg("run")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::task::block_in_place(|| {
        wait_for("a running step", Duration::from_secs(30), || {
            let store = sync.store();
            store
                .runs("scheduled_sync", 1)
                .unwrap()
                .first()
                .is_some_and(|r| {
                    store
                        .steps(&r.run_id)
                        .unwrap()
                        .iter()
                        .any(|s| s.status == StepStatus::Running)
                })
        });
        child.kill().unwrap();
        child.wait().unwrap();
    });
    let (history, _) = exits(&sync.run(&["history"]), 0);
    let why = format!(
        "abandoned: the process running it (pid {}) ended without finishing it",
        child.id()
    );
    assert!(
        history.contains("FAILED") && history.contains(&why),
        "{history}"
    );
    let run = &sync.runs()[0];
    let steps = sync.store().steps(&run.run_id).unwrap();
    assert!(
        steps.iter().all(|s| s.status != StepStatus::Running),
        "{steps:?}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s.status == StepStatus::Failed && s.error.as_deref() == Some(why.as_str()))
    );
    assert_eq!(steps[3].status, StepStatus::Cancelled, "load never started");
}

/// The exported file, with this machine's paths replaced.
fn exported(sync: &Sync, extra: &[&str]) -> String {
    let bin = bin();
    let bin = bin.to_str().unwrap();
    let mut args = vec!["export", "airflow", "-o", "dag.py", "--bin", bin];
    args.extend_from_slice(extra);
    let (_, err) = exits(&sync.run(&args), 0);
    assert!(
        err.contains("wrote dag.py: DAG \"scheduled_sync\", 4 tasks"),
        "{err}"
    );
    std::fs::read_to_string(sync.dir.path().join("dag.py")).unwrap()
}

fn airflow(sync: &Sync, layout: &str, run_id: &str) -> Value {
    let harness = manifest_dir().join("tests/fixtures/airflow_harness.py");
    let output = tokio::task::block_in_place(|| {
        std::process::Command::new("python3")
            .arg(harness)
            .args([layout, "dag.py", run_id])
            .current_dir(sync.dir.path())
            .env("AIRTABLE_TOKEN", sync.server.token())
            .env("AIRTABLE_BASE_ID", sync.server.base_id())
            .env("AIRTABLE_API_URL", sync.server.url())
            // As Airflow's workers do: a task not told where to run runs in
            // a temporary folder, deleted afterwards.
            .env("HARNESS_TASK_DIRS", "1")
            .output()
            .expect("python3 runs the Airflow harness")
    });
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_str(&text(&output.stdout)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_airflow_export_runs_each_step_as_a_task_on_airflow_2_and_3() {
    let sync = Sync::start().await;
    let file = exported(&sync, &[]);
    let state = sync.dir.path().join("etl-state.sqlite");
    let snapshot = file
        .replace(bin().to_str().unwrap(), "<BIN>")
        .replace(state.to_str().unwrap(), "<STATE>")
        .replace(sync.dir.path().to_str().unwrap(), "<DIR>");
    insta::assert_snapshot!("airflow_dag", snapshot);

    for (layout, run_id) in [
        ("2", "scheduled__2024-01-01T00:00:00+00:00"),
        ("3", "manual__2024-01-02T00:00:00+00:00"),
    ] {
        let result = airflow(&sync, layout, run_id);
        assert_eq!(result["dag"]["dag_id"], "scheduled_sync");
        assert_eq!(result["dag"]["schedule"], "0 * * * *");
        assert_eq!(result["dag"]["max_active_runs"], 1);
        assert_eq!(
            result["upstream"]["load"],
            serde_json::json!(["customers", "products", "orders"])
        );
        assert_eq!(result["tasks"]["orders"]["retries"], 2);
        assert_eq!(result["tasks"]["orders"]["xcom"], false);
        assert_eq!(result["tasks"]["orders"]["retry_delay"], 1.0);
        assert_eq!(result["tasks"]["orders"]["exponential"], true);
        assert_eq!(result["tasks"]["orders"]["timeout"], 1800.0);
        for task in ["customers", "products", "orders", "load"] {
            assert_eq!(result["ended"][task], 0, "Airflow {layout}: {result}");
        }
        // Each task ran in its own process, as one run of the state store.
        let run = sync.store().run(run_id).unwrap().unwrap();
        assert_eq!(
            (run.status, run.trigger.as_str(), run.succeeded),
            (StepStatus::Succeeded, "step", 4)
        );
        // In the folder the export was written from, not a temporary one:
        // the warehouse's relative path (the example's default) is there.
        assert_eq!(result["dirs"], serde_json::json!({}), "{result}");
        assert_eq!(sync.warehouse_rows("Orders"), 40, "Airflow {layout}");
    }

    // The schedule read in a time zone.
    let zoned = exported(&sync, &["--tz", "Europe/Paris"]);
    assert!(
        zoned.contains("start_date=pendulum.datetime(2024, 1, 1, tz=\"Europe/Paris\"),"),
        "{zoned}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_a_run_draws_a_line_per_running_step() {
    let sync = Sync::start().await;
    // `script` runs the binary on a terminal of its own and keeps what it drew.
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &format!("{} run", bin().display()), "/dev/null"])
        .current_dir(sync.dir.path())
        .envs(sync.airtable_env())
        .env_remove("RUST_LOG")
        .env("TERM", "xterm");
    let (drawn, _) = exits(&sync.run_with(script, &[]), 0);
    // What was drawn, without the escape codes that move the cursor.
    let mut plain = String::new();
    let mut chars = drawn.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(char::is_ascii_alphabetic);
        } else {
            plain.push(c);
        }
    }
    assert!(
        plain.contains("orders") && plain.contains("RUNNING"),
        "{plain}"
    );
    assert!(plain.contains("✓ orders SUCCEEDED, 40 rows"), "{plain}");
    assert!(
        plain.contains("load       SUCCEEDED"),
        "the final table: {plain}"
    );
    assert!(
        !plain.contains("orders RUNNING\n"),
        "no plain log lines on a terminal: {plain}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_ticks_are_run_once_with_catch_up_and_skipped_without() {
    let sync = Sync::start().await;
    // The last scheduled run was ten minutes ago: ticks of an every-minute
    // schedule have been missed since.
    drop(sync.store());
    let long_ago = std::time::SystemTime::now() - Duration::from_secs(600);
    let conn = rusqlite::Connection::open(sync.dir.path().join("etl-state.sqlite")).unwrap();
    conn.execute(
        "INSERT INTO workflow_runs (run_id, workflow, status, trigger, version, scheduled_for, started_at, finished_at)
         VALUES ('old', 'scheduled_sync', 'SUCCEEDED', 'schedule', '', ?1, ?1, ?1)",
        [etl::state::time::to_text(long_ago)],
    )
    .unwrap();
    drop(conn);

    // Without --catch-up: skipped, said so, and nothing runs before the next minute.
    let child = sync.schedule(&["--cron", "0 * * * * *"]);
    let err = tokio::task::block_in_place(|| {
        // Started (its lock file taken: it has opened the store), then given
        // two seconds, however loaded the machine.
        let owners = sync.dir.path().join("etl-state.sqlite.owners");
        wait_for(
            "the scheduler to open the store",
            Duration::from_secs(30),
            || std::fs::read_dir(&owners).is_ok_and(|d| d.count() > 0),
        );
        std::thread::sleep(Duration::from_secs(2));
        stop(child)
    });
    // Ten minutes of an every-minute schedule: 10 ticks, or 11 when a
    // minute began between the insert above and the scheduler's start.
    assert!(
        (err.contains("10 ticks passed since the last scheduled run (")
            || err.contains("11 ticks passed since the last scheduled run ("))
            && err.contains("skipped (--catch-up runs them once)"),
        "{err}"
    );
    if !err.contains("starting a run") {
        assert_eq!(sync.runs().len(), 1, "no run for the missed ticks");
    }

    // With it: one run, at once, for the latest missed tick. (The first
    // scheduler may have run a tick of its own, when a minute began.)
    let before: Vec<String> = sync.runs().into_iter().map(|r| r.run_id).collect();
    let child = sync.schedule(&["--cron", "0 * * * * *", "--catch-up"]);
    let err = tokio::task::block_in_place(|| {
        // However loaded the machine (the whole suite runs beside it).
        wait_for("the catch-up run", Duration::from_secs(90), || {
            sync.runs()
                .iter()
                .any(|r| !before.contains(&r.run_id) && r.status == StepStatus::Succeeded)
        });
        stop(child)
    });
    assert!(err.contains("running once for"), "{err}");
    let caught_up = sync
        .runs()
        .into_iter()
        .find(|r| !before.contains(&r.run_id))
        .unwrap();
    assert_eq!(caught_up.trigger, "schedule");
    let tick = caught_up.scheduled_for.unwrap();
    assert!(
        tick > long_ago && tick <= caught_up.started_at,
        "{caught_up:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_that_pass_during_a_run_are_said_and_skipped_or_run_once() {
    let sync = Sync::start().await;
    // Every answer takes 1.5 s, so each run outlasts a tick or more of an
    // every-second schedule.
    sync.server.set_faults(Faults {
        delay: Some(Duration::from_millis(1500)),
        ..Faults::default()
    });
    let schedule = |args: &[&str], runs: usize| {
        let child = sync.schedule(args);
        tokio::task::block_in_place(|| {
            wait_for("scheduled runs", Duration::from_secs(60), || {
                sync.runs()
                    .iter()
                    .filter(|r| r.status == StepStatus::Succeeded)
                    .count()
                    >= runs
            });
            stop(child)
        })
    };

    let lines = |err: &str, during: &str| -> Vec<String> {
        err.lines()
            .filter(|l| l.contains(&format!(" passed {during} (")))
            .map(str::to_owned)
            .collect()
    };

    let err = schedule(&["--cron", "* * * * * *"], 2);
    let said = lines(&err, "while the last run went on");
    assert!(
        !said.is_empty()
            && said
                .iter()
                .all(|l| l.ends_with("): skipped (--catch-up runs them once)")),
        "{err}"
    );
    // Skipped, not queued: each run is for a tick after the run before it
    // ended, not for the tick right after the one before's.
    let mut runs = sync.runs();
    runs.reverse();
    let first_schedule = runs.len();
    assert!(first_schedule >= 2, "{runs:?}");
    for pair in runs.windows(2) {
        assert!(
            pair[1].scheduled_for.unwrap() >= pair[0].finished_at.unwrap(),
            "{pair:?}"
        );
    }

    // With --catch-up, the latest of the passed ticks runs once, at start
    // (the last scheduled run above is ticks ago) and after each run.
    let err = schedule(&["--cron", "* * * * * *", "--catch-up"], first_schedule + 2);
    for during in ["since the last scheduled run", "while the last run went on"] {
        let said = lines(&err, during);
        assert!(
            !said.is_empty() && said.iter().all(|l| l.contains("): running once for ")),
            "{during}: {err}"
        );
    }
    let mut runs = sync.runs();
    runs.reverse();
    for pair in runs[first_schedule - 1..].windows(2) {
        assert!(
            pair[1].started_at >= pair[0].finished_at.unwrap(),
            "one at a time: {pair:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_is_skipped_while_another_process_runs_the_workflow() {
    let sync = Sync::start().await;
    sync.server.set_faults(Faults {
        delay: Some(Duration::from_secs(60)),
        ..Faults::default()
    });
    let mut running = sync
        .command()
        .arg("run")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The other process's run is recorded before the scheduler starts.
    tokio::task::block_in_place(|| {
        wait_for("the other process's run", Duration::from_secs(30), || {
            sync.runs()
                .first()
                .is_some_and(|r| r.status == StepStatus::Running)
        })
    });
    let scheduler = sync.schedule(&["--cron", "* * * * * *"]);
    let err = tokio::task::block_in_place(|| {
        std::thread::sleep(Duration::from_secs(3));
        let err = stop(scheduler);
        running.kill().unwrap();
        running.wait().unwrap();
        err
    });
    assert!(
        err.contains("skipped, run ") && err.contains("of the workflow is still running"),
        "{err}"
    );
    assert_eq!(
        sync.runs().len(),
        1,
        "the scheduler started no run of its own"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_from_hostile_paths_runs_them_as_written() {
    let sync = Sync::start().await;
    // A folder and a program name that would end the DAG file's docstring,
    // and Jinja that Airflow's templating would run.
    let odd = sync.dir.path().join("bin {{ 7 * 7 }} \"\"\" {% raw %}");
    std::fs::create_dir(&odd).unwrap();
    let program = odd.join("sync\"\"\"{{ run_id }}");
    std::os::unix::fs::symlink(bin(), &program).unwrap();
    let state = odd.join("state {{ 6 * 7 }}.sqlite");
    let (_, err) = exits(
        &sync.run_with(
            {
                let mut command = std::process::Command::new(&program);
                command
                    .current_dir(sync.dir.path())
                    .envs(sync.airtable_env());
                command
            },
            &[
                "--state",
                state.to_str().unwrap(),
                "export",
                "airflow",
                "-o",
                "dag.py",
                "--bin",
                program.to_str().unwrap(),
            ],
        ),
        0,
    );
    assert!(err.contains("wrote dag.py"), "{err}");
    let file = std::fs::read_to_string(sync.dir.path().join("dag.py")).unwrap();
    assert!(
        file.contains(r#"`sync\"\"\"{{ run_id }} run --step"#),
        "{file}"
    );
    let result = airflow(&sync, "3", "manual__2024-01-02T00:00:00+00:00");
    for task in ["customers", "products", "orders", "load"] {
        assert_eq!(result["ended"][task], 0, "{task}: {result}");
    }
    // The run was recorded where --state said, the folder's name as written.
    let store = SqliteStore::open(&state).unwrap();
    assert_eq!(store.runs("scheduled_sync", 10).unwrap().len(), 1);
    assert!(!sync.dir.path().join("bin 49").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_id_that_points_elsewhere_is_refused() {
    let sync = Sync::start().await;
    for run_id in [
        "../../escaped",
        "/tmp/absolute",
        "a/b",
        "..",
        ".hidden",
        "x\ny",
    ] {
        let (_, err) = exits(
            &sync.run(&["run", "--step", "customers", "--run-id", run_id]),
            2,
        );
        assert!(err.contains("run id"), "{run_id:?}: {err}");
    }
    assert!(sync.runs().is_empty(), "no run was recorded");
    assert!(!sync.dir.path().join("escaped").exists());
    assert!(!sync.dir.path().parent().unwrap().join("escaped").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_outlives_a_state_store_that_fails_for_a_while() {
    let sync = Sync::start().await;
    let scheduler = sync.schedule(&["--cron", "* * * * * *"]);
    let err = tokio::task::block_in_place(|| {
        wait_for("a first scheduled run", Duration::from_secs(60), || {
            sync.runs()
                .iter()
                .any(|r| r.status == StepStatus::Succeeded)
        });
        // Another process holds the store's write lock longer than the
        // store waits for it (10 s): every write of the scheduler fails.
        let path = sync.dir.path().join("etl-state.sqlite");
        let locker = rusqlite::Connection::open(&path).unwrap();
        locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
        std::thread::sleep(Duration::from_secs(13));
        locker.execute_batch("COMMIT").unwrap();
        drop(locker);
        let before = sync.runs().len();
        wait_for(
            "a run after the lock is gone",
            Duration::from_secs(60),
            || {
                let runs = sync.runs();
                runs.len() > before && runs[0].status == StepStatus::Succeeded
            },
        );
        stop(scheduler)
    });
    assert!(err.contains("failed: state store"), "{err}");
    // Nothing was left RUNNING to hold back later ticks.
    assert!(
        sync.runs().iter().all(|r| r.status != StepStatus::Running),
        "{:?}",
        sync.runs()
    );
}

/// `--state postgres://…`: the runs of processes that share nothing but the
/// database are one record; a wrong password is a clear error without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_recorded_in_postgres_are_shared_by_processes() {
    use etl::runs::StateStore as _;
    let sync = Sync::start().await;
    let url = etl_testing::postgres::shared().database().await;
    let with_state = |args: &[&str]| {
        let mut command = sync.command();
        command.env("ETL_STATE", &url);
        sync.run_with(command, args)
    };
    // Each step in a process of its own, as Airflow's tasks run them.
    for step in ["customers", "products", "orders", "load"] {
        exits(&with_state(&["run", "--step", step, "--run-id", "pg-1"]), 0);
    }
    exits(&with_state(&["run"]), 0);
    let (history, _) = exits(&with_state(&["history"]), 0);
    assert!(history.contains("pg-1"), "{history}");
    assert_eq!(history.matches("SUCCEEDED").count(), 2, "{history}");
    assert!(
        !history.contains(etl_testing::postgres::PASSWORD),
        "{history}"
    );
    assert!(
        !sync.dir.path().join("etl-state.sqlite").exists(),
        "nothing was recorded in the default file"
    );
    let store = etl::runs::postgres::PgStore::connect(&url, sync.dir.path().join("etl-outputs"))
        .await
        .unwrap();
    let run = store.run("pg-1").await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.trigger.as_str(), run.succeeded),
        (StepStatus::Succeeded, "step", 4)
    );
    let steps = store.steps("pg-1").await.unwrap();
    let output = steps[0].output.clone().expect("saved");
    assert!(
        std::path::Path::new(&output).starts_with(sync.dir.path().join("etl-outputs/pg-1")),
        "{output:?}"
    );

    // The exported DAG names no store: the workers' ETL_STATE does.
    let dag = {
        let bin = bin();
        let args = [
            "export",
            "airflow",
            "-o",
            "dag.py",
            "--bin",
            bin.to_str().unwrap(),
        ];
        let (_, err) = exits(&with_state(&args), 0);
        assert!(err.contains("ETL_STATE"), "{err}");
        // No outputs location: each task would keep its output on its own
        // worker. Said, naming what to set.
        assert!(
            err.contains("warning: no shared location for step outputs")
                && err.contains("ETL_OUTPUTS"),
            "{err}"
        );
        std::fs::read_to_string(sync.dir.path().join("dag.py")).unwrap()
    };
    assert!(dag.contains("ETL_STATE = None"), "{dag}");
    assert!(!dag.contains("postgres://") && !dag.contains(etl_testing::postgres::PASSWORD));

    let wrong = url.replace(etl_testing::postgres::PASSWORD, "wrong-password");
    let mut command = sync.command();
    command.env("ETL_STATE", &wrong);
    let (_, err) = exits(&sync.run_with(command, &["history"]), 2);
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(
        err.contains("state store postgres://***@127.0.0.1:"),
        "{err}"
    );
    assert!(!err.contains("wrong-password"), "{err}");
}

/// Two `schedule` processes on one PostgreSQL store: one leads, no tick runs
/// twice, and when the leader is killed the other takes over within its
/// lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_schedulers_one_leads_and_the_other_takes_over_when_it_dies() {
    let sync = Sync::start().await;
    let url = etl_testing::postgres::shared().database().await;
    let scheduler = || {
        let mut command = sync.command();
        command
            .env("ETL_STATE", &url)
            .env("ETL_LEASE", "1s")
            .args(["schedule", "--cron", "* * * * * *"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        command.spawn().unwrap()
    };
    let store = etl::runs::open(&url, &sync.dir.path().join("etl-outputs"))
        .await
        .unwrap();
    let succeeded = || {
        let store = &store;
        async move {
            store
                .runs("scheduled_sync", 1_000)
                .await
                .unwrap()
                .into_iter()
                .filter(|r| r.status == StepStatus::Succeeded)
                .count()
        }
    };
    let mut first = scheduler();
    let deadline = Instant::now() + Duration::from_secs(60);
    while succeeded().await < 2 {
        assert!(Instant::now() < deadline, "the first scheduler ran nothing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = scheduler();
    let before = succeeded().await;
    while succeeded().await < before + 3 {
        assert!(
            Instant::now() < deadline + Duration::from_secs(30),
            "no runs with two schedulers"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    first.kill().unwrap(); // SIGKILL: it stops renewing its lease
    first.wait().unwrap();
    let killed_at = succeeded().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while succeeded().await < killed_at + 2 {
        assert!(
            Instant::now() < deadline,
            "the second scheduler never took over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let said = tokio::task::block_in_place(|| stop(second));
    assert!(
        said.contains("another scheduler leads the workflow's schedule"),
        "{said}"
    );
    assert!(
        said.contains("this scheduler leads the workflow's schedule"),
        "{said}"
    );

    let runs = store.runs("scheduled_sync", 1_000).await.unwrap();
    let mut ticks: Vec<_> = runs
        .iter()
        .map(|r| r.scheduled_for.expect("a tick"))
        .collect();
    let all = ticks.len();
    ticks.sort();
    ticks.dedup();
    assert_eq!(ticks.len(), all, "no tick ran twice: {runs:?}");
}

/// Past one machine: two worker processes, then an exported Airflow DAG run
/// task by task, each process in an empty folder of its own, sharing nothing
/// but PostgreSQL (runs) and an S3 bucket (step outputs), with the
/// warehouse as the one destination. No credential is written anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_and_airflow_tasks_share_nothing_but_postgres_and_a_bucket() {
    use etl::runs::StateStore as _;
    let sync = Sync::start().await;
    let url = etl_testing::postgres::shared().database().await;
    let s3 = etl_testing::s3::shared();
    let bucket = s3.bucket();
    let outputs = format!("s3://{bucket}/scheduled");
    let warehouse = sync.dir.path().join("scheduled_sync.sqlite");
    // A process on a machine of its own: an empty folder, the store and the
    // bucket from the environment.
    let machine = || {
        let dir = tempfile::tempdir().unwrap();
        let mut command = sync.command();
        command
            .current_dir(dir.path())
            .envs(s3.env())
            .env("ETL_STATE", &url)
            .env("ETL_OUTPUTS", &outputs)
            .env("ETL_LEASE", "2s")
            .env("SYNC_WAREHOUSE", &warehouse);
        (dir, command)
    };
    let store = etl::runs::postgres::PgStore::connect(&url, sync.dir.path().join("unused"))
        .await
        .unwrap();

    // Two workers; a run queued from a third machine.
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (dir, mut command) = machine();
            let child = command
                .args(["worker", "--concurrency", "2"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (dir, child)
        })
        .collect();
    let (_queuer, command) = machine();
    let (queued, _) = exits(&sync.run_with(command, &["run", "--queue"]), 0);
    let run_id = queued.trim().to_owned();
    let start = Instant::now();
    loop {
        let run = store.run(&run_id).await.unwrap().unwrap();
        if run.status != StepStatus::Running {
            assert_eq!(run.status, StepStatus::Succeeded, "{run:?}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{run:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut said = String::new();
    for (dir, worker) in workers {
        said.push_str(&stop(worker));
        // Nothing saved on the workers' disks.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
    assert!(!said.contains(s3.secret_key()), "{said}");
    for step in store.steps(&run_id).await.unwrap() {
        let output = step.output.unwrap_or_default();
        if step.step != "load" {
            assert!(
                output.starts_with(&format!("{outputs}/{run_id}/")),
                "{}: {output:?}",
                step.step
            );
        }
    }
    assert_eq!(sync.warehouse_rows("customers"), 20);

    // The exported DAG names neither store nor secret, only the bucket; the
    // harness runs each task in an empty folder of its own.
    let (_exporter, mut command) = machine();
    let bin = bin();
    command.current_dir(sync.dir.path());
    let args = [
        "export",
        "airflow",
        "-o",
        "dag.py",
        "--bin",
        bin.to_str().unwrap(),
    ];
    exits(&sync.run_with(command, &args), 0);
    let dag = std::fs::read_to_string(sync.dir.path().join("dag.py")).unwrap();
    assert!(dag.contains("ETL_STATE = None"), "{dag}");
    assert!(
        dag.contains(&format!("ETL_OUTPUTS = \"{outputs}\"")),
        "{dag}"
    );
    assert!(!dag.contains(s3.secret_key()) && !dag.contains("postgres://"));
    let harness = manifest_dir().join("tests/fixtures/airflow_harness.py");
    let airflow_run = "manual__2024-03-01T00:00:00+00:00";
    let out = tokio::task::block_in_place(|| {
        std::process::Command::new("python3")
            .arg(harness)
            .args(["3", "dag.py", airflow_run])
            .current_dir(sync.dir.path())
            .envs(sync.airtable_env())
            .envs(s3.env())
            .env("ETL_STATE", &url)
            .env("SYNC_WAREHOUSE", &warehouse)
            .env("HARNESS_TASK_DIRS", "1")
            .output()
            .unwrap()
    });
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(!log.contains(s3.secret_key()), "{log}");
    let result: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    for task in ["customers", "products", "orders", "load"] {
        assert_eq!(result["ended"][task], 0, "{result}");
    }
    // Each task ran in the folder the export was written from (not a
    // temporary one), and saved nothing there: the outputs are in the bucket.
    assert_eq!(result["dirs"], serde_json::json!({}), "{result}");
    assert!(!sync.dir.path().join("etl-outputs").exists());
    let run = store.run(airflow_run).await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.trigger.as_str(), run.succeeded),
        (StepStatus::Succeeded, "step", 4)
    );
    let keys = s3.keys(&bucket);
    for step in ["customers", "products", "orders"] {
        for run in [&run_id, &airflow_run.to_owned()] {
            let key = format!("scheduled/{run}/{step}.arrow");
            assert!(keys.contains(&key), "{key} in {keys:?}");
        }
    }

    // No secret in the state store either.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let recorded: String = client
        .query_one(
            "SELECT (SELECT string_agg(r::text, ' ') FROM etl.workflow_runs r) || \
                    (SELECT string_agg(s::text, ' ') FROM etl.step_runs s)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(recorded.contains(&outputs), "{recorded}");
    assert!(!recorded.contains(s3.secret_key()), "{recorded}");
}

/// A bucket that is not there, or a location with a credential in it: one
/// clear error naming it, exit 2, the secret nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_a_clear_error_and_exit_2() {
    let sync = Sync::start().await;
    let s3 = etl_testing::s3::shared();
    let mut command = sync.command();
    command
        .envs(s3.env())
        .env("ETL_OUTPUTS", "s3://no-such-bucket-of-etl/x");
    let (_, err) = exits(&sync.run_with(command, &["run"]), 2);
    assert!(
        err.contains("step outputs s3://no-such-bucket-of-etl/x: cannot be listed"),
        "{err}"
    );
    assert!(!err.contains(s3.secret_key()), "{err}");
    assert!(sync.runs().is_empty(), "nothing ran");

    let with_key = format!("s3://AKIA:{}@bucket/x", s3.secret_key());
    let mut command = sync.command();
    command.env("ETL_OUTPUTS", &with_key);
    for args in [&["run"][..], &["export", "airflow", "-o", "dag.py"]] {
        let (_, err) = exits(&sync.run_with(command_like(&command), args), 2);
        assert!(err.contains("has a user or password in it"), "{err}");
        assert!(!err.contains(s3.secret_key()), "{err}");
    }
    assert!(!sync.dir.path().join("dag.py").exists());
}

/// A copy of `command`: its program, folder and environment.
fn command_like(command: &std::process::Command) -> std::process::Command {
    let mut copy = std::process::Command::new(command.get_program());
    if let Some(dir) = command.get_current_dir() {
        copy.current_dir(dir);
    }
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => copy.env(key, value),
            None => copy.env_remove(key),
        };
    }
    copy
}

/// `serve`: the API over the binary's store (feature `server`).
#[cfg(feature = "server")]
mod served {
    use super::*;

    /// `serve` started, its address read from what it says; what it says after.
    struct Served {
        child: Child,
        base: String,
        said: std::sync::Arc<std::sync::Mutex<String>>,
    }

    const SERVER_TOKEN: &str = "scheduled-sync-test-token";

    impl Sync {
        fn serve(&self) -> Served {
            use std::io::BufRead;
            let mut child = self
                .command()
                .env("ETL_SERVER_TOKEN", SERVER_TOKEN)
                .args(["serve", "--bind", "127.0.0.1:0"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let said = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
            let (addr_tx, addr_rx) = std::sync::mpsc::channel();
            let lines = std::io::BufReader::new(child.stderr.take().unwrap());
            let sink = said.clone();
            std::thread::spawn(move || {
                for line in lines.lines().map_while(Result::ok) {
                    if let Some(rest) = line.split_once(" on http://").map(|(_, r)| r) {
                        let addr = rest
                            .split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned();
                        let _ = addr_tx.send(addr);
                    }
                    let mut said = sink.lock().unwrap();
                    said.push_str(&line);
                    said.push('\n');
                }
            });
            let addr = addr_rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("serve said no address: {}", said.lock().unwrap()));
            Served {
                child,
                base: format!("http://{addr}"),
                said,
            }
        }
    }

    impl Served {
        async fn call(
            &self,
            method: reqwest::Method,
            path: &str,
            body: Option<Value>,
        ) -> (u16, Value) {
            let mut request = reqwest::Client::new()
                .request(method, format!("{}{path}", self.base))
                .bearer_auth(SERVER_TOKEN);
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                serde_json::from_str(&response.text().await.unwrap()).unwrap(),
            )
        }

        fn stop(mut self) -> String {
            signal(&self.child, "TERM");
            let status = wait_exit(&mut self.child, Duration::from_secs(30));
            assert!(status.success(), "{status:?}");
            std::thread::sleep(Duration::from_millis(100));
            self.said.lock().unwrap().clone()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_served_workflow_is_switched_off_and_on_and_its_runs_started_by_hand() {
        use reqwest::Method;
        let sync = Sync::start().await;
        let served = tokio::task::block_in_place(|| sync.serve());
        let (status, workflows) = served.call(Method::GET, "/api/workflows", None).await;
        assert_eq!(status, 200, "{workflows}");
        assert_eq!(
            workflows[0]["name"], "scheduled_sync",
            "serve registers its workflow: {workflows}"
        );
        let steps: Vec<&str> = workflows[0]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert!(steps.len() >= 2, "{steps:?}");

        // The scheduler ticks every second; switched off, it skips the ticks.
        let scheduler = sync.schedule(&["--cron", "* * * * * *"]);
        tokio::task::block_in_place(|| {
            wait_for("a scheduled run", Duration::from_secs(60), || {
                sync.runs()
                    .iter()
                    .any(|r| r.status == StepStatus::Succeeded)
            })
        });
        let (status, off) = served
            .call(Method::POST, "/api/workflows/scheduled_sync/disable", None)
            .await;
        assert_eq!(
            (status, &off["enabled"]),
            (200, &Value::Bool(false)),
            "{off}"
        );
        // A run under way when it was switched off finishes; then none starts.
        tokio::task::block_in_place(|| {
            wait_for("the running run to end", Duration::from_secs(60), || {
                sync.runs().iter().all(|r| r.status != StepStatus::Running)
            })
        });
        let before = sync.runs().len();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(sync.runs().len(), before, "no run while disabled");
        let (status, _) = served
            .call(Method::POST, "/api/workflows/scheduled_sync/enable", None)
            .await;
        assert_eq!(status, 200);
        tokio::task::block_in_place(|| {
            wait_for("a run once enabled again", Duration::from_secs(60), || {
                sync.runs().len() > before
            })
        });
        let said = tokio::task::block_in_place(|| stop(scheduler));
        assert!(
            said.contains(": skipped, the workflow is disabled"),
            "{said}"
        );

        // By hand: queued through the API, run by a worker.
        let (status, run) = served
            .call(
                Method::POST,
                "/api/workflows/scheduled_sync/runs",
                Some(serde_json::json!({})),
            )
            .await;
        assert_eq!(status, 201, "{run}");
        let run_id = run["run_id"].as_str().unwrap().to_owned();
        let worker = sync
            .command()
            .arg("worker")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        tokio::task::block_in_place(|| {
            wait_for(
                "the worker to finish the run",
                Duration::from_secs(60),
                || {
                    sync.store()
                        .run(&run_id)
                        .unwrap()
                        .is_some_and(|r| r.status != StepStatus::Running)
                },
            )
        });
        tokio::task::block_in_place(|| stop(worker));
        let (status, detail) = served
            .call(Method::GET, &format!("/api/runs/{run_id}"), None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(detail["run"]["status"], "SUCCEEDED", "{detail}");
        assert_eq!(detail["run"]["started_by"], "api");
        for step in detail["steps"].as_array().unwrap() {
            assert_eq!(
                (&step["status"], &step["attempts"]),
                (&Value::from("SUCCEEDED"), &Value::from(1)),
                "{step}"
            );
        }
        let said = tokio::task::block_in_place(|| served.stop());
        assert!(said.contains("stopped"), "{said}");
        assert!(
            !said.contains(SERVER_TOKEN),
            "the token is never printed: {said}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serve_needs_a_token_unless_told_and_then_only_on_loopback() {
        let sync = Sync::start().await;
        let (_, err) = exits(&sync.run(&["serve", "--bind", "127.0.0.1:0"]), 2);
        assert!(
            err.contains("serve needs a token") && err.contains("ETL_SERVER_TOKEN"),
            "{err}"
        );
        let (_, err) = exits(
            &sync.run(&["serve", "--no-token", "--bind", "0.0.0.0:0"]),
            2,
        );
        assert!(err.contains("with no token would let anyone"), "{err}");
        let mut short = sync.command();
        short.env("ETL_SERVER_TOKEN", "short");
        let (_, err) = exits(
            &sync.run_with(short, &["serve", "--bind", "127.0.0.1:0"]),
            2,
        );
        assert!(err.contains("the server token has 5 characters"), "{err}");
        assert!(!err.contains("short\""), "{err}");

        // A webhooks file that does not parse: its line, never its values.
        let file = sync.dir.path().join("webhooks.toml");
        std::fs::write(
            &file,
            "scheduled_sync = \"a-secret-of-some-length\"\nthis is not toml\n",
        )
        .unwrap();
        let mut bad = sync.command();
        bad.env("ETL_SERVER_TOKEN", SERVER_TOKEN);
        let (_, err) = exits(
            &sync.run_with(
                bad,
                &[
                    "serve",
                    "--bind",
                    "127.0.0.1:0",
                    "--webhooks",
                    file.to_str().unwrap(),
                ],
            ),
            2,
        );
        assert!(err.contains("webhooks.toml, line 2"), "{err}");
        assert!(!err.contains("a-secret-of-some-length"), "{err}");
    }

    /// The page, in a real headless Chromium, as the issue's user drives it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_page_starts_a_run_sees_it_finish_switches_the_workflow_and_shows_a_failed_step() {
        use etl_testing::browser::{Browser, artifacts_dir};
        let sync = Sync::start().await;
        let served = tokio::task::block_in_place(|| sync.serve());
        let worker = sync
            .command()
            .arg("worker")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let browser = Browser::start(1280, 900).await;
        let wait = Duration::from_secs(60);
        browser.goto(&format!("{}/", served.base)).await;
        let token = browser.wait("#token", wait).await;
        browser.type_into(&token, SERVER_TOKEN).await;
        browser.press("#token-save", wait).await;

        // Trigger: the run's page opens, and the run finishes, every step green.
        browser
            .press("button.trigger[data-workflow=scheduled_sync]", wait)
            .await;
        browser
            .until(
                "the run to finish with its steps green",
                "const s = document.querySelector('.summary .status'); const nodes = [...document.querySelectorAll('g.node')]; \
                 return !!s && s.dataset.status === 'SUCCEEDED' && nodes.length >= 2 && nodes.every(g => g.dataset.status === 'SUCCEEDED')",
                wait,
            )
            .await;
        let rows = browser.all("tr.step[data-status=SUCCEEDED]").await;
        assert!(rows.len() >= 2, "the step table");
        let summary = browser.text(&browser.wait(".summary", wait).await).await;
        assert!(
            summary.contains(" by page"),
            "the run says the page started it: {summary}"
        );
        browser
            .screenshot(&artifacts_dir().join("server-page-run.png"))
            .await;

        // Disabled on the page: the scheduler's ticks skip it.
        browser.goto(&format!("{}/#/", served.base)).await;
        browser
            .press("button.toggle[data-workflow=scheduled_sync]", wait)
            .await;
        browser
            .until(
                "the workflow shown disabled",
                "const r = document.querySelector('tr.workflow td.enabled'); return !!r && r.textContent === 'disabled'",
                wait,
            )
            .await;
        let scheduler = sync.schedule(&["--cron", "* * * * * *"]);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let said = tokio::task::block_in_place(|| stop(scheduler));
        assert!(
            said.contains(": skipped, the workflow is disabled"),
            "{said}"
        );
        browser
            .goto(&format!("{}/#/runs?workflow=scheduled_sync", served.base))
            .await;
        browser.wait("tr.run", wait).await;
        assert_eq!(
            browser.all("tr.run").await.len(),
            1,
            "no scheduled run while disabled"
        );

        // A failed run: its failed step's error on the page, then resumed.
        browser.goto(&format!("{}/#/", served.base)).await;
        browser
            .press("button.toggle[data-workflow=scheduled_sync]", wait)
            .await;
        browser
            .until(
                "enabled again",
                "const b = document.querySelector('button.trigger'); return !!b && !b.disabled",
                wait,
            )
            .await;
        sync.server.set_faults(Faults {
            fail_page: Some(FailPage {
                table: Some("Orders".into()),
                page: 1,
                status: 403,
                times: None,
            }),
            ..Faults::default()
        });
        browser.press("button.trigger", wait).await;
        let error = browser
            .wait("tr.step[data-status=FAILED] pre.step-error", wait)
            .await;
        let text = browser.text(&error).await;
        assert!(text.contains("403"), "the failed step's error: {text}");
        browser
            .wait(".summary .status[data-status=FAILED]", wait)
            .await;
        browser
            .screenshot(&artifacts_dir().join("server-page-failed.png"))
            .await;
        sync.server.set_faults(Faults::default());
        browser.press("button.resume", wait).await;
        browser
            .until(
                "the resumed run to succeed",
                "const s = document.querySelector('.summary .status'); return !!s && s.dataset.status === 'SUCCEEDED'",
                wait,
            )
            .await;
        // Each attempt of the resumed step, with its times and how it
        // ended, in its attempts cell's tooltip: three failed, one succeeded.
        let cell = browser
            .wait("tr.step[data-step=orders] td.attempts", wait)
            .await;
        let title = browser.attribute(&cell, "title").await.unwrap_or_default();
        let lines: Vec<&str> = title.lines().collect();
        assert_eq!(lines.len(), 4, "{title}");
        assert!(
            lines[0].starts_with("attempt 1: ")
                && lines[0].contains("FAILED")
                && lines[0].contains("403"),
            "{title}"
        );
        assert!(
            lines[3].starts_with("attempt 4: ") && lines[3].contains("SUCCEEDED"),
            "{title}"
        );
        tokio::task::block_in_place(|| stop(worker));
        let said = tokio::task::block_in_place(|| served.stop());
        assert!(!said.contains(SERVER_TOKEN), "{said}");
    }
}
