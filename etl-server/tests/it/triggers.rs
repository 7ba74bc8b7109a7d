//! What starts runs besides a caller with the token: webhooks with a
//! workflow's own secret, and the server's triggers (cron, upstream done,
//! file arrival), each event one run, across restarts too.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use etl_dag::{Codec, Dag, Step, StepContext, StepInputs, StepStatus};
use etl_runs::registry::WorkflowInfo;
use etl_runs::state::SqliteStore;
use etl_runs::{RunQuery, Runs, StateStore};
use etl_server::{Auth, Server, Triggers};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::Value;

use crate::api::{Api, TOKEN, answer, message, sales, serve};

const HOOK_SECRET: &str = "the-sales-webhook-secret";

fn store_in(dir: &tempfile::TempDir) -> Arc<dyn StateStore> {
    Arc::new(SqliteStore::open(dir.path().join("state.sqlite")).unwrap())
}

async fn hooked() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    store
        .register_workflow(&WorkflowInfo::of(&sales(), "1.2.3"))
        .await
        .unwrap();
    let server =
        Server::new(store.clone(), Auth::Token(TOKEN.into())).webhook("sales", HOOK_SECRET);
    serve(server, store, dir).await
}

impl Api {
    /// POSTs `body` to the sales webhook with `headers`.
    async fn hook(&self, body: &str, headers: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut request = self
            .client
            .post(self.url("/api/workflows/sales/trigger"))
            .header("content-type", "application/json")
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        answer(request.send().await.unwrap()).await
    }

    async fn runs_of(&self, workflow: &str) -> Vec<etl_runs::state::RunRecord> {
        self.store
            .list_runs(&RunQuery::default().workflow(workflow).limit(500))
            .await
            .unwrap()
    }
}

