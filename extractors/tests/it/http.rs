//! The HTTP extractor against a small JSON API the tests serve on 127.0.0.1.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use etl_core::arrow::array::RecordBatch;
use etl_core::arrow::util::pretty::pretty_format_batches;
use etl_core::{Error, ExtractOptions, Extractor, TableSpec, WriteMode};
use etl_extractors::http::{
    Auth, HttpConfig, HttpExtractor, KeyLocation, Paginator, Resource, RetryPolicy, Secret,
};
use serde_json::{Value, json};

const TOKEN: &str = "test-token-0123";

#[derive(Default)]
struct Api {
    users: Mutex<Vec<Value>>,
    flaky_failures: AtomicUsize,
    requests: Mutex<Vec<String>>,
}

type Params = Query<HashMap<String, String>>;

fn users(n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            let mut user = json!({
                "id": i,
                "name": format!("user {i}"),
                "score": if i % 2 == 0 { json!(i) } else { json!(i as f64 + 0.5) },
                "tags": if i % 3 == 0 { json!([]) } else { json!(["a", format!("t{i}")]) },
                "address": {"city": format!("city {i}"), "zip": i * 10},
                "ref": if i % 4 == 0 { json!("r") } else { json!(i) },
                "updated_at": format!("2024-01-{:02}T00:00:00Z", i),
            });
            if i == 2 {
                user["nickname"] = Value::Null;
            }
            user
        })
        .collect()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {TOKEN}"))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        r#"{"message": "bad credentials"}"#,
    )
        .into_response()
}

fn num(params: &HashMap<String, String>, key: &str, default: usize) -> usize {
    params
        .get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Users page by page, `?updated_since=` filtering, in `{"data": [...]}`.
async fn list_users(State(api): State<Arc<Api>>, headers: HeaderMap, Query(q): Params) -> Response {
    api.requests.lock().unwrap().push(format!("users {q:?}"));
    if !authorized(&headers) {
        return unauthorized();
    }
    let since = q.get("updated_since").cloned();
    let all: Vec<Value> = api
        .users
        .lock()
        .unwrap()
        .iter()
        .filter(|u| {
            since
                .as_deref()
                .is_none_or(|s| u["updated_at"].as_str().unwrap() > s)
        })
        .cloned()
        .collect();
    let (page, size) = (num(&q, "page", 1), num(&q, "per_page", 10));
    let data: Vec<Value> = all.into_iter().skip((page - 1) * size).take(size).collect();
    axum::Json(json!({"data": data, "meta": {"page": page}})).into_response()
}

/// A plain list, offset/limit.
async fn events(Query(q): Params) -> Response {
    let (offset, limit) = (num(&q, "offset", 0), num(&q, "limit", 100));
    let all: Vec<Value> = (0..23).map(|i| json!({"seq": i})).collect();
    axum::Json(Value::Array(
        all.into_iter().skip(offset).take(limit).collect(),
    ))
    .into_response()
}

/// A cursor in the body.
async fn items(Query(q): Params) -> Response {
    let after = num(&q, "cursor", 0);
    let items: Vec<Value> = (after..(after + 4).min(10))
        .map(|i| json!({"n": i}))
        .collect();
    let next = if after + 4 < 10 {
        json!((after + 4).to_string())
    } else {
        Value::Null
    };
    axum::Json(json!({"items": items, "next_cursor": next})).into_response()
}

/// GitHub-style `Link` headers.
async fn linked(Query(q): Params) -> Response {
    let page = num(&q, "page", 1);
    let mut response = axum::Json(json!([{"page": page}, {"page": page}])).into_response();
    if page < 3 {
        let link = format!(
            "</v1/linked?page={}>; rel=\"next\", </v1/linked?page=3>; rel=\"last\"",
            page + 1
        );
        response
            .headers_mut()
            .insert(header::LINK, link.parse().unwrap());
    }
    response
}

/// A relative next URL in the body.
async fn next(Query(q): Params) -> Response {
    let after = num(&q, "after", 0);
    let next = if after < 10 {
        json!(format!("/v1/next?after={}", after + 5))
    } else {
        Value::Null
    };
    axum::Json(json!({"results": [{"at": after}], "links": {"next": next}})).into_response()
}

/// Orders of one user.
async fn orders(Path(id): Path<String>) -> Response {
    let id: usize = id.parse().unwrap();
    let orders: Vec<Value> = (0..id % 3)
        .map(|k| json!({"order": format!("{id}-{k}"), "total": k as f64 * 1.5}))
        .collect();
    axum::Json(Value::Array(orders)).into_response()
}

/// 503 the first two times, then a list.
async fn flaky(State(api): State<Arc<Api>>) -> Response {
    if api.flaky_failures.fetch_add(1, Ordering::SeqCst) < 2 {
        return (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response();
    }
    axum::Json(json!([{"ok": true}])).into_response()
}

async fn keyed(headers: HeaderMap, Query(q): Params) -> Response {
    let header_ok = headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(TOKEN);
    let query_ok = q.get("api_key").map(String::as_str) == Some(TOKEN);
    if header_ok || query_ok {
        axum::Json(json!([{"ok": true}])).into_response()
    } else {
        unauthorized()
    }
}

async fn basic(headers: HeaderMap) -> Response {
    // "ada:secret-pw" in base64.
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some("Basic YWRhOnNlY3JldC1wdw==")
    {
        axum::Json(json!([{"ok": true}])).into_response()
    } else {
        unauthorized()
    }
}

async fn broken() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"data": [{"id": 1}"#,
    )
        .into_response()
}

async fn serve() -> (String, Arc<Api>) {
    let api = Arc::new(Api {
        users: Mutex::new(users(25)),
        ..Api::default()
    });
    let app = Router::new()
        .route("/v1/users", get(list_users))
        .route("/v1/users/{id}/orders", get(orders))
        .route("/v1/events", get(events))
        .route("/v1/items", get(items))
        .route("/v1/linked", get(linked))
        .route("/v1/next", get(next))
        .route("/v1/flaky", get(flaky))
        .route("/v1/keyed", get(keyed))
        .route("/v1/basic", get(basic))
        .route("/v1/broken", get(broken))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, api)
}

