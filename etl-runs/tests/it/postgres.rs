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
    assert_eq!(versions[0].get::<_, i32>(0), 3);

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
        err.contains("version 99, newer than this program's 3"),
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
