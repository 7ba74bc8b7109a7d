//! The orchestration library on its own, without the CLI: partial runs,
//! resume, one step of a shared run, each against a real SQLite store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use etl_dag::{Codec, Dag, Step, StepContext, StepEvent, StepInputs, StepStatus};
use etl_runs::state::{SqliteStore, Trigger};
use etl_runs::{Error, NewRun, NoObserver, Observer, Runs, StateStore, StepRun};

mod outputs;
mod postgres;
mod state_store;

/// `numbers` → `doubled` → `total`; `total` fails while `broken` is set.
pub(crate) struct Counted {
    runs: Arc<[AtomicU32; 3]>,
    broken: Arc<std::sync::atomic::AtomicBool>,
}

pub(crate) fn dag(c: &Counted) -> Dag {
    let (r1, r2, r3) = (c.runs.clone(), c.runs.clone(), c.runs.clone());
    let broken = c.broken.clone();
    Dag::builder("numbers")
        .step(
            Step::new("numbers", move |_: StepContext, _: StepInputs| {
                r1[0].fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, etl_dag::Error>(vec![1_u64, 2, 3]) }
            })
            .codec(Codec::json::<Vec<u64>>()),
        )
        .step(
            Step::new("doubled", move |_: StepContext, inputs: StepInputs| {
                r2[1].fetch_add(1, Ordering::SeqCst);
                async move {
                    let numbers = inputs.get::<Vec<u64>>("numbers")?;
                    Ok::<_, etl_dag::Error>(numbers.iter().map(|n| n * 2).collect::<Vec<u64>>())
                }
            })
            .inputs(["numbers"])
            .codec(Codec::json::<Vec<u64>>()),
        )
        .step(
            Step::new("total", move |cx: StepContext, inputs: StepInputs| {
                r3[2].fetch_add(1, Ordering::SeqCst);
                let broken = broken.load(Ordering::SeqCst);
                async move {
                    if broken {
                        return Err("the sink is down".to_string());
                    }
                    let doubled = inputs
                        .get::<Vec<u64>>("doubled")
                        .map_err(|e| e.to_string())?;
                    let offset: u64 = cx.param("offset").unwrap_or("0").parse().unwrap();
                    Ok(doubled.iter().sum::<u64>() + offset)
                }
            })
            .inputs(["doubled"])
            .codec(Codec::json::<u64>()),
        )
        .build()
        .unwrap()
}

pub(crate) fn setup() -> (tempfile::TempDir, SqliteStore, Counted) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("state.sqlite")).unwrap();
    let counted = Counted {
        runs: Arc::new([AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)]),
        broken: Arc::new(false.into()),
    };
    (dir, store, counted)
}

pub(crate) fn count(c: &Counted, step: usize) -> u32 {
    c.runs[step].load(Ordering::SeqCst)
}

/// Records the events it sees.
#[derive(Default)]
struct Seen(Mutex<Vec<(String, StepStatus)>>, AtomicU32);

impl Observer for Seen {
    fn event(&self, e: &StepEvent<'_>) {
        self.0.lock().unwrap().push((e.step.to_owned(), e.status));
    }
    fn finish(&self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_partial_run_reuses_the_newest_saved_outputs() {
    let (_dir, store, counted) = setup();
    let dag = dag(&counted);
    let runs = Runs::new(&dag, &store, "1.2.3");

    // Nothing saved yet: running `total` alone names what is missing.
    let mut only_total = NewRun::new(Trigger::Run);
    only_total.only = vec!["total".into()];
    let err = runs
        .start(only_total.clone(), Arc::new(NoObserver))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NoSavedOutput { step, input } if step == "total" && input == "doubled"),
        "{err}"
    );

    let seen = Arc::new(Seen::default());
    let (report, first) = runs
        .start(NewRun::new(Trigger::Run), seen.clone())
        .await
        .unwrap();
    assert!(report.succeeded());
    assert_eq!(report.output::<u64>("total"), Some(&12));
    assert_eq!(
        seen.1.load(Ordering::SeqCst),
        1,
        "the observer was told the end"
    );
    assert!(
        seen.0
            .lock()
            .unwrap()
            .contains(&("total".into(), StepStatus::Succeeded))
    );

    // `--only total`: `doubled`'s saved output is reused, from the first run.
    only_total.params = BTreeMap::from([("offset".into(), "100".into())]);
    let (report, second) = runs.start(only_total, Arc::new(NoObserver)).await.unwrap();
    assert_eq!(report.output::<u64>("total"), Some(&112));
    assert_eq!(
        (count(&counted, 0), count(&counted, 1), count(&counted, 2)),
        (1, 1, 2)
    );
    let steps = store.steps(&second).unwrap();
    let doubled = steps.iter().find(|s| s.step == "doubled").unwrap();
    assert_eq!(doubled.reused_from.as_deref(), Some(first.as_str()));
    assert!(steps.iter().all(|s| s.step != "numbers"), "{steps:?}");

    // `--from doubled`: `doubled` and `total` run, `numbers` is reused.
    let mut from = NewRun::new(Trigger::Run);
    from.from = Some("doubled".into());
    runs.start(from, Arc::new(NoObserver)).await.unwrap();
    assert_eq!(
        (count(&counted, 0), count(&counted, 1), count(&counted, 2)),
        (1, 2, 3)
    );

