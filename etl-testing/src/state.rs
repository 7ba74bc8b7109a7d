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
//! - the tick of the last scheduled run is kept to the microsecond;
//! - queued runs are worked through by workers that claim their runnable
//!   steps: two workers on 200 runs run every step once; a step that fails
//!   skips what follows; a step whose worker was killed is taken over as a
//!   new attempt, and the run finishes;
//! - workflows are registered (graph, parameters, schedule, version; the
//!   last registration wins, enabled kept), disabled and enabled again,
//!   and deleted with their history, which is refused while a run of
//!   theirs runs unless forced;
//! - a queued run asked to stop cancels its pending steps at once and its
//!   running one within a poll of its worker; queued again, it finishes,
//!   attempts adding up;
//! - runs of every workflow are listed newest first, by page (a cursor that
//!   names no run is an error), and filtered by workflow, status and time.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use etl_dag::{Backoff, Codec, Dag, RunReport, Step, StepContext, StepInputs, StepStatus};
use etl_runs::registry::WorkflowInfo;
use etl_runs::state::{AttemptRecord, RunStart, StepRecord, Trigger};
use etl_runs::{Error, NewRun, NoObserver, RunQuery, Runs, StateStore, Worker};

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
            writers_at_once_all_succeed, the_last_scheduled_tick_is_kept,
            two_workers_run_each_queued_step_once, a_failed_queued_step_skips_what_follows,
            a_dead_workers_step_is_taken_over_as_a_new_attempt,
            workflows_are_registered_enabled_and_deleted, runs_are_listed_by_page_and_filter,
            a_cancelled_queued_run_stops_and_a_requeued_one_finishes,
            metrics_count_runs_steps_the_queue_and_durations,
            a_failed_step_of_a_shared_run_skips_its_dependents_naming_it,
            a_run_whose_steps_ended_unsettled_is_settled_by_whoever_sees_it);
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
    reuse: Option<(&str, String)>,
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

/// The attempts of step `name` of run `run_id`, the first first.
async fn tried(store: &dyn StateStore, run_id: &str, name: &str) -> Vec<AttemptRecord> {
    let mut attempts = store.attempts(run_id).await.expect("the attempts");
    attempts.retain(|a| a.step == name);
    attempts
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
        store
            .outputs_dir("r1")
            .unwrap()
            .join("extract.json")
            .to_str()
    );
    assert!(extract.duration().is_some());
    // Each attempt with its own times: the first failed, was retried.
    let history = tried(store, "r1", "extract").await;
    let how: Vec<_> = history
        .iter()
        .map(|a| (a.attempt, a.status, a.error.as_deref()))
        .collect();
    assert_eq!(
        how,
        [
            (1, Some(StepStatus::Failed), Some("the source is down")),
            (2, Some(StepStatus::Succeeded), None)
        ],
        "{extract:?}"
    );
    let (one, two) = (&history[0], &history[1]);
    assert!(
        one.finished_at.is_some_and(|end| end <= two.started_at),
        "the first attempt ended before the second began: {extract:?}"
    );
    assert_eq!(extract.started_at, Some(one.started_at));
    assert_eq!(extract.finished_at, two.finished_at);
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
    assert!(
        tried(store, "r1", "after_broken").await.is_empty(),
        "a skipped step was never tried"
    );

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
    let saved = saved.to_str().expect("a UTF-8 path").to_owned();
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
            .mark_reused("airflow-1", done, "airflow-0", "/dev/null")
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
                        .mark_reused(&run_id, step, "earlier", "/dev/null")
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

/// Counts, per run and step, how many times each step ran.
type Ran = Arc<std::sync::Mutex<BTreeMap<(String, String), u32>>>;

