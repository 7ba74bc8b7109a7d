//! What only the PostgreSQL store has: connecting (and failing to, clearly,
//! the password never shown), and migrations under concurrent opens.

use std::time::Duration;

use etl_runs::StateStore;
use etl_runs::postgres::{PgOptions, PgStore};
use etl_testing::postgres::{PASSWORD, shared};

use super::state_store::Postgres;

async fn connect_error(url: &str) -> String {
    let options = PgOptions::default();
    let mut options = options;
    options.connect_timeout = Duration::from_secs(3);
    PgStore::connect_with(url, "/tmp/unused", options)
        .await
        .expect_err("the store cannot be opened")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_urls_and_credentials_are_errors_naming_the_store_without_the_password() {
    let port = shared().port();
    // Nothing listens on a port just freed.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cases = [
        (
            format!("postgres://etl:{PASSWORD}@127.0.0.1:{free}/etl"),
            format!("postgres://etl@127.0.0.1:{free}/etl"),
            "refused",
        ),
        (
            format!("postgres://etl:not-the-password@127.0.0.1:{port}/postgres"),
            format!("postgres://etl@127.0.0.1:{port}/postgres"),
            "password authentication failed",
        ),
        (
            format!("postgres://etl:{PASSWORD}@127.0.0.1:{port}/no_such_db"),
            format!("postgres://etl@127.0.0.1:{port}/no_such_db"),
            "does not exist",
        ),
    ];
    for (url, shown, why) in cases {
        let err = connect_error(&url).await;
        assert!(err.starts_with(&format!("state store {shown}: ")), "{err}");
        assert!(err.contains(why), "{err}");
        assert!(
            !err.contains(PASSWORD) && !err.contains("not-the-password"),
            "{err}"
        );
    }
    let err = connect_error(&format!("postgres://etl:{PASSWORD}@127.0.0.1:notaport/x")).await;
    assert!(err.contains("not a PostgreSQL URL"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_opening_a_fresh_database_at_once_migrate_it_once() {
    let db = Postgres::new().await;
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let (url, outputs) = (db.url.clone(), db.outputs.clone());
            tokio::spawn(async move { PgStore::connect(&url, outputs).await })
        })
        .collect();
    for open in opens {
        let store = open.await.unwrap().expect("every process opens the store");
        assert!(!store.location().contains(PASSWORD));
    }
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let versions = client
        .query("SELECT version FROM etl.schema_version", &[])
        .await
        .unwrap();
    assert_eq!(versions.len(), 1, "one version row");
    assert_eq!(versions[0].get::<_, i32>(0), 6);

    // A database a newer program migrated is refused, naming both versions.
    client
        .execute("UPDATE etl.schema_version SET version = 99", &[])
        .await
        .unwrap();
    let err = PgStore::connect(&db.url, &db.outputs)
        .await
        .expect_err("a newer schema")
        .to_string();
    assert!(
        err.contains("version 99, newer than this program's 6"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_store_gives_up_its_lease_at_once() {
    let db = Postgres::new().await;
    let dag = etl_dag::Dag::builder("w")
        .step(etl_dag::Step::new(
            "s",
            |_: etl_dag::StepContext, _: etl_dag::StepInputs| async { Ok::<_, etl_dag::Error>(()) },
        ))
        .build()
        .unwrap();
    // A long lease, so that only `close` can end it in time.
    let long = PgOptions::default().lease(Duration::from_secs(600));
    let first = PgStore::connect_with(&db.url, &db.outputs, long.clone())
        .await
        .unwrap();
    first
        .begin_run(&etl_runs::state::RunStart::new(
            "r",
            &dag,
            etl_runs::state::Trigger::Run,
        ))
        .await
        .unwrap();
    let other = PgStore::connect_with(&db.url, &db.outputs, long)
        .await
        .unwrap();
    assert_eq!(
        other.recover_abandoned().await.unwrap(),
        Vec::<String>::new()
    );
    first.close().await.unwrap();
    assert_eq!(other.recover_abandoned().await.unwrap(), ["r"]);
}

/// PostgreSQL restarted under two workers: they reconnect and go on; a step
/// whose end could not be recorded runs again; every queued run ends
/// SUCCEEDED with each step recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_go_on_when_postgres_restarts_and_no_step_is_lost() {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use etl_dag::{Codec, Dag, Step, StepContext, StepInputs, StepStatus};
    use etl_runs::{NoObserver, Runs, Worker};

    // A cluster of this test's own: it is restarted.
    let mut pg = etl_testing::postgres::TestPostgres::start().unwrap();
    let url = pg.database().await;
    let dir = tempfile::tempdir().unwrap();
    let ran: Arc<Mutex<BTreeMap<(String, String), u32>>> = Arc::default();
    let step = |name: &'static str, inputs: &'static [&'static str]| {
        let ran = ran.clone();
        Step::new(name, move |cx: StepContext, _: StepInputs| {
            let ran = ran.clone();
            async move {
                *ran.lock()
                    .unwrap()
                    .entry((cx.run_id().to_owned(), name.to_owned()))
                    .or_default() += 1;
                tokio::time::sleep(Duration::from_millis(150)).await;
                Ok::<_, etl_dag::Error>(1_u64)
            }
        })
        .inputs(inputs.iter().copied())
        .codec(Codec::json::<u64>())
    };
    let dag = Arc::new(
        Dag::builder("restarted")
            .step(step("a", &[]))
            .step(step("b", &["a"]))
            .step(step("c", &["b"]))
            .build()
            .unwrap(),
    );
    let options = PgOptions::default().lease(Duration::from_secs(5));
    let store = PgStore::connect_with(&url, dir.path(), options.clone())
        .await
        .unwrap();
    let runs = Runs::new(&dag, &store, "1");
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(runs.enqueue(BTreeMap::new()).await.unwrap());
    }
    let stop = etl_dag::CancellationToken::new();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let (dag, url, outputs, options, stop) = (
            dag.clone(),
            url.clone(),
            dir.path().to_owned(),
            options.clone(),
            stop.clone(),
        );
        workers.push(tokio::spawn(async move {
            let store = PgStore::connect_with(&url, outputs, options).await.unwrap();
            let runs = Runs::new(&dag, &store, "1");
            Worker::new(&runs)
                .concurrency(2)
                .poll(Duration::from_millis(50))
                .run(stop, Arc::new(NoObserver))
                .await
        }));
    }
    // Some work done, then the server restarts under them.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ended(&store, "restarted").await < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "no run ended before the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = ended(&store, "restarted").await;
    tokio::task::block_in_place(|| pg.restart()).unwrap();
    assert!(
        before < 30,
        "the restart came while work was left ({before} of 30 ended)"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while ended(&store, "restarted").await < 30 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of 30 runs ended after the restart",
            ended(&store, "restarted").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    for w in workers {
        w.await.unwrap();
    }
    let ran = ran.lock().unwrap().clone();
    for id in &ids {
        let run = store.run(id).await.unwrap().unwrap();
        assert_eq!(run.status, StepStatus::Succeeded, "{run:?}");
        for s in store.steps(id).await.unwrap() {
            assert_eq!(s.status, StepStatus::Succeeded, "{s:?}");
            let times = ran[&(id.clone(), s.step.clone())];
            assert!(times >= 1 && s.attempts >= 1, "{s:?} ran {times} times");
        }
    }
}

/// Runs of `workflow` that have ended (0 while the server is away).
async fn ended(store: &PgStore, workflow: &str) -> usize {
    store
        .runs(workflow, 100)
        .await
        .map(|r| {
            r.iter()
                .filter(|r| r.status != etl_dag::StepStatus::Running)
                .count()
        })
        .unwrap_or(0)
}
