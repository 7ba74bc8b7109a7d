//! The server at its edges (issue 27): parameters typed when a run is asked
//! for, in every way in.

use std::sync::Arc;

use etl_dag::{Dag, ParamType, Step, StepContext, StepInputs};
use etl_runs::StateStore;
use etl_runs::registry::WorkflowInfo;
use etl_runs::state::SqliteStore;
use etl_server::{Auth, Server};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api::{Api, TOKEN, answer, message, serve};

const SECRET: &str = "the-typed-webhook-secret";

/// A step that does nothing.
fn only() -> Step {
    Step::new("only", |_: StepContext, _: StepInputs| async move {
        Ok::<_, etl_dag::BoxError>(())
    })
}

/// `typed`: an int, a bool and a date, the last two with defaults.
fn typed() -> Dag {
    Dag::builder("typed")
        .typed_param("limit", ParamType::Int, None)
        .typed_param("full", ParamType::Bool, Some("false"))
        .typed_param("day", ParamType::Date, Some("2026-12-01"))
        .step(only())
        .build()
        .unwrap()
}

/// A server over a fresh store where `typed` is registered, with `auth`,
/// configured by `configure`.
async fn serve_typed(auth: Auth, configure: impl FnOnce(Server) -> Server) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(SqliteStore::open(dir.path().join("state.sqlite")).unwrap());
    store
        .register_workflow(&WorkflowInfo::of(&typed(), "1"))
        .await
        .unwrap();
    serve(configure(Server::new(store.clone(), auth)), store, dir).await
}

