//! The conformance suite every [`StateStore`] passes: the embedded SQLite
//! store, the PostgreSQL one, yours.
//!
//! A [`Subject`] opens handles on one fresh store, each standing for a
//! process of its own, and can kill one. [`state_store_conformance!`](crate::state_store_conformance)
//! writes one `#[tokio::test]` per check:
//!
//! ```text
//! etl_testing::state_store_conformance!(MySubject::new);
//! ```
//!
//! What a conforming store does:
//!
//! - a run and each of its steps are recorded as they go: status, attempts,
//!   times, rows, errors, parameters, version, trigger, saved outputs; a run
//!   id is recorded once;
//! - a resumed run is RUNNING again, its chosen steps PENDING, attempts
//!   adding up; an unknown run is an error naming it;
//! - a run shared by processes (one step each) is joined, not duplicated,
//!   and settles to its steps' status, also when two settle at the same moment;
//! - a partial run reuses the newest saved output of the steps it skips;
//! - what a dead process held RUNNING is failed as abandoned (its PENDING
//!   steps cancelled), what a live one holds is not;
//! - many processes writing at once all succeed;
//! - the tick of the last scheduled run is kept to the microsecond.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use etl_dag::{Backoff, Codec, Dag, RunReport, Step, StepContext, StepInputs, StepStatus};
use etl_runs::state::{RunStart, StepRecord, Trigger};
use etl_runs::{NewRun, NoObserver, Runs, StateStore};

/// A future the suite awaits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One fresh store, and the processes that use it.
pub trait Subject: Send + Sync {
    /// A new handle on the store, as another process would open it.
    fn open(&self) -> BoxFuture<'_, Arc<dyn StateStore>>;
    /// Ends the process of handle `store` as a kill would (no goodbye): the
    /// handle is dropped, and, for a store that learns of deaths by leases,
    /// the lease is waited out.
    fn kill(&self, store: Arc<dyn StateStore>) -> BoxFuture<'_, ()>;
}

/// Writes one `#[tokio::test]` per check, each with the subject `$new()`
/// returns (a future of a [`Subject`]).
#[macro_export]
macro_rules! state_store_conformance {
    ($new:expr) => {
        $crate::state_store_conformance!(@tests $new;
            a_run_is_recorded_step_by_step, a_resumed_run_reruns_what_did_not_succeed,
            a_shared_run_follows_its_steps, two_settling_at_once_leave_the_run_finished,
            a_partial_run_reuses_the_newest_saved_outputs, a_dead_processes_runs_are_abandoned,
            writers_at_once_all_succeed, the_last_scheduled_tick_is_kept);
    };
    (@tests $new:expr; $($check:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let subject = ($new)().await;
                $crate::state::$check(&subject).await;
            }
        )*
    };
}

/// `extract` (fails once, then succeeds), `count` (takes it), `broken`
/// (always fails), `after_broken` (after it).
fn nightly(tries: &Arc<AtomicU32>) -> Dag {
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
        .expect("the suite's workflow builds")
}

fn pair() -> Dag {
    Dag::builder("pair")
        .step(Step::new("a", |_: StepContext, _: StepInputs| async {
            Ok::<_, etl_dag::Error>(())
        }))
        .step(Step::new("b", |_: StepContext, _: StepInputs| async {
            Ok::<_, etl_dag::Error>(())
        }))
        .build()
        .expect("the suite's workflow builds")
}

/// Runs `dag` as run `run_id` (already begun), recorded, outputs saved.
async fn run_recorded(
    store: &dyn StateStore,
    dag: &Dag,
    run_id: &str,
    only: Option<&[String]>,
) -> RunReport {
    let recorder = store.recorder().expect("a recorder");
    let record = recorder.clone();
    let mut runner = dag
        .runner()
        .run_id(run_id)
        .persist_outputs(store.outputs_dir(run_id).expect("an outputs folder"))
        .on_event(move |e| record.record(e));
    if let Some(only) = only {
        runner = runner.only(only).expect("known steps");
    }
    let report = runner.run().await;
    recorder.flush().await.expect("the events are written");
    store.finish_run(&report).await.expect("the run ends");
    report
}

