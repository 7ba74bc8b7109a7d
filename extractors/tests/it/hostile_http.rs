//! The HTTP extractor against APIs that misbehave: next-page URLs and
//! redirects to other hosts, pagination that never ends, answers that never
//! end, absurd `Retry-After` values, error bodies full of escapes and echoed
//! tokens, and a config file whose error would quote a token.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::routing::get;
use etl_core::{ExtractOptions, Extractor};
use etl_extractors::http::{
    Auth, HttpConfig, HttpExtractor, KeyLocation, Limits, Paginator, Resource, RetryPolicy, Secret,
};
use serde_json::json;

const TOKEN: &str = "hostile-test-token-42";

/// Every request a server saw: its path and query, and its headers.
type Seen = Arc<Mutex<Vec<(String, HeaderMap)>>>;

/// Serves `app` on 127.0.0.1; its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// A server on another port (so another origin) that records what reaches it.
async fn elsewhere() -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .fallback(
            |State(seen): State<Seen>, uri: Uri, headers: HeaderMap| async move {
                seen.lock().unwrap().push((uri.to_string(), headers));
                axum::Json(json!({"data": [{"id": 99}]}))
            },
        )
        .with_state(seen.clone());
    (serve(app).await, seen)
}

/// The hostile API; `other` is the other origin its links point to.
async fn hostile(other: &str) -> String {
    let other = other.to_owned();
    let app =
        Router::new()
            .route(
                "/next_elsewhere",
                get({
                    let other = other.clone();
                    move || async move {
                        axum::Json(json!({"data": [{"id": 1}], "next": format!("{other}/steal")}))
                    }
                }),
            )
            .route(
                "/link_elsewhere",
                get({
                    let other = other.clone();
                    move || async move {
                        (
                            [(
                                header::LINK,
                                format!("<{other}/steal?page=2>; rel=\"next\""),
                            )],
                            axum::Json(json!([{"id": 1}])),
                        )
                    }
                }),
            )
            .route(
                "/redirect_elsewhere",
                get({
                    let other = other.clone();
                    move || async move {
                        (
                            StatusCode::FOUND,
                            [(header::LOCATION, format!("{other}/steal"))],
                        )
                    }
                }),
            )
            .route(
                "/redirect_home",
                get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/cycle_a")]) }),
            )
            .route(
                "/cycle_a",
                get(|| async { axum::Json(json!({"data": [{"id": 1}], "next": "/cycle_b"})) }),
            )
            .route(
                "/cycle_b",
                get(|| async { axum::Json(json!({"data": [{"id": 2}], "next": "/cycle_a"})) }),
            )
            .route(
                // Ignores ?page: the same page every time.
                "/same_page",
                get(|| async { axum::Json(json!([{"id": 1}, {"id": 2}])) }),
            )
            .route(
                // Every page a new one, for ever.
                "/pages_for_ever",
                get(|uri: Uri| async move {
                    axum::Json(json!([{"id": uri.query().unwrap_or_default()}]))
                }),
            )
            .route(
                "/endless",
                get(|| async {
                    let start = futures::stream::once(async {
                        Ok::<_, std::convert::Infallible>(bytes::Bytes::from_static(b"[ "))
                    });
                    let spaces = futures::StreamExt::take(
                        futures::stream::repeat_with(|| {
                            Ok(bytes::Bytes::from(vec![b' '; 1 << 16]))
                        }),
                        1 << 14,
                    );
                    axum::body::Body::from_stream(futures::StreamExt::chain(start, spaces))
                }),
            )
            .route(
                "/retry_for_ever",
                get(|| async {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [(header::RETRY_AFTER, "18446744073709551615")],
                        "slow down",
                    )
                }),
            )
            .route(
                "/retry_an_hour",
                get(|| async {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [(header::RETRY_AFTER, "3600")],
                        "maintenance",
                    )
                }),
            )
            .route(
                "/long_401",
                get(|| async {
                    (StatusCode::UNAUTHORIZED, "denied ".repeat(1_000)).into_response()
                }),
            )
            .route(
                "/nulls",
                get(|| async { axum::Json(json!([{"id": 1, "note": null}, {"id": 2}])) }),
            )
            .route(
                // Served as text: the JSON Value type would round the numbers.
                "/big",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        r#"[{"id": 1, "n": 18446744073709551617, "u": 9223372036854775808},
                            {"id": 2, "n": 5, "u": 7}]"#,
                    )
                }),
            )
            .route(
                "/echo",
                get(|headers: HeaderMap| async move {
                    let auth = headers
                        .get(header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    (
                        StatusCode::BAD_REQUEST,
                        format!(
                            "\u{1b}]0;owned\u{7}\u{1b}[31mrejected: {auth}\r\n{}",
                            "x".repeat(50_000)
                        ),
                    )
                        .into_response()
                }),
            );
    serve(app).await
}

