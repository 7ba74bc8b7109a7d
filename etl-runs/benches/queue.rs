//! What recording and queueing cost per step, in PostgreSQL beside SQLite,
//! measured in the same run (a real throw-away PostgreSQL cluster, started
//! here as the tests start theirs):
//!
//! - **recorded**: 1,000 no-op steps as a chain and as a fan-out, run by
//!   one process as `run` runs them, every status change recorded;
//! - **queued**: a run of 1,000 steps that each sleep 10 ms (one root, 999
//!   taking its output) queued, then worked through by one worker, and by
//!   four workers (each its own store connection, one step at a time, on this
//!   machine): the floor is 10 s for one and 2.5 s for four.
//!
//! Targets: at most 1 ms per recorded step with PostgreSQL; four workers at
//! least twice as fast as one. `cargo bench -p etl-runs --features postgres
//! --bench queue` prints the figures (medians of 5 runs; 3 for the queue).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etl_dag::{CancellationToken, Dag, Step, StepContext, StepInputs, StepStatus};
use etl_runs::postgres::{PgOptions, PgStore};
use etl_runs::state::{SqliteStore, Trigger};
use etl_runs::{NewRun, NoObserver, Runs, StateStore, Worker};

const STEPS: usize = 1_000;

fn step(name: String, sleep: Duration) -> Step {
    Step::new(name, move |_: StepContext, _: StepInputs| async move {
        if !sleep.is_zero() {
            tokio::time::sleep(sleep).await;
        }
        Ok::<_, etl_dag::Error>(())
    })
    .codec(etl_dag::Codec::json::<()>())
}

fn chain() -> Dag {
    let mut b = Dag::builder("chain").step(step("s0".into(), Duration::ZERO));
    for i in 1..STEPS {
        b = b.step(step(format!("s{i}"), Duration::ZERO).after([format!("s{}", i - 1)]));
    }
    b.build().unwrap()
}

fn fan_out(name: &str, sleep: Duration) -> Dag {
    let mut b = Dag::builder(name).step(step("root".into(), sleep));
    for i in 1..STEPS {
        b = b.step(step(format!("s{i}"), sleep).inputs(["root"]));
    }
    b.build().unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median seconds of a recorded run of `dag`, over 5.
async fn recorded(dag: &Dag, store: &dyn StateStore) -> f64 {
    let runs = Runs::new(dag, store, "bench");
    let mut seconds = Vec::new();
    for _ in 0..5 {
        let mut run = NewRun::new(Trigger::Run);
        run.cancel = Some(CancellationToken::new());
        let started = Instant::now();
        let (report, _) = runs.start(run, Arc::new(NoObserver)).await.unwrap();
        seconds.push(started.elapsed().as_secs_f64());
        assert!(report.succeeded());
    }
    median(seconds)
}

/// Seconds for `workers` workers (one step at a time each) to work
/// through one queued run of `dag`, median of 3.
async fn queued(
    dag: &Arc<Dag>,
    store: &dyn StateStore,
    open: &(dyn Fn() -> futures::future::BoxFuture<'static, Arc<dyn StateStore>> + Sync),
    workers: usize,
) -> f64 {
    let mut seconds = Vec::new();
    for _ in 0..3 {
        let stores: Vec<Arc<dyn StateStore>> =
            futures::future::join_all((0..workers).map(|_| open())).await;
        let id = Runs::new(dag, store, "bench")
            .enqueue(BTreeMap::new())
            .await
            .unwrap();
        let stop = CancellationToken::new();
        let started = Instant::now();
        let tasks: Vec<_> = stores
            .into_iter()
            .map(|s| {
                let (dag, stop) = (dag.clone(), stop.clone());
                tokio::spawn(async move {
                    let runs = Runs::new(&dag, &*s, "bench");
                    Worker::new(&runs)
                        .poll(Duration::from_millis(5))
                        .run(stop, Arc::new(NoObserver))
                        .await
                })
            })
            .collect();
        loop {
            let run = store.run(&id).await.unwrap().unwrap();
            if run.status != StepStatus::Running {
                assert_eq!(run.status, StepStatus::Succeeded);
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        seconds.push(started.elapsed().as_secs_f64());
        stop.cancel();
        for t in tasks {
            t.await.unwrap();
        }
    }
    median(seconds)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pg = etl_testing::postgres::shared();
        let url = pg.database().await;
        let dir = tempfile::tempdir().unwrap();
        let outputs = dir.path().join("pg-outputs");
        let pg_store = PgStore::connect(&url, &outputs).await.unwrap();
        let sqlite_path = dir.path().join("state.sqlite");
        let sqlite = SqliteStore::open(&sqlite_path).unwrap();
        let (chain, fan) = (chain(), fan_out("fan_out", Duration::ZERO));

        let mut lines = Vec::new();
        for (shape, dag) in [("chain", &chain), ("fan-out", &fan)] {
            let p = recorded(dag, &pg_store).await;
            let s = recorded(dag, &sqlite).await;
            lines.push(format!(
                "recorded {shape:8} µs/step  PostgreSQL {:7.0}   SQLite {:7.0}",
                p * 1e6 / STEPS as f64,
                s * 1e6 / STEPS as f64
            ));
        }

        let sleepy = Arc::new(fan_out("queued", Duration::from_millis(10)));
        let open_pg = {
            let (url, outputs) = (url.clone(), outputs.clone());
            move || -> futures::future::BoxFuture<'static, Arc<dyn StateStore>> {
                let (url, outputs) = (url.clone(), outputs.clone());
                Box::pin(async move {
                    Arc::new(
                        PgStore::connect_with(&url, outputs, PgOptions::default().pool_size(2))
                            .await
                            .unwrap(),
                    ) as Arc<dyn StateStore>
                })
            }
        };
        let open_sqlite = {
            let path = sqlite_path.clone();
            move || -> futures::future::BoxFuture<'static, Arc<dyn StateStore>> {
                let path = path.clone();
                Box::pin(async move { Arc::new(SqliteStore::open(path).unwrap()) as Arc<dyn StateStore> })
            }
        };
        for (name, store, open) in [
            ("PostgreSQL", &pg_store as &dyn StateStore, &open_pg as &(dyn Fn() -> _ + Sync)),
            ("SQLite", &sqlite as &dyn StateStore, &open_sqlite as &(dyn Fn() -> _ + Sync)),
        ] {
            let one = queued(&sleepy, store, open, 1).await;
            let four = queued(&sleepy, store, open, 4).await;
            lines.push(format!(
                "queued   fan-out of 1,000 × 10 ms, {name:10}  1 worker {one:6.2} s   4 workers {four:6.2} s   ({:.1}×)",
                one / four
            ));
        }
        println!();
        for line in lines {
            println!("{line}");
        }
    });
}