/// Runs step `only` of the shared run `airflow-1`, recorded, taking
/// `reuse`'s saved output.
async fn run_one(
    store: &dyn StateStore,
    dag: &Dag,
    only: &str,
    reuse: Option<(&str, std::path::PathBuf)>,
) -> RunReport {
    let recorder = store.recorder().expect("a recorder");
    let record = recorder.clone();
    let mut runner = dag
        .runner()
        .run_id("airflow-1")
        .only([only])
        .expect("a known step")
        .persist_outputs(store.outputs_dir("airflow-1").expect("an outputs folder"))
        .on_event(move |e| record.record(e));
    if let Some((step, path)) = reuse {
        runner = runner.reuse_output(step, path).expect("a known step");
    }
    let report = runner.run().await;
    recorder.flush().await.expect("the events are written");
    report
}

fn step<'a>(steps: &'a [StepRecord], name: &str) -> &'a StepRecord {
    steps
        .iter()
        .find(|s| s.step == name)
        .unwrap_or_else(|| panic!("step {name:?} is recorded: {steps:?}"))
}

/// Status, attempts, times, rows, errors, parameters and outputs, as a
/// run goes and once it ended.
pub async fn a_run_is_recorded_step_by_step(subject: &impl Subject) {
    let store = subject.open().await;
    let store = &*store;
    let tries = Arc::new(AtomicU32::new(0));
    let dag = nightly(&tries);
    let params = BTreeMap::from([
        ("day".to_owned(), "2024-03-01".to_owned()),
        ("note".to_owned(), "quotes \" and 'ünïcode' 🦀".to_owned()),
    ]);
    store
        .begin_run(
            &RunStart::new("r1", &dag, Trigger::Run)
                .params(params.clone())
                .version("1.2.3"),
        )
        .await
        .expect("the run begins");
    let during = store.run("r1").await.unwrap().expect("recorded");
    assert_eq!(during.status, StepStatus::Running);
    assert_eq!(during.finished_at, None);
    let pending = store.steps("r1").await.unwrap();
    assert_eq!(pending.len(), 4);
    assert!(pending.iter().all(|s| s.status == StepStatus::Pending));

    let report = run_recorded(store, &dag, "r1", None).await;
    assert!(!report.succeeded());
    let run = store.run("r1").await.unwrap().expect("recorded");
    assert_eq!(run.status, StepStatus::Failed);
    assert_eq!(run.params, params);
    assert_eq!(
        (run.version.as_str(), run.trigger.as_str()),
        ("1.2.3", "run")
    );
    assert_eq!((run.steps, run.succeeded), (4, 2));
    assert_eq!(
        run.error.as_deref(),
        Some("broken FAILED, after_broken SKIPPED")
    );
    assert!(run.duration().is_some());

    let steps = store.steps("r1").await.unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(
        names,
        ["extract", "count", "broken", "after_broken"],
        "steps come back in the workflow's order"
    );
    let extract = step(&steps, "extract");
    assert_eq!(
        (extract.status, extract.attempts, extract.error.as_deref()),
        (StepStatus::Succeeded, 2, None)
    );
    assert_eq!(
        extract.output.as_deref(),
        Some(&*store.outputs_dir("r1").unwrap().join("extract.json"))
    );
    assert!(extract.duration().is_some());
    let broken = step(&steps, "broken");
    assert_eq!(broken.status, StepStatus::Failed);
    assert!(
        broken
            .error
            .as_deref()
            .unwrap_or("")
            .contains("bad credentials")
    );
    let after = step(&steps, "after_broken");
    assert_eq!((after.status, after.attempts), (StepStatus::Skipped, 0));

    // The newest saved output of a step, for runs that reuse it; a run that
    // reuses it points at the run that produced it.
    let (from, file) = store
        .latest_output("nightly", "count")
        .await
        .unwrap()
        .expect("saved");
    assert_eq!(from, "r1");
    assert_eq!(std::fs::read_to_string(file).unwrap(), "3");
    assert_eq!(
        store.latest_output("nightly", "broken").await.unwrap(),
        None
    );
    store
        .begin_run(&RunStart::new("r2", &dag, Trigger::Run))
        .await
        .unwrap();
    let saved = store.outputs_dir("r1").unwrap().join("count.json");
    store
        .mark_reused("r2", "count", "r1", &saved)
        .await
        .unwrap();
    assert_eq!(
        store.latest_output("nightly", "count").await.unwrap(),
        Some(("r1".to_owned(), saved))
    );
    let r2 = store.steps("r2").await.unwrap();
    assert_eq!(step(&r2, "count").reused_from.as_deref(), Some("r1"));

    store
        .fail_step("r2", "extract", "its input was not there")
        .await
        .unwrap();
    let r2 = store.steps("r2").await.unwrap();
    assert_eq!(
        (
            step(&r2, "extract").status,
            step(&r2, "extract").error.as_deref()
        ),
        (StepStatus::Failed, Some("its input was not there"))
    );

    let newest: Vec<String> = store
        .runs("nightly", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(newest, ["r2", "r1"], "newest first");
    assert_eq!(store.runs("nightly", 1).await.unwrap().len(), 1);
    assert!(store.run("nope").await.unwrap().is_none());

    let err = store
        .begin_run(&RunStart::new("r1", &dag, Trigger::Run))
        .await
        .expect_err("a run id is recorded once")
        .to_string();
    assert!(err.contains("run \"r1\" is already recorded"), "{err}");
    // Run ids that would name another folder are refused.
    assert!(store.outputs_dir("../elsewhere").is_err());
}

/// Resuming: RUNNING again, the chosen steps PENDING, attempts adding up.
pub async fn a_resumed_run_reruns_what_did_not_succeed(subject: &impl Subject) {
    let store = subject.open().await;
    let store = &*store;
    let tries = Arc::new(AtomicU32::new(0));
    let dag = nightly(&tries);
    store
        .begin_run(&RunStart::new("r1", &dag, Trigger::Run))
        .await
        .unwrap();
    run_recorded(store, &dag, "r1", None).await;

    let again = vec!["broken".to_owned(), "after_broken".to_owned()];
    store.resume_run("r1", &again).await.unwrap();
    let run = store.run("r1").await.unwrap().unwrap();
    assert_eq!((run.status, run.finished_at), (StepStatus::Running, None));
    let steps = store.steps("r1").await.unwrap();
    assert_eq!(step(&steps, "broken").status, StepStatus::Pending);
    assert_eq!(step(&steps, "extract").status, StepStatus::Succeeded);

    run_recorded(store, &dag, "r1", Some(&again)).await;
    let steps = store.steps("r1").await.unwrap();
    let broken = step(&steps, "broken");
    assert_eq!((broken.status, broken.attempts), (StepStatus::Failed, 2));
    assert_eq!(
        step(&steps, "extract").attempts,
        2,
        "extract was not run again"
    );

    let err = store
        .resume_run("nope", &again)
        .await
        .expect_err("an unknown run")
        .to_string();
    assert!(err.contains("no run \"nope\""), "{err}");
}

/// Two processes each run one step of a shared run: joined, not duplicated;
/// its status follows its steps'.
pub async fn a_shared_run_follows_its_steps(subject: &impl Subject) {
    let tries = Arc::new(AtomicU32::new(1));
    let dag = nightly(&tries);
    let start = RunStart::new("airflow-1", &dag, Trigger::Step);
    let first = subject.open().await;
    let second = subject.open().await;
    first.join_run(&start).await.unwrap();
    second.join_run(&start).await.unwrap();
    assert_eq!(
        first.steps("airflow-1").await.unwrap().len(),
        4,
        "joined once"
    );

    run_one(&*first, &dag, "extract", None).await;
    assert_eq!(
        first.settle_run("airflow-1").await.unwrap(),
        StepStatus::Running
    );
    let (_, saved) = second
        .latest_output("nightly", "extract")
        .await
        .unwrap()
        .expect("extract's output");
    let report = run_one(&*second, &dag, "count", Some(("extract", saved))).await;
    assert_eq!(report.output::<u64>("count"), Some(&3));
    assert_eq!(
        second.settle_run("airflow-1").await.unwrap(),
        StepStatus::Running
    );
    for done in ["broken", "after_broken"] {
        second
            .mark_reused("airflow-1", done, "airflow-0", Path::new("/dev/null"))
            .await
            .unwrap();
    }
    assert_eq!(
        second.settle_run("airflow-1").await.unwrap(),
        StepStatus::Succeeded
    );
    let run = first.run("airflow-1").await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.trigger.as_str()),
        (StepStatus::Succeeded, "step")
    );
    assert!(run.finished_at.is_some());

    let other = Dag::builder("other")
        .step(Step::new("x", |_: StepContext, _: StepInputs| async {
            Ok::<_, etl_dag::Error>(())
        }))
        .build()
        .unwrap();
    let err = first
        .join_run(&RunStart::new("airflow-1", &other, Trigger::Step))
        .await
        .expect_err("a run of another workflow")
        .to_string();
    assert!(
        err.contains("is a run of workflow \"nightly\", not \"other\""),
        "{err}"
    );
}