fn config(base: &str, resource: Resource) -> HttpConfig {
    HttpConfig::new(base)
        .with_auth(Auth::Bearer {
            token: Secret::new(TOKEN),
        })
        .with_retry(
            RetryPolicy::default()
                .with_backoff(Duration::from_millis(10), Duration::from_millis(20))
                .with_max_attempts(3),
        )
        .with_resource(resource)
}

/// What reading the config's one resource failed with (inference included), within 30 s.
async fn failure(config: HttpConfig) -> String {
    let api = HttpExtractor::new(config).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        let table = api.tables().await?.remove(0);
        api.extract(&table, &ExtractOptions::default())
            .await?
            .collect_batches()
            .await
    })
    .await
    .expect("it ends within 30 s");
    outcome.expect_err("it fails").to_string()
}

fn next_url() -> Paginator {
    Paginator::NextUrl {
        path: "next".into(),
    }
}

#[tokio::test]
async fn credentials_never_go_to_another_host() {
    let (other, seen) = elsewhere().await;
    let base = hostile(&other).await;
    for resource in [
        Resource::new("n", "next_elsewhere")
            .with_records("data")
            .with_paginator(next_url()),
        Resource::new("l", "link_elsewhere").with_paginator(Paginator::LinkHeader),
    ] {
        let err = failure(config(&base, resource)).await;
        assert!(
            err.contains("another origin") && err.contains("follow_hosts"),
            "{err}"
        );
    }
    // A redirect to another host is not followed, an API key in a header
    // (which reqwest would keep across hosts) included.
    let keyed = config(
        &base,
        Resource::new("r", "redirect_elsewhere").with_records("data"),
    )
    .with_auth(Auth::ApiKey {
        name: "X-Api-Key".into(),
        value: Secret::new(TOKEN),
        location: KeyLocation::Header,
    });
    let err = failure(keyed).await;
    assert!(
        err.contains("redirect") && err.contains("another origin"),
        "{err}"
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing reached the other host"
    );

    // Listed, the other host is followed, credentials and all.
    let listed = config(
        &base,
        Resource::new("n", "next_elsewhere")
            .with_records("data")
            .with_paginator(next_url()),
    )
    .with_follow_host("127.0.0.1");
    let api = HttpExtractor::new(listed).unwrap();
    let table = api.tables().await.unwrap().remove(0);
    assert!(table.schema().field_with_name("id").is_ok());
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    assert_eq!(
        seen[0].1.get(header::AUTHORIZATION).unwrap(),
        &format!("Bearer {TOKEN}")
    );
}

#[tokio::test]
async fn redirects_within_the_origin_are_followed() {
    let base = hostile("http://unused.invalid").await;
    let err = failure(config(
        &base,
        Resource::new("c", "redirect_home")
            .with_records("data")
            .with_paginator(next_url()),
    ))
    .await;
    // Redirected home, then into the cycle, which is a loop.
    assert!(err.contains("already read"), "{err}");
}

