//! One error type for every handler, answered as JSON ([`ErrorBody`]), and
//! the extractors whose rejections (a body that is not JSON, too large, a
//! bad query) answer the same way: 4xx for the caller's mistakes, naming
//! what was wrong; 5xx only for the server's own trouble, whose detail goes
//! to the log, not to the caller (it could name the store's location).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::views::{ErrorBody, ErrorDetail};

/// An answer that is not a success.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    problems: Vec<String>,
}

impl ApiError {
    /// `status` with `message`.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            problems: Vec::new(),
        }
    }

    /// 400: the request is wrong.
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: what it names is not there.
    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 409: the request conflicts with the state it finds.
    pub(crate) fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }
}

impl From<etl_runs::Error> for ApiError {
    fn from(e: etl_runs::Error) -> ApiError {
        use etl_runs::Error as E;
        match e {
            E::UnknownWorkflow { name, .. } => {
                ApiError::not_found(format!("no workflow {name:?} is registered"))
            }
            E::UnknownRun { run_id, .. } => ApiError::not_found(format!("no run {run_id:?}")),
            E::WorkflowRunning { .. }
            | E::RunExists { .. }
            | E::StillRunning { .. }
            | E::RunEnded { .. } => ApiError::conflict(e.to_string()),
            E::BadParams { workflow, problems } => ApiError {
                status: StatusCode::BAD_REQUEST,
                message: format!(
                    "workflow {workflow:?} refuses these parameters: {}",
                    problems.join("; ")
                ),
                problems,
            },
            E::Workflow(etl_dag::Error::InvalidRunId(why)) => ApiError::bad_request(why),
            other => {
                // The store's location and driver messages stay in the log.
                tracing::error!(error = %other, "the state store failed");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the state store could not be read or written; the server's log says why",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                status: self.status.as_u16(),
                message: self.message,
                problems: self.problems,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// Any error answer that is not JSON yet (a layer's: the body limit's 413,
/// the timeout's 503) made JSON, its text as the message.
pub(crate) async fn as_json(response: Response) -> Response {
    let status = response.status();
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return response;
    }
    let text = match axum::body::to_bytes(response.into_body(), 4096).await {
        Ok(bytes) if !bytes.is_empty() => String::from_utf8_lossy(&bytes).into_owned(),
        _ => String::new(),
    };
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!(
                "the body is larger than the {} bytes allowed",
                crate::MAX_BODY
            )
        }
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT if text.is_empty() => {
            "the request took longer than the server's timeout".to_owned()
        }
        _ if text.is_empty() => status.canonical_reason().unwrap_or("error").to_owned(),
        _ => text,
    };
    ApiError::new(status, message).into_response()
}

/// A handler's result.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// [`axum::Json`] whose rejections are [`ApiError`]s: 400 for JSON that does
/// not parse or does not fit the type, 413 for a body over the limit, 415 for a body that
/// does not say it is JSON.
#[derive(Debug)]
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be JSON, sent with `Content-Type: application/json`",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the body is larger than the {} bytes allowed",
                        crate::MAX_BODY
                    ),
                ),
                status => ApiError::new(status, rejection.body_text()),
            })?;
        no_nul(&bytes)?;
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// Whether the request says its body is JSON: `application/json`, or
/// `application/…+json`, with any parameters.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.split_once('/') {
        Some(("application", subtype)) => subtype == "json" || subtype.ends_with("+json"),
        _ => false,
    }
}

/// Refuses a JSON body that holds a NUL character (`\u0000`) in any
/// string: no name or value may hold one, and a database would refuse it
/// only after the request was taken. (A backslash is always an escape in
/// valid JSON, so every `\u0000` is one; invalid JSON fails to parse.)
pub(crate) fn no_nul(body: &[u8]) -> Result<(), ApiError> {
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'\\' {
            if body.get(i + 1) == Some(&b'u')
                && body.get(i + 2..i + 6).is_some_and(|hex| hex == b"0000")
            {
                return Err(ApiError::bad_request(
                    "the body holds a NUL character (\\u0000), which no name or value may hold",
                ));
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    Ok(())
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    // JSON of the wrong shape is a bad request like any other (axum says 422).
    let status = match rejection.status() {
        StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
        status => status,
    };
    let message = match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "the body must be JSON, sent with `Content-Type: application/json`".to_owned()
        }
        JsonRejection::BytesRejection(_) if status == StatusCode::PAYLOAD_TOO_LARGE => format!(
            "the body is larger than the {} bytes allowed",
            crate::MAX_BODY
        ),
        _ => rejection.body_text(),
    };
    ApiError::new(status, message)
}

/// [`axum::extract::Query`] whose rejections are 400 [`ApiError`]s naming
/// the parameter.
#[derive(Debug)]
pub(crate) struct Query<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|r: QueryRejection| ApiError::bad_request(r.body_text()))
    }
}

/// [`axum::extract::Path`] whose rejections are 400 [`ApiError`]s.
#[derive(Debug)]
pub(crate) struct Path<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|r: PathRejection| ApiError::bad_request(r.body_text()))
    }
}
