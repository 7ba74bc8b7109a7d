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

async fn run_recorded(store: &SqliteStore, dag: &Dag, run_id: &str) -> RunReport {
    let recorder = store.recorder().unwrap();
    let report = dag
        .runner()
        .run_id(run_id)
        .persist_outputs(store.outputs_dir(run_id).unwrap())
        .on_event(recorder.listener())
        .run()
        .await;
    recorder.flush().await.unwrap();
    store.finish_run(&report).unwrap();
    report
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_recorded_step_by_step() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("state.sqlite")).unwrap();
    let tries = Arc::new(AtomicU32::new(0));
    let dag = workflow(&tries);
    let params = BTreeMap::from([("day".to_owned(), "2024-03-01".to_owned())]);
    store
        .begin_run(
            &RunStart::new("r1", &dag, Trigger::Run)
                .params(params.clone())
                .version("1.2.3"),
        )
        .unwrap();
    let during = store.run("r1").unwrap().unwrap();
    assert_eq!(during.status, StepStatus::Running);
    assert_eq!(during.finished_at, None);
    assert!(
        store
            .steps("r1")
            .unwrap()
            .iter()
            .all(|s| s.status == StepStatus::Pending)
    );

    let report = run_recorded(&store, &dag, "r1").await;
    assert!(!report.succeeded());

    let run = store.run("r1").unwrap().unwrap();
    assert_eq!(run.status, StepStatus::Failed);
    assert_eq!(run.params, params);
    assert_eq!(run.version, "1.2.3");
    assert_eq!(run.trigger, "run");
    assert_eq!((run.steps, run.succeeded), (4, 2));
    assert_eq!(
        run.error.as_deref(),
        Some("broken FAILED, after_broken SKIPPED")
    );
    assert!(run.duration().is_some());

    let steps = store.steps("r1").unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(names, ["extract", "count", "broken", "after_broken"]);
    let extract = &steps[0];
    assert_eq!(
        (extract.status, extract.attempts, extract.error.as_deref()),
        (StepStatus::Succeeded, 2, None)
    );
    assert_eq!(
        extract.output.as_deref(),
        Some(&*store.outputs_dir("r1").unwrap().join("extract.json"))
    );
    assert!(extract.duration().is_some());
    assert_eq!(
        steps[1].output,
        Some(store.outputs_dir("r1").unwrap().join("count.json"))
    );
    assert_eq!(status_of(&steps, "broken"), StepStatus::Failed);
    assert!(
        steps[2]
            .error
            .as_deref()
            .unwrap()
            .contains("bad credentials")
    );
    assert_eq!(status_of(&steps, "after_broken"), StepStatus::Skipped);
    assert_eq!(steps[3].attempts, 0);

    // The newest saved output of a step, for runs that reuse it.
    let (run_id, file) = store.latest_output("nightly", "count").unwrap().unwrap();
    assert_eq!(run_id, "r1");
    assert_eq!(std::fs::read_to_string(file).unwrap(), "3");
    assert_eq!(store.latest_output("nightly", "broken").unwrap(), None);
    // A later run that reuses it points at the run that produced it.
    store
        .begin_run(&RunStart::new("r2", &dag, Trigger::Run))
        .unwrap();
    let saved = store.outputs_dir("r1").unwrap().join("count.json");
    store.mark_reused("r2", "count", "r1", &saved).unwrap();
    assert_eq!(
        store.latest_output("nightly", "count").unwrap(),
        Some(("r1".to_owned(), saved))
    );

    let err = store
        .begin_run(&RunStart::new("r1", &dag, Trigger::Run))
        .unwrap_err()
        .to_string();
    assert!(err.contains("run \"r1\" is already recorded"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_run_reruns_what_did_not_succeed_and_adds_up_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("state.sqlite")).unwrap();
    let tries = Arc::new(AtomicU32::new(0));
    let dag = workflow(&tries);
    store
        .begin_run(&RunStart::new("r1", &dag, Trigger::Run))
        .unwrap();
    run_recorded(&store, &dag, "r1").await;

    let again = vec!["broken".to_owned(), "after_broken".to_owned()];
    store.resume_run("r1", &again).unwrap();
    assert_eq!(
        store.run("r1").unwrap().unwrap().status,
        StepStatus::Running
    );
    let steps = store.steps("r1").unwrap();
    assert_eq!(status_of(&steps, "broken"), StepStatus::Pending);
    assert_eq!(status_of(&steps, "extract"), StepStatus::Succeeded);

    let recorder = store.recorder().unwrap();
    let report = dag
        .runner()
        .run_id("r1")
        .only(&again)
        .unwrap()
        .on_event(recorder.listener())
        .run()
        .await;
    recorder.flush().await.unwrap();
    store.finish_run(&report).unwrap();
    let steps = store.steps("r1").unwrap();
    let broken = steps.iter().find(|s| s.step == "broken").unwrap();
    assert_eq!((broken.status, broken.attempts), (StepStatus::Failed, 2));
    assert_eq!(steps[0].attempts, 2, "extract was not run again");

    let err = store.resume_run("nope", &again).unwrap_err().to_string();
    assert!(err.contains("no run \"nope\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_one_step_per_process_follows_its_steps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let tries = Arc::new(AtomicU32::new(1));
    let dag = workflow(&tries);
    let start = RunStart::new("airflow-1", &dag, Trigger::Step);
    // Two "processes": two stores on one file, each running one step.
    let first = SqliteStore::open(&path).unwrap();
    first.join_run(&start).unwrap();
    let recorder = first.recorder().unwrap();
    dag.runner()
        .run_id("airflow-1")
        .only(["extract"])
        .unwrap()
        .persist_outputs(first.outputs_dir("airflow-1").unwrap())
        .on_event(recorder.listener())
        .run()
        .await;
    recorder.flush().await.unwrap();
    assert_eq!(first.settle_run("airflow-1").unwrap(), StepStatus::Running);

    let second = SqliteStore::open(&path).unwrap();
    second.join_run(&start).unwrap();
    let (_, saved) = second.latest_output("nightly", "extract").unwrap().unwrap();
    let recorder = second.recorder().unwrap();
    let report = dag
        .runner()
        .run_id("airflow-1")
        .only(["count"])
        .unwrap()
        .reuse_output("extract", saved)
        .unwrap()
        .on_event(recorder.listener())
        .run()
        .await;
    recorder.flush().await.unwrap();
    assert_eq!(report.output::<u64>("count"), Some(&3));
    assert_eq!(second.settle_run("airflow-1").unwrap(), StepStatus::Running);
    // Mark the other two done as the two other tasks would.
    second
        .mark_reused("airflow-1", "broken", "airflow-0", Path::new("/dev/null"))
        .unwrap();
    second
        .mark_reused(
            "airflow-1",
            "after_broken",
            "airflow-0",
            Path::new("/dev/null"),
        )
        .unwrap();
    assert_eq!(
        second.settle_run("airflow-1").unwrap(),
        StepStatus::Succeeded
    );
    let run = first.run("airflow-1").unwrap().unwrap();
    assert_eq!(
        (run.status, run.trigger.as_str()),
        (StepStatus::Succeeded, "step")
    );
    let steps = first.steps("airflow-1").unwrap();
    assert_eq!(steps[2].reused_from.as_deref(), Some("airflow-0"));

    let other = Dag::builder("other")
        .step(Step::new("x", |_: StepContext, _: StepInputs| async {
            Ok::<_, etl_dag::Error>(())
        }))
        .build()
        .unwrap();
    let err = first
        .join_run(&RunStart::new("airflow-1", &other, Trigger::Step))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is a run of workflow \"nightly\", not \"other\""),
        "{err}"
    );
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

#[test]
fn processes_writing_one_store_at_once_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    drop(SqliteStore::open(&path).unwrap());
    let tries = Arc::new(AtomicU32::new(0));
    let dag = Arc::new(workflow(&tries));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (path, dag) = (path.clone(), dag.clone());
            std::thread::spawn(move || {
                let store = SqliteStore::open(&path).unwrap();
                for i in 0..25 {
                    let id = format!("w{w}-{i}");
                    store
                        .begin_run(&RunStart::new(id.as_str(), &dag, Trigger::Run))
                        .unwrap();
                    store.end_run(&id, StepStatus::Succeeded, None).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.runs("nightly", 1_000).unwrap().len(), 100);
    let newest = &store.runs("nightly", 1).unwrap()[0];
    assert_eq!(newest.status, StepStatus::Succeeded);
    // Ended runs cancel the steps that never ran.
    assert_eq!(newest.succeeded, 0);
}

#[test]
fn the_last_scheduled_tick_is_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("state.sqlite")).unwrap();
    let tries = Arc::new(AtomicU32::new(0));
    let dag = workflow(&tries);
    assert_eq!(store.last_scheduled("nightly").unwrap(), None);
    let tick = std::time::UNIX_EPOCH + Duration::from_secs(1_795_452_600);
    for (id, t) in [("a", tick - Duration::from_secs(60)), ("b", tick)] {
        store
            .begin_run(&RunStart::new(id, &dag, Trigger::Schedule).scheduled_for(t))
            .unwrap();
    }
    assert_eq!(store.last_scheduled("nightly").unwrap(), Some(tick));
}