async fn typed_api() -> Api {
    serve_typed(Auth::Token(TOKEN.into()), |s| s.webhook("typed", SECRET)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parameter_of_the_wrong_type_is_refused_before_a_run_exists() {
    let api = typed_api().await;
    // The API says each parameter's type.
    let (_, workflow) = api.get("/api/workflows/typed").await;
    let types: Vec<&str> = workflow["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["int", "bool", "date"]);

    let bad = json!({
        "limit": "abc",
        "full": "yes",
        "day": "2026-02-30",
    });
    let webhook = |body: Value| {
        api.client
            .post(api.url("/api/workflows/typed/trigger"))
            .bearer_auth(SECRET)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    for (way, (status, body)) in [
        (
            "api",
            api.post("/api/workflows/typed/runs", json!({ "params": bad }))
                .await,
        ),
        (
            "webhook",
            answer(webhook(json!({ "params": bad })).await.unwrap()).await,
        ),
    ] {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{way}: {body}");
        assert_eq!(
            body["error"]["problems"],
            json!([
                "parameter \"day\": \"2026-02-30\" is not a date (YYYY-MM-DD)",
                "parameter \"full\": \"yes\" is not true or false",
                "parameter \"limit\": \"abc\" is not a whole number of 64 bits",
            ]),
            "{way}"
        );
    }
    // A number past 64 bits, as text or as a JSON number.
    for limit in [
        json!("9223372036854775808"),
        json!(18446744073709551616_u128 as f64),
    ] {
        let (status, body) = api
            .post(
                "/api/workflows/typed/runs",
                json!({ "params": { "limit": limit } }),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{limit}: {body}");
    }
    assert!(
        api.store
            .list_runs(&Default::default())
            .await
            .unwrap()
            .is_empty(),
        "no run was made"
    );
    // Good values start a run.
    let (status, body) = api
        .post(
            "/api/workflows/typed/runs",
            json!({ "params": { "limit": "-5" } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{}", message(status, &body));
    assert_eq!(
        body["params"],
        json!({"limit": "-5", "full": "false", "day": "2026-12-01"})
    );
}

#[test]
fn a_default_not_of_its_type_is_refused_when_the_workflow_is_built() {
    let err = Dag::builder("typed")
        .typed_param("limit", ParamType::Int, Some("ten"))
        .step(only())
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("parameter \"limit\": its default \"ten\" is not a whole number"),
        "{err}"
    );
}

/// GETs `path` with `headers`.
async fn get_with(api: &Api, path: &str, headers: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut request = api.client.get(api.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    answer(request.send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_naming_another_host_is_refused_whatever_it_asks() {
    // A page at http://evil.test:PORT whose name resolves to 127.0.0.1 sends
    // Host: evil.test:PORT. An open server is the worst case.
    let api = serve_typed(Auth::Open, |s| s.allow_hosts(["etl.example.com"])).await;
    let port = api.base.rsplit(':').next().unwrap().to_owned();
    let evil = format!("evil.test:{port}");
    for path in [
        "/api/workflows",
        "/",
        "/metrics",
        "/api/openapi.json",
        "/api/runs",
    ] {
        let (status, body) = get_with(&api, path, &[("host", &evil)]).await;
        assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{path}: {body}");
        assert!(message(status, &body).contains("evil.test"), "{body}");
    }
    for (method, path) in [
        (reqwest::Method::POST, "/api/workflows/typed/disable"),
        (reqwest::Method::DELETE, "/api/workflows/typed"),
    ] {
        let response = api
            .client
            .request(method, api.url(path))
            .header("host", &evil)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST, "{path}");
    }
    let (_, workflow) = api.get("/api/workflows/typed").await;
    assert_eq!(workflow["enabled"], json!(true), "nothing was changed");
    // Its addresses, localhost and the names given are answered.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("ETL.example.com:{port}"),
        "etl.example.com".to_owned(),
    ] {
        let (status, body) = get_with(&api, "/api/workflows", &[("host", &host)]).await;
        assert_eq!(status, StatusCode::OK, "{host}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_bearer_exactly_and_origins_keep_their_scheme() {
    let api = typed_api().await;
    let disable = |auth: &'static str, origin: Option<String>| {
        let mut request = api
            .client
            .post(api.url("/api/workflows/typed/disable"))
            .header("authorization", auth);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let bare: &'static str = TOKEN;
    for auth in [bare, "Basic YTpi", "Token abc"] {
        let (status, body) = answer(disable(auth, None).await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth}: {body}");
        assert!(message(status, &body).contains("Bearer"), "{body}");
    }
    let with_bearer: &'static str = Box::leak(format!("Bearer {TOKEN}").into_boxed_str());
    let host = api.base.trim_start_matches("http://").to_owned();
    for origin in [format!("https://{host}"), format!("ftp://{host}")] {
        let (status, body) =
            answer(disable(with_bearer, Some(origin.clone())).await.unwrap()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin}: {body}");
    }
    let (status, body) = answer(
        disable(with_bearer, Some(format!("http://{host}")))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The webhook reads its secret the same way.
    let (status, _) = answer(
        api.client
            .post(api.url("/api/workflows/typed/trigger"))
            .header("authorization", SECRET)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_no_header_can_carry_is_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(SqliteStore::open(dir.path().join("state.sqlite")).unwrap());
    for token in [
        " ".repeat(16),
        format!("{TOKEN} with spaces"),
        format!("{TOKEN}\u{e9}"),
    ] {
        let err = Server::new(store.clone(), Auth::Token(token.clone()))
            .bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ETL_SERVER_TOKEN") && err.contains("visible ASCII"),
            "{err}"
        );
        assert!(!err.contains(&token), "the token is not quoted: {err}");
    }
    let err = Server::new(store.clone(), Auth::Token(TOKEN.into()))
        .webhook("typed", "a secret with spaces in it")
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("webhook secret of workflow \"typed\""),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_a_path_query_or_value_is_refused_before_any_store_over_both_stores() {
    for api in [crate::api::token_api().await, crate::api::pg_api().await] {
        for path in [
            "/api/runs/a%00b",
            "/api/runs?workflow=sales%00",
            "/api/workflows/sa%00les",
        ] {
            let (status, body) = api.get(path).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
            assert!(message(status, &body).contains("NUL"), "{body}");
        }
        let (status, body) = api.post("/api/runs/a%00b/cancel", json!({})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        // A NUL in a value or a name; an escaped backslash before u0000 is
        // text, not a NUL.
        for (params, expected) in [
            (json!({ "day": "a\u{0}b" }), StatusCode::BAD_REQUEST),
            (json!({ "da\u{0}y": "1" }), StatusCode::BAD_REQUEST),
            (json!({ "day": "\\u0000" }), StatusCode::CREATED),
        ] {
            let (status, body) = api
                .post("/api/workflows/sales/runs", json!({ "params": params }))
                .await;
            assert_eq!(status, expected, "{params}: {body}");
            if expected == StatusCode::BAD_REQUEST {
                assert!(message(status, &body).contains("NUL"), "{body}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_says_which_parameters_each_workflow_takes() {
    let api = typed_api().await;
    let (status, doc) = api.get("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let trigger = &doc["paths"]["/api/workflows/typed/runs"]["post"];
    let body = &trigger["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["required"], json!(["params"]), "{body}");
    let params = &body["properties"]["params"];
    assert_eq!(params["additionalProperties"], json!(false), "{params}");
    assert_eq!(params["required"], json!(["limit"]), "{params}");
    assert_eq!(params["properties"]["limit"]["pattern"], "^-?[0-9]{1,18}$");
    assert_eq!(params["properties"]["full"]["pattern"], "^(true|false)$");
    assert!(
        trigger["parameters"]
            .as_array()
            .is_none_or(|p| p.iter().all(|p| p["name"] != "name"))
    );
    // In place of the templated path, which another name is not found by.
    assert!(doc["paths"]["/api/workflows/{name}/runs"].is_null());
    let (status, _) = api.post("/api/workflows/other/runs", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A name a path template could misread is percent-encoded in its path.
    let odd = Dag::builder("odd {name}/x").step(only()).build().unwrap();
    api.store
        .register_workflow(&WorkflowInfo::of(&odd, "1"))
        .await
        .unwrap();
    let (_, doc) = api.get("/api/openapi.json").await;
    assert!(
        doc["paths"]["/api/workflows/odd%20%7Bname%7D%2Fx/runs"]["post"].is_object(),
        "{:?}",
        doc["paths"].as_object().unwrap().keys().collect::<Vec<_>>()
    );
    // Every text the document takes refuses a NUL, as the server does.
    let name = doc["paths"]["/api/workflows/{name}"]["get"]["parameters"][0]["schema"].clone();
    assert_eq!(name["pattern"], "^[^\\u0000]*$", "{name}");
    // What the patterns allow, the server takes.
    let (status, body) = api
        .post(
            "/api/workflows/typed/runs",
            json!({ "params": { "limit": "-999999999999999999", "full": "true", "day": "2024-02-28" } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
