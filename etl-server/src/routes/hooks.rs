//! `POST /api/workflows/{name}/trigger`: a webhook, so that another system
//! starts a run. It does not take the server's token: it takes the
//! workflow's own secret ([`Server::webhook`](crate::Server::webhook)),
//! as `Authorization: Bearer <secret>` or as an HMAC-SHA256 of the body in
//! `X-Etl-Signature: sha256=<hex>`. A delivery id (`X-Etl-Delivery`) makes
//! replays harmless: the same id starts one run, and a replay answers it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use etl_runs::state::Trigger;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::App;
use super::error::{ApiError, ApiResult, Path};
use crate::views::{ErrorBody, Run, TriggerRequest};

/// The header a delivery id comes in.
pub const DELIVERY_HEADER: &str = "x-etl-delivery";
/// The header a body's signature comes in: `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-etl-signature";

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message)
}

/// Whether the request carries `secret`: as a bearer token, or as the
/// HMAC-SHA256 of `body` keyed with it.
fn authentic(headers: &HeaderMap, body: &[u8], secret: &str) -> ApiResult<()> {
    if let Some(signature) = headers.get(SIGNATURE_HEADER) {
        let hex = signature
            .to_str()
            .ok()
            .and_then(|s| s.strip_prefix("sha256="))
            .and_then(crate::hex_decode)
            .ok_or_else(|| unauthorized("X-Etl-Signature is not `sha256=<hex>`"))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "an unusable secret"))?;
        mac.update(body);
        return mac.verify_slice(&hex).map_err(|_| {
            unauthorized("the signature does not match the body and the workflow's secret")
        });
    }
    match crate::guard::bearer(headers) {
        Ok(Some(given)) if crate::guard::same(given.as_bytes(), secret.as_bytes()) => Ok(()),
        Ok(Some(_)) => Err(unauthorized("the secret sent is not the workflow's")),
        Err(refused) => Err(unauthorized(refused)),
        Ok(None) => Err(unauthorized(
            "a webhook needs the workflow's secret: `Authorization: Bearer <secret>` or `X-Etl-Signature: sha256=<HMAC-SHA256 of the body>`",
        )),
    }
}

/// Starts a run from another system, authenticated by the workflow's own
/// secret. With `X-Etl-Delivery`, each delivery id starts one run: a
/// replay answers 200 with the run the first delivery started. The body,
/// when there is one, is `{"params": {…}}`.
#[utoipa::path(post, path = "/api/workflows/{name}/trigger", tag = "runs",
    params(("name" = String, Path, description = "The workflow"),
        ("x-etl-delivery" = Option<String>, Header, description = "The delivery's id: a replay starts no second run"),
        ("x-etl-signature" = Option<String>, Header, description = "`sha256=<hex>`: HMAC-SHA256 of the body with the workflow's secret")),
    request_body(content = Option<TriggerRequest>),
    responses((status = 201, body = Run, description = "A run started"), (status = 200, body = Run, description = "A replay: the delivery's run"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("webhook_secret" = [])))]
pub(crate) async fn webhook(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Run>)> {
    let workflow = super::workflows::registered(&app, &name).await?;
    let secret = app.webhooks.get(&name).ok_or_else(|| {
        ApiError::not_found(format!(
            "workflow {name:?} has no webhook: the server was given no secret for it"
        ))
    })?;
    authentic(&headers, &body, secret)?;
    let delivery = match headers.get(DELIVERY_HEADER) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .filter(|d| (1..=200).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_graphic()))
                .ok_or_else(|| {
                    ApiError::bad_request("X-Etl-Delivery is 1 to 200 visible ASCII characters")
                })?
                .to_owned(),
        ),
    };
    super::error::no_nul(&body)?;
    let request: TriggerRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TriggerRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("the body is not {{\"params\": {{…}}}}: {e}"))
        })?
    };
    if !workflow.enabled {
        return Err(ApiError::conflict(format!(
            "workflow {name:?} is disabled: enable it to start runs"
        )));
    }
    let params = workflow.info.check_params(&request.params)?;
    let (run_id, started_by) = match &delivery {
        Some(d) => (
            format!("hook-{}", crate::digest(&[&name, d])),
            format!("webhook:{d}"),
        ),
        None => (etl_dag::new_run_id(), "webhook".to_owned()),
    };
    let start = workflow
        .info
        .run_start(&run_id, Trigger::Queue, params)
        .started_by(started_by);
    let status = match app.store.enqueue_run(&start).await {
        Ok(()) => {
            tracing::info!(workflow = name, run_id, "run started by a webhook");
            StatusCode::CREATED
        }
        Err(etl_runs::Error::RunExists { .. }) => StatusCode::OK,
        Err(e) => return Err(e.into()),
    };
    let run = app
        .store
        .run(&run_id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the run vanished"))?;
    Ok((status, Json(Run::from(&run))))
}
