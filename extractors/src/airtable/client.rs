//! Requests to Airtable's API: the bearer token, the per-base rate limiter,
//! retries, and Airtable's error bodies turned into errors that name the base
//! and table (never the token).

use std::sync::{Arc, Weak};

use chrono::{DateTime, Utc};
use etl_core::{Error, Result};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::config::{AirtableConfig, Limits, RetryPolicy, Token};
use super::schema::BaseSchema;
use crate::net::{self, RateLimiter};

/// Airtable refuses URLs longer than this; longer queries go by `POST …/listRecords`.
pub(crate) const MAX_URL_LEN: usize = 16_000;

/// Records per page: Airtable's default and maximum.
pub(crate) const PAGE_SIZE: usize = 100;

/// The HTTP client of one base.
#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    api: String,
    base_id: String,
    token: Token,
    limiter: Arc<RateLimiter>,
    retry: RetryPolicy,
    limits: Limits,
}

/// The limiter of each base in this process, by API address and base id:
/// every extractor of one base shares it, so that several extractors (the
/// steps of one workflow, say) together keep to the base's limit.
fn base_limiter(api: &str, base_id: &str, rate: Option<f64>) -> Arc<RateLimiter> {
    /// (API address, base id) and the limiter, while an extractor holds it.
    type Limiters = Vec<((String, String), Weak<RateLimiter>)>;
    static LIMITERS: std::sync::Mutex<Limiters> = std::sync::Mutex::new(Vec::new());
    let mut limiters = LIMITERS.lock().unwrap_or_else(|e| e.into_inner());
    limiters.retain(|(_, limiter)| limiter.strong_count() > 0);
    let key = (api.to_owned(), base_id.to_owned());
    if let Some(limiter) = limiters
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, l)| l.upgrade())
    {
        return limiter;
    }
    // Shared with every process of this user reading the same base.
    let limiter = Arc::new(RateLimiter::shared(
        rate,
        &format!("airtable {api} {base_id}"),
    ));
    limiters.push((key, Arc::downgrade(&limiter)));
    limiter
}

/// One page of `GET /v0/{baseId}/{tableId}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    pub(crate) records: Vec<RecordJson>,
    #[serde(default)]
    pub(crate) offset: Option<String>,
    /// When Airtable answered, by its own clock (the `Date` header).
    #[serde(skip)]
    pub(crate) answered: Option<DateTime<Utc>>,
}

/// One record as Airtable sends it; empty fields are absent from `fields`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RecordJson {
    pub(crate) id: String,
    pub(crate) created_time: String,
    #[serde(default)]
    pub(crate) fields: Map<String, Value>,
}

/// What to ask for in one list-records request.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListRequest<'a> {
    pub(crate) offset: Option<&'a str>,
    pub(crate) filter_by_formula: Option<&'a str>,
}

impl Client {
    pub(crate) fn new(config: &AirtableConfig) -> Result<Self> {
        let api = Url::parse(&config.api_url).ok();
        let configured = api.as_ref().map(net::origin_text).unwrap_or_default();
        let http = reqwest::Client::builder()
            .timeout(config.retry.request_timeout)
            .user_agent(concat!("etl/", env!("CARGO_PKG_VERSION")))
            // The token goes to the configured API's origin only.
            .redirect(net::redirect_policy(configured, move |url| {
                api.as_ref().is_some_and(|api| net::same_origin(url, api))
            }))
            .build()
            .map_err(|e| Error::Config(format!("building the HTTP client: {e}")))?;
        Ok(Client {
            http,
            api: config.api_url.trim_end_matches('/').to_owned(),
            base_id: config.base_id.clone(),
            token: config.token.clone(),
            limiter: match config.requests_per_second {
                Some(rate) => base_limiter(&config.api_url, &config.base_id, Some(rate)),
                None => Arc::new(RateLimiter::new(None)),
            },
            retry: config.retry.clone(),
            limits: config.limits.clone(),
        })
    }

    /// The bounds on answers and pages.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Who is asked, for errors: the base, and the table when there is one.
    pub(crate) fn what(&self, table: Option<&str>) -> String {
        match table {
            Some(table) => format!("Airtable base {:?}, table {table:?}", self.base_id),
            None => format!("Airtable base {:?}", self.base_id),
        }
    }

    /// `GET /v0/meta/bases/{baseId}/tables`.
    pub(crate) async fn base_schema(&self) -> Result<BaseSchema> {
        let url = self.url(&["v0", "meta", "bases", &self.base_id, "tables"])?;
        let what = self.what(None);
        let (body, _) = self.send(&what, Method::GET, url, None).await?;
        parse(&what, "the base's schema", &body)
    }

