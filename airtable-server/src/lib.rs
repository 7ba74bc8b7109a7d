//! A local server that speaks Airtable's Web API, for etl's tests, benchmarks
//! and the no-credentials run of `cargo run --example sync_airtable`.
//!
//! ```
//! use etl_airtable_server::{AirtableServer, Base};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = AirtableServer::start(Base::sample()).await.unwrap();
//! let url = format!("{}/v0/meta/bases/{}/tables", server.url(), server.base_id());
//! # let _ = url;
//! // GET it with `Authorization: Bearer <server.token()>`.
//! # }
//! ```
//!
//! It listens on `127.0.0.1:0` and follows Airtable's public API reference
//! (<https://airtable.com/developers/web/api/introduction>); the parts used
//! are digested in the repository's `shared/reference/airtable-api.md`:
//!
//! - **Auth** (<https://airtable.com/developers/web/api/authentication>):
//!   `Authorization: Bearer <token>`; a missing or wrong token is `401
//!   AUTHENTICATION_REQUIRED`. A base other than the served one is `403
//!   INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND`, an unknown table `404 TABLE_NOT_FOUND`.
//! - **Schema** (<https://airtable.com/developers/web/api/get-base-schema>):
//!   `GET /v0/meta/bases/{baseId}/tables`.
//! - **Records** (<https://airtable.com/developers/web/api/list-records>):
//!   `GET /v0/{baseId}/{tableIdOrName}` and `POST …/listRecords` (the same
//!   parameters in a JSON body), with `pageSize` (1–100, default 100),
//!   `offset`, `maxRecords`, `fields[]`, `returnFieldsByFieldId`, `cellFormat`
//!   (`json` only) and `filterByFormula` (the subset used for incremental
//!   reads: `IS_AFTER(LAST_MODIFIED_TIME(), '<ISO time>')`, `TRUE()`, `FALSE()`
//!   and the empty formula; others are `422 INVALID_FILTER_BY_FORMULA`).
//!   Records come in creation order; empty values (`""`, `[]`, `false`) are
//!   left out of `fields`; a page is followed by an `offset` while records
//!   remain, and an unknown offset is `422 LIST_RECORDS_ITERATOR_NOT_AVAILABLE`.
//!   A URL over 16,000 characters is `414`.
//! - **Rate limits** (<https://airtable.com/developers/web/api/rate-limits>):
//!   5 requests per second per base; a request over it is `429
//!   RATE_LIMIT_REACHED`, and so is every request in the following 30 seconds
//!   (the penalty [`ServerOptions::penalty`] shortens for tests).
//! - **Errors** (<https://airtable.com/developers/web/api/errors>): bodies are
//!   `{"error": {"type": "…", "message": "…"}}`.
//!
//! [`Faults`] switch on failures a client must survive or report: an error
//! status on page N (a number of times, or always), a malformed JSON page,
//! slow answers, and hostile ones: absurd `Retry-After` values, a body that
//! never ends, offsets that repeat, error bodies with escapes and echoed
//! tokens. Hostile names (tables `_ETL_STATE`, `Orders` beside `orders`, an
//! empty field name) are bases of their own: [`Base::from_json`]. [`AirtableServer::stats`] counts what clients asked.

mod base;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

pub use base::Base;
use base::{is_empty_value, iso};

/// The token the server accepts unless [`ServerOptions::token`] says otherwise.
pub const DEFAULT_TOKEN: &str = "patLocalSampleBase.0000000000000000";

/// How the server behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// The one token accepted.
    pub token: String,
    /// Requests per second per base before `429`; `None` for no limit.
    pub rate_limit: Option<u32>,
    /// How long a client is answered `429` after going over the limit (Airtable: 30 s).
    pub penalty: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            token: DEFAULT_TOKEN.to_owned(),
            rate_limit: Some(5),
            penalty: Duration::from_secs(30),
        }
    }
}

impl ServerOptions {
    /// Accept `token` instead of [`DEFAULT_TOKEN`].
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// Requests per second before `429`; `None` for no limit.
    pub fn with_rate_limit(mut self, rate: Option<u32>) -> Self {
        self.rate_limit = rate;
        self
    }

    /// How long `429` lasts once the limit is crossed.
    pub fn with_penalty(mut self, penalty: Duration) -> Self {
        self.penalty = penalty;
        self
    }
}