fn signature(body: &str, secret: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_takes_its_workflows_secret_and_starts_one_run_per_delivery() {
    let api = Arc::new(hooked().await);
    let payload = r#"{"params": {"day": "2026-12-02"}}"#;
    let bearer = format!("Bearer {HOOK_SECRET}");
    let (status, run) = api
        .hook(
            payload,
            &[("authorization", &bearer), ("x-etl-delivery", "d-1")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    assert_eq!(run["started_by"], "webhook:d-1");
    assert_eq!(run["params"]["day"], "2026-12-02");

    // 100 replays of one delivery at once: one run, every answer names it.
    let calls = (0..100).map(|_| {
        let api = api.clone();
        let bearer = bearer.clone();
        tokio::spawn(async move {
            api.hook(
                payload,
                &[("authorization", &bearer), ("x-etl-delivery", "d-2")],
            )
            .await
        })
    });
    let answers: Vec<(StatusCode, Value)> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let replayed = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!((created, replayed), (1, 99), "{answers:?}");
    let ids: BTreeSet<&str> = answers
        .iter()
        .map(|(_, r)| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(api.runs_of("sales").await.len(), 2, "one run per delivery");

    // Signed with the secret instead: no bearer needed; no delivery id, a new run each time.
    let signed = signature(payload, HOOK_SECRET);
    let (status, _) = api.hook(payload, &[("x-etl-signature", &signed)]).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = api.hook(payload, &[("x-etl-signature", &signed)]).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(api.runs_of("sales").await.len(), 4);

    let server_token = format!("Bearer {TOKEN}");
    let other_body = r#"{"params": {"day": "other"}}"#;
    for (headers, expected) in [
        (
            vec![("x-etl-signature", signed.as_str())],
            "the signature does not match",
        ),
        (
            vec![("x-etl-signature", "sha256=zz")],
            "is not `sha256=<hex>`",
        ),
        (
            vec![("authorization", server_token.as_str())],
            "the secret sent is not the workflow's",
        ),
        (vec![], "a webhook needs the workflow's secret"),
    ] {
        let (status, body) = api.hook(other_body, &headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}: {body}");
        assert!(message(status, &body).contains(expected), "{body}");
    }
    let long = "d".repeat(201);
    let (status, body) = api
        .hook(
            payload,
            &[("authorization", &bearer), ("x-etl-delivery", &long)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = api.hook("day=1", &[("authorization", &bearer)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        message(status, &body).starts_with("the body is not {\"params\": {…}}"),
        "{body}"
    );
    let (status, body) = api
        .hook(
            r#"{"params": {"colour": "red"}}"#,
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let huge = format!(r#"{{"params": {{"day": "{}"}}}}"#, "x".repeat(70_000));
    let (status, _) = api
        .oversized(
            "/api/workflows/sales/trigger",
            &[("authorization", &bearer)],
            &huge,
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        api.runs_of("sales").await.len(),
        4,
        "no run from a refused call"
    );

    api.store.set_enabled("sales", false).await.unwrap();
    let (status, body) = api
        .hook(
            payload,
            &[("authorization", &bearer), ("x-etl-delivery", "d-3")],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // A workflow the server has no secret for has no webhook.
    api.store
        .register_workflow(&WorkflowInfo::of(&counting("other", None), "1"))
        .await
        .unwrap();
    let response = api
        .client
        .post(api.url("/api/workflows/other/trigger"))
        .bearer_auth(HOOK_SECRET)
        .send()
        .await
        .unwrap();
    let (status, body) = answer(response).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(message(status, &body).contains("has no webhook"), "{body}");

    let dir = tempfile::tempdir().unwrap();
    let err = Server::new(store_in(&dir), Auth::Open)
        .webhook("sales", "short")
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the webhook secret of workflow \"sales\" has 5 characters; give one of at least 16"
    );
}

/// A workflow `name` of one step `n`, which fails when parameter `day` is
/// `bad`; `setup` declares more.
fn counting(name: &str, setup: Option<&dyn Fn(etl_dag::DagBuilder) -> etl_dag::DagBuilder>) -> Dag {
    let mut builder = Dag::builder(name).param("day", Some("ok"));
    if let Some(setup) = setup {
        builder = setup(builder);
    }
    builder
        .step(
            Step::new("n", |cx: StepContext, _: StepInputs| async move {
                if cx.param("day") == Some("bad") {
                    return Err(etl_dag::BoxError::from("a bad day"));
                }
                Ok::<_, etl_dag::BoxError>(1_u64)
            })
            .codec(Codec::json::<u64>()),
        )
        .build()
        .unwrap()
}

/// A server over `store` whose triggers look every 50 ms.
async fn looking(store: Arc<dyn StateStore>, dir: tempfile::TempDir, scheduler: bool) -> Api {
    let triggers = Triggers::default()
        .poll(Duration::from_millis(50))
        .scheduler(scheduler);
    serve(
        Server::new(store.clone(), Auth::Open).triggers(triggers),
        store,
        dir,
    )
    .await
}

/// Waits until `workflow` has `n` runs; fails after 30 s.
async fn until_runs(api: &Api, workflow: &str, n: usize) -> Vec<etl_runs::state::RunRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let runs = api.runs_of(workflow).await;
        if runs.len() >= n {
            return runs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {n} runs of {workflow}",
            runs.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downstream_workflow_runs_once_for_each_upstream_run_that_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    let upstream = counting("nightly", None);
    let declare = |b: etl_dag::DagBuilder| {
        b.param("upstream", None)
            .on_success_of("nightly", Some("upstream"))
    };
    let downstream = counting("report", Some(&declare));
    for dag in [&upstream, &downstream] {
        store
            .register_workflow(&WorkflowInfo::of(dag, "1"))
            .await
            .unwrap();
    }
    let api = looking(store.clone(), dir, false).await;
    // Two runs of the upstream workflow: one succeeds, one fails.
    let runs = Runs::new(&upstream, &*store, "1");
    let good = runs
        .enqueue([("day".to_owned(), "ok".to_owned())].into())
        .await
        .unwrap();
    let bad = runs
        .enqueue([("day".to_owned(), "bad".to_owned())].into())
        .await
        .unwrap();
    for claim in store.claim_steps("nightly", 10).await.unwrap() {
        runs.work(&claim, Arc::new(etl_runs::NoObserver))
            .await
            .unwrap();
    }
    assert_eq!(
        store.run(&good).await.unwrap().unwrap().status,
        StepStatus::Succeeded
    );
    assert_eq!(
        store.run(&bad).await.unwrap().unwrap().status,
        StepStatus::Failed
    );

    let started = until_runs(&api, "report", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started_again = api.runs_of("report").await;
    assert_eq!(
        started_again.len(),
        1,
        "the failed upstream run started nothing: {started_again:?}"
    );
    assert_eq!(started[0].params.get("upstream"), Some(&good));
    assert_eq!(
        started[0].started_by.as_deref(),
        Some(format!("upstream:{good}").as_str())
    );

    // Restarted, the server starts no second run for the same upstream run.
    let (store, dir) = api.shutdown().await;
    let api = looking(store.clone(), dir, false).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(api.runs_of("report").await.len(), 1);

    // An upstream success while the downstream workflow is disabled starts
    // nothing, then or once it is enabled again; one after does.
    store.set_enabled("report", false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let work = async |day: &str| {
        let id = runs
            .enqueue([("day".to_owned(), day.to_owned())].into())
            .await
            .unwrap();
        for claim in store.claim_steps("nightly", 10).await.unwrap() {
            runs.work(&claim, Arc::new(etl_runs::NoObserver))
                .await
                .unwrap();
        }
        id
    };
    work("ok").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    store.set_enabled("report", true).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        api.runs_of("report").await.len(),
        1,
        "nothing for a success while disabled"
    );
    let later = work("ok").await;
    let started = until_runs(&api, "report", 2).await;
    assert_eq!(started[0].params.get("upstream"), Some(&later));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_new_file_starts_one_run_and_a_restart_starts_none_again() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("in");
    std::fs::create_dir(&inbox).unwrap();
    let pattern = format!("{}/*.csv", inbox.display());
    let store = store_in(&dir);
    let declare = |b: etl_dag::DagBuilder| b.param("file", None).on_file(pattern.clone(), "file");
    store
        .register_workflow(&WorkflowInfo::of(&counting("ingest", Some(&declare)), "1"))
        .await
        .unwrap();
    let api = looking(store, dir, false).await;
    for name in ["a.csv", "b.csv", "c.csv", "notes.txt"] {
        std::fs::write(inbox.join(name), "id\n1\n").unwrap();
    }
    let runs = until_runs(&api, "ingest", 3).await;
    let files: BTreeSet<String> = runs.iter().map(|r| r.params["file"].clone()).collect();
    let expected: BTreeSet<String> = ["a.csv", "b.csv", "c.csv"]
        .iter()
        .map(|n| inbox.join(n).display().to_string())
        .collect();
    assert_eq!(files, expected);
    assert!(runs.iter().all(|r| {
        r.started_by
            .as_deref()
            .is_some_and(|b| b.starts_with("file:"))
    }));

    let (store, dir) = api.shutdown().await;
    let api = looking(store, dir, false).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        api.runs_of("ingest").await.len(),
        3,
        "no fourth run after a restart"
    );
    std::fs::write(inbox.join("d.csv"), "id\n2\n").unwrap();
    let runs = until_runs(&api, "ingest", 4).await;
    assert!(runs.iter().any(|r| r.params["file"].ends_with("d.csv")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_scheduler_queues_each_tick_once_and_skips_a_disabled_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    let declare = |b: etl_dag::DagBuilder| b.schedule("* * * * * *");
    store
        .register_workflow(&WorkflowInfo::of(&counting("ticking", Some(&declare)), "1"))
        .await
        .unwrap();
    let api = looking(store.clone(), dir, true).await;
    let runs = until_runs(&api, "ticking", 2).await;
    for run in &runs {
        assert_eq!(
            (run.trigger.as_str(), run.started_by.as_deref()),
            ("queue", Some("schedule"))
        );
        assert!(run.scheduled_for.is_some());
    }
    let ticks: BTreeSet<_> = runs.iter().map(|r| r.scheduled_for).collect();
    assert_eq!(ticks.len(), runs.len(), "each tick once");

    store.set_enabled("ticking", false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = api.runs_of("ticking").await.len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        api.runs_of("ticking").await.len(),
        before,
        "no tick while disabled"
    );
    store.set_enabled("ticking", true).await.unwrap();
    until_runs(&api, "ticking", before + 1).await;
}

/// The same in a bucket (moto's S3 server): `s3://bucket/in/*.csv`.
#[cfg(feature = "object-store")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_new_object_in_a_bucket_starts_one_run_and_a_restart_starts_none_again() {
    let s3 = etl_testing::s3::shared();
    let bucket = s3.bucket();
    let pattern = format!("s3://{bucket}/in/*.csv");
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    let declare = |b: etl_dag::DagBuilder| b.param("file", None).on_file(pattern.clone(), "file");
    store
        .register_workflow(&WorkflowInfo::of(&counting("ingest", Some(&declare)), "1"))
        .await
        .unwrap();
    let looking = |store: Arc<dyn StateStore>, dir| {
        let triggers = Triggers::default()
            .poll(Duration::from_millis(100))
            .bucket_options(s3.options());
        serve(
            Server::new(store.clone(), Auth::Open).triggers(triggers),
            store,
            dir,
        )
    };
    let api = looking(store, dir).await;
    for key in [
        "in/a.csv",
        "in/b.csv",
        "in/c.csv",
        "in/notes.txt",
        "in/deeper/d.csv",
    ] {
        s3.put(&bucket, key, b"id\n1\n");
    }
    let runs = until_runs(&api, "ingest", 3).await;
    let files: BTreeSet<String> = runs.iter().map(|r| r.params["file"].clone()).collect();
    let expected: BTreeSet<String> = ["a", "b", "c"]
        .iter()
        .map(|n| format!("s3://{bucket}/in/{n}.csv"))
        .collect();
    assert_eq!(files, expected, "`*` matches within one level");
    let (store, dir) = api.shutdown().await;
    let api = looking(store, dir).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        api.runs_of("ingest").await.len(),
        3,
        "no fourth run after a restart"
    );
    s3.put(&bucket, "in/e.csv", b"id\n2\n");
    let runs = until_runs(&api, "ingest", 4).await;
    assert!(runs.iter().any(|r| r.params["file"].ends_with("/in/e.csv")));
}