fn users_resource() -> Resource {
    Resource::new("users", "users")
        .with_records("data")
        .with_primary_key(["id"])
        .with_paginator(Paginator::PageNumber {
            param: "page".into(),
            start: 1,
            size_param: Some("per_page".into()),
            size: Some(10),
        })
}

fn config(url: &str) -> HttpConfig {
    HttpConfig::new(url)
        .with_auth(Auth::Bearer {
            token: Secret::new(TOKEN),
        })
        .with_retry(
            RetryPolicy::default()
                .with_backoff(Duration::from_millis(5), Duration::from_millis(20)),
        )
}

async fn read(
    api: &HttpExtractor,
    table: &str,
    options: ExtractOptions,
) -> etl_core::Result<(TableSpec, Vec<RecordBatch>, etl_core::ExtractNotes)> {
    let spec = api
        .tables()
        .await?
        .into_iter()
        .find(|t| t.name() == table)
        .unwrap();
    let stream = api.extract(&spec, &options).await?;
    let notes = stream.notes().clone();
    Ok((spec, stream.collect_batches().await?, notes))
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

#[tokio::test]
async fn page_numbers_and_a_records_path_give_an_inferred_table() {
    let (url, _api) = serve().await;
    let extractor = HttpExtractor::new(config(&url).with_resource(users_resource())).unwrap();
    let (spec, batches, notes) = read(&extractor, "users", ExtractOptions::with_batch_size(7))
        .await
        .unwrap();
    let types: Vec<String> = spec
        .schema()
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect();
    assert_eq!(
        types,
        [
            "id: Int64",
            "name: Utf8",
            "score: Float64",
            "tags: List(Utf8)",
            "address: Struct(\"city\": Utf8, \"zip\": Int64)",
            "ref: Utf8",
            "updated_at: Utf8",
            "nickname: Utf8",
        ],
        "fields in the API's order, ints and floats widened, mixed scalars as text"
    );
    assert_eq!(spec.primary_key(), ["id"]);
    assert_eq!(spec.mode(), WriteMode::Replace);
    assert_eq!(rows(&batches), 25);
    assert!(
        batches.iter().all(|b| b.num_rows() <= 10),
        "batches of about 7 rows, whole pages"
    );
    let text = pretty_format_batches(&batches[..1]).unwrap().to_string();
    let first: Vec<&str> = text
        .lines()
        .nth(3)
        .unwrap()
        .split('|')
        .map(str::trim)
        .collect();
    assert_eq!(
        first,
        [
            "",
            "1",
            "user 1",
            "1.5",
            "[a, t1]",
            "{city: city 1, zip: 10}",
            "1",
            "2024-01-01T00:00:00Z",
            "",
            ""
        ],
        "{text}"
    );
    assert_eq!(notes.invalid_values(), 0);
}

#[tokio::test]
async fn every_paginator_reads_to_the_end() {
    let (url, _api) = serve().await;
    let extractor = HttpExtractor::new(
        config(&url)
            .with_resource(Resource::new("events", "events").with_paginator(
                Paginator::OffsetLimit {
                    offset_param: "offset".into(),
                    limit_param: "limit".into(),
                    limit: 5,
                },
            ))
            .with_resource(
                Resource::new("items", "items")
                    .with_records("items")
                    .with_paginator(Paginator::Cursor {
                        cursor_path: "next_cursor".into(),
                        param: "cursor".into(),
                    }),
            )
            .with_resource(Resource::new("linked", "linked").with_paginator(Paginator::LinkHeader))
            .with_resource(
                Resource::new("next", "next")
                    .with_records("results")
                    .with_paginator(Paginator::NextUrl {
                        path: "links.next".into(),
                    }),
            ),
    )
    .unwrap();
    for (table, expected) in [("events", 23), ("items", 10), ("linked", 6), ("next", 3)] {
        let (_, batches, _) = read(&extractor, table, ExtractOptions::default())
            .await
            .unwrap();
        assert_eq!(rows(&batches), expected, "{table}");
    }
}

#[tokio::test]
async fn a_child_resource_is_read_once_per_parent_record() {
    let (url, _api) = serve().await;
    let extractor = HttpExtractor::new(
        config(&url)
            .with_resource(users_resource())
            .with_resource(Resource::new("orders", "users/{id}/orders").with_parent("users")),
    )
    .unwrap();
    let (spec, batches, _) = read(&extractor, "orders", ExtractOptions::default())
        .await
        .unwrap();
    let names: Vec<&str> = spec
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["_parent_id", "order", "total"]);
    // User i has i % 3 orders.
    let expected: usize = (1..=25).map(|i| i % 3).sum();
    assert_eq!(rows(&batches), expected);
    let text = pretty_format_batches(&batches).unwrap().to_string();
    assert!(text.contains("| 2          | 2-1   | 1.5   |"), "{text}");
}