/// Failures to inject; all off by default. Build with struct update syntax:
/// `Faults { malformed_page: Some(2), ..Faults::default() }`.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answer list requests for page N (1-based) of a table with an error.
    pub fail_page: Option<FailPage>,
    /// Answer page N (1-based) of every table with truncated JSON and status 200.
    pub malformed_page: Option<usize>,
    /// Wait this long before every answer.
    pub delay: Option<Duration>,
    /// Answer page N (1-based; 0 is the schema request) `429` with this
    /// `Retry-After` value, once or always (`always`).
    pub retry_after: Option<RetryAfter>,
    /// Answer page N (1-based; 0 is the schema request) with a body that
    /// does not end: `{"records": [` and then spaces, up to 1 GiB.
    pub endless_page: Option<usize>,
    /// Give, from page 2 on, the offset the request came with as the next
    /// page's: pagination that never ends.
    pub repeat_offset: bool,
    /// Answer page N (1-based; 0 is the schema request) `500` with this body.
    pub error_body: Option<(usize, String)>,
}

/// A `429` with a `Retry-After` header; see [`Faults::retry_after`].
#[derive(Debug, Clone)]
pub struct RetryAfter {
    /// The 1-based page; 0 for the schema request.
    pub page: usize,
    /// The header's value, as sent (`"18446744073709551615"`, `"3600"`).
    pub value: String,
    /// Every time, or only the first.
    pub always: bool,
}

/// An error answer for one page; see [`Faults::fail_page`].
#[derive(Debug, Clone)]
pub struct FailPage {
    /// The table (name or id); every table when `None`.
    pub table: Option<String>,
    /// The 1-based page.
    pub page: usize,
    /// The status answered (500, 503, 429, 403, …).
    pub status: u16,
    /// How many times to fail before answering normally; `None` for always.
    pub times: Option<usize>,
}

/// What clients asked, since the server started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Every request.
    pub requests: usize,
    /// Requests for records (`GET` or `POST` list).
    pub list_requests: usize,
    /// Of those, the ones made with `POST …/listRecords`.
    pub post_list_requests: usize,
    /// Answers `429`.
    pub rate_limited: usize,
    /// The most requests seen within any one second.
    pub max_requests_per_second: usize,
}

struct Shared {
    base: Mutex<Base>,
    options: ServerOptions,
    faults: Mutex<Faults>,
    stats: Mutex<Stats>,
    /// Request arrival times within the last second, and the penalty's end.
    window: Mutex<(VecDeque<Instant>, Option<Instant>)>,
    /// Times a `fail_page` fault has fired.
    failures: Mutex<usize>,
}

/// A running server; it stops when dropped.
pub struct AirtableServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for AirtableServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AirtableServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl AirtableServer {
    /// Serves `base` on 127.0.0.1 with the default [`ServerOptions`].
    pub async fn start(base: Base) -> std::io::Result<AirtableServer> {
        Self::start_with(base, ServerOptions::default()).await
    }

    /// Serves `base` on 127.0.0.1 with `options`.
    pub async fn start_with(base: Base, options: ServerOptions) -> std::io::Result<AirtableServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            base: Mutex::new(base),
            options,
            faults: Mutex::new(Faults::default()),
            stats: Mutex::new(Stats::default()),
            window: Mutex::new((VecDeque::new(), None)),
            failures: Mutex::new(0),
        });
        let app = Router::new()
            .route("/v0/meta/bases/{base}/tables", get(schema))
            .route("/v0/{base}/{table}", get(list_get))
            .route("/v0/{base}/{table}/listRecords", post(list_post))
            .fallback(not_found)
            .with_state(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(AirtableServer {
            addr,
            shared,
            shutdown: Some(tx),
        })
    }

    /// `http://127.0.0.1:<port>`: the API URL to give a client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The served base's id.
    pub fn base_id(&self) -> String {
        lock(&self.shared.base).id.clone()
    }

    /// The token the server accepts.
    pub fn token(&self) -> &str {
        &self.shared.options.token
    }

    /// Replaces the injected failures.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
        *lock(&self.shared.failures) = 0;
    }

    /// What clients asked so far.
    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    /// Sets fields of a record (a `null` or empty value clears the field), as
    /// an edit in Airtable would; its last-modified time becomes now.
    /// Returns `false` when there is no such table or record.
    pub fn update_record(&self, table: &str, record_id: &str, fields: Map<String, Value>) -> bool {
        let mut base = lock(&self.shared.base);
        let Some(table) = base.table_mut(table) else {
            return false;
        };
        let Some(record) = table.records.iter_mut().find(|r| r.id == record_id) else {
            return false;
        };
        for (name, value) in fields {
            record.fields.insert(name, value);
        }
        record.modified = Utc::now();
        true
    }

    /// Adds a record created now; returns its id, or `None` for an unknown table.
    pub fn create_record(&self, table: &str, fields: Map<String, Value>) -> Option<String> {
        let mut base = lock(&self.shared.base);
        let table = base.table_mut(table)?;
        let now = Utc::now();
        let id = format!("rec{:014}", table.records.len() + 10_000_000);
        table.records.push(base::Record {
            id: id.clone(),
            created_time: iso(now),
            modified: now,
            fields,
        });
        Some(id)
    }
}

