//! The runtime's own cost per step: 1,000 no-op steps run as a chain (each
//! after the one before) and as a fan-out (one root, 999 steps taking its
//! output), beside the same shapes done with bare tokio tasks in the same run:
//!
//! - chain reference: 1,000 `tokio::spawn(no-op).await`, one after another;
//! - fan-out reference: one task, then 999 spawned at once and joined.
//!
//! Both are awaited the way a user's `#[tokio::main]` awaits a run, from
//! `block_on` outside the runtime's workers, and both spawn their tasks from a
//! task on the runtime (the runner's loop is one), so neither pays a wake-up
//! across threads per step. The reference is the floor: one task per step,
//! nothing else. The runner adds the graph bookkeeping, each step's
//! retry/timeout/cancellation wrapper, its tracing span, its status events,
//! and the report. Target: at most 20 µs per step.
//!
//! The same runs are then recorded in a SQLite state
//! store, as `etl::main!`'s `run` records them: the run and each step's
//! PENDING row, every status change through the recorder thread, the run's
//! end; and then also with each step's output saved to a file. Target: at
//! most 100 µs per step. (For scale: Cloacina, which also records each task
//! in SQLite, takes about 3 to 15 ms per task on these machines.)
//!
//! `cargo bench -p etl-runs --bench dag` (builds without
//! DuckDB) prints the per-step figures last.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use etl_dag::{Dag, Step, StepContext, StepInputs};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

const STEPS: usize = 1_000;
const TARGET_MICROS: f64 = 20.0;
const RECORDED_TARGET_MICROS: f64 = 100.0;

fn no_op(name: String) -> Step {
    Step::new(name, |_: StepContext, _: StepInputs| async {
        Ok::<_, etl_dag::Error>(())
    })
    // Used only when outputs are saved: `null` in a JSON file per step.
    .codec(etl_dag::Codec::json::<()>())
}

/// `s0 <- s1 <- … <- s999`, each ordered after the one before.
fn chain() -> Dag {
    let mut builder = Dag::builder("chain").step(no_op("s0".into()));
    for i in 1..STEPS {
        builder = builder.step(no_op(format!("s{i}")).after([format!("s{}", i - 1)]));
    }
    builder.build().expect("a valid chain")
}

/// `root`, then 999 steps each taking root's output.
fn fan_out() -> Dag {
    let mut builder = Dag::builder("fan_out").step(no_op("root".into()));
    for i in 1..STEPS {
        builder = builder.step(no_op(format!("s{i}")).inputs(["root"]));
    }
    builder.build().expect("a valid fan-out")
}

async fn runs_every_step(dag: &Dag) {
    let report = dag.run().await;
    assert!(report.succeeded(), "{report}");
    assert_eq!(report.steps.len(), STEPS);
}

/// A run recorded as `etl::main!`'s `run` records it, outputs saved or not.
async fn recorded(dag: &Dag, store: &etl_runs::state::SqliteStore, save: bool) {
    use etl_runs::state::{RunStart, Trigger};
    let run_id = etl_dag::new_run_id();
    store
        .begin_run(&RunStart::new(&run_id, dag, Trigger::Run))
        .unwrap();
    let recorder = store.recorder().unwrap();
    let mut runner = dag.runner().run_id(&run_id).on_event(recorder.listener());
    if save {
        runner = runner.persist_outputs(store.outputs_dir(&run_id).expect("a valid run id"));
    }
    let report = runner.run().await;
    recorder.flush().await.unwrap();
    store.finish_run(&report).unwrap();
    assert!(report.succeeded(), "{report}");
}

/// The floor of saving an output per step: what a save does (a temporary
/// file written, renamed into place) from the blocking pool, once per step,
/// one after another, and nothing else.
async fn file_floor(dir: std::path::PathBuf) {
    let run = dir.join(etl_dag::new_run_id());
    for i in 0..STEPS {
        let run = run.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&run).unwrap();
            let (tmp, path) = (
                run.join(format!("s{i}.json.tmp")),
                run.join(format!("s{i}.json")),
            );
            std::fs::write(&tmp, "null").unwrap();
            std::fs::rename(&tmp, &path).unwrap();
        })
        .await
        .unwrap();
    }
}

/// Runs `work` as a task on the runtime, as `Runner::run` runs its loop.
async fn on_the_runtime(work: impl std::future::Future<Output = ()> + Send + 'static) {
    tokio::spawn(work).await.expect("the reference task");
}

async fn tokio_chain() {
    for _ in 0..STEPS {
        tokio::spawn(async {}).await.expect("a no-op task");
    }
}

async fn tokio_fan_out() {
    tokio::spawn(async {}).await.expect("a no-op task");
    let mut set = JoinSet::new();
    for _ in 1..STEPS {
        set.spawn(async {});
    }
    while let Some(done) = set.join_next().await {
        done.expect("a no-op task");
    }
}

