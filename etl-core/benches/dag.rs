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
//! `cargo bench -p etl-core --bench dag` (builds without DuckDB) prints the
//! per-step figures last.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use etl_core::dag::{Dag, Step, StepContext, StepInputs};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

const STEPS: usize = 1_000;
const TARGET_MICROS: f64 = 20.0;

fn no_op(name: String) -> Step {
    Step::new(name, |_: StepContext, _: StepInputs| async {
        Ok::<_, etl_core::Error>(())
    })
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
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_dag(&mut c);
    c.final_summary();
    print_per_step();
}