impl Drop for AirtableServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": {"type": kind, "message": message}}).to_string(),
    )
        .into_response()
}

/// Counts the request, checks the token and the rate limit, and waits out
/// an injected delay; `Err` is the answer to give instead.
async fn admit(shared: &Shared, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let delay = lock(&shared.faults).delay;
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let now = Instant::now();
    {
        let mut stats = lock(&shared.stats);
        stats.requests += 1;
        let mut window = lock(&shared.window);
        let (arrivals, penalty) = &mut *window;
        while arrivals
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            arrivals.pop_front();
        }
        arrivals.push_back(now);
        stats.max_requests_per_second = stats.max_requests_per_second.max(arrivals.len());
        if let Some(limit) = shared.options.rate_limit {
            let in_penalty = penalty.is_some_and(|until| now < until);
            if in_penalty || arrivals.len() > limit as usize {
                if !in_penalty {
                    *penalty = Some(now + shared.options.penalty);
                }
                stats.rate_limited += 1;
                return Err(Box::new(error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RATE_LIMIT_REACHED",
                    "Rate limit exceeded. Please try again later",
                )));
            }
        }
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if token != Some(shared.options.token.as_str()) {
        return Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION_REQUIRED",
            "Authentication required",
        )));
    }
    Ok(())
}

fn check_base(shared: &Shared, base: &str) -> Result<(), Box<Response>> {
    if lock(&shared.base).id == base {
        Ok(())
    } else {
        Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
            "Invalid permissions, or the requested model was not found. Check that both your user and your token have the required permissions, and that the model names and/or ids are correct.",
        )))
    }
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "Could not find what you are looking for",
    )
}

async fn schema(
    State(shared): State<Arc<Shared>>,
    Path(base): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(answer) = admit(&shared, &headers).await {
        return *answer;
    }
    if let Err(answer) = check_base(&shared, &base) {
        return *answer;
    }
    if let Some(answer) = hostile_answer(&shared, 0) {
        return answer;
    }
    let body = lock(&shared.base).meta_json().to_string();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The list-records parameters, from a query string or a JSON body.
#[derive(Debug, Default)]
struct ListParams {
    page_size: Option<String>,
    max_records: Option<String>,
    offset: Option<String>,
    fields: Vec<String>,
    by_field_id: bool,
    cell_format: Option<String>,
    formula: Option<String>,
}

async fn list_get(
    State(shared): State<Arc<Shared>>,
    Path((base, table)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(answer) = admit(&shared, &headers).await {
        return *answer;
    }
    if uri.to_string().len() > 16_000 {
        return error(
            StatusCode::URI_TOO_LONG,
            "INVALID_REQUEST_UNKNOWN",
            "The URL is longer than 16,000 characters: use POST listRecords",
        );
    }
    let mut params = ListParams::default();
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "pageSize" => params.page_size = Some(value),
            "maxRecords" => params.max_records = Some(value),
            "offset" => params.offset = Some(value),
            "fields[]" | "fields" => params.fields.push(value),
            "returnFieldsByFieldId" => params.by_field_id = value == "true" || value == "1",
            "cellFormat" => params.cell_format = Some(value),
            "filterByFormula" => params.formula = Some(value),
            _ => {}
        }
    }
    list(&shared, &base, &table, params, false).await
}