#[tokio::test]
async fn pagination_that_never_ends_is_stopped() {
    let base = hostile("http://unused.invalid").await;
    let err = failure(config(
        &base,
        Resource::new("c", "cycle_a")
            .with_records("data")
            .with_paginator(next_url()),
    ))
    .await;
    assert!(
        err.contains("page 3") && err.contains("already read"),
        "{err}"
    );

    let page_number = Paginator::PageNumber {
        param: "page".into(),
        start: 1,
        size_param: None,
        size: None,
    };
    let err = failure(config(
        &base,
        Resource::new("s", "same_page").with_paginator(page_number.clone()),
    ))
    .await;
    assert!(err.contains("page 2") && err.contains("ignores"), "{err}");

    let err = failure(
        config(
            &base,
            Resource::new("f", "pages_for_ever").with_paginator(page_number),
        )
        .with_limits(Limits::default().with_max_pages(50)),
    )
    .await;
    assert!(
        err.contains("more than 50 pages") && err.contains("max_pages"),
        "{err}"
    );
}

#[tokio::test]
async fn an_endless_answer_stops_at_the_limit() {
    let base = hostile("http://unused.invalid").await;
    let err = failure(
        config(&base, Resource::new("e", "endless"))
            .with_limits(Limits::default().with_max_response_bytes(1 << 20)),
    )
    .await;
    assert!(
        err.contains("resource \"e\"") && err.contains("larger than 1048576 bytes"),
        "{err}"
    );
}

#[tokio::test]
async fn absurd_retry_after_values_fail_at_once() {
    let base = hostile("http://unused.invalid").await;
    for path in ["retry_for_ever", "retry_an_hour"] {
        let started = std::time::Instant::now();
        let err = failure(config(&base, Resource::new("w", path))).await;
        assert!(
            err.contains("Retry-After") && err.contains("max_retry_after"),
            "{path}: {err}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{path}");
    }
}

#[tokio::test]
async fn error_text_is_cut_escaped_and_rid_of_credentials() {
    let base = hostile("http://unused.invalid").await;
    for auth in [
        Auth::Bearer {
            token: Secret::new(TOKEN),
        },
        Auth::Basic {
            username: "ada".into(),
            password: Secret::new(TOKEN),
        },
    ] {
        let err = failure(config(&base, Resource::new("x", "echo")).with_auth(auth)).await;
        assert!(!err.contains(TOKEN), "{err}");
        // Basic credentials come back base64'd.
        assert!(!err.contains("YWRhOmhvc3RpbGUtdGVzdC10b2tlbi00Mg"), "{err}");
        assert!(
            !err.contains('\u{1b}') && !err.contains('\u{7}') && !err.contains('\r'),
            "{err}"
        );
        assert!(err.contains("rejected") && err.len() < 1_000, "{err}");
    }
}

#[test]
fn a_config_error_never_quotes_the_file() {
    let text = format!(
        r#"
base_url = "https://api.example.com"
auth = {{ type = "bearer", token = "{TOKEN}" }} oops

[[resources]]
name = "users"
path = "users"
"#
    );
    let err = HttpConfig::from_toml(&text).unwrap_err().to_string();
    assert!(!err.contains(TOKEN), "{err}");
    assert!(err.contains("line 3"), "{err}");
    // A token where a number belongs: serde's message would quote it.
    let text = format!(
        r#"
base_url = "https://api.example.com"
requests_per_second = "{TOKEN}"
"#
    );
    let err = HttpConfig::from_toml(&text).unwrap_err().to_string();
    assert!(!err.contains(TOKEN), "{err}");
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn resources_whose_names_differ_only_in_case_are_refused() {
    let config = HttpConfig::new("https://api.example.com")
        .with_resource(Resource::new("users", "a"))
        .with_resource(Resource::new("Users", "b"));
    let err = config.validate().unwrap_err().to_string();
    assert!(
        err.contains("\"Users\"") && err.contains("\"users\"") && err.contains("case"),
        "{err}"
    );
}

/// Records 1 to 4, two a page, `?since=` keeping those updated at or after
/// it. Record 1 is edited (stamped now) while page 2 of the first read is
/// served; records 3 and 4 carry a stamp far in the future.
async fn editing_api() -> String {
    let records = Arc::new(Mutex::new(vec![
        (1, "2026-01-01T00:00:00Z".to_owned()),
        (2, "2026-01-02T00:00:00Z".to_owned()),
        (3, "2099-01-01T00:00:00Z".to_owned()),
        (4, "2099-01-02T00:00:00Z".to_owned()),
    ]));
    let edited = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let app = Router::new().route(
        "/records",
        get(
            move |axum::extract::Query(q): axum::extract::Query<
                std::collections::HashMap<String, String>,
            >| {
                let (records, edited) = (records.clone(), edited.clone());
                async move {
                    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                    if page == 2 && !edited.swap(true, std::sync::atomic::Ordering::SeqCst) {
                        records.lock().unwrap()[0].1 =
                            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                    }
                    let since = q.get("since").cloned().unwrap_or_default();
                    let all: Vec<_> = records
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|(_, at)| *at >= since)
                        .map(|(id, at)| json!({"id": id, "updated_at": at}))
                        .collect();
                    let data: Vec<_> = all.into_iter().skip((page - 1) * 2).take(2).collect();
                    axum::Json(json!({ "data": data }))
                }
            },
        ),
    );
    serve(app).await
}

