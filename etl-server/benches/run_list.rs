//! How fast the server answers the run list with 10,000 runs recorded
//! (40,000 steps), over SQLite and PostgreSQL (a real throw-away cluster,
//! started here as the tests start theirs), through real HTTP on 127.0.0.1.
//! Beside them, in the same run, their references: the store's own
//! `list_runs` called in the process, and the cheapest answer of the same
//! server (an unknown path's 404).
//!
//! Target: the first page of the run list under 50 ms at p99.
//! `cargo bench -p etl-server --bench run_list` prints p50, p99 and max over
//! 1,000 requests each, after 100 to warm up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use etl_dag::{Dag, Step, StepContext, StepInputs};
use etl_runs::registry::WorkflowInfo;
use etl_runs::state::{SqliteStore, Trigger};
use etl_runs::{RunQuery, StateStore};
use etl_server::{Auth, Server};

const RUNS: usize = 10_000;
const SAMPLES: usize = 1_000;

fn dag(name: &str) -> Dag {
    let step = |n: &str| {
        Step::new(n, |_: StepContext, _: StepInputs| async {
            Ok::<_, etl_dag::Error>(())
        })
    };
    Dag::builder(name)
        .step(step("a"))
        .step(step("b").after(["a"]))
        .step(step("c").after(["a"]))
        .step(step("d").after(["b", "c"]))
        .build()
        .unwrap()
}

/// 10,000 queued runs of two workflows, a third of them cancelled.
async fn seed(store: &dyn StateStore) {
    let infos = [
        WorkflowInfo::of(&dag("nightly"), "bench"),
        WorkflowInfo::of(&dag("hourly"), "bench"),
    ];
    for info in &infos {
        store.register_workflow(info).await.unwrap();
    }
    for i in 0..RUNS {
        let run_id = format!("run-{i:05}");
        let start = infos[i % 2].run_start(&run_id, Trigger::Queue, Default::default());
        store.enqueue_run(&start).await.unwrap();
        if i % 3 == 0 {
            store.cancel_run(&run_id, "bench").await.unwrap();
        }
    }
}

struct Figures {
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "{:>8.2} {:>8.2} {:>8.2}",
            ms(self.p50),
            ms(self.p99),
            ms(self.max)
        )
    }
}

async fn measure<F, Fut>(mut call: F) -> Figures
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..100 {
        call().await;
    }
    let mut times = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let start = Instant::now();
        call().await;
        times.push(start.elapsed());
    }
    times.sort();
    Figures {
        p50: times[SAMPLES / 2],
        p99: times[SAMPLES * 99 / 100],
        max: times[SAMPLES - 1],
    }
}

async fn bench(name: &str, store: Arc<dyn StateStore>) {
    let started = Instant::now();
    seed(&*store).await;
    eprintln!(
        "{name}: {RUNS} runs recorded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let bound = Server::new(store.clone(), Auth::Open)
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", bound.local_addr());
    tokio::spawn(bound.run(std::future::pending()));
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        let url = format!("{base}{path}");
        async move {
            let response = client.get(&url).send().await.unwrap();
            assert!(
                response.status().as_u16() < 500,
                "{url}: {}",
                response.status()
            );
            response.bytes().await.unwrap();
        }
    };
    let deep = format!("/api/runs?after=run-{:05}", RUNS / 2);
    let mut cases: Vec<(&str, Figures)> = Vec::new();
    let direct = measure(|| {
        let store = store.clone();
        async move {
            store.list_runs(&RunQuery::default()).await.unwrap();
        }
    })
    .await;
    cases.push(("store list_runs (reference)", direct));
    cases.push((
        "GET unknown path (reference)",
        measure(|| get("/api/nothing".into())).await,
    ));
    cases.push(("GET /api/runs", measure(|| get("/api/runs".into())).await));
    cases.push((
        "GET /api/runs?workflow&status",
        measure(|| get("/api/runs?workflow=hourly&status=CANCELLED".into())).await,
    ));
    cases.push((
        "GET /api/runs?after (page 100)",
        measure(|| get(deep.clone())).await,
    ));
    cases.push((
        "GET /api/runs/{run_id}",
        measure(|| get("/api/runs/run-05000".into())).await,
    ));
    cases.push((
        "GET /api/workflows",
        measure(|| get("/api/workflows".into())).await,
    ));
    cases.push(("GET /metrics", measure(|| get("/metrics".into())).await));
    println!("\n{name}, {RUNS} runs ({SAMPLES} requests each)");
    println!(
        "{:<32} {:>8} {:>8} {:>8}",
        "case", "p50 ms", "p99 ms", "max ms"
    );
    for (case, figures) in &cases {
        println!("{case:<32} {figures}");
    }
    let first = &cases[2].1;
    println!(
        "GET /api/runs p99 {:.2} ms: {} the 50 ms target",
        first.p99.as_secs_f64() * 1000.0,
        if first.p99 < Duration::from_millis(50) {
            "meets"
        } else {
            "MISSES"
        }
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let sqlite: Arc<dyn StateStore> =
            Arc::new(SqliteStore::open(dir.path().join("state.sqlite")).unwrap());
        bench("SQLite", sqlite).await;
        let url = etl_testing::postgres::shared().database().await;
        let pg = etl_runs::open(&url, &dir.path().join("outputs"))
            .await
            .unwrap();
        bench("PostgreSQL", Arc::from(pg)).await;
    });
}
