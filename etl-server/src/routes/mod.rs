//! The API's routes, one module per resource, and the layers around them.

pub(crate) mod error;
pub(crate) mod hooks;
pub(crate) mod metrics;
pub(crate) mod runs;
pub(crate) mod workers;
pub(crate) mod workflows;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use etl_runs::StateStore;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::guard::Guard;
use error::ApiError;

/// What every handler shares.
pub(crate) type App = Arc<AppState>;

pub(crate) struct AppState {
    pub(crate) store: Arc<dyn StateStore>,
    /// Each webhook's secret, by workflow.
    pub(crate) webhooks: BTreeMap<String, String>,
    /// Workers through the server, when it takes them.
    pub(crate) workers: Option<workers::Workers>,
    /// Their sessions.
    pub(crate) sessions: Arc<workers::Sessions>,
}

/// The API under `/api`, behind its layers: the guard (tokens for
/// mutations, no cross-site mutations) on every route but the webhook,
/// which takes its workflow's secret; the host each request names, no NUL
/// in its path or query, a body limit, a timeout, request logs, JSON
/// errors, on all.
pub(crate) fn router(
    store: Arc<dyn StateStore>,
    webhooks: BTreeMap<String, String>,
    workers: Option<workers::Workers>,
    sessions: Arc<workers::Sessions>,
    guard: Guard,
    timeout: Duration,
) -> Router {
    // Workers take the worker token, or the server's own.
    let worker_guard = Guard {
        tokens: workers
            .as_ref()
            .and_then(|w| w.token.clone())
            .into_iter()
            .chain(guard.tokens.iter().cloned())
            .collect(),
        open: guard.open,
        hosts: guard.hosts.clone(),
    };
    let hosts = guard.hosts.clone();
    let app = Arc::new(AppState {
        store,
        webhooks,
        workers,
        sessions,
    });
    let worker_routes = Router::new()
        .route("/api/workers", post(workers::open))
        .route(
            "/api/workers/{worker_id}",
            post(workers::call).delete(workers::close),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::new(worker_guard),
            crate::guard::check,
        ));
    let guarded = Router::new()
        .route("/api/openapi.json", get(crate::openapi::document))
        .route("/api/workflows", get(workflows::list))
        .route(
            "/api/workflows/{name}",
            get(workflows::show).delete(workflows::delete),
        )
        .route("/api/workflows/{name}/enable", post(workflows::enable))
        .route("/api/workflows/{name}/disable", post(workflows::disable))
        .route("/api/workflows/{name}/runs", post(workflows::trigger))
        .route("/api/runs", get(runs::list))
        .route("/api/runs/{run_id}", get(runs::show))
        .route("/api/runs/{run_id}/cancel", post(runs::cancel))
        .route("/api/runs/{run_id}/resume", post(runs::resume))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::new(guard),
            crate::guard::check,
        ));
    let hooks = Router::new().route("/api/workflows/{name}/trigger", post(hooks::webhook));
    let api = guarded
        .merge(hooks)
        .merge(worker_routes)
        .merge(crate::page::routes())
        .route("/metrics", get(metrics::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app);
    api.layer(axum::middleware::from_fn_with_state(
        hosts,
        crate::guard::host_and_uri,
    ))
    .layer(DefaultBodyLimit::max(crate::MAX_BODY))
    .layer(RequestBodyLimitLayer::new(crate::MAX_BODY))
    .layer(TimeoutLayer::with_status_code(
        StatusCode::SERVICE_UNAVAILABLE,
        timeout,
    ))
    .layer(axum::middleware::map_response(error::as_json))
    .layer(TraceLayer::new_for_http())
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "no such path: {}; the API is described at /api/openapi.json",
        uri.path()
    ))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not take {method}", uri.path()),
    )
}