#[tokio::test]
async fn api_keys_basic_auth_and_bad_credentials() {
    let (url, _api) = serve().await;
    let keyed = |location| {
        HttpConfig::new(&url)
            .with_auth(Auth::ApiKey {
                name: if location == KeyLocation::Header {
                    "X-Api-Key".into()
                } else {
                    "api_key".into()
                },
                value: Secret::new(TOKEN),
                location,
            })
            .with_resource(Resource::new("keyed", "keyed"))
    };
    for location in [KeyLocation::Header, KeyLocation::Query] {
        let extractor = HttpExtractor::new(keyed(location)).unwrap();
        let (_, batches, _) = read(&extractor, "keyed", ExtractOptions::default())
            .await
            .unwrap();
        assert_eq!(rows(&batches), 1, "{location:?}");
    }
    let basic = HttpExtractor::new(
        HttpConfig::new(&url)
            .with_auth(Auth::Basic {
                username: "ada".into(),
                password: Secret::new("secret-pw"),
            })
            .with_resource(Resource::new("basic", "basic")),
    )
    .unwrap();
    assert_eq!(
        rows(
            &read(&basic, "basic", ExtractOptions::default())
                .await
                .unwrap()
                .1
        ),
        1
    );

    let wrong = HttpExtractor::new(
        HttpConfig::new(&url)
            .with_auth(Auth::Bearer {
                token: Secret::new("wrong-secret-token"),
            })
            .with_resource(users_resource()),
    )
    .unwrap();
    let err = wrong.tables().await.unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("HTTP API \"127.0.0.1\", resource \"users\": HTTP 401: page 1: {\"message\": \"bad credentials\"}"), "{text}");
    assert!(text.contains("check the credentials"), "{text}");
    assert!(!err.is_retryable());
    assert!(
        !text.contains("wrong-secret") && !format!("{err:?} {wrong:?}").contains("wrong-secret")
    );
}

#[tokio::test]
async fn server_errors_retry_and_malformed_pages_are_named() {
    let (url, api) = serve().await;
    let extractor = HttpExtractor::new(
        config(&url)
            .with_resource(Resource::new("flaky", "flaky"))
            .with_resource(Resource::new("broken", "broken").with_records("data")),
    )
    .unwrap();
    // tables() infers from the flaky endpoint (two 503s, then the page),
    // then from the broken one.
    let err = extractor.tables().await.unwrap_err().to_string();
    assert!(
        err.starts_with(
            "HTTP API \"127.0.0.1\", resource \"broken\": page 1: the answer is not JSON"
        ),
        "{err}"
    );
    assert_eq!(
        api.flaky_failures.load(Ordering::SeqCst),
        3,
        "two failures and a success"
    );
}

