//! Every endpoint, with good and bad input: a real SQLite store in a temp
//! folder, a server on a free loopback port, reqwest as the caller.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use etl_dag::{CancellationToken, Codec, Dag, Step, StepContext, StepInputs};
use etl_runs::registry::WorkflowInfo;
use etl_runs::state::SqliteStore;
use etl_runs::{NoObserver, Runs, StateStore, Worker};
use etl_server::{Auth, Server};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub(crate) const TOKEN: &str = "a-test-token-of-some-length";

pub(crate) struct Api {
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    pub(crate) store: Arc<dyn StateStore>,
    pub(crate) dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Whether `extract` has hung once (one test gives `day` `hang`).
static HUNG: AtomicBool = AtomicBool::new(false);

/// `load` takes `extract`'s output; parameter `day` is required, `region`
/// defaults to `eu`; `load` fails when `day` is `bad`, `extract` hangs in
/// the first time it is `hang`, and every time it is `hang-always`.
pub(crate) fn sales() -> Dag {
    Dag::builder("sales")
        .param("day", None)
        .param("region", Some("eu"))
        .schedule("0 6 * * *")
        .step(
            Step::new("extract", |cx: StepContext, _: StepInputs| async move {
                if cx.param("day") == Some("hang") && !HUNG.swap(true, Ordering::SeqCst)
                    || cx.param("day") == Some("hang-always")
                {
                    tokio::time::sleep(Duration::from_secs(600)).await;
                }
                Ok::<_, etl_dag::Error>(cx.param("day").unwrap_or_default().len() as u64)
            })
            .codec(Codec::json::<u64>()),
        )
        .step(
            Step::new("load", |cx: StepContext, _: StepInputs| async move {
                if cx.param("day") == Some("bad") {
                    return Err(etl_dag::BoxError::from("the day is bad"));
                }
                Ok::<_, etl_dag::BoxError>(())
            })
            .inputs(["extract"]),
        )
        .build()
        .unwrap()
}

async fn start(auth: Auth) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(SqliteStore::open(dir.path().join("state.sqlite")).unwrap());
    start_on(store, dir, auth).await
}

/// The API over a fresh database of the test PostgreSQL.
pub(crate) async fn pg_api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let url = etl_testing::postgres::shared().database().await;
    let store = etl_runs::open(&url, &dir.path().join("outputs"))
        .await
        .unwrap();
    start_on(Arc::from(store), dir, Auth::Token(TOKEN.into())).await
}

async fn start_on(store: Arc<dyn StateStore>, dir: tempfile::TempDir, auth: Auth) -> Api {
    store
        .register_workflow(&WorkflowInfo::of(&sales(), "1.2.3"))
        .await
        .unwrap();
    serve(Server::new(store.clone(), auth), store, dir).await
}

/// `server` (over `store`) bound to a free loopback port and running.
pub(crate) async fn serve(
    server: Server,
    store: Arc<dyn StateStore>,
    dir: tempfile::TempDir,
) -> Api {
    let bound = server.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", bound.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        bound
            .run(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Api {
        base,
        client: reqwest::Client::new(),
        store,
        dir,
        stop: Some(stop),
        task: Some(task),
    }
}

impl Api {
    /// Stops the server and waits for it (its triggers too); the store and
    /// folder, to serve again.
    pub(crate) async fn shutdown(mut self) -> (Arc<dyn StateStore>, tempfile::TempDir) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (self.store.clone(), dir)
    }
}

pub(crate) async fn token_api() -> Api {
    start(Auth::Token(TOKEN.into())).await
}