    /// One page of a table's records, by `GET`, or by `POST …/listRecords`
    /// when the query would make the URL too long.
    pub(crate) async fn list_records(
        &self,
        table_id: &str,
        what: &str,
        page: u64,
        request: &ListRequest<'_>,
    ) -> Result<Page> {
        let page_size = PAGE_SIZE.to_string();
        let mut params: Vec<(&str, &str)> = vec![
            ("pageSize", &page_size),
            ("cellFormat", "json"),
            ("returnFieldsByFieldId", "true"),
        ];
        if let Some(formula) = request.filter_by_formula {
            params.push(("filterByFormula", formula));
        }
        if let Some(offset) = request.offset {
            params.push(("offset", offset));
        }
        let mut url = self.url(&["v0", &self.base_id, table_id])?;
        url.query_pairs_mut().extend_pairs(&params);
        let (body, answered) = if url.as_str().len() <= MAX_URL_LEN {
            self.send(what, Method::GET, url, None).await?
        } else {
            let url = self.url(&["v0", &self.base_id, table_id, "listRecords"])?;
            let mut body = Map::new();
            body.insert("pageSize".into(), Value::from(PAGE_SIZE));
            body.insert("cellFormat".into(), "json".into());
            body.insert("returnFieldsByFieldId".into(), true.into());
            if let Some(formula) = request.filter_by_formula {
                body.insert("filterByFormula".into(), formula.into());
            }
            if let Some(offset) = request.offset {
                body.insert("offset".into(), offset.into());
            }
            self.send(what, Method::POST, url, Some(Value::Object(body)))
                .await?
        };
        let mut page: Page = parse(what, &format!("page {page}"), &body)?;
        page.answered = answered;
        Ok(page)
    }

    fn url(&self, segments: &[&str]) -> Result<Url> {
        let mut url = Url::parse(&self.api)
            .map_err(|e| Error::Config(format!("the Airtable API URL {:?}: {e}", self.api)))?;
        url.path_segments_mut()
            .map_err(|()| {
                Error::Config(format!(
                    "the Airtable API URL {:?} cannot take a path",
                    self.api
                ))
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Sends one request through the base's limiter and retry policy;
    /// returns the body of a `2xx` answer and its `Date`.
    async fn send(
        &self,
        what: &str,
        method: Method,
        url: Url,
        body: Option<Value>,
    ) -> Result<(bytes::Bytes, Option<DateTime<Utc>>)> {
        let answer = net::send(
            &self.limiter,
            &self.retry,
            &self.limits,
            what,
            &[self.token.expose()],
            || {
                let mut request = self
                    .http
                    .request(method.clone(), url.clone())
                    .bearer_auth(self.token.expose());
                if let Some(body) = &body {
                    request = request
                        .header(CONTENT_TYPE, "application/json")
                        .body(body.to_string());
                }
                request
            },
            error_message,
        )
        .await?;
        let date = answer.date();
        Ok((answer.body, date))
    }
}

fn parse<T: for<'de> Deserialize<'de>>(what: &str, part: &str, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::Remote {
        what: what.to_owned(),
        status: None,
        // The parser's message may quote the answer: what a server sent is cut and escaped.
        message: net::sanitize(
            &format!("{part}: the answer is not the JSON Airtable sends: {e}"),
            &[],
        ),
        retryable: false,
    })
}

/// Airtable's error body (`{"error": {"type", "message"}}` or
/// `{"error": "NOT_FOUND"}`) with what the status means for the user.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let (kind, message) = match error {
        Some(Value::String(kind)) => (Some(kind.as_str()), None),
        Some(Value::Object(e)) => (
            e.get("type").and_then(Value::as_str),
            e.get("message").and_then(Value::as_str),
        ),
        _ => (None, None),
    };
    let text = match (kind, message) {
        (Some(kind), Some(message)) => format!("{kind}: {message}"),
        (Some(kind), None) => kind.to_owned(),
        (None, Some(message)) => message.to_owned(),
        (None, None) => {
            let body = String::from_utf8_lossy(body);
            let body = body.trim();
            if body.is_empty() {
                status.canonical_reason().unwrap_or("no message").to_owned()
            } else {
                body.chars().take(200).collect()
            }
        }
    };
    // At most 300 characters of Airtable's text, so the hint after it stays.
    let mut text: String = text.chars().take(300).collect();
    let hint = match status.as_u16() {
        401 => " (the token is missing, invalid or expired: check AIRTABLE_TOKEN)",
        403 | 404 => {
            " (not found, or the token may not read it: check the base and table ids and the token's scopes and bases)"
        }
        422 if kind == Some("LIST_RECORDS_ITERATOR_NOT_AVAILABLE") => {
            " (the page offset expired; run the load again)"
        }
        _ => "",
    };
    text.push_str(hint);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_both_shapes_are_read() {
        let object = br#"{"error": {"type": "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", "message": "Invalid permissions, or the requested model was not found."}}"#;
        let text = error_message(StatusCode::FORBIDDEN, object);
        assert!(text.starts_with("INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND: Invalid permissions"));
        assert!(text.contains("not found, or the token may not read it"));
        let bare = error_message(StatusCode::NOT_FOUND, br#"{"error": "NOT_FOUND"}"#);
        assert!(bare.starts_with("NOT_FOUND ("), "{bare}");
        let html = error_message(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert_eq!(html, "<html>bad gateway</html>");
    }
}