/// Every sample's seconds per whole run, by case, filled as criterion runs.
static SECONDS: Mutex<BTreeMap<&'static str, Vec<f64>>> = Mutex::new(BTreeMap::new());

fn record(name: &'static str, elapsed: Duration) {
    SECONDS
        .lock()
        .unwrap()
        .entry(name)
        .or_default()
        .push(elapsed.as_secs_f64());
}

fn median_micros_per_step(name: &str) -> Option<f64> {
    let mut samples = SECONDS.lock().unwrap().get(name)?.clone();
    samples.sort_by(f64::total_cmp);
    Some(samples[samples.len() / 2] * 1e6 / STEPS as f64)
}

fn measure<F, Fut>(c: &mut Criterion, rt: &Runtime, name: &'static str, run: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut group = c.benchmark_group("dag_1000_steps");
    group.throughput(Throughput::Elements(STEPS as u64));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                rt.block_on(run());
                let elapsed = started.elapsed();
                record(name, elapsed);
                total += elapsed;
            }
            total
        })
    });
    group.finish();
}

fn bench_dag(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (chain, fan_out) = (chain(), fan_out());
    measure(c, &rt, "dag_chain", || runs_every_step(&chain));
    measure(
        c,
        &rt,
        "tokio_spawn_chain",
        || on_the_runtime(tokio_chain()),
    );
    measure(c, &rt, "dag_fan_out", || runs_every_step(&fan_out));
    measure(c, &rt, "tokio_spawn_fan_out", || {
        on_the_runtime(tokio_fan_out())
    });

    {
        let dir = tempfile::tempdir().unwrap();
        let store = etl_runs::state::SqliteStore::open(dir.path().join("state.sqlite")).unwrap();
        let store = &store;
        measure(c, &rt, "recorded_chain", || recorded(&chain, store, false));
        measure(c, &rt, "recorded_fan_out", || {
            recorded(&fan_out, store, false)
        });
        measure(c, &rt, "recorded_saved_chain", || {
            recorded(&chain, store, true)
        });
        measure(c, &rt, "recorded_saved_fan_out", || {
            recorded(&fan_out, store, true)
        });
        let files = dir.path().join("floor");
        measure(c, &rt, "file_floor", || file_floor(files.clone()));
    }

    for _ in 0..10 {
        let started = Instant::now();
        let built = self::chain();
        record("build", started.elapsed());
        drop(built);
    }
}

fn print_per_step() {
    println!("\nDAG overhead, {STEPS} no-op steps, median of the samples above:");
    println!(
        "{:<10} {:>14} {:>18} {:>16}",
        "shape", "µs/step (dag)", "µs/step (tokio)", "dag - tokio"
    );
    for (shape, ours, reference) in [
        ("chain", "dag_chain", "tokio_spawn_chain"),
        ("fan-out", "dag_fan_out", "tokio_spawn_fan_out"),
    ] {
        if let (Some(o), Some(r)) = (
            median_micros_per_step(ours),
            median_micros_per_step(reference),
        ) {
            let verdict = if o <= TARGET_MICROS {
                "meets"
            } else {
                "MISSES"
            };
            println!(
                "{shape:<10} {o:>14.2} {r:>18.2} {:>16.2}   ({verdict} the {TARGET_MICROS} µs target)",
                o - r
            );
        }
    }
    if let Some(build) = median_micros_per_step("build") {
        println!("building the chain with Dag::builder: {build:.2} µs/step");
    }
    {
        println!("\nRecorded in a SQLite state store, {STEPS} no-op steps:");
        println!(
            "{:<10} {:>16} {:>22} {:>14}",
            "shape", "µs/step recorded", "+ outputs saved", "unrecorded"
        );
        let floor = median_micros_per_step("file_floor");
        for (shape, unrecorded) in [("chain", "dag_chain"), ("fan_out", "dag_fan_out")] {
            let (Some(plain), Some(saved), Some(bare)) = (
                median_micros_per_step(&format!("recorded_{shape}")),
                median_micros_per_step(&format!("recorded_saved_{shape}")),
                median_micros_per_step(unrecorded),
            ) else {
                continue;
            };
            let verdict = if plain <= RECORDED_TARGET_MICROS {
                "meets"
            } else {
                "MISSES"
            };
            println!(
                "{shape:<10} {plain:>16.2} {saved:>22.2} {bare:>14.2}   (recorded {verdict} the {RECORDED_TARGET_MICROS} µs target)"
            );
        }
        if let Some(floor) = floor {
            println!(
                "saving a file per step, one after another, and nothing else: {floor:.2} µs/step (the floor of the saved chain)"
            );
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_dag(&mut c);
    c.final_summary();
    print_per_step();
}
