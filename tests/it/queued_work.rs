//! `examples/queued_work.rs` as workers run it: real processes, sharing
//! nothing but the state store (PostgreSQL, or the SQLite file on one
//! machine); a worker killed with SIGKILL mid-step.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etl::StepStatus;
use etl::runs::StateStore;

fn bin() -> PathBuf {
    crate::example("queued_work")
}

/// A folder, a store (`state`: a URL or a file in the folder), the log of
/// step attempts.
struct Queue {
    dir: tempfile::TempDir,
    state: String,
}

impl Queue {
    fn new(state: Option<String>) -> Queue {
        let dir = tempfile::tempdir().unwrap();
        let state = state.unwrap_or_else(|| dir.path().join("state.sqlite").display().to_string());
        Queue { dir, state }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(bin());
        command
            .current_dir(self.dir.path())
            .env("ETL_STATE", &self.state)
            .env("ETL_LEASE", "1s")
            .env("QUEUED_WORK_LOG", self.dir.path().join("work.log"))
            .env_remove("RUST_LOG");
        command
    }

    /// `run --queue`; the run's id.
    fn enqueue(&self, params: &[&str]) -> String {
        let mut command = self.command();
        command.args(["run", "--queue"]);
        for p in params {
            command.args(["--param", p]);
        }
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn worker(&self, concurrency: u32) -> Child {
        self.command()
            .args(["worker", "--concurrency", &concurrency.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    async fn store(&self) -> Box<dyn StateStore> {
        etl::runs::open(&self.state, &self.dir.path().join("etl-outputs"))
            .await
            .unwrap()
    }

    /// `(run, step) → the pids that ran an attempt of it`.
    fn log(&self) -> BTreeMap<(String, String), Vec<String>> {
        let text = std::fs::read_to_string(self.dir.path().join("work.log")).unwrap_or_default();
        let mut attempts: BTreeMap<_, Vec<String>> = BTreeMap::new();
        for line in text.lines() {
            let mut words = line.split(' ');
            let (run, step, pid) = (words.next(), words.next(), words.next());
            attempts
                .entry((run.unwrap().to_owned(), step.unwrap().to_owned()))
                .or_default()
                .push(pid.unwrap().to_owned());
        }
        attempts
    }
}

async fn until(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM, as a service manager stops it; what it said.
fn stop(mut worker: Child) -> String {
    let status = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    while worker.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the worker did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = worker.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

async fn two_workers_share_the_queue(queue: Queue, runs: usize) {
    let ids: Vec<String> = (0..runs).map(|_| queue.enqueue(&[])).collect();
    let workers = [queue.worker(2), queue.worker(2)];
    let store = queue.store().await;
    until(
        "every queued run to end",
        Duration::from_secs(120),
        async || {
            let recorded = store.runs("queued_work", runs + 10).await.unwrap();
            recorded
                .iter()
                .filter(|r| r.status != StepStatus::Running)
                .count()
                == runs
        },
    )
    .await;
    let said: Vec<String> = workers.into_iter().map(stop).collect();
    for err in &said {
        assert!(
            err.contains("stopped: ") && err.contains(" of them failed"),
            "{err}"
        );
    }
    let log = queue.log();
    assert_eq!(log.len(), runs * 4, "every step of every run ran");
    assert!(
        log.values().all(|pids| pids.len() == 1),
        "no step ran twice"
    );
    let pids: std::collections::BTreeSet<&String> = log.values().flatten().collect();
    assert_eq!(pids.len(), 2, "both workers took work");
    for id in &ids {
        let run = store.run(id).await.unwrap().unwrap();
        assert_eq!(
            (run.status, run.trigger.as_str()),
            (StepStatus::Succeeded, "queue")
        );
        let steps = store.steps(id).await.unwrap();
        assert!(steps.iter().all(|s| s.attempts == 1), "{steps:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_processes_share_queued_runs_in_postgres_each_step_once() {
    let url = etl_testing::postgres::shared().database().await;
    two_workers_share_the_queue(Queue::new(Some(url)), 40).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_processes_share_queued_runs_in_a_sqlite_file_each_step_once() {
    two_workers_share_the_queue(Queue::new(None), 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_of_a_worker_killed_mid_step_is_taken_over_and_the_run_finishes() {
    let url = etl_testing::postgres::shared().database().await;
    let queue = Queue::new(Some(url));
    let id = queue.enqueue(&["pause_ms=3000"]);
    let store = queue.store().await;
    let mut doomed = queue.worker(2);
    until("numbers to run", Duration::from_secs(60), async || {
        let steps = store.steps(&id).await.unwrap();
        steps
            .iter()
            .any(|s| s.step == "numbers" && s.status == StepStatus::Running)
    })
    .await;
    doomed.kill().unwrap(); // SIGKILL: no goodbye
    doomed.wait().unwrap();
    let other = queue.worker(2);
    until("the run to end", Duration::from_secs(90), async || {
        store.run(&id).await.unwrap().unwrap().status != StepStatus::Running
    })
    .await;
    stop(other);
    let run = store.run(&id).await.unwrap().unwrap();
    assert_eq!(run.status, StepStatus::Succeeded, "{run:?}");
    let steps = store.steps(&id).await.unwrap();
    for s in &steps {
        let expected = if s.step == "numbers" { 2 } else { 1 };
        assert_eq!(
            (s.status, s.attempts),
            (StepStatus::Succeeded, expected),
            "{s:?}"
        );
    }
    let log = queue.log();
    let numbers = &log[&(id.clone(), "numbers".to_owned())];
    assert_eq!(numbers.len(), 2, "{log:?}");
    assert_ne!(
        numbers[0], numbers[1],
        "the second attempt ran in the other worker"
    );
    for step in ["squares", "cubes", "total"] {
        assert_eq!(log[&(id.clone(), step.to_owned())].len(), 1, "{log:?}");
    }
}

/// A statement on the test's own database.
async fn sql(url: &str, statement: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(connection);
    client.batch_execute(statement).await.unwrap();
    drop(client);
    let _ = task.await;
}

/// Runs whose every step has ended while the run is still RUNNING.
async fn stranded(url: &str) -> Vec<String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT r.run_id FROM etl.workflow_runs r WHERE r.status = 'RUNNING'
               AND NOT EXISTS (SELECT 1 FROM etl.step_runs s WHERE s.run_id = r.run_id
                   AND s.status NOT IN ('SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED'))",
            &[],
        )
        .await
        .map(|rows| rows.iter().map(|r| r.get(0)).collect())
        .unwrap_or_default();
    drop(client);
    let _ = task.await;
    rows
}

/// Worker processes killed with SIGKILL, and PostgreSQL restarted under
/// them, on a cluster of the test's own.
///
/// First exactly where it hurt: every worker is held inside its final
/// settle (a trigger makes the update that ends a run wait), so that runs
/// have every step ended and are still RUNNING when the workers are killed
/// and the database restarts. Then at random: workers killed and the
/// database restarted again and again while the rest of the queue runs.
/// Every run ends SUCCEEDED, none stays RUNNING; the stranded ones end when
/// their last step did, not when they were found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_runs_all_end_when_workers_are_killed_and_postgres_restarts() {
    const RUNS: usize = 40;
    let mut pg = etl_testing::postgres::TestPostgres::start().unwrap_or_else(|e| panic!("{e}"));
    let url = pg.database().await;
    let queue = Queue::new(Some(url.clone()));
    let ids: Vec<String> = (0..RUNS).map(|_| queue.enqueue(&["pause_ms=60"])).collect();
    // Each worker's stderr goes to a file: a pipe nobody reads would fill.
    let spawn = |n: usize| -> Child {
        let log = std::fs::File::create(queue.dir.path().join(format!("worker-{n}.err"))).unwrap();
        queue
            .command()
            .args(["worker", "--concurrency", "2"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    };
    let mut spawned = 0;
    let mut spawn_next = || {
        spawned += 1;
        spawn(spawned)
    };
    let store = queue.store().await;
    let ended = async |store: &dyn StateStore| -> usize {
        // 0 while the server is away.
        store
            .runs("queued_work", RUNS + 10)
            .await
            .map_or(0, |runs| {
                runs.iter()
                    .filter(|r| r.status != StepStatus::Running)
                    .count()
            })
    };

    // 1. Workers killed between a run's last step and its settling.
    sql(
        &url,
        "CREATE FUNCTION public.hold_settling() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN PERFORM pg_sleep(3600); RETURN NEW; END $$;
         CREATE TRIGGER hold_settling BEFORE UPDATE ON etl.workflow_runs FOR EACH ROW
            WHEN (OLD.status = 'RUNNING' AND NEW.status <> 'RUNNING')
            EXECUTE FUNCTION public.hold_settling();",
    )
    .await;
    let held: Vec<Child> = (0..2).map(|_| spawn_next()).collect();
    until(
        "runs whose steps have all ended, held in their settling",
        Duration::from_secs(120),
        async || stranded(&url).await.len() >= 3,
    )
    .await;
    for mut worker in held {
        worker.kill().unwrap(); // SIGKILL: no goodbye
        worker.wait().unwrap();
    }
    tokio::task::block_in_place(|| pg.restart()).unwrap();
    sql(
        &url,
        "DROP TRIGGER hold_settling ON etl.workflow_runs; DROP FUNCTION public.hold_settling();",
    )
    .await;
    let strays = stranded(&url).await;
    assert!(strays.len() >= 3, "{strays:?}");
    assert_eq!(ended(&*store).await, 0, "no run had ended yet");

    // 2. Faults at random while the rest of the queue runs.
    let mut workers: Vec<Child> = (0..3).map(|_| spawn_next()).collect();
    let mut killed = Vec::new();
    for round in 1..=3 {
        until(
            "more queued runs to end before the next fault",
            Duration::from_secs(120),
            async || ended(&*store).await >= strays.len() + round * RUNS / 6,
        )
        .await;
        // kill -9 a worker mid-work, and restart the database under the
        // others while the killed one's leases run out.
        let mut doomed = workers.remove(0);
        killed.push(doomed.id().to_string());
        doomed.kill().unwrap();
        doomed.wait().unwrap();
        tokio::task::block_in_place(|| pg.restart()).unwrap();
        workers.push(spawn_next());
    }
    let done_before = ended(&*store).await;
    assert!(
        done_before < RUNS,
        "the faults came while work was left ({done_before} of {RUNS} ended)"
    );
    until(
        "every queued run to end after the faults",
        Duration::from_secs(180),
        async || ended(&*store).await == RUNS,
    )
    .await;
    for worker in workers {
        stop(worker);
    }
    let log = queue.log();
    for id in &ids {
        let run = store.run(id).await.unwrap().unwrap();
        assert_eq!(run.status, StepStatus::Succeeded, "{run:?}");
        let steps = store.steps(id).await.unwrap();
        let last_end = steps.iter().filter_map(|s| s.finished_at).max();
        assert!(
            run.finished_at.is_some() && run.finished_at >= last_end,
            "the run ends after its last step: {run:?} {steps:?}"
        );
        if strays.contains(id) {
            assert_eq!(
                run.finished_at, last_end,
                "a stranded run ends when its last step did: {run:?}"
            );
        }
        let attempts = store.attempts(id).await.unwrap();
        let by_step = etl::state::AttemptRecord::by_step(&attempts);
        for s in &steps {
            assert_eq!(s.status, StepStatus::Succeeded, "{id}: {s:?}");
            let ran = log.get(&(id.clone(), s.step.clone())).map_or(0, Vec::len);
            assert!(ran >= 1 && s.attempts >= 1, "{id}: {s:?} ran {ran} times");
            assert_eq!(
                by_step
                    .get(s.step.as_str())
                    .and_then(|tries| tries.last())
                    .and_then(|a| a.status),
                Some(StepStatus::Succeeded),
                "{id}: {s:?} {attempts:?}"
            );
        }
    }
    // A stranded run's steps did not run again: they had ended.
    for id in &strays {
        for s in store.steps(id).await.unwrap() {
            assert_eq!(s.attempts, 1, "{id}: {s:?}");
        }
    }
    // Only a killed worker's attempts, or those whose end a restart kept
    // from being recorded, ran again: a few, not the queue.
    let again: usize = log.values().map(|pids| pids.len() - 1).sum();
    assert!(
        again <= RUNS / 2,
        "{again} attempts ran again; killed workers: {killed:?}"
    );
}

/// Workers through a server (`serve --workers`, `worker --server URL`):
/// the server's store, and workers whose environment names no store.
#[cfg(feature = "server")]
mod through_the_server {
    use super::*;

    const WORKER_TOKEN: &str = "a-worker-token-for-tests";

    /// `serve --workers` on a free port, over the queue's store; its URL.
    fn serve(queue: &Queue) -> (Child, String) {
        use std::io::BufRead;
        let mut child = queue
            .command()
            .env("ETL_SERVER_TOKEN", "a-server-token-for-tests")
            .env("ETL_WORKER_TOKEN", WORKER_TOKEN)
            .args(["serve", "--bind", "127.0.0.1:0", "--workers"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = std::io::BufReader::new(child.stderr.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                if let Some((_, rest)) = line.split_once(" on http://") {
                    let _ = tx.send(
                        rest.split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("serve said where it listens");
        (child, format!("http://{addr}"))
    }

    /// A worker that knows only the server: no ETL_STATE, an empty folder
    /// of its own, step outputs in `outputs` (a folder the workers share).
    fn remote_worker(
        queue: &Queue,
        url: &str,
        outputs: &std::path::Path,
        home: &std::path::Path,
    ) -> Child {
        std::fs::create_dir_all(home).unwrap();
        Command::new(bin())
            .current_dir(home)
            .env_remove("ETL_STATE")
            .env_remove("PGPASSWORD")
            .env_remove("RUST_LOG")
            .env("ETL_WORKER_TOKEN", WORKER_TOKEN)
            .env("QUEUED_WORK_LOG", queue.dir.path().join("work.log"))
            .args(["worker", "--concurrency", "2", "--server", url, "--outputs"])
            .arg(outputs)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_workers_that_reach_only_the_server_finish_50_runs_each_step_once() {
        let url = etl_testing::postgres::shared().database().await;
        let queue = Queue::new(Some(url));
        let (mut server, base) = serve(&queue);
        let runs = 50;
        let ids: Vec<String> = (0..runs).map(|_| queue.enqueue(&[])).collect();
        let outputs = queue.dir.path().join("shared-outputs");
        let homes = [queue.dir.path().join("w1"), queue.dir.path().join("w2")];
        let workers: Vec<Child> = homes
            .iter()
            .map(|h| remote_worker(&queue, &base, &outputs, h))
            .collect();
        let store = queue.store().await;
        until(
            "every queued run to end",
            Duration::from_secs(180),
            async || {
                let recorded = store.runs("queued_work", runs + 10).await.unwrap();
                recorded
                    .iter()
                    .filter(|r| r.status != StepStatus::Running)
                    .count()
                    == runs
            },
        )
        .await;
        let said: Vec<String> = workers.into_iter().map(stop).collect();
        for err in &said {
            assert!(err.contains(&base) && err.contains("stopped: "), "{err}");
        }
        let log = queue.log();
        assert_eq!(log.len(), runs * 4, "every step of every run ran");
        assert!(
            log.values().all(|pids| pids.len() == 1),
            "no step ran twice"
        );
        let pids: std::collections::BTreeSet<&String> = log.values().flatten().collect();
        assert_eq!(pids.len(), 2, "both workers took work");
        for id in &ids {
            let run = store.run(id).await.unwrap().unwrap();
            assert_eq!(run.status, StepStatus::Succeeded, "{run:?}");
            let steps = store.steps(id).await.unwrap();
            assert!(steps.iter().all(|s| s.attempts == 1), "{steps:?}");
        }
        for home in &homes {
            assert_eq!(
                std::fs::read_dir(home).unwrap().count(),
                0,
                "a worker wrote nothing of its own"
            );
        }
        server.kill().unwrap();
        server.wait().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_remote_worker_killed_mid_step_loses_its_claim_as_a_database_worker_does() {
        let url = etl_testing::postgres::shared().database().await;
        let queue = Queue::new(Some(url));
        let (mut server, base) = serve(&queue);
        let id = queue.enqueue(&["pause_ms=3000"]);
        let outputs = queue.dir.path().join("shared-outputs");
        let store = queue.store().await;
        let mut doomed = remote_worker(&queue, &base, &outputs, &queue.dir.path().join("w1"));
        until("numbers to run", Duration::from_secs(60), async || {
            let steps = store.steps(&id).await.unwrap();
            steps
                .iter()
                .any(|s| s.step == "numbers" && s.status == StepStatus::Running)
        })
        .await;
        doomed.kill().unwrap(); // SIGKILL: no goodbye, no more heartbeats
        doomed.wait().unwrap();
        let other = remote_worker(&queue, &base, &outputs, &queue.dir.path().join("w2"));
        until("the run to end", Duration::from_secs(90), async || {
            store.run(&id).await.unwrap().unwrap().status != StepStatus::Running
        })
        .await;
        stop(other);
        let run = store.run(&id).await.unwrap().unwrap();
        assert_eq!(run.status, StepStatus::Succeeded, "{run:?}");
        let numbers = store
            .steps(&id)
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.step == "numbers")
            .unwrap();
        assert_eq!(
            (numbers.status, numbers.attempts),
            (StepStatus::Succeeded, 2),
            "{numbers:?}"
        );
        let log = queue.log();
        let ran = &log[&(id.clone(), "numbers".to_owned())];
        assert_eq!(ran.len(), 2, "{log:?}");
        assert_ne!(ran[0], ran[1], "the second attempt ran in the other worker");
        server.kill().unwrap();
        server.wait().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_worker_with_a_wrong_token_or_url_is_a_clear_error() {
        let queue = Queue::new(None);
        let (mut server, base) = serve(&queue);
        let run = |url: &str, token: &str| {
            let out = Command::new(bin())
                .current_dir(queue.dir.path())
                .env_remove("ETL_STATE")
                .env("ETL_WORKER_TOKEN", token)
                .args(["worker", "--server", url])
                .output()
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (code, err) = run(&base, "not-the-worker-token");
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("401") && err.contains("the token sent is not the server's"),
            "{err}"
        );
        assert!(!err.contains("not-the-worker-token"), "{err}");
        let (code, err) = run("http://user:s3cret-pw@127.0.0.1:1", WORKER_TOKEN);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("no user or password in it"), "{err}");
        assert!(
            !err.contains("s3cret-pw") && !err.contains("user:"),
            "the URL's credentials are not printed: {err}"
        );
        server.kill().unwrap();
        server.wait().unwrap();
    }
}

/// The Python of the virtualenv `.ci/test` makes with Prefect 3, or
/// `ETL_TEST_PREFECT_PYTHON`.
pub(crate) fn prefect_python() -> PathBuf {
    let python = std::env::var_os("ETL_TEST_PREFECT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/etl-prefect-venv/bin/python")
        });
    let ok = Command::new(&python)
        .args(["-c", "import prefect"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "Prefect 3 is needed: `.ci/test` makes {} (python3 -m venv ~/.cache/etl-prefect-venv && \
         ~/.cache/etl-prefect-venv/bin/pip install 'prefect>=3,<4'), or set ETL_TEST_PREFECT_PYTHON",
        python.display()
    );
    python
}

/// Runs the exported flow once under a real Prefect 3 (its temporary
/// server on 127.0.0.1, a fresh PREFECT_HOME, telemetry off).
fn run_flow(queue: &Queue, extra_env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(prefect_python());
    command
        .arg(queue.dir.path().join("flow.py"))
        .current_dir(queue.dir.path())
        .env("ETL_STATE", &queue.state)
        .env("PREFECT_HOME", queue.dir.path().join("prefect-home"))
        .env("DO_NOT_TRACK", "1")
        .env("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        .env("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
        .env("QUEUED_WORK_LOG", queue.dir.path().join("work.log"));
    for (k, v) in extra_env {
        command.env(k, v);
    }
    command.output().unwrap()
}

/// `export prefect` from a binary on a PostgreSQL store: the file names no
/// store (each worker's ETL_STATE does); Prefect runs one task per step in
/// the dependencies' order, the steps sharing one run; a failing step fails
/// the flow, exit 1, the steps after it never run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prefect_export_runs_each_step_as_a_task_under_prefect_3() {
    let url = etl_testing::postgres::shared().database().await;
    let queue = Queue::new(Some(url.clone()));
    let mut export = queue.command();
    export.args(["export", "prefect", "-o", "flow.py"]);
    let out = export.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let flow = std::fs::read_to_string(queue.dir.path().join("flow.py")).unwrap();
    assert!(flow.contains("ETL_STATE = None"), "{flow}");
    assert!(!flow.contains("postgres://") && !flow.contains(etl_testing::postgres::PASSWORD));
    assert!(flow.contains("retries=1"), "numbers' retries: {flow}");

    let out = tokio::task::block_in_place(|| run_flow(&queue, &[]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = queue.store().await;
    let runs = store.runs("queued_work", 10).await.unwrap();
    assert_eq!(runs.len(), 1, "one flow run, one run: {runs:?}");
    assert_eq!(
        (runs[0].status, runs[0].trigger.as_str()),
        (StepStatus::Succeeded, "step")
    );
    let steps = store.steps(&runs[0].run_id).await.unwrap();
    assert!(
        steps
            .iter()
            .all(|s| s.status == StepStatus::Succeeded && s.attempts == 1),
        "{steps:?}"
    );
    let log = queue.log();
    assert_eq!(log.len(), 4, "{log:?}");
    let pids: std::collections::BTreeSet<&String> = log.values().flatten().collect();
    assert_eq!(pids.len(), 4, "each step in a process of its own: {log:?}");

    // A step that fails (its log cannot be opened): retried once, then the
    // flow fails and the steps after it never run.
    let out = tokio::task::block_in_place(|| run_flow(&queue, &[("QUEUED_WORK_LOG", "/")]));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("steps that did not complete: numbers, squares, cubes, total"),
        "{err}"
    );
    let failed = store
        .runs("queued_work", 10)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.status != StepStatus::Succeeded)
        .expect("the failed flow's run");
    let steps = store.steps(&failed.run_id).await.unwrap();
    let numbers = steps.iter().find(|s| s.step == "numbers").unwrap();
    assert_eq!(
        (numbers.status, numbers.attempts),
        (StepStatus::Failed, 2),
        "{numbers:?}"
    );
    assert!(
        steps
            .iter()
            .filter(|s| s.step != "numbers")
            .all(|s| s.attempts == 0),
        "{steps:?}"
    );
}