impl Api {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        answer(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    /// POSTs `body` as JSON with the token.
    pub(crate) async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let request = self
            .client
            .post(self.url(path))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body.to_string());
        answer(request.send().await.unwrap()).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        let request = self.client.delete(self.url(path)).bearer_auth(TOKEN);
        answer(request.send().await.unwrap()).await
    }

    /// POSTs a body over the limit: the server answers 413 before reading
    /// it all and closes the connection, so the client may see its send cut
    /// (a reset) instead of the answer. Tried until the answer is read.
    pub(crate) async fn oversized(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (StatusCode, Value) {
        for _ in 0..20 {
            let mut request = self
                .client
                .post(self.url(path))
                .header("content-type", "application/json")
                .body(body.to_owned());
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Ok(response) = request.send().await {
                return answer(response).await;
            }
        }
        panic!("no answer to an oversized body in 20 tries");
    }

    /// A run of `sales` queued through the API with `params`; its id.
    pub(crate) async fn trigger(&self, params: Value) -> String {
        let (status, run) = self
            .post("/api/workflows/sales/runs", json!({ "params": params }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{run}");
        run["run_id"].as_str().unwrap().to_owned()
    }
}

pub(crate) async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert!(
        kind.starts_with("application/json"),
        "{status} answered {kind:?}: {text}"
    );
    (status, serde_json::from_str(&text).unwrap())
}

/// The message of an error answer, checking its shape.
pub(crate) fn message(status: StatusCode, body: &Value) -> String {
    assert_eq!(body["error"]["status"], status.as_u16(), "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_are_listed_shown_switched_and_deleted() {
    workflows_are_listed_shown_switched_and_deleted_on(token_api().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_workflows_are_listed_shown_switched_and_deleted() {
    workflows_are_listed_shown_switched_and_deleted_on(pg_api().await).await;
}

async fn workflows_are_listed_shown_switched_and_deleted_on(api: Api) {
    let (status, list) = api.get("/api/workflows").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (status, sales) = api.get("/api/workflows/sales").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sales["version"], "1.2.3");
    assert_eq!(sales["schedule"], "0 6 * * *");
    assert_eq!(sales["enabled"], true);
    assert_eq!(
        sales["steps"],
        json!([
            {"name": "extract", "inputs": [], "after": []},
            {"name": "load", "inputs": ["extract"], "after": []},
        ])
    );
    assert_eq!(
        sales["params"],
        json!([
            {"name": "day", "type": "string", "default": null},
            {"name": "region", "type": "string", "default": "eu"}
        ])
    );

    let (status, off) = api.post("/api/workflows/sales/disable", json!({})).await;
    assert_eq!((status, &off["enabled"]), (StatusCode::OK, &json!(false)));
    assert!(!api.store.workflow("sales").await.unwrap().unwrap().enabled);
    let (status, body) = api
        .post("/api/workflows/sales/runs", json!({"params": {"day": "1"}}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        message(status, &body),
        "workflow \"sales\" is disabled: enable it to start runs"
    );
    let (status, on) = api.post("/api/workflows/sales/enable", json!({})).await;
    assert_eq!((status, &on["enabled"]), (StatusCode::OK, &json!(true)));

    for (path, post) in [
        ("/api/workflows/nope", false),
        ("/api/workflows/nope/enable", true),
        ("/api/workflows/nope/runs", true),
        ("/api/workflows/%3Cscript%3E", false),
    ] {
        let (status, body) = if post {
            api.post(path, json!({})).await
        } else {
            api.get(path).await
        };
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        let text = message(status, &body);
        assert!(text.starts_with("no workflow \""), "{text}");
        assert!(text.ends_with("\" is registered"), "{text}");
    }
    let (status, body) = api.delete("/api/workflows/nope").await;
    assert_eq!(message(status, &body), "no workflow \"nope\" is registered");

    let run_id = api.trigger(json!({"day": "2026-12-01"})).await;
    let (status, body) = api.delete("/api/workflows/sales").await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a queued run is running: {body}"
    );
    let text = message(status, &body);
    assert!(text.contains(&run_id) && text.contains("force"), "{text}");
    assert!(
        api.store.run(&run_id).await.unwrap().is_some(),
        "nothing deleted"
    );
    let (status, body) = api.delete("/api/workflows/sales?force=maybe").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = api.delete("/api/workflows/sales?force=true").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"workflow": "sales", "runs": 1}))
    );
    assert!(api.store.run(&run_id).await.unwrap().is_none());
    let (_, list) = api.get("/api/workflows").await;
    assert_eq!(list, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_need_the_token_and_the_servers_own_origin() {
    let api = token_api().await;
    let url = api.url("/api/workflows/sales/disable");
    for (token, expected) in [
        (
            None,
            "this needs the server's token: send `Authorization: Bearer <token>`",
        ),
        (
            Some("wrong-token-wrong-token"),
            "the token sent is not the server's",
        ),
        (
            Some(&TOKEN[..TOKEN.len() - 1]),
            "the token sent is not the server's",
        ),
    ] {
        let mut request = api.client.post(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let (status, body) = answer(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(message(status, &body), expected);
    }
    assert!(
        api.store.workflow("sales").await.unwrap().unwrap().enabled,
        "nothing changed"
    );

    // The right token, from a page of another site: refused.
    for (name, value) in [
        ("origin", "http://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let response = api
            .client
            .post(&url)
            .bearer_auth(TOKEN)
            .header(name, value)
            .send()
            .await
            .unwrap();
        let (status, body) = answer(response).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {body}");
        assert!(message(status, &body).contains("may not change anything here"));
    }
    assert!(
        api.store.workflow("sales").await.unwrap().unwrap().enabled,
        "nothing changed"
    );
    // Its own origin passes.
    let origin = api.base.clone();
    let response = api
        .client
        .post(&url)
        .bearer_auth(TOKEN)
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Reading needs no token.
    assert_eq!(api.get("/api/runs").await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_server_is_for_loopback_only_and_a_token_must_be_long() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(SqliteStore::open(dir.path().join("state.sqlite")).unwrap());
    let err = Server::new(store.clone(), Auth::Open)
        .bind("0.0.0.0:0".parse().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("with no token") && err.contains("ETL_SERVER_TOKEN"),
        "{err}"
    );
    let err = Server::new(store.clone(), Auth::Token("short".into()))
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "the server token has 5 characters; give one of at least 16 (ETL_SERVER_TOKEN)"
    );
    // Open on loopback: mutations pass without a token, still not cross-site.
    let api = start(Auth::Open).await;
    let url = api.url("/api/workflows/sales/disable");
    assert_eq!(
        api.client.post(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let response = api
        .client
        .post(&url)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_checks_its_params_and_body() {
    let api = token_api().await;
    let path = "/api/workflows/sales/runs";
    let (status, body) = api
        .post(path, json!({"params": {"region": "us", "colour": "red"}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"]["problems"],
        json!([
            "unknown parameter \"colour\": it declares day, region",
            "parameter \"day\" is required",
        ])
    );
    assert!(message(status, &body).starts_with("workflow \"sales\" refuses these parameters: "));

    let (status, body) = api.post(path, json!({"params": {"day": 3}})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(status, &body).contains("params.day"), "{body}");
    let (status, body) = api
        .post(path, json!({"params": {"day": "1"}, "priority": 9}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message(status, &body).contains("unknown field `priority`"),
        "{body}"
    );

    let long = "x".repeat(5000);
    let (status, body) = api.post(path, json!({"params": {"day": long}})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message(status, &body).contains("longer than the 4096 allowed"),
        "{body}"
    );

    let huge = "x".repeat(etl_server::MAX_BODY + 1);
    let (status, body) = api
        .oversized(
            path,
            &[("authorization", &format!("Bearer {TOKEN}"))],
            &json!({"params": {"day": huge}}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        message(status, &body),
        "the body is larger than the 65536 bytes allowed"
    );

    let url = api.url(path);
    let send = |body: &'static str, kind: &'static str| {
        api.client
            .post(&url)
            .bearer_auth(TOKEN)
            .header("content-type", kind)
            .body(body)
            .send()
    };
    let (status, body) = answer(send("{\"params\": ", "application/json").await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = answer(
        send("day=1", "application/x-www-form-urlencoded")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(message(status, &body).contains("Content-Type: application/json"));

    assert!(
        api.store
            .list_runs(&Default::default())
            .await
            .unwrap()
            .is_empty(),
        "no run from bad input"
    );

    // The defaults fill in; who started it is kept.
    let run_id = api.trigger(json!({"day": "2026-12-01"})).await;
    let run = api.store.run(&run_id).await.unwrap().unwrap();
    assert_eq!(run.params.get("region").map(String::as_str), Some("eu"));
    assert_eq!(
        (run.trigger.as_str(), run.started_by.as_deref()),
        ("queue", Some("api"))
    );
    assert_eq!(run.version, "1.2.3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_listed_by_page_and_filter_and_shown_with_their_steps() {
    runs_are_listed_by_page_and_filter_and_shown_with_their_steps_on(token_api().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_runs_are_listed_by_page_and_filter_and_shown_with_their_steps() {
    runs_are_listed_by_page_and_filter_and_shown_with_their_steps_on(pg_api().await).await;
}

async fn runs_are_listed_by_page_and_filter_and_shown_with_their_steps_on(api: Api) {
    let mut ids = Vec::new();
    for i in 0..7 {
        let day = if i == 3 {
            "bad".to_owned()
        } else {
            format!("2026-12-0{i}")
        };
        ids.push(api.trigger(json!({"day": day})).await);
    }
    // A worker with the workflow's code works the queue through.
    let dag = sales();
    let stop = CancellationToken::new();
    let worker = {
        let (store, stop) = (api.store.clone(), stop.clone());
        tokio::spawn(async move {
            let runs = Runs::new(&dag, &*store, "1.2.3");
            Worker::new(&runs)
                .poll(Duration::from_millis(20))
                .run(stop, Arc::new(NoObserver))
                .await
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, page) = api.get("/api/runs?status=running").await;
        if page["runs"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "runs left: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    worker.await.unwrap();

    let mut seen = Vec::new();
    let mut path = "/api/runs?limit=3".to_owned();
    loop {
        let (status, page) = api.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(
            page["runs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["run_id"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => path = format!("/api/runs?limit=3&after={next}"),
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    let (_, failed) = api.get("/api/runs?status=FAILED&workflow=sales").await;
    let failed = failed["runs"].as_array().unwrap();
    assert_eq!(
        failed.len(),
        1,
        "{:#}",
        api.get(&format!(
            "/api/runs/{}",
            failed[0]["run_id"].as_str().unwrap()
        ))
        .await
        .1
    );
    assert_eq!(failed[0]["run_id"], ids[3]);
    let (_, none) = api.get("/api/runs?workflow=other").await;
    assert_eq!(none, json!({"runs": [], "next": null}));
    let (_, since) = api
        .get("/api/runs?since=2000-01-01T00:00:00Z&until=2100-01-01T00:00:00Z")
        .await;
    assert_eq!(since["runs"].as_array().unwrap().len(), 7);

    let (status, detail) = api.get(&format!("/api/runs/{}", ids[3])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["run"]["status"], "FAILED");
    assert_eq!(detail["run"]["started_by"], "api");
    assert_eq!(detail["steps"][0]["status"], "SUCCEEDED");
    assert_eq!(detail["steps"][0]["attempts"], 1);
    assert_eq!(detail["steps"][1]["status"], "FAILED");
    assert!(
        detail["steps"][1]["error"]
            .as_str()
            .unwrap()
            .contains("the day is bad"),
        "{detail}"
    );
    let (_, ok) = api.get(&format!("/api/runs/{}", ids[0])).await;
    assert_eq!(ok["run"]["status"], "SUCCEEDED");
    assert!(ok["run"]["duration_ms"].is_u64());

    for (path, expected) in [
        (
            "/api/runs?status=sleepy",
            "`status` \"sleepy\" is not a status",
        ),
        (
            "/api/runs?since=yesterday",
            "`since` \"yesterday\" is not a time",
        ),
        (
            "/api/runs?limit=0",
            "`limit` is 0: a page holds 1 to 500 runs",
        ),
        ("/api/runs?limit=501", "`limit` is 501"),
        ("/api/runs?limit=many", "limit"),
        ("/api/runs?colour=red", "unknown field `colour`"),
    ] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let text = message(status, &body);
        assert!(text.contains(expected), "{path}: {text}");
    }
    let (status, body) = api.get("/api/runs/nope").await;
    assert_eq!(
        (status, message(status, &body)),
        (StatusCode::NOT_FOUND, "no run \"nope\"".to_owned())
    );
    // A cursor that names no run: that run is not found.
    let (status, body) = api.get("/api/runs?after=nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        message(status, &body).contains("`after` names no run (\"nope\")"),
        "{body}"
    );
    // A workflow or cursor left blank, as a form sends them, filters
    // nothing; a blank status or time is no status or time.
    let (status, body) = api.get("/api/runs?workflow=&after=").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["runs"], api.get("/api/runs").await.1["runs"]);
    for blank in ["status", "since", "until"] {
        let (status, body) = api.get(&format!("/api/runs?{blank}=")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{blank}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_triggers_at_once_make_a_hundred_runs() {
    a_hundred_triggers_at_once_make_a_hundred_runs_on(token_api().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_hundred_triggers_at_once_make_a_hundred_runs() {
    a_hundred_triggers_at_once_make_a_hundred_runs_on(pg_api().await).await;
}

async fn a_hundred_triggers_at_once_make_a_hundred_runs_on(api: Api) {
    let api = Arc::new(api);
    let calls = (0..100).map(|i| {
        let api = api.clone();
        tokio::spawn(async move { api.trigger(json!({"day": format!("d{i}")})).await })
    });
    let ids: BTreeSet<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ids.len(), 100, "100 distinct run ids");
    let recorded = api
        .store
        .list_runs(&etl_runs::RunQuery::default().limit(500))
        .await
        .unwrap();
    assert_eq!(recorded.len(), 100);
    let days: BTreeSet<&str> = recorded.iter().map(|r| r.params["day"].as_str()).collect();
    assert_eq!(days.len(), 100, "each call's own parameters");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let api = token_api().await;
    let (status, doc) = api.get(etl_server::OPENAPI_PATH).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let described: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    let served: BTreeSet<String> = [
        "GET /api/workflows",
        "GET /api/workflows/{name}",
        "DELETE /api/workflows/{name}",
        "POST /api/workflows/{name}/enable",
        "POST /api/workflows/{name}/disable",
        // The registered workflow's own, its parameters named, in place
        // of the templated one (`the_openapi_document_...` below).
        "POST /api/workflows/sales/runs",
        "POST /api/workflows/{name}/trigger",
        "GET /api/runs",
        "GET /api/runs/{run_id}",
        "POST /api/runs/{run_id}/cancel",
        "POST /api/runs/{run_id}/resume",
        "GET /metrics",
        "POST /api/workers",
        "POST /api/workers/{worker_id}",
        "DELETE /api/workers/{worker_id}",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(described, served);
    // Each route the document names answers something other than "no such
    // path": the templated trigger path too.
    let served: BTreeSet<String> = served
        .into_iter()
        .chain(["POST /api/workflows/{name}/runs".to_owned()])
        .collect();
    // Each route the document names answers something other than "no such path".
    for route in &served {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path.replace("{name}", "sales").replace("{run_id}", "nope");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = api
            .client
            .request(method, api.url(&path))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let body = response.text().await.unwrap();
        assert!(!body.contains("no such path"), "{route}: {body}");
    }
    assert!(doc["components"]["securitySchemes"]["token"].is_object());

    let (status, body) = api.get("/api/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(message(status, &body).contains("/api/openapi.json"));
    let response = api
        .client
        .put(api.url("/api/runs"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let (status, body) = answer(response).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(message(status, &body), "/api/runs does not take PUT");
}

/// A worker of `sales` over the API's store, in a task, until the token.
pub(crate) fn worker(
    api: &Api,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<etl_runs::WorkerReport>,
) {
    let (store, stop) = (api.store.clone(), CancellationToken::new());
    let token = stop.clone();
    let task = tokio::spawn(async move {
        let dag = sales();
        let runs = Runs::new(&dag, &*store, "1.2.3");
        Worker::new(&runs)
            .concurrency(2)
            .poll(Duration::from_millis(20))
            .run(token, Arc::new(NoObserver))
            .await
    });
    (stop, task)
}

/// Waits until run `run_id`'s detail satisfies `done`; the detail.
pub(crate) async fn until(
    api: &Api,
    run_id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, detail) = api.get(&format!("/api/runs/{run_id}")).await;
        if done(&detail) {
            return detail;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {detail:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_run_is_cancelled_and_resumed_through_the_api() {
    let api = token_api().await;
    let run_id = api.trigger(json!({"day": "hang"})).await;
    let (stop, task) = worker(&api);
    until(&api, &run_id, "extract running", |d| {
        d["steps"][0]["status"] == "RUNNING"
    })
    .await;
    let (status, body) = api
        .post(&format!("/api/runs/{run_id}/resume"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(status, &body).contains("still running"), "{body}");

    let (status, cancelled) = api
        .post(&format!("/api/runs/{run_id}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["run"]["cancel_requested"], true);
    assert_eq!(
        cancelled["steps"][1]["status"], "CANCELLED",
        "the pending step at once"
    );
    let ended = until(&api, &run_id, "the run cancelled", |d| {
        d["run"]["status"] != "RUNNING"
    })
    .await;
    assert_eq!(ended["run"]["status"], "CANCELLED", "{ended:#}");
    assert_eq!(
        ended["steps"][0]["status"], "CANCELLED",
        "the worker stopped the running step"
    );
    let (status, body) = api
        .post(&format!("/api/runs/{run_id}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        message(status, &body),
        format!("run {run_id:?} has ended (CANCELLED): there is nothing to cancel")
    );

    let (status, resumed) = api
        .post(&format!("/api/runs/{run_id}/resume"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["run"]["status"], "RUNNING");
    assert_eq!(resumed["run"]["cancel_requested"], false);
    let done = until(&api, &run_id, "the resumed run", |d| {
        d["run"]["status"] != "RUNNING"
    })
    .await;
    assert_eq!(done["run"]["status"], "SUCCEEDED", "{done:#}");
    assert_eq!(done["steps"][0]["attempts"], 2, "attempts add up");
    // Each attempt with its own times: the cancelled one, then the resumed.
    let history = done["steps"][0]["history"].as_array().unwrap();
    let how: Vec<_> = history
        .iter()
        .map(|a| (a["attempt"].clone(), a["status"].clone()))
        .collect();
    assert_eq!(
        how,
        [
            (json!(1), json!("CANCELLED")),
            (json!(2), json!("SUCCEEDED"))
        ],
        "{done:#}"
    );
    assert!(
        history[0]["finished_at"].as_str().unwrap() <= history[1]["started_at"].as_str().unwrap(),
        "{done:#}"
    );
    assert_eq!(history[1]["started_at"], done["steps"][0]["started_at"]);
    let (status, body) = api
        .post(&format!("/api/runs/{run_id}/resume"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(message(status, &body).contains("succeeded: there is nothing to resume"));
    stop.cancel();
    task.await.unwrap();

    for verb in ["cancel", "resume"] {
        let (status, body) = api.post(&format!("/api/runs/nope/{verb}"), json!({})).await;
        assert_eq!(
            (status, message(status, &body)),
            (StatusCode::NOT_FOUND, "no run \"nope\"".to_owned())
        );
    }
    let response = api
        .client
        .post(api.url(&format!("/api/runs/{run_id}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "cancelling needs the token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_with_escaped_labels() {
    let api = token_api().await;
    for day in ["1", "2"] {
        api.trigger(json!({"day": day})).await;
    }
    let odd = Dag::builder("a\"b\\c\nd")
        .step(Step::new("s", |_: StepContext, _: StepInputs| async {
            Ok::<_, etl_dag::Error>(())
        }))
        .build()
        .unwrap();
    Runs::new(&odd, &*api.store, "1")
        .enqueue(Default::default())
        .await
        .unwrap();
    let (stop, task) = worker(&api);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while api
        .store
        .list_runs(
            &etl_runs::RunQuery::default()
                .workflow("sales")
                .status(etl_dag::StepStatus::Succeeded),
        )
        .await
        .unwrap()
        .len()
        < 2
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the runs did not finish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    task.await.unwrap();
    let response = api.client.get(api.url("/metrics")).send().await.unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    for line in [
        "# TYPE etl_runs gauge",
        "etl_runs{workflow=\"sales\",status=\"SUCCEEDED\"} 2",
        "etl_steps{workflow=\"sales\",status=\"SUCCEEDED\"} 4",
        "# TYPE etl_step_duration_seconds histogram",
        "etl_step_duration_seconds_bucket{workflow=\"sales\",le=\"+Inf\"} 4",
        "etl_step_duration_seconds_count{workflow=\"sales\"} 4",
        "etl_queue_depth{workflow=\"a\\\"b\\\\c\\nd\"} 1",
        "# TYPE etl_claims_lost_total counter",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_sessions_need_the_worker_token_and_end_when_silent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let store: Arc<dyn StateStore> = Arc::new(SqliteStore::open(&path).unwrap());
    let opener: etl_server::OpenStore = Arc::new(move || {
        let path = path.clone();
        Box::pin(async move { Ok(Arc::new(SqliteStore::open(&path)?) as Arc<dyn StateStore>) })
    });
    let workers = etl_server::Workers::new(opener)
        .idle(Duration::from_millis(400))
        .most(1)
        .token("the-worker-token-16");
    // A server that takes no workers says so.
    let plain = token_api().await;
    let (status, body) = plain.post("/api/workers", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(message(status, &body).contains("takes no workers"));

    let api = serve(
        Server::new(store.clone(), Auth::Token(TOKEN.into())).workers(workers),
        store,
        dir,
    )
    .await;
    let open = |token: &'static str| {
        api.client
            .post(api.url("/api/workers"))
            .bearer_auth(token)
            .send()
    };
    let (status, body) = answer(open("not-the-token-at-all").await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, opened) = answer(open("the-worker-token-16").await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    let id = opened["worker_id"].as_str().unwrap().to_owned();
    assert_eq!(opened["heartbeat_ms"], 100);
    let (status, body) = answer(open("the-worker-token-16").await.unwrap()).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "one session at most: {body}"
    );
    assert!(message(status, &body).contains("1 worker sessions, the most it takes"));
    let call = |body: Value| {
        api.client
            .post(api.url(&format!("/api/workers/{id}")))
            .bearer_auth("the-worker-token-16")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let (status, answered) = answer(
        call(json!({"call": "claim", "workflow": "sales", "limit": 5}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, answered),
        (StatusCode::OK, json!({"answer": "claims", "claims": []}))
    );
    let (status, body) = answer(call(json!({"call": "explode"})).await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Silent for longer than its idle time: gone, as a dead worker.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (status, body) = answer(call(json!({"call": "heartbeat"})).await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        message(status, &body).contains("went back to the queue"),
        "{body}"
    );
}
