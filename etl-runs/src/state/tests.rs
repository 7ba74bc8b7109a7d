//! What only the SQLite store has: its file, its migrations, its lock
//! files. Everything every store does is the state-store suite
//! (`etl_testing::state`), run for this store in `tests/it`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use etl_dag::{Backoff, Codec, Step, StepContext, StepInputs};

/// `extract` (fails once, then succeeds), `count` (takes it), `broken`
/// (always fails), `after_broken` (after it).
fn workflow(tries: &Arc<AtomicU32>) -> Dag {
    let tries = tries.clone();
    Dag::builder("nightly")
        .step(
            Step::new("extract", move |_: StepContext, _: StepInputs| {
                let attempt = tries.fetch_add(1, Ordering::SeqCst);
                async move {
                    if attempt == 0 {
                        return Err(etl_dag::BoxError::from("the source is down"));
                    }
                    Ok::<_, etl_dag::BoxError>(vec![1_u64, 2, 3])
                }
            })
            .retries(1)
            .backoff(Backoff::None)
            .codec(Codec::json::<Vec<u64>>()),
        )
        .step(
            Step::new("count", |_: StepContext, inputs: StepInputs| async move {
                Ok::<_, etl_dag::Error>(inputs.get::<Vec<u64>>("extract")?.len() as u64)
            })
            .inputs(["extract"])
            .codec(Codec::json::<u64>()),
        )
        .step(Step::new("broken", |_: StepContext, _: StepInputs| async {
            Err::<(), _>("bad credentials".to_string())
        }))
        .step(
            Step::new("after_broken", |_: StepContext, _: StepInputs| async {
                Ok::<_, etl_dag::Error>(())
            })
            .after(["broken"]),
        )
        .build()
        .unwrap()
}

fn status_of(steps: &[StepRecord], step: &str) -> StepStatus {
    steps.iter().find(|s| s.step == step).unwrap().status
}

#[test]
fn the_schema_is_migrated_once_and_a_newer_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    drop(SqliteStore::open(&path).unwrap());
    drop(SqliteStore::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::VERSION);
    let journal: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).unwrap_err().to_string();
    assert!(
        err.contains("state.sqlite") && err.contains("version 99, newer than this program's"),
        "{err}"
    );
}

#[test]
fn an_unwritable_path_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/folder/state.sqlite");
    let err = SqliteStore::open(&path).unwrap_err().to_string();
    assert!(err.contains("no/such/folder/state.sqlite"), "{err}");
}

#[test]
fn runs_of_a_dead_process_are_marked_abandoned_and_a_live_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let tries = Arc::new(AtomicU32::new(0));
    let dag = workflow(&tries);
    let live = SqliteStore::open(&path).unwrap();
    live.begin_run(&RunStart::new("live", &dag, Trigger::Run))
        .unwrap();
    {
        // A process that died mid-run: its run and a step are RUNNING, owned
        // by an id whose lock file nobody holds.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "INSERT INTO workflow_runs (run_id, workflow, status, trigger, version, owner, started_at)
             VALUES ('dead', 'nightly', 'RUNNING', 'run', '', '4242-abc', '2026-11-23T10:00:00.000Z');
             INSERT INTO step_runs (run_id, step, status, owner) VALUES ('dead', 'extract', 'RUNNING', '4242-abc');
             INSERT INTO step_runs (run_id, step, status) VALUES ('dead', 'count', 'PENDING');",
        )
        .unwrap();
    }
    // Another process opens the store: the dead run is recovered, the live
    // one (whose owner holds its lock) is not.
    let other = SqliteStore::open(&path).unwrap();
    let dead = other.run("dead").unwrap().unwrap();
    assert_eq!(dead.status, StepStatus::Failed);
    let why = "abandoned: the process running it (pid 4242) ended without finishing it";
    assert_eq!(dead.error.as_deref(), Some(why));
    assert!(dead.finished_at.is_some());
    let steps = other.steps("dead").unwrap();
    assert_eq!(
        (steps[0].status, steps[0].error.as_deref()),
        (StepStatus::Failed, Some(why))
    );
    assert_eq!(status_of(&steps, "count"), StepStatus::Cancelled);
    assert_eq!(
        other.run("live").unwrap().unwrap().status,
        StepStatus::Running
    );
    assert_eq!(other.recover_abandoned().unwrap(), Vec::<String>::new());

    // Once the live process is gone, its run is abandoned too.
    drop(live);
    assert_eq!(other.recover_abandoned().unwrap(), ["live"]);
    assert_eq!(
        other.run("live").unwrap().unwrap().status,
        StepStatus::Failed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_at_version_1_is_migrated_and_keeps_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    {
        // The file as the first release left it: version 1, one run.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "INSERT INTO workflow_runs (run_id, workflow, status, trigger, params, version, started_at, finished_at)
                 VALUES ('old', 'nightly', 'SUCCEEDED', 'run', '{\"day\": \"2024-03-01\"}', '0.1',
                         '2026-11-23T10:00:00.000Z', '2026-11-23T10:01:00.000Z');
             INSERT INTO step_runs (run_id, step, status, attempts) VALUES ('old', 'extract', 'SUCCEEDED', 1);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let version: i64 = Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::VERSION);
    let old = store.run("old").unwrap().expect("the old run is kept");
    assert_eq!(
        (old.status, old.params["day"].as_str(), old.steps),
        (StepStatus::Succeeded, "2024-03-01", 1)
    );
    // What the later versions added works on it: the queue, the lead.
    let tries = Arc::new(AtomicU32::new(1));
    let dag = workflow(&tries);
    let id = crate::Runs::new(&dag, &store, "1")
        .enqueue(BTreeMap::new())
        .await
        .unwrap();
    let claims = store.claim_steps("nightly", 10).unwrap();
    let claimed: Vec<&str> = claims.iter().map(|c| c.step.as_str()).collect();
    assert_eq!(
        claimed,
        ["extract", "broken"],
        "the steps that wait for nothing"
    );
    assert!(claims.iter().all(|c| c.run_id == id));
    assert!(store.lead("nightly").unwrap());
}