#[test]
fn two_steps_settling_at_once_leave_the_run_finished() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let dag = Dag::builder("pair")
        .step(Step::new("a", |_: StepContext, _: StepInputs| async {
            Ok::<_, etl_dag::Error>(())
        }))
        .step(Step::new("b", |_: StepContext, _: StepInputs| async {
            Ok::<_, etl_dag::Error>(())
        }))
        .build()
        .unwrap();
    let stores: Vec<SqliteStore> = (0..2).map(|_| SqliteStore::open(&path).unwrap()).collect();
    // Two processes, each finishing its step of one run and settling it at
    // the same moment, many times over.
    for round in 0..300 {
        let run_id = format!("together-{round}");
        stores[0]
            .join_run(&RunStart::new(&run_id, &dag, Trigger::Step))
            .unwrap();
        let barrier = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            for (store, step) in stores.iter().zip(["a", "b"]) {
                let (barrier, run_id) = (&barrier, &run_id);
                scope.spawn(move || {
                    barrier.wait();
                    store
                        .mark_reused(run_id, step, "earlier", Path::new("/dev/null"))
                        .unwrap();
                    store.settle_run(run_id).unwrap();
                });
            }
        });
        let run = stores[0].run(&run_id).unwrap().unwrap();
        assert_eq!(run.status, StepStatus::Succeeded, "round {round}");
    }
}