async fn list_post(
    State(shared): State<Arc<Shared>>,
    Path((base, table)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(answer) = admit(&shared, &headers).await {
        return *answer;
    }
    let body: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(o)) => Value::Object(o),
        _ => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "INVALID_REQUEST_BODY",
                "The request body is not a JSON object",
            );
        }
    };
    let text = |key: &str| match &body[key] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let params = ListParams {
        page_size: text("pageSize"),
        max_records: text("maxRecords"),
        offset: text("offset"),
        fields: body["fields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        by_field_id: body["returnFieldsByFieldId"].as_bool().unwrap_or(false),
        cell_format: text("cellFormat"),
        formula: text("filterByFormula"),
    };
    list(&shared, &base, &table, params, true).await
}

/// A filter from the supported subset of formulas.
enum Filter {
    All,
    None,
    ModifiedAfter(DateTime<Utc>),
}

fn parse_formula(formula: &str) -> Option<Filter> {
    let f: String = formula.split_whitespace().collect();
    if f.is_empty() || f.eq_ignore_ascii_case("TRUE()") || f == "1" {
        return Some(Filter::All);
    }
    if f.eq_ignore_ascii_case("FALSE()") || f == "0" {
        return Some(Filter::None);
    }
    let inner = f
        .strip_prefix("IS_AFTER(LAST_MODIFIED_TIME(),")?
        .strip_suffix(')')?;
    let time = inner
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))?;
    let at = DateTime::parse_from_rfc3339(time).ok()?.with_timezone(&Utc);
    Some(Filter::ModifiedAfter(at))
}