/// Two processes finishing the two steps of one run and settling it at the
/// same moment, many times over: the run always ends SUCCEEDED.
pub async fn two_settling_at_once_leave_the_run_finished(subject: &impl Subject) {
    let dag = pair();
    let stores = [subject.open().await, subject.open().await];
    for round in 0..100 {
        let run_id = format!("together-{round}");
        stores[0]
            .join_run(&RunStart::new(&run_id, &dag, Trigger::Step))
            .await
            .unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let tasks: Vec<_> = stores
            .iter()
            .zip(["a", "b"])
            .map(|(store, step)| {
                let (store, barrier, run_id) = (store.clone(), barrier.clone(), run_id.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    store
                        .mark_reused(&run_id, step, "earlier", Path::new("/dev/null"))
                        .await
                        .unwrap();
                    store.settle_run(&run_id).await.unwrap();
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let run = stores[0].run(&run_id).await.unwrap().unwrap();
        assert_eq!(run.status, StepStatus::Succeeded, "round {round}");
    }
}

/// A run of some steps takes the others' outputs from the newest run that
/// saved them, and records where from.
pub async fn a_partial_run_reuses_the_newest_saved_outputs(subject: &impl Subject) {
    let store = subject.open().await;
    let tries = Arc::new(AtomicU32::new(1));
    let dag = nightly(&tries);
    let runs = Runs::new(&dag, &*store, "1.0.0");
    let (_, first) = runs
        .start(NewRun::new(Trigger::Run), Arc::new(NoObserver))
        .await
        .expect("a whole run");
    let mut only = NewRun::new(Trigger::Run);
    only.only = vec!["count".to_owned()];
    let (report, second) = runs
        .start(only, Arc::new(NoObserver))
        .await
        .expect("a partial run");
    assert_eq!(report.output::<u64>("count"), Some(&3));
    let steps = store.steps(&second).await.unwrap();
    assert_eq!(
        (
            step(&steps, "extract").status,
            step(&steps, "extract").reused_from.as_deref()
        ),
        (StepStatus::Succeeded, Some(first.as_str()))
    );
    assert_eq!(step(&steps, "count").attempts, 1);
    assert_eq!(
        tries.load(Ordering::SeqCst),
        2,
        "extract ran once, in the first run"
    );
}

/// What a killed process held RUNNING is failed as abandoned, its PENDING
/// steps cancelled; a live process's run is left alone.
pub async fn a_dead_processes_runs_are_abandoned(subject: &impl Subject) {
    let tries = Arc::new(AtomicU32::new(0));
    let dag = nightly(&tries);
    let live = subject.open().await;
    live.begin_run(&RunStart::new("live", &dag, Trigger::Run))
        .await
        .unwrap();
    let doomed = subject.open().await;
    doomed
        .begin_run(&RunStart::new("dead", &dag, Trigger::Run))
        .await
        .unwrap();
    // It was running `extract` when it died.
    let recorder = doomed.recorder().unwrap();
    recorder.record(&etl_dag::StepEvent::new(
        "dead",
        "extract",
        StepStatus::Running,
        1,
    ));
    recorder.flush().await.unwrap();
    // And held a step of a shared run.
    doomed
        .join_run(&RunStart::new("shared", &pair(), Trigger::Step))
        .await
        .unwrap();
    recorder.record(&etl_dag::StepEvent::new(
        "shared",
        "a",
        StepStatus::Running,
        1,
    ));
    recorder.flush().await.unwrap();
    drop(recorder);
    subject.kill(doomed).await;

    let other = subject.open().await;
    let mut recovered = other.recover_abandoned().await.unwrap();
    recovered.sort();
    // Opening may have recovered them already; either way they are ended.
    let dead = other.run("dead").await.unwrap().unwrap();
    assert_eq!(dead.status, StepStatus::Failed);
    let why = dead.error.clone().unwrap_or_default();
    assert!(why.starts_with("abandoned: "), "{why}");
    assert!(dead.finished_at.is_some());
    let steps = other.steps("dead").await.unwrap();
    assert_eq!(step(&steps, "extract").status, StepStatus::Failed);
    assert!(
        step(&steps, "extract")
            .error
            .as_deref()
            .unwrap_or("")
            .starts_with("abandoned: ")
    );
    assert_eq!(step(&steps, "count").status, StepStatus::Cancelled);
    let shared = other.run("shared").await.unwrap().unwrap();
    assert_eq!(shared.status, StepStatus::Failed, "the shared run settles");
    assert_eq!(
        other.run("live").await.unwrap().unwrap().status,
        StepStatus::Running,
        "a live process's run is left alone"
    );
    assert_eq!(
        other.recover_abandoned().await.unwrap(),
        Vec::<String>::new()
    );

    // Once the live process is gone, its run is abandoned too.
    subject.kill(live).await;
    assert_eq!(other.recover_abandoned().await.unwrap(), ["live"]);
    assert_eq!(
        other.run("live").await.unwrap().unwrap().status,
        StepStatus::Failed
    );
}

/// Four processes, 25 runs each, at once: every one recorded and ended.
pub async fn writers_at_once_all_succeed(subject: &impl Subject) {
    let dag = Arc::new(pair());
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = subject.open().await;
        let dag = dag.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let id = format!("w{w}-{i}");
                store
                    .begin_run(&RunStart::new(id.as_str(), &dag, Trigger::Run))
                    .await
                    .unwrap();
                run_recorded(&*store, &dag, &id, None).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("a writer finished");
    }
    let store = subject.open().await;
    let runs = store.runs("pair", 1_000).await.unwrap();
    assert_eq!(runs.len(), 100);
    assert!(
        runs.iter()
            .all(|r| r.status == StepStatus::Succeeded && r.succeeded == 2)
    );
}

/// The tick of the newest scheduled run, to the microsecond.
pub async fn the_last_scheduled_tick_is_kept(subject: &impl Subject) {
    let store = subject.open().await;
    let dag = pair();
    assert_eq!(store.last_scheduled("pair").await.unwrap(), None);
    let tick = std::time::UNIX_EPOCH + Duration::from_micros(1_795_452_600_123_456);
    for (id, t) in [("a", tick - Duration::from_secs(60)), ("b", tick)] {
        store
            .begin_run(&RunStart::new(id, &dag, Trigger::Schedule).scheduled_for(t))
            .await
            .unwrap();
    }
    assert_eq!(store.last_scheduled("pair").await.unwrap(), Some(tick));
    let run = store.run("b").await.unwrap().unwrap();
    assert_eq!(
        (run.scheduled_for, run.trigger.as_str()),
        (Some(tick), "schedule")
    );
}
