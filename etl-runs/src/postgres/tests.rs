//! Migrations from an older schema, against a real PostgreSQL.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_at_version_1_is_migrated_and_keeps_its_runs() {
    let url = etl_testing::postgres::shared().database().await;
    // The database as the first release left it: version 1, one run.
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "CREATE SCHEMA etl;
             CREATE TABLE etl.schema_version (version INTEGER NOT NULL);
             INSERT INTO etl.schema_version VALUES (1);
             {}
             INSERT INTO etl.workflow_runs (run_id, workflow, status, trigger, params, version, started_at, finished_at)
                 VALUES ('old', 'w', 'SUCCEEDED', 'run', '{{\"day\": \"2024-03-01\"}}', '0.1', now(), now());
             INSERT INTO etl.step_runs (run_id, step, position, status, attempts)
                 VALUES ('old', 'a', 0, 'SUCCEEDED', 1);",
            schema::MIGRATIONS[0]
        ))
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = PgStore::connect(&url, dir.path()).await.unwrap();
    let version: i32 = client
        .query_one("SELECT version FROM etl.schema_version", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, schema::VERSION);
    let old = store
        .run("old")
        .await
        .unwrap()
        .expect("the old run is kept");
    assert_eq!(
        (old.status, old.params["day"].as_str(), old.steps),
        (StepStatus::Succeeded, "2024-03-01", 1)
    );
    assert_eq!(store.steps("old").await.unwrap()[0].attempts, 1);
    // What the later versions added works on it: the queue, the lead.
    let dag = etl_dag::Dag::builder("w")
        .step(etl_dag::Step::new(
            "a",
            |_: etl_dag::StepContext, _: etl_dag::StepInputs| async { Ok::<_, etl_dag::Error>(()) },
        ))
        .build()
        .unwrap();
    let runs = crate::Runs::new(&dag, &store, "1");
    let id = runs.enqueue(BTreeMap::new()).await.unwrap();
    let claims = store.claim_steps("w", 10).await.unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].run_id, id);
    assert!(store.lead("w").await.unwrap());
}