async fn list(
    shared: &Shared,
    base: &str,
    table: &str,
    params: ListParams,
    post: bool,
) -> Response {
    if let Err(answer) = check_base(shared, base) {
        return *answer;
    }
    let unprocessable =
        |kind: &str, message: String| error(StatusCode::UNPROCESSABLE_ENTITY, kind, &message);
    let page_size = match params.page_size.as_deref().map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            return unprocessable(
                "INVALID_REQUEST_UNKNOWN",
                "Invalid request: parameter validation failed. Check your request data.: pageSize must be between 1 and 100".into(),
            );
        }
    };
    let max_records = match params.max_records.as_deref().map(str::parse::<usize>) {
        None => usize::MAX,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return unprocessable(
                "INVALID_REQUEST_UNKNOWN",
                "maxRecords must be a number".into(),
            );
        }
    };
    if params.cell_format.as_deref().is_some_and(|f| f != "json") {
        return unprocessable(
            "INVALID_REQUEST_UNKNOWN",
            "this local server answers cellFormat=json only".into(),
        );
    }
    let filter = match params.formula.as_deref().map(parse_formula) {
        None => Filter::All,
        Some(Some(filter)) => filter,
        Some(None) => {
            return unprocessable(
                "INVALID_FILTER_BY_FORMULA",
                format!(
                    "The formula for filtering records is invalid: {:?} (this local server understands IS_AFTER(LAST_MODIFIED_TIME(), '<time>'), TRUE() and FALSE())",
                    params.formula.unwrap_or_default()
                ),
            );
        }
    };
    // Page numbers ride in the offset, so faults can pick a page.
    let (page, start_after) = match &params.offset {
        None => (1, None),
        Some(offset) => match parse_offset(offset) {
            Some((page, record)) => (page, Some(record)),
            None => {
                return unprocessable(
                    "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
                    "The offset is not valid or has expired".into(),
                );
            }
        },
    };

    {
        let mut stats = lock(&shared.stats);
        stats.list_requests += 1;
        if post {
            stats.post_list_requests += 1;
        }
    }
    let faults = lock(&shared.faults).clone();
    let base_guard = lock(&shared.base);
    let Some(table) = base_guard.table(table) else {
        return error(
            StatusCode::NOT_FOUND,
            "TABLE_NOT_FOUND",
            &format!("Could not find table {table} in application {base}"),
        );
    };
    if let Some(fail) = &faults.fail_page
        && fail.page == page
        && fail
            .table
            .as_deref()
            .is_none_or(|t| t == table.id() || t == table.name())
    {
        let mut failures = lock(&shared.failures);
        if fail.times.is_none_or(|times| *failures < times) {
            *failures += 1;
            let status =
                StatusCode::from_u16(fail.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return error(status, "SERVER_ERROR", "Injected failure");
        }
    }
    if let Some(answer) = hostile_answer(shared, page) {
        return answer;
    }
    if faults.malformed_page == Some(page) {
        return (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"records": [{"id": "rec00000000000000", "createdTime": "2024-01-"#,
        )
            .into_response();
    }

    let fields: Vec<(&str, &str)> = table.fields().collect();
    for wanted in &params.fields {
        if !fields
            .iter()
            .any(|(id, name)| id == wanted || name == wanted)
        {
            return unprocessable(
                "UNKNOWN_FIELD_NAME",
                format!("Unknown field name: \"{wanted}\""),
            );
        }
    }
    let start = match &start_after {
        None => 0,
        Some(id) => match table.records.iter().position(|r| &r.id == id) {
            Some(i) => i,
            None => {
                return unprocessable(
                    "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
                    "The offset is not valid or has expired".into(),
                );
            }
        },
    };
    let already = (page - 1) * page_size;
    let remaining = max_records.saturating_sub(already);
    let mut records = Vec::new();
    let mut next = None;
    for record in table.records[start..].iter().filter(|r| match filter {
        Filter::All => true,
        Filter::None => false,
        Filter::ModifiedAfter(at) => r.modified > at,
    }) {
        if records.len() == page_size.min(remaining) {
            if records.len() < remaining {
                next = Some(record.id.clone());
            }
            break;
        }
        let mut out = Map::new();
        for (id, name) in &fields {
            if !params.fields.is_empty() && !params.fields.iter().any(|f| f == id || f == name) {
                continue;
            }
            if let Some(value) = record.fields.get(*name)
                && !is_empty_value(value)
            {
                let key = if params.by_field_id { id } else { name };
                out.insert((*key).to_owned(), value.clone());
            }
        }
        records.push(json!({"id": record.id, "createdTime": record.created_time, "fields": out}));
    }
    let mut body = json!({ "records": records });
    if let Some(next) = next {
        body["offset"] = match &params.offset {
            Some(offset) if faults.repeat_offset => Value::String(offset.clone()),
            _ => Value::String(format!("itr{:014}/{next}", page + 1)),
        };
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The answer a hostile fault gives to request `page` (0: the schema), if any.
fn hostile_answer(shared: &Shared, page: usize) -> Option<Response> {
    let mut faults = lock(&shared.faults);
    if let Some(retry) = faults.retry_after.clone()
        && retry.page == page
    {
        if !retry.always {
            faults.retry_after = None;
        }
        let mut answer = error(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMIT_REACHED",
            "Rate limit exceeded. Please try again later",
        );
        if let Ok(value) = header::HeaderValue::from_str(&retry.value) {
            answer.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Some(answer);
    }
    if let Some((at, body)) = &faults.error_body
        && *at == page
    {
        return Some((StatusCode::INTERNAL_SERVER_ERROR, body.clone()).into_response());
    }
    if faults.endless_page == Some(page) {
        let start = futures::stream::once(async {
            Ok::<_, std::convert::Infallible>(Bytes::from_static(b"{\"records\": ["))
        });
        let spaces = futures::StreamExt::take(
            futures::stream::repeat_with(|| Ok(Bytes::from(vec![b' '; 1 << 16]))),
            1 << 14,
        );
        return Some(
            (
                [(header::CONTENT_TYPE, "application/json")],
                axum::body::Body::from_stream(futures::StreamExt::chain(start, spaces)),
            )
                .into_response(),
        );
    }
    None
}

/// `itr<page, 14 digits>/<record id>` → (page, record id).
fn parse_offset(offset: &str) -> Option<(usize, String)> {
    let (itr, record) = offset.split_once('/')?;
    let page = itr.strip_prefix("itr")?.parse::<usize>().ok()?;
    (page >= 2 && record.starts_with("rec")).then(|| (page, record.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formula_subset_parses() {
        assert!(matches!(parse_formula(""), Some(Filter::All)));
        assert!(matches!(parse_formula("FALSE()"), Some(Filter::None)));
        assert!(matches!(
            parse_formula("IS_AFTER(LAST_MODIFIED_TIME(), '2024-01-31T09:15:00.000Z')"),
            Some(Filter::ModifiedAfter(_))
        ));
        assert!(parse_formula("{Status} = 'Paid'").is_none());
    }

    #[test]
    fn offsets_carry_the_page() {
        assert_eq!(
            parse_offset("itr00000000000003/recAAAAAAAAAAAAAA"),
            Some((3, "recAAAAAAAAAAAAAA".into()))
        );
        assert_eq!(parse_offset("garbage"), None);
    }
}