#[tokio::test]
async fn an_edit_made_while_pages_are_read_is_read_by_the_next_load() {
    let base = editing_api().await;
    let resource = Resource::new("records", "records")
        .with_records("data")
        .with_primary_key(["id"])
        .with_paginator(Paginator::PageNumber {
            param: "page".into(),
            start: 1,
            size_param: None,
            size: Some(2),
        })
        .with_incremental("updated_at", "since");
    let api = HttpExtractor::new(config(&base, resource).with_infer_records(1)).unwrap();
    let table = api.tables().await.unwrap().remove(0);
    let read = |since: Option<String>| {
        let (api, table) = (api.clone(), table.clone());
        async move {
            let stream = api
                .extract(&table, &ExtractOptions::default().with_since(since))
                .await
                .unwrap();
            let notes = stream.notes().clone();
            let batches = stream.collect_batches().await.unwrap();
            let ids: Vec<i64> = batches
                .iter()
                .flat_map(|b| {
                    let ids = etl_core::arrow::compute::cast(
                        b.column_by_name("id").unwrap(),
                        &etl_core::arrow::datatypes::DataType::Int64,
                    )
                    .unwrap();
                    ids.as_any()
                        .downcast_ref::<etl_core::arrow::array::Int64Array>()
                        .unwrap()
                        .values()
                        .to_vec()
                })
                .collect();
            (ids, notes.cursor_value().expect("a cursor"))
        }
    };
    // The first load reads 1 and 2, then record 1 is edited, then 3 and 4
    // (stamped 2099): the largest value read is 2099.
    let (first, cursor) = read(None).await;
    assert_eq!(first, [1, 2, 3, 4]);
    assert!(
        cursor.as_str() < "2099",
        "the cursor stays before the load began: {cursor}"
    );
    // The next load asks from the stored cursor: the edit is read.
    let (second, _) = read(Some(cursor)).await;
    assert!(
        second.contains(&1),
        "the edit to record 1 was lost: {second:?}"
    );
}

#[tokio::test]
async fn integers_past_64_bits_load_exactly_as_text() {
    let base = hostile("http://unused.invalid").await;
    let api = HttpExtractor::new(config(&base, Resource::new("big", "big"))).unwrap();
    let table = api.tables().await.unwrap().remove(0);
    let types: Vec<String> = table
        .schema()
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect();
    assert_eq!(types, ["id Int64", "n Utf8", "u Utf8"]);
    let batches = api
        .extract(&table, &ExtractOptions::default())
        .await
        .unwrap()
        .collect_batches()
        .await
        .unwrap();
    let text = etl_core::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    for exact in [
        "18446744073709551617",
        "9223372036854775808",
        "| 5 ",
        "| 7 ",
    ] {
        assert!(text.contains(exact), "{exact}: {text}");
    }
}

#[tokio::test]
async fn a_field_seen_only_as_null_is_marked_a_guess() {
    let base = hostile("http://unused.invalid").await;
    let api = HttpExtractor::new(config(&base, Resource::new("n", "nulls"))).unwrap();
    let table = api.tables().await.unwrap().remove(0);
    let note = table.schema().field_with_name("note").unwrap();
    assert!(etl_core::sampled_nulls_only(note), "{note:?}");
    let id = table.schema().field_with_name("id").unwrap();
    assert!(!etl_core::sampled_nulls_only(id));
}