#[tokio::test]
async fn incremental_reads_send_the_cursor_and_report_the_next() {
    let (url, api) = serve().await;
    let extractor = HttpExtractor::new(
        config(&url)
            .with_resource(users_resource().with_incremental("updated_at", "updated_since")),
    )
    .unwrap();
    let (spec, batches, notes) = read(&extractor, "users", ExtractOptions::default())
        .await
        .unwrap();
    assert_eq!(spec.mode(), WriteMode::Merge);
    assert_eq!(spec.cursor_field(), Some("updated_at"));
    assert_eq!(rows(&batches), 25);
    assert_eq!(
        notes.cursor_value().as_deref(),
        Some("2024-01-25T00:00:00Z")
    );

    let options = ExtractOptions::default().with_since(Some("2024-01-20T00:00:00Z".into()));
    let stream = extractor.extract(&spec, &options).await.unwrap();
    let notes = stream.notes().clone();
    assert_eq!(rows(&stream.collect_batches().await.unwrap()), 5);
    assert_eq!(
        notes.cursor_value().as_deref(),
        Some("2024-01-25T00:00:00Z")
    );
    let asked = api.requests.lock().unwrap().last().cloned().unwrap();
    assert!(
        asked.contains("\"updated_since\": \"2024-01-20T00:00:00Z\""),
        "{asked}"
    );

    // Nothing newer: the cursor stays.
    let options = ExtractOptions::default().with_since(Some("2024-01-25T00:00:00Z".into()));
    let stream = extractor.extract(&spec, &options).await.unwrap();
    let notes = stream.notes().clone();
    assert_eq!(rows(&stream.collect_batches().await.unwrap()), 0);
    assert_eq!(
        notes.cursor_value().as_deref(),
        Some("2024-01-25T00:00:00Z")
    );
}

#[tokio::test]
async fn a_toml_file_configures_it() {
    let (url, _api) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api.toml");
    std::fs::write(
        &path,
        format!(
            r#"
base_url = "{url}"
requests_per_second = 50

[auth]
type = "bearer"
token = "{TOKEN}"

[[resources]]
name = "users"
path = "users"
records = "data"
primary_key = ["id"]
paginator = {{ type = "page_number", size_param = "per_page", size = 10 }}
"#
        ),
    )
    .unwrap();
    let extractor = HttpExtractor::new(HttpConfig::from_toml_file(&path).unwrap()).unwrap();
    assert_eq!(
        rows(
            &read(&extractor, "users", ExtractOptions::default())
                .await
                .unwrap()
                .1
        ),
        25
    );

    std::fs::write(&path, "base_url = \"http://127.0.0.1:1\"\n[[resources]]\nname = \"u\"\npath = \"u\"\nrecords_at = \"x\"\n").unwrap();
    let err = HttpConfig::from_toml_file(&path).unwrap_err().to_string();
    assert!(
        err.contains("api.toml") && err.contains("unknown field `records_at`"),
        "{err}"
    );
    let unknown = HttpExtractor::new(config(&url).with_resource(users_resource())).unwrap();
    let err = unknown
        .extract(
            &TableSpec::new("nope", etl_core::arrow::datatypes::Schema::empty()),
            &ExtractOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownTable { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_extractor_conformance_suite() {
    let (url, api) = serve().await;
    let make = move || {
        HttpExtractor::new(
            config(&url)
                .with_resource(users_resource().with_incremental("updated_at", "updated_since"))
                .with_resource(
                    Resource::new("people", "users")
                        .with_records("data")
                        .with_paginator(Paginator::PageNumber {
                            param: "page".into(),
                            start: 1,
                            size_param: Some("per_page".into()),
                            size: Some(4),
                        }),
                ),
        )
        .unwrap()
    };
    let make = std::sync::Arc::new(make);
    let typed = make.clone();
    let counted = api.clone();
    let requests = move || counted.requests.lock().unwrap().len() as u64;
    etl_testing::extractor::check_extractor(
        etl_testing::extractor::Subject::new("http", move || typed()).counting(requests),
    )
    .await;
    // The same behind `Box<dyn DynExtractor>`, as chosen at run time.
    let requests = move || api.requests.lock().unwrap().len() as u64;
    etl_testing::extractor::check_extractor(
        etl_testing::extractor::Subject::new("http, boxed", move || {
            Box::new(make()) as etl_core::BoxedExtractor
        })
        .counting(requests),
    )
    .await;
}
