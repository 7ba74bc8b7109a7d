//! Syncs a REST/JSON API into SQLite twice: the first run reads everything,
//! the second only the users changed since (an incremental cursor kept in
//! `_etl_state`), merged on the primary key.
//!
//! ```text
//! cargo run --example sync_http                 # writes ./sync_http.sqlite
//! cargo run --example sync_http -- --serve       # only serve the API, until Ctrl-C
//! ```
//!
//! The API is described in `examples/api/users.toml` (bearer auth, page-number
//! pagination, a child resource per user, an incremental cursor). So that the
//! example needs no network, it serves a small users-and-orders API itself on
//! 127.0.0.1 and points the config's `base_url` at it.
//!
//! `--serve` starts that API alone and keeps it up until Ctrl-C, printing the
//! `USERS_API_*` variables that point a client at it: this is how
//! `examples/pipelines/rest.toml` runs with no network.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use etl::{ETLWorkflow, HttpConfig, HttpExtractor, SqliteWarehouse};
use serde_json::{Value, json};

type Users = Arc<Mutex<Vec<Value>>>;

/// The bearer token the API asks for, as `examples/api/users.toml` gives it.
const TOKEN: &str = "example-token";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let users: Users = Arc::new(Mutex::new(
        (1..=120)
            .map(|i| json!({"id": i, "name": format!("user {i}"), "plan": if i % 3 == 0 { "pro" } else { "free" },
                           "updated_at": format!("2024-01-01T00:{:02}:00Z", i % 60)}))
            .collect(),
    ));
    let base_url = serve(users.clone()).await?;
    if std::env::args().skip(1).any(|a| a == "--serve") {
        println!(
            "Serving a users API at {base_url} until Ctrl-C. To read it, in another terminal:\n\n\
             export USERS_API_URL={base_url} USERS_API_TOKEN={TOKEN}\n\
             cargo run --bin etl -- run examples/pipelines/rest.toml\n"
        );
        tokio::signal::ctrl_c().await?;
        println!("Stopped.");
        return Ok(());
    }
    println!(
        "Serving a users API at {base_url}; reading it as examples/api/users.toml describes.\n"
    );

    let toml = format!(
        "base_url = \"{base_url}\"\n{}",
        include_str!("api/users.toml")
    );
    let workflow = ETLWorkflow::new(
        HttpExtractor::new(HttpConfig::from_toml(&toml)?)?,
        SqliteWarehouse::open("sync_http.sqlite")?,
    );
    println!("First run: everything.\n{}\n", workflow.run().await?);

    // Two users change upstream.
    for user in users.lock().unwrap().iter_mut().take(2) {
        user["plan"] = json!("enterprise");
        user["updated_at"] = json!("2024-02-01T00:00:00Z");
    }
    println!("Second run: only what changed.\n{}", workflow.run().await?);
    Ok(())
}

async fn serve(users: Users) -> anyhow::Result<String> {
    let app = Router::new()
        .route("/users", get(list_users))
        .route("/users/{id}/orders", get(orders))
        .with_state(users);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

async fn list_users(
    State(users): State<Users>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(format!("Bearer {TOKEN}").as_str())
    {
        return (StatusCode::UNAUTHORIZED, "bad token").into_response();
    }
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let size: usize = q.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(50);
    let since = q.get("updated_since");
    let data: Vec<Value> = users
        .lock()
        .unwrap()
        .iter()
        .filter(|u| since.is_none_or(|s| u["updated_at"].as_str().is_some_and(|t| t > s.as_str())))
        .skip((page - 1) * size)
        .take(size)
        .cloned()
        .collect();
    axum::Json(json!({ "data": data })).into_response()
}

async fn orders(Path(id): Path<u64>) -> Response {
    let orders: Vec<Value> = (0..id % 3)
        .map(|k| json!({"order_id": format!("{id}-{k}"), "amount": (id * 10 + k) as f64 / 4.0}))
        .collect();
    axum::Json(Value::Array(orders)).into_response()
}