#[tokio::test]
async fn a_long_error_body_keeps_the_hint_after_it() {
    let base = hostile("http://unused.invalid").await;
    let err = failure(config(&base, Resource::new("x", "long_401"))).await;
    assert!(err.contains("check the credentials"), "{err}");
    assert!(err.len() < 1_000, "{err}");
}

#[tokio::test]
async fn a_refused_redirect_is_final_and_names_the_whole_origin() {
    // The other origin differs from the API's by its port alone.
    let (other, seen) = elsewhere().await;
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = Router::new().route(
        "/r",
        get({
            let (other, hits) = (other.clone(), hits.clone());
            move || async move {
                hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                (
                    StatusCode::FOUND,
                    [(header::LOCATION, format!("{other}/steal"))],
                )
            }
        }),
    );
    let base = serve(app).await;
    // Backoff long enough that a retry would show in the count.
    let config = config(&base, Resource::new("r", "r").with_records("data")).with_retry(
        RetryPolicy::default()
            .with_backoff(Duration::from_millis(50), Duration::from_millis(50))
            .with_max_attempts(4),
    );
    let err = failure(config).await;
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1, "{err}");
    assert!(
        err.contains(&format!("a redirect to {other}")),
        "the port is named: {err}"
    );
    assert!(err.contains(&base), "the configured origin is named: {err}");
    assert!(!err.contains("attempts"), "{err}");
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_credential_in_a_custom_header_is_never_printed() {
    // A header the auth section does not know, echoed back by the server.
    let base = hostile("http://unused.invalid").await;
    let custom = HttpConfig::new(&base)
        .with_header("Authorization", format!("Token {TOKEN}"))
        .with_resource(Resource::new("x", "echo"));
    let err = failure(custom).await;
    assert!(err.contains("rejected") && !err.contains(TOKEN), "{err}");
}

#[test]
fn every_config_debug_leaves_out_every_secret() {
    use etl_extractors::airtable::AirtableConfig;
    const PASSWORD: &str = "url-password-77";
    let secrets = [
        TOKEN,
        "key-in-query-1",
        "basic-pw-2",
        "x-custom-3",
        "cookie-4",
        PASSWORD,
    ];
    let http = |auth: Auth| {
        HttpConfig::new(format!("https://ada:{PASSWORD}@api.example.com"))
            .with_auth(auth)
            .with_header("X-Custom-Key", "x-custom-3")
            .with_header("cookie", "session=cookie-4")
            .with_header("Authorization", format!("Bearer {TOKEN}"))
            .with_header("Accept", "application/json")
            .with_resource(Resource::new("users", "users"))
    };
    let auths = [
        Auth::None,
        Auth::Bearer {
            token: Secret::new(TOKEN),
        },
        Auth::ApiKey {
            name: "api_key".into(),
            value: Secret::new("key-in-query-1"),
            location: KeyLocation::Query,
        },
        Auth::Basic {
            username: "ada".into(),
            password: Secret::new("basic-pw-2"),
        },
    ];
    let mut shown: Vec<String> = auths
        .into_iter()
        .map(|a| format!("{:?}", http(a)))
        .collect();
    // The extractor's Debug too (built from a URL without a user in it).
    let extractor = HttpExtractor::new(
        HttpConfig::new("https://api.example.com")
            .with_auth(Auth::Bearer {
                token: Secret::new(TOKEN),
            })
            .with_header("X-Custom-Key", "x-custom-3")
            .with_resource(Resource::new("users", "users")),
    )
    .unwrap();
    shown.push(format!("{extractor:?}"));
    let mut airtable = AirtableConfig::new(TOKEN, "appAbCdEfGhIjKlMn");
    airtable = airtable.with_api_url(format!("http://ada:{PASSWORD}@127.0.0.1:9"));
    shown.push(format!("{airtable:?}"));
    for text in &shown {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    // What is harmless stays readable.
    assert!(shown[0].contains("application/json"), "{}", shown[0]);
    assert!(shown[0].contains("api.example.com"), "{}", shown[0]);
    // A user and password in base_url are refused, without being quoted.
    let err = HttpExtractor::new(http(Auth::None))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("user or password") && !err.contains(PASSWORD),
        "{err}"
    );
}