/// `a` → `b`, `a` → `c` (both take `a`'s number), `d` after `b` and `c`.
/// `fail` names a step that fails; `slow`, one whose first attempt (over
/// the whole test) hangs.
fn diamond(
    ran: &Ran,
    fail: Option<&'static str>,
    slow: Option<(&'static str, Arc<AtomicU32>)>,
) -> Dag {
    let step = |name: &'static str, inputs: &[&str]| {
        let (ran, slow) = (ran.clone(), slow.clone());
        let s = Step::new(name, move |cx: StepContext, _: StepInputs| {
            let (ran, slow) = (ran.clone(), slow.clone());
            async move {
                *ran.lock()
                    .unwrap()
                    .entry((cx.run_id().to_owned(), name.to_owned()))
                    .or_default() += 1;
                if let Some((slow_step, tries)) = slow
                    && slow_step == name
                    && tries.fetch_add(1, Ordering::SeqCst) == 0
                {
                    tokio::time::sleep(Duration::from_secs(600)).await;
                }
                if fail == Some(name) {
                    return Err(etl_dag::BoxError::from(format!("{name} broke")));
                }
                Ok::<_, etl_dag::BoxError>(7_u64)
            }
        })
        .codec(Codec::json::<u64>());
        s.inputs(inputs.iter().copied())
    };
    Dag::builder("diamond")
        .step(step("a", &[]))
        .step(step("b", &["a"]))
        .step(step("c", &["a"]))
        .step(step("d", &[]).after(["b", "c"]))
        .build()
        .expect("the suite's workflow builds")
}

/// A worker of `dag` over `store` in a task of its own, until `stop`.
fn worker(
    dag: Arc<Dag>,
    store: Arc<dyn StateStore>,
    concurrency: usize,
    stop: etl_dag::CancellationToken,
) -> tokio::task::JoinHandle<etl_runs::WorkerReport> {
    tokio::spawn(async move {
        let runs = Runs::new(&dag, &*store, "1.0.0");
        Worker::new(&runs)
            .concurrency(concurrency)
            .poll(Duration::from_millis(20))
            .run(stop, Arc::new(NoObserver))
            .await
    })
}