    // An unknown step is refused before anything is recorded.
    let mut typo = NewRun::new(Trigger::Run);
    typo.only = vec!["totl".into()];
    let err = runs.start(typo, Arc::new(NoObserver)).await.unwrap_err();
    assert!(err.to_string().contains("has no step \"totl\""), "{err}");
    assert_eq!(store.runs("numbers", 10).unwrap().len(), 3);
}

#[tokio::test]
async fn resume_runs_again_only_what_did_not_succeed() {
    let (_dir, store, counted) = setup();
    let dag = dag(&counted);
    let runs = Runs::new(&dag, &store, "1");
    counted.broken.store(true, Ordering::SeqCst);
    let (report, run_id) = runs
        .start(NewRun::new(Trigger::Run), Arc::new(NoObserver))
        .await
        .unwrap();
    assert!(!report.succeeded());

    let plan = runs.plan_resume(&run_id).await.unwrap();
    assert_eq!(plan.steps, ["total"]);
    counted.broken.store(false, Ordering::SeqCst);
    let report = runs
        .resume(plan, Arc::new(NoObserver))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.output::<u64>("total"), Some(&12));
    assert_eq!(
        (count(&counted, 0), count(&counted, 1), count(&counted, 2)),
        (1, 1, 2)
    );
    let run = store.run(&run_id).unwrap().unwrap();
    assert_eq!(run.status, StepStatus::Succeeded);
    let total = store.steps(&run_id).unwrap();
    let total = total.iter().find(|s| s.step == "total").unwrap();
    assert_eq!(total.attempts, 2, "the failed attempt is kept");

    // A run that succeeded has nothing to resume.
    let plan = runs.plan_resume(&run_id).await.unwrap();
    assert!(plan.steps.is_empty());
    assert!(
        runs.resume(plan, Arc::new(NoObserver))
            .await
            .unwrap()
            .is_none()
    );

    let err = runs.plan_resume("nope").await.unwrap_err();
    assert!(matches!(err, Error::UnknownRun { .. }), "{err}");
    assert!(
        err.to_string().contains("`history` lists the runs"),
        "{err}"
    );
}

#[tokio::test]
async fn one_step_of_a_shared_run_reads_its_inputs_from_the_run() {
    let (_dir, store, counted) = setup();
    let dag = dag(&counted);
    let runs = Runs::new(&dag, &store, "1");
    let params = || BTreeMap::from([("offset".to_string(), "1".to_string())]);

    // `doubled` before `numbers` ran: not runnable, recorded FAILED.
    let ran = runs
        .run_step("doubled", "shared-1", params(), Arc::new(NoObserver))
        .await
        .unwrap();
    let StepRun::NotRunnable { why } = ran else {
        panic!("{ran:?}")
    };
    assert!(
        why.contains("input \"numbers\" has not succeeded in run \"shared-1\""),
        "{why}"
    );
    assert_eq!(count(&counted, 1), 0);

    // Each step in turn, as Airflow's tasks run them, in other runs' stead.
    for (step, status) in [
        ("numbers", StepStatus::Running),
        ("doubled", StepStatus::Running),
        ("total", StepStatus::Succeeded),
    ] {
        let ran = runs
            .run_step(step, "shared-2", params(), Arc::new(NoObserver))
            .await
            .unwrap();
        let StepRun::Ran { report, run_status } = ran else {
            panic!("{step}: {ran:?}")
        };
        assert!(report.succeeded(), "{step}");
        assert_eq!(run_status, status, "{step}");
    }
    let run = store.run("shared-2").unwrap().unwrap();
    assert_eq!(run.trigger, Trigger::Step.as_str());
    assert_eq!(run.params["offset"], "1");

    // A later step may not change a parameter of the run.
    let err = runs
        .run_step(
            "total",
            "shared-2",
            BTreeMap::from([("offset".into(), "2".into())]),
            Arc::new(NoObserver),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("run \"shared-2\" has parameter offset=1, not 2"),
        "{err}"
    );
    // A run id that could name another folder is refused.
    let err = runs
        .run_step("numbers", "../up", params(), Arc::new(NoObserver))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("run id \"../up\""), "{err}");
}

#[tokio::test]
async fn the_store_is_used_through_its_trait() {
    let (_dir, store, counted) = setup();
    let dag = dag(&counted);
    let store: &dyn StateStore = &store;
    let runs = Runs::new(&dag, store, "1");
    assert_eq!(runs.running_run().await.unwrap(), None);
    let (_, run_id) = runs
        .start(NewRun::new(Trigger::Run), Arc::new(NoObserver))
        .await
        .unwrap();
    let recorded = store.runs("numbers", 5).await.unwrap();
    assert_eq!(recorded[0].run_id, run_id);
    assert!(store.location().ends_with("state.sqlite"));
    let (from, path) = store
        .latest_output("numbers", "total")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from, run_id);
    assert!(std::path::Path::new(&path).starts_with(store.outputs_dir(&run_id).unwrap()));
}