/// Waits until `n` runs of `workflow` have ended, or fails after `limit`.
async fn until_ended(store: &dyn StateStore, workflow: &str, n: usize, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let runs = store.runs(workflow, n + 10).await.unwrap();
        let ended = runs
            .iter()
            .filter(|r| r.status != StepStatus::Running)
            .count();
        if ended >= n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{ended} of {n} queued runs ended within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two workers, 200 queued runs: every step runs once (counted by the steps
/// and in the store) and every run succeeds.
pub async fn two_workers_run_each_queued_step_once(subject: &impl Subject) {
    let ran = Ran::default();
    let dag = Arc::new(diamond(&ran, None, None));
    let store = subject.open().await;
    let runs = Runs::new(&dag, &*store, "1.0.0");
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids.push(
            runs.enqueue(BTreeMap::new())
                .await
                .expect("a run is queued"),
        );
    }
    let first = subject.open().await;
    let second = subject.open().await;
    let stop = etl_dag::CancellationToken::new();
    let workers = [
        worker(dag.clone(), first, 2, stop.clone()),
        worker(dag.clone(), second, 2, stop.clone()),
    ];
    until_ended(&*store, "diamond", 200, Duration::from_secs(240)).await;
    stop.cancel();
    let mut done = 0;
    for w in workers {
        let report = w.await.expect("the worker stopped");
        assert_eq!(report.failed, 0);
        assert!(
            report.steps > 0,
            "each worker took some of the work: {report:?}"
        );
        done += report.steps;
    }
    assert_eq!(done, 800);
    let counts = ran.lock().unwrap().clone();
    assert_eq!(counts.len(), 800, "every step of every run ran");
    assert!(counts.values().all(|n| *n == 1), "no step ran twice");
    for id in &ids {
        let run = store.run(id).await.unwrap().expect("recorded");
        assert_eq!(
            (run.status, run.trigger.as_str()),
            (StepStatus::Succeeded, "queue")
        );
        let steps = store.steps(id).await.unwrap();
        assert!(
            steps
                .iter()
                .all(|s| s.attempts == 1 && s.status == StepStatus::Succeeded),
            "{steps:?}"
        );
    }
}

/// A queued step that fails skips the steps after it; the run fails.
pub async fn a_failed_queued_step_skips_what_follows(subject: &impl Subject) {
    let ran = Ran::default();
    let dag = Arc::new(diamond(&ran, Some("b"), None));
    let store = subject.open().await;
    let id = Runs::new(&dag, &*store, "1.0.0")
        .enqueue(BTreeMap::new())
        .await
        .unwrap();
    let stop = etl_dag::CancellationToken::new();
    let w = worker(dag.clone(), subject.open().await, 2, stop.clone());
    until_ended(&*store, "diamond", 1, Duration::from_secs(60)).await;
    stop.cancel();
    w.await.unwrap();
    let run = store.run(&id).await.unwrap().unwrap();
    assert_eq!(run.status, StepStatus::Failed);
    let steps = store.steps(&id).await.unwrap();
    assert_eq!(step(&steps, "b").status, StepStatus::Failed);
    assert!(
        step(&steps, "b")
            .error
            .as_deref()
            .unwrap_or("")
            .contains("b broke")
    );
    assert_eq!(step(&steps, "c").status, StepStatus::Succeeded);
    let d = step(&steps, "d");
    assert_eq!(
        (d.status, d.error.as_deref()),
        (StepStatus::Skipped, Some("not run: step \"b\" failed"))
    );
    assert!(
        !ran.lock()
            .unwrap()
            .contains_key(&(id.clone(), "d".to_owned()))
    );
}

/// A worker killed while it runs a step: once its lease runs out another
/// worker takes the step up as a new attempt, and the run finishes; the step
/// is recorded once, with two attempts.
pub async fn a_dead_workers_step_is_taken_over_as_a_new_attempt(subject: &impl Subject) {
    let ran = Ran::default();
    let tries = Arc::new(AtomicU32::new(0));
    let dag = Arc::new(diamond(&ran, None, Some(("b", tries.clone()))));
    let store = subject.open().await;
    let id = Runs::new(&dag, &*store, "1.0.0")
        .enqueue(BTreeMap::new())
        .await
        .unwrap();
    let doomed = subject.open().await;
    let first = worker(
        dag.clone(),
        doomed.clone(),
        2,
        etl_dag::CancellationToken::new(),
    );
    // Until `b` hangs in its first attempt.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tries.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "b never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Its RUNNING is recorded by the worker's recorder, a moment later.
    loop {
        let b = step(&store.steps(&id).await.unwrap(), "b").clone();
        if b.status == StepStatus::Running {
            assert_eq!(b.attempts, 1);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "b never recorded RUNNING: {b:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // kill -9: the worker's task and everything it runs stop at once.
    first.abort();
    let _ = first.await;
    subject.kill(doomed).await;

    let stop = etl_dag::CancellationToken::new();
    let second = worker(dag.clone(), subject.open().await, 2, stop.clone());
    until_ended(&*store, "diamond", 1, Duration::from_secs(60)).await;
    stop.cancel();
    second.await.unwrap();
    let run = store.run(&id).await.unwrap().unwrap();
    assert_eq!(run.status, StepStatus::Succeeded, "{run:?}");
    let steps = store.steps(&id).await.unwrap();
    let b = step(&steps, "b");
    assert_eq!((b.status, b.attempts), (StepStatus::Succeeded, 2), "{b:?}");
    // The lost attempt has no recorded end; the one that took over has.
    let how: Vec<_> = tried(&*store, &id, "b")
        .await
        .iter()
        .map(|a| (a.attempt, a.finished_at.is_some(), a.status))
        .collect();
    assert_eq!(
        how,
        [(1, false, None), (2, true, Some(StepStatus::Succeeded))],
        "{b:?}"
    );
    {
        let ran = ran.lock().unwrap();
        assert_eq!(ran[&(id.clone(), "b".to_owned())], 2, "b started twice");
        for other in ["a", "c", "d"] {
            assert_eq!(ran[&(id.clone(), other.to_owned())], 1, "{other} ran once");
            assert_eq!(step(&steps, other).attempts, 1);
        }
    }
    // b's claim, and c's too when the dead worker had claimed it (two at
    // a time) but not started it.
    let metrics = store.metrics().await.unwrap();
    let lost = metrics.lost_claims.first().map(|(w, n)| (w.as_str(), *n));
    assert!(
        matches!(lost, Some(("diamond", 1 | 2))),
        "the claims the dead worker lost: {lost:?}"
    );
}

/// Registered, listed, disabled, enabled, re-registered, refused deletion
/// while running, deleted with its history; other workflows untouched.
pub async fn workflows_are_registered_enabled_and_deleted(subject: &impl Subject) {
    let store = subject.open().await;
    let other = subject.open().await;
    let dag = pair();
    assert!(store.workflows().await.unwrap().is_empty());
    assert!(store.workflow("pair").await.unwrap().is_none());
    let info = WorkflowInfo::of(&dag, "1.0.0").scheduled(Some("*/5 * * * *"), Some("Europe/Paris"));
    store.register_workflow(&info).await.unwrap();
    let record = other.workflow("pair").await.unwrap().expect("registered");
    assert_eq!(record.info, info, "what was registered reads back whole");
    assert!(record.enabled, "a new workflow is enabled");

    other.set_enabled("pair", false).await.unwrap();
    // A new version registers: the graph changes, the switch stays off.
    let newer = WorkflowInfo::of(&nightly(&Arc::default()), "1.1.0");
    let mut renamed = newer.clone();
    renamed.name = "pair".into();
    store.register_workflow(&renamed).await.unwrap();
    let record = store.workflow("pair").await.unwrap().unwrap();
    assert_eq!(
        (record.info.version.as_str(), record.enabled),
        ("1.1.0", false)
    );
    assert_eq!(record.info.steps, newer.steps);
    assert!(record.updated_at >= record.registered_at);
    store.set_enabled("pair", true).await.unwrap();
    assert!(store.workflow("pair").await.unwrap().unwrap().enabled);
    match store.set_enabled("nope", false).await {
        Err(Error::UnknownWorkflow { name, .. }) => assert_eq!(name, "nope"),
        other => panic!("disabling an unknown workflow: {other:?}"),
    }

    // Two runs of it, one of another workflow; one of its runs still runs.
    store
        .register_workflow(&WorkflowInfo::of(
            &diamond(&Ran::default(), None, None),
            "1.0.0",
        ))
        .await
        .unwrap();
    store
        .begin_run(&RunStart::new("pair-done", &dag, Trigger::Run))
        .await
        .unwrap();
    run_recorded(&*store, &dag, "pair-done", None).await;
    store
        .begin_run(&RunStart::new("pair-running", &dag, Trigger::Run))
        .await
        .unwrap();
    let kept = RunStart::new(
        "diamond-1",
        &diamond(&Ran::default(), None, None),
        Trigger::Run,
    );
    store.begin_run(&kept).await.unwrap();
    match other.delete_workflow("pair", false).await {
        Err(Error::WorkflowRunning { name, run_id }) => {
            assert_eq!((name.as_str(), run_id.as_str()), ("pair", "pair-running"));
        }
        other => panic!("deleting a workflow with a running run: {other:?}"),
    }
    assert!(
        store.run("pair-done").await.unwrap().is_some(),
        "a refused delete deletes nothing"
    );
    assert_eq!(other.delete_workflow("pair", true).await.unwrap(), 2);
    assert!(store.workflow("pair").await.unwrap().is_none());
    for run_id in ["pair-done", "pair-running"] {
        assert!(
            store.run(run_id).await.unwrap().is_none(),
            "{run_id} deleted"
        );
        assert!(
            store.steps(run_id).await.unwrap().is_empty(),
            "{run_id}'s steps deleted"
        );
    }
    assert!(
        store.run("diamond-1").await.unwrap().is_some(),
        "another workflow's run kept"
    );
    assert_eq!(store.workflows().await.unwrap().len(), 1);
    match store.delete_workflow("pair", false).await {
        Err(Error::UnknownWorkflow { name, .. }) => assert_eq!(name, "pair"),
        other => panic!("deleting it again: {other:?}"),
    }
}

/// 25 runs of two workflows: pages of 10 cover them all once, newest
/// first; filters by workflow, status and start time; a cursor naming no
/// run is an error; who started a run is kept.
pub async fn runs_are_listed_by_page_and_filter(subject: &impl Subject) {
    let store = subject.open().await;
    let (a, b) = (pair(), diamond(&Ran::default(), None, None));
    let mut ids = Vec::new();
    for i in 0..25 {
        let (dag, id) = if i % 5 == 0 {
            (&b, format!("b-{i:02}"))
        } else {
            (&a, format!("a-{i:02}"))
        };
        store
            .begin_run(&RunStart::new(&id, dag, Trigger::Run).started_by(format!("test {i}")))
            .await
            .unwrap();
        if i % 2 == 0 {
            run_recorded(&*store, dag, &id, None).await;
        }
        ids.push(id);
    }
    let mut seen = Vec::new();
    let mut query = RunQuery::default().limit(10);
    loop {
        let page = store.list_runs(&query).await.unwrap();
        seen.extend(page.iter().map(|r| r.run_id.clone()));
        match page.last() {
            Some(last) if page.len() == 10 => query = query.clone().after(&last.run_id),
            _ => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(
        seen, newest_first,
        "pages cover every run once, newest first"
    );

    let of_b = store
        .list_runs(&RunQuery::default().workflow("diamond"))
        .await
        .unwrap();
    assert_eq!(of_b.len(), 5);
    assert!(of_b.iter().all(|r| r.workflow == "diamond"));
    let running = store
        .list_runs(&RunQuery::default().status(StepStatus::Running).limit(100))
        .await
        .unwrap();
    assert_eq!(running.len(), 12, "the odd runs still run");
    let third = store.run(&ids[20]).await.unwrap().unwrap();
    assert_eq!(third.started_by.as_deref(), Some("test 20"));
    let since = store
        .list_runs(
            &RunQuery::default()
                .started(Some(third.started_at), None)
                .limit(100),
        )
        .await
        .unwrap();
    assert!(since.iter().all(|r| r.started_at >= third.started_at));
    for id in &ids[20..] {
        assert!(
            since.iter().any(|r| &r.run_id == id),
            "{id} started since run 20"
        );
    }
    let until = store
        .list_runs(
            &RunQuery::default()
                .started(None, Some(third.started_at))
                .limit(100),
        )
        .await
        .unwrap();
    assert!(until.iter().all(|r| r.started_at < third.started_at) && until.len() >= 20);
    let ended = store
        .list_runs(
            &RunQuery::default()
                .finished_since(third.started_at)
                .limit(100),
        )
        .await
        .unwrap();
    let mut got: Vec<&String> = ended.iter().map(|r| &r.run_id).collect();
    got.sort();
    let mut expected: Vec<&String> = ids[20..].iter().step_by(2).collect();
    expected.sort();
    assert_eq!(got, expected, "the runs that ended since run 20 started");
    match store
        .list_runs(&RunQuery::default().after("no-such-run"))
        .await
    {
        Err(Error::UnknownRun { run_id, .. }) => assert_eq!(run_id, "no-such-run"),
        other => panic!("a cursor naming no run: {other:?}"),
    }
}

/// A queued run whose `b` hangs: cancelled, its pending step is CANCELLED at
/// once and the worker stops `b` within a poll; the run ends CANCELLED.
/// Queued again, what did not succeed runs (b's second attempt) and the run
/// succeeds. Cancelling an ended or unknown run, and queueing a running one
/// again, are errors naming it.
pub async fn a_cancelled_queued_run_stops_and_a_requeued_one_finishes(subject: &impl Subject) {
    let ran = Ran::default();
    let tries = Arc::new(AtomicU32::new(0));
    let dag = Arc::new(diamond(&ran, None, Some(("b", tries.clone()))));
    let store = subject.open().await;
    let id = Runs::new(&dag, &*store, "1.0.0")
        .enqueue(BTreeMap::new())
        .await
        .unwrap();
    let stop = etl_dag::CancellationToken::new();
    let running = worker(dag.clone(), subject.open().await, 2, stop.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tries.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "b never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    match store.requeue_run(&id, &["b".to_owned()]).await {
        Err(Error::StillRunning { run_id }) => assert_eq!(run_id, id),
        other => panic!("queueing a running run again: {other:?}"),
    }
    let asked = tokio::time::Instant::now();
    store.cancel_run(&id, "cancelled by a test").await.unwrap();
    let d = step(&store.steps(&id).await.unwrap(), "d").clone();
    assert_eq!(
        (d.status, d.error.as_deref()),
        (StepStatus::Cancelled, Some("cancelled by a test"))
    );
    assert!(store.run(&id).await.unwrap().unwrap().cancel_requested);
    until_ended(&*store, "diamond", 1, Duration::from_secs(30)).await;
    assert!(
        asked.elapsed() < etl_runs::CANCEL_POLL * 5,
        "stopped within a poll: {:?}",
        asked.elapsed()
    );
    let run = store.run(&id).await.unwrap().unwrap();
    assert_eq!(run.status, StepStatus::Cancelled, "{run:?}");
    let steps = store.steps(&id).await.unwrap();
    assert_eq!(step(&steps, "b").status, StepStatus::Cancelled);
    assert_eq!(step(&steps, "a").status, StepStatus::Succeeded);
    match store.cancel_run(&id, "again").await {
        Err(Error::RunEnded { run_id, status }) => {
            assert_eq!((run_id, status.as_str()), (id.clone(), "CANCELLED"))
        }
        other => panic!("cancelling an ended run: {other:?}"),
    }
    match store.cancel_run("no-such-run", "x").await {
        Err(Error::UnknownRun { run_id, .. }) => assert_eq!(run_id, "no-such-run"),
        other => panic!("cancelling an unknown run: {other:?}"),
    }

    let again: Vec<String> = steps
        .iter()
        .filter(|s| s.status != StepStatus::Succeeded)
        .map(|s| s.step.clone())
        .collect();
    store.requeue_run(&id, &again).await.unwrap();
    let run = store.run(&id).await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.trigger.as_str(), run.cancel_requested),
        (StepStatus::Running, "queue", false)
    );
    until_ended(&*store, "diamond", 1, Duration::from_secs(60)).await;
    stop.cancel();
    running.await.unwrap();
    let run = store.run(&id).await.unwrap().unwrap();
    assert_eq!(run.status, StepStatus::Succeeded, "{run:?}");
    let steps = store.steps(&id).await.unwrap();
    assert_eq!(step(&steps, "b").attempts, 2, "b's attempts add up");
    assert_eq!(step(&steps, "a").attempts, 1, "a did not run again");
}

/// Two queued runs: counted RUNNING with their steps in the queue; once a
/// worker has run them, SUCCEEDED, the queue empty, every step's duration
/// in the histogram.
pub async fn metrics_count_runs_steps_the_queue_and_durations(subject: &impl Subject) {
    let ran = Ran::default();
    let dag = Arc::new(diamond(&ran, None, None));
    let store = subject.open().await;
    let runs = Runs::new(&dag, &*store, "1.0.0");
    for _ in 0..2 {
        runs.enqueue(BTreeMap::new()).await.unwrap();
    }
    let metrics = store.metrics().await.unwrap();
    assert_eq!(
        metrics.runs,
        [("diamond".to_owned(), "RUNNING".to_owned(), 2)]
    );
    assert_eq!(
        metrics.steps,
        [("diamond".to_owned(), "PENDING".to_owned(), 8)]
    );
    assert_eq!(metrics.queued, [("diamond".to_owned(), 8)]);
    assert!(metrics.step_seconds.is_empty() && metrics.lost_claims.is_empty());

    let stop = etl_dag::CancellationToken::new();
    let working = worker(dag.clone(), subject.open().await, 2, stop.clone());
    until_ended(&*store, "diamond", 2, Duration::from_secs(60)).await;
    stop.cancel();
    working.await.unwrap();
    let metrics = store.metrics().await.unwrap();
    assert_eq!(
        metrics.runs,
        [("diamond".to_owned(), "SUCCEEDED".to_owned(), 2)]
    );
    assert_eq!(
        metrics.steps,
        [("diamond".to_owned(), "SUCCEEDED".to_owned(), 8)]
    );
    assert!(metrics.queued.is_empty(), "{:?}", metrics.queued);
    let (workflow, buckets, count, seconds) = &metrics.step_seconds[0];
    assert_eq!((workflow.as_str(), *count), ("diamond", 8));
    assert!(
        buckets.windows(2).all(|w| w[0] <= w[1]) && buckets[7] <= 8,
        "{buckets:?}"
    );
    assert!(
        buckets[7] == 8 && *seconds >= 0.0 && *seconds < 60.0,
        "{buckets:?} {seconds}"
    );
}

/// A step of a shared run (what an Airflow or Prefect task runs) that fails:
/// an engine never runs its dependents, so settling marks them SKIPPED,
/// naming the failed step, and the run FAILED, its error naming it too. A
/// step independent of it, run afterwards by the engine, is recorded as it
/// ran; re-run in the same run, a step gets its new attempt's start time.
pub async fn a_failed_step_of_a_shared_run_skips_its_dependents_naming_it(subject: &impl Subject) {
    let tries = Arc::new(AtomicU32::new(1));
    let dag = nightly(&tries);
    let store = subject.open().await;
    store
        .join_run(&RunStart::new("airflow-1", &dag, Trigger::Step))
        .await
        .unwrap();
    let report = run_one(&*store, &dag, "broken", None).await;
    assert!(!report.succeeded());
    assert_eq!(
        store.settle_run("airflow-1").await.unwrap(),
        StepStatus::Failed
    );
    let steps = store.steps("airflow-1").await.unwrap();
    let after = step(&steps, "after_broken");
    assert_eq!(after.status, StepStatus::Skipped, "{steps:?}");
    assert_eq!(
        after.error.as_deref(),
        Some("not run: step \"broken\" failed")
    );
    // A step that depends on nothing that failed is left to run.
    assert_eq!(
        step(&steps, "extract").status,
        StepStatus::Pending,
        "{steps:?}"
    );
    let run = store.run("airflow-1").await.unwrap().unwrap();
    assert_eq!(run.status, StepStatus::Failed);
    assert_eq!(run.error.as_deref(), Some("step \"broken\" failed"));

    // The engine runs the independent branch anyway: recorded as it ran.
    run_one(&*store, &dag, "extract", None).await;
    assert_eq!(
        store.settle_run("airflow-1").await.unwrap(),
        StepStatus::Failed
    );
    let steps = store.steps("airflow-1").await.unwrap();
    assert_eq!(step(&steps, "extract").status, StepStatus::Succeeded);
    // `count` waits for extract only: it can still run.
    assert_eq!(
        step(&steps, "count").status,
        StepStatus::Pending,
        "{steps:?}"
    );

    // Cleared and run again (what clearing a task in Airflow does): the
    // second attempt starts anew, it does not keep the first's start.
    let first = step(&steps, "extract").clone();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    run_one(&*store, &dag, "extract", None).await;
    let steps = store.steps("airflow-1").await.unwrap();
    let again = step(&steps, "extract");
    assert_eq!(again.attempts, first.attempts + 1);
    assert!(
        again.started_at > first.finished_at,
        "the re-run's start ({:?}) is after the first attempt's end ({:?})",
        again.started_at,
        first.finished_at
    );
    // Both attempts keep their own start and end.
    let history = tried(&*store, "airflow-1", "extract").await;
    assert_eq!(history.len(), 2, "{history:?}");
    let (one, two) = (&history[0], &history[1]);
    assert_eq!(
        (Some(one.started_at), one.finished_at),
        (first.started_at, first.finished_at),
        "the first attempt's times are kept"
    );
    assert_eq!(
        (Some(two.started_at), two.finished_at),
        (again.started_at, again.finished_at)
    );
    assert_eq!(
        (one.status, two.status),
        (Some(StepStatus::Succeeded), Some(StepStatus::Succeeded))
    );
}

/// A fault between a run's last step ending and the run being settled (a
/// worker killed there; a database restarting so that an end looked
/// unrecorded) leaves every step ended and the run RUNNING: whoever sees it
/// first settles it, with the end its last step had; cancelling it then
/// changes nothing, and resuming it does not say it runs elsewhere.
pub async fn a_run_whose_steps_ended_unsettled_is_settled_by_whoever_sees_it(
    subject: &impl Subject,
) {
    let dag = pair();
    let store = subject.open().await;
    let strand = |id: &'static str| {
        let (store, dag) = (store.clone(), &dag);
        async move {
            store
                .join_run(&RunStart::new(id, dag, Trigger::Step))
                .await
                .unwrap();
            // Both steps run and are recorded; nobody settles the run.
            for only in ["a", "b"] {
                let recorder = store.recorder().unwrap();
                let record = recorder.clone();
                dag.runner()
                    .run_id(id)
                    .only([only])
                    .unwrap()
                    .on_event(move |e| record.record(e))
                    .run()
                    .await;
                recorder.flush().await.unwrap();
            }
            assert_eq!(
                store.run(id).await.unwrap().unwrap().status,
                StepStatus::Running
            );
        }
    };
    strand("stranded-1").await;
    strand("stranded-2").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // Cancelling one finds it ended: its outcome stays.
    let err = store
        .cancel_run("stranded-1", "cancelled by a test")
        .await
        .expect_err("it has ended")
        .to_string();
    assert!(err.contains("SUCCEEDED"), "{err}");
    // The sweep every worker, server and scheduler makes settles the other.
    let other = subject.open().await;
    assert_eq!(other.settle_ended_runs().await.unwrap(), ["stranded-2"]);
    assert!(
        other.settle_ended_runs().await.unwrap().is_empty(),
        "settled once"
    );
    for id in ["stranded-1", "stranded-2"] {
        let run = store.run(id).await.unwrap().unwrap();
        assert_eq!(run.status, StepStatus::Succeeded, "{id}");
        let last = store
            .steps(id)
            .await
            .unwrap()
            .iter()
            .filter_map(|s| s.finished_at)
            .max()
            .unwrap();
        assert_eq!(
            run.finished_at,
            Some(last),
            "{id} ended when its last step did"
        );
        assert!(
            run.duration().unwrap() < std::time::Duration::from_secs(1),
            "{id}"
        );
    }
    // A queued run waiting for a worker is no such run.
    let waiting = Runs::new(&dag, &*store, "1.0.0")
        .enqueue(BTreeMap::new())
        .await
        .unwrap();
    assert!(store.settle_ended_runs().await.unwrap().is_empty());
    assert_eq!(
        store.run(&waiting).await.unwrap().unwrap().status,
        StepStatus::Running
    );
}
