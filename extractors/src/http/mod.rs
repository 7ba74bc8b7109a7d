//! [`HttpExtractor`]: the resources of a REST/JSON API as tables.
//!
//! ```no_run
//! use etl_core::Extractor;
//! use etl_extractors::http::{HttpConfig, HttpExtractor, Paginator, Resource};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> etl_core::Result<()> {
//! // In Rust…
//! let config = HttpConfig::new("https://api.example.com/v1").with_resource(
//!     Resource::new("users", "users")
//!         .with_records("data")
//!         .with_primary_key(["id"])
//!         .with_paginator(Paginator::Cursor {
//!             cursor_path: "meta.next".into(),
//!             param: "cursor".into(),
//!         }),
//! );
//! // …or from a TOML file (see `HttpConfig`).
//! let config = HttpConfig::from_toml_file("api.toml")?;
//! let api = HttpExtractor::new(config)?;
//! for table in api.tables().await? {
//!     println!("{}: {:?}", table.name(), table.schema());
//! }
//! # Ok(()) }
//! ```
//!
//! # Requests
//!
//! Every resource is one table. Its records are read page by page with the
//! resource's [`Paginator`] (page number, offset/limit, a cursor in the body,
//! the `Link` header, or a next URL in the body), from the dotted
//! [`Resource::records`] path of each answer. A child resource
//! (`users/{id}/orders` with `parent = "users"`) is read once per record of
//! its parent, `{id}` taken from that record, and gets one `_parent_<field>`
//! text column per placeholder. Authentication is a bearer token, an API key
//! (header or query parameter) or HTTP basic; secrets never appear in errors
//! or `Debug` output. The rate limit and retries are the Airtable extractor's:
//! an optional requests-per-second limiter shared by all resources, `429`
//! waits `Retry-After` and retries, `5xx` and network errors back off
//! exponentially, other errors fail at once with an [`Error::Remote`] naming
//! the API and the resource.
//!
//! # Schemas
//!
//! [`Extractor::tables`] reads the first [`HttpConfig::infer_records`] records
//! of each resource (for a child, of its first parents) and infers one column
//! per top-level field, in the order first seen:
//!
//! | JSON values seen | Arrow type |
//! | --- | --- |
//! | integers | `Int64` |
//! | integers past the 64-bit range (alone or with other values) | `Utf8`, each as written |
//! | numbers, integers among them | `Float64` |
//! | booleans | `Boolean` |
//! | strings (times included) | `Utf8` |
//! | scalars of several types | `Utf8`, each value's text |
//! | arrays | `List` of the items' type |
//! | objects | `Struct` of their fields, merged over records |
//! | objects or arrays mixed with anything else | `Utf8`, the value's JSON text |
//! | only nulls | `Utf8`, marked [`SAMPLED_NULLS_ONLY`](etl_core::SAMPLED_NULLS_ONLY): appended or merged into an existing column of another type while its values stay null |
//!
//! A later value that does not fit its column loads as null and is counted in
//! the report; a field first seen after inference is not loaded, with a
//! warning in the report. Batches are built as pages arrive, a couple of
//! batches ahead of the warehouse at most.
//!
//! # Incremental loads
//!
//! A resource with [`Incremental`] (`cursor_field`, `param`) is merged on its
//! primary key. After its first load, each load sends the cursor the
//! previous one stored as `?<param>=<cursor>`, so the API returns only what
//! changed; the warehouse stores the new cursor with the data, in one
//! transaction. Deleted records are not detected.
//!
//! The new cursor is the largest `cursor_field` value read, with two
//! exceptions that keep an edit from being lost:
//!
//! - a timestamp cursor (RFC 3339 text) stops at the moment the load's first
//!   page was asked for, by the server's `Date` header (by our clock without
//!   one), less [`Incremental::lookback_seconds`] (60): a record edited while
//!   the pages were read may sit on a page already read while later pages
//!   hold later values, and the next load must still ask for it. It is
//!   written in the format the API sends (fraction digits, `Z` or offset);
//! - the cursor never moves back before the one the load started from.
//!
//! What the API must guarantee: `?<param>=<cursor>` returns every record
//! whose `cursor_field` is at or after the cursor (`>=`; with `>`, records
//! stamped exactly at the cursor's moment are read only if the lookback
//! covers them, which it does for timestamps), every record changed after a
//! request began carries a `cursor_field` no earlier than that request, and
//! number cursors (versions, sequence numbers) grow in the order changes
//! are committed, since no lookback applies to them. Records may come in
//! any order. Merges make reading a record twice harmless.

mod config;
mod connector;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use etl_core::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use etl_core::{
    AsyncBatchSender, BatchStream, Discovered, Error, ExtractNotes, ExtractOptions, Extractor,
    Result, TableSpec,
};
use reqwest::header::{HeaderMap, LINK};
use reqwest::{StatusCode, Url};
use serde_json::{Map, Value};

pub use config::{
    Auth, DEFAULT_INFER_RECORDS, HttpConfig, Incremental, KeyLocation, Limits, Paginator, Resource,
    RetryPolicy, Secret, harmless_header,
};
pub use connector::register;

use crate::json::{Kind, Shape, conform, decode};
use crate::net::{self, RateLimiter};

/// The resources of one REST/JSON API; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct HttpExtractor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: HttpConfig,
    /// The base URL's host, for errors.
    host: String,
    /// The base URL, whose origin alone gets the credentials (with
    /// `follow_hosts`).
    origin: Url,
    /// The credentials as they may come back in an error answer, to be
    /// cut out of it.
    secrets: Vec<Secret>,
    http: reqwest::Client,
    limiter: RateLimiter,
    /// Inferred tables by resource name.
    tables: Mutex<HashMap<String, Arc<Table>>>,
}

/// A resource's table: its spec and how fields become columns.
#[derive(Debug)]
struct Table {
    spec: TableSpec,
    /// `_parent_<field>` columns, by placeholder.
    parent_columns: Vec<String>,
    /// (field, kind) of each record column.
    columns: Vec<(String, Kind)>,
}

/// The pages of one resource from a first URL, one at a time.
struct Pager<'a> {
    inner: &'a Inner,
    resource: &'a Resource,
    next: Option<Url>,
    number: u64,
    /// Every URL asked so far: one asked again is a loop (A → B → A).
    seen: std::collections::HashSet<String>,
    /// A digest of the last page's records: the same records again on the
    /// next page is an API that ignores the page parameter.
    last_records: Option<u64>,
    /// When the first page was asked for: by the server's clock where it
    /// said (`Date`), by ours otherwise.
    first_asked: Option<chrono::DateTime<chrono::Utc>>,
}

impl<'a> Pager<'a> {
    fn new(inner: &'a Inner, resource: &'a Resource, first: Url) -> Self {
        Pager {
            inner,
            resource,
            next: Some(first),
            number: 0,
            seen: std::collections::HashSet::new(),
            last_records: None,
            first_asked: None,
        }
    }

    /// The next page's records; `None` after the last page. Pagination that
    /// would not end (a URL asked twice, a page that repeats the one
    /// before, more than `max_pages`) is an error naming the resource.
    async fn next(&mut self) -> Result<Option<Vec<Value>>> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        let what = || self.inner.what(&self.resource.name);
        let limits = &self.inner.config.limits;
        if self.number >= limits.max_pages {
            return Err(limits.too_many_pages(&what()));
        }
        self.number += 1;
        let looping = |message: String| Error::Remote {
            what: what(),
            status: None,
            message: format!("page {}: {message}", self.number),
            retryable: false,
        };
        if !self.seen.insert(url.as_str().to_owned()) {
            return Err(looping(
                "the pagination leads back to a page already read: it would never end".into(),
            ));
        }
        let asked = chrono::Utc::now();
        let page = self.inner.page(self.resource, url, self.number).await?;
        if self.first_asked.is_none() {
            // The Date header is whole seconds, rounded down: not later
            // than the moment the server took the request.
            self.first_asked = Some(page.answered.unwrap_or(asked));
        }
        if page.next.is_some() || self.last_records.is_some() {
            let digest = records_digest(&page.records);
            if !page.records.is_empty() && self.last_records == Some(digest) {
                return Err(looping(
                    "the page holds the same records as the page before: the API ignores \
                     the paginator's parameter, and the pagination would never end"
                        .into(),
                ));
            }
            self.last_records = Some(digest);
        }
        self.next = page.next;
        Ok(Some(page.records))
    }
}

/// A digest of a page's records, to tell a page that repeats the last one.
fn records_digest(records: &[Value]) -> u64 {
    use std::hash::Hasher;
    struct Digest(std::collections::hash_map::DefaultHasher);
    impl std::io::Write for Digest {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.write(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut digest = Digest(std::collections::hash_map::DefaultHasher::new());
    let _ = serde_json::to_writer(&mut digest, records);
    digest.0.finish()
}

/// One page: its records, where the next one is, and when the server
/// answered by its own clock (the `Date` header).
struct Page {
    records: Vec<Value>,
    next: Option<Url>,
    answered: Option<chrono::DateTime<chrono::Utc>>,
}

impl HttpExtractor {
    /// An extractor for the API `config` describes; the config is checked here.
    pub fn new(config: HttpConfig) -> Result<Self> {
        config.validate()?;
        let (base, hosts) = (
            Url::parse(&config.base_url).ok(),
            config.follow_hosts.clone(),
        );
        let configured = base.as_ref().map(net::origin_text).unwrap_or_default();
        let http = reqwest::Client::builder()
            .timeout(config.retry.request_timeout)
            .user_agent(concat!("etl/", env!("CARGO_PKG_VERSION")))
            .redirect(net::redirect_policy(configured, move |url| {
                base.as_ref()
                    .is_some_and(|base| may_follow(url, base, &hosts))
            }))
            .build()
            .map_err(|e| Error::Config(format!("building the HTTP client: {e}")))?;
        let limiter = RateLimiter::new(config.requests_per_second);
        let origin = Url::parse(&config.base_url).map_err(|e| {
            let shown = etl_rules::text::without_userinfo(&config.base_url);
            Error::Config(format!("base_url {shown:?}: {e}"))
        })?;
        let host = origin.host_str().unwrap_or_default().to_owned();
        let mut secrets = match &config.auth {
            Auth::None => Vec::new(),
            Auth::Bearer { token } => vec![token.clone()],
            Auth::ApiKey { value, .. } => vec![value.clone()],
            Auth::Basic { username, password } => vec![
                password.clone(),
                Secret::new(net::basic_credentials(username, password.expose())),
            ],
        };
        // A header the auth section does not know may carry a credential too.
        secrets.extend(
            config
                .headers
                .iter()
                .filter(|(name, _)| !config::harmless_header(name))
                .map(|(_, value)| Secret::new(value.clone())),
        );
        Ok(HttpExtractor {
            inner: Arc::new(Inner {
                config,
                host,
                origin,
                secrets,
                http,
                limiter,
                tables: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The config it was built from.
    pub fn config(&self) -> &HttpConfig {
        &self.inner.config
    }
}

impl Inner {
    fn resource(&self, name: &str) -> Result<&Resource> {
        self.config
            .resources
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| Error::UnknownTable {
                table: name.to_owned(),
                offered: self
                    .config
                    .resources
                    .iter()
                    .map(|r| r.name.clone())
                    .collect(),
            })
    }

    fn what(&self, resource: &str) -> String {
        format!("HTTP API {:?}, resource {resource:?}", self.host)
    }

    /// The first page's URL of `resource`, placeholders filled from `parent`.
    fn first_url(
        &self,
        resource: &Resource,
        parent: Option<&Map<String, Value>>,
        since: Option<&str>,
    ) -> Result<Url> {
        let mut path = resource.path.trim_start_matches('/').to_owned();
        if let Some(parent) = parent {
            for field in resource.placeholders() {
                let value = parent_value(parent, &field).ok_or_else(|| Error::Remote {
                    what: self.what(&resource.name),
                    status: None,
                    message: format!(
                        "a record of the parent {:?} has no value for {{{field}}}",
                        resource.parent.as_deref().unwrap_or_default()
                    ),
                    retryable: false,
                })?;
                let encoded: String = url_segment(&value);
                path = path.replace(&format!("{{{field}}}"), &encoded);
            }
        }
        let base = self.config.base_url.trim_end_matches('/');
        let mut url = Url::parse(&format!("{base}/{path}"))
            .map_err(|e| Error::Config(format!("resource {:?}: URL: {e}", resource.name)))?;
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in &resource.params {
                query.append_pair(k, v);
            }
            if let Auth::ApiKey {
                name,
                value,
                location: KeyLocation::Query,
            } = &self.config.auth
            {
                query.append_pair(name, value.expose());
            }
        }
        if let (Some(inc), Some(since)) = (&resource.incremental, since) {
            set_param(&mut url, &inc.param, since);
        }
        match &resource.paginator {
            Paginator::PageNumber {
                param,
                start,
                size_param,
                size,
            } => {
                set_param(&mut url, param, &start.to_string());
                if let (Some(p), Some(s)) = (size_param, size) {
                    set_param(&mut url, p, &s.to_string());
                }
            }
            Paginator::OffsetLimit {
                offset_param,
                limit_param,
                limit,
            } => {
                set_param(&mut url, offset_param, "0");
                set_param(&mut url, limit_param, &limit.to_string());
            }
            _ => {}
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        Ok(url)
    }

    /// Fetches one page and works out the next one's URL.
    async fn page(&self, resource: &Resource, url: Url, number: u64) -> Result<Page> {
        let what = self.what(&resource.name);
        if !may_follow(&url, &self.origin, &self.config.follow_hosts) {
            return Err(Error::Remote {
                what,
                status: None,
                message: format!(
                    "page {number}: the API's next page is at {}, another origin than \
                     base_url's {}; it was not followed (credentials go to base_url's origin \
                     only; list the host in follow_hosts to follow it)",
                    net::sanitize(&net::origin_text(&url), &[]),
                    net::origin_text(&self.origin)
                ),
                retryable: false,
            });
        }
        let secrets: Vec<&str> = self.secrets.iter().map(Secret::expose).collect();
        let answer = net::send(
            &self.limiter,
            &self.config.retry,
            &self.config.limits,
            &what,
            &secrets,
            || {
                let mut request = self.http.get(url.clone());
                for (k, v) in &self.config.headers {
                    request = request.header(k, v);
                }
                match &self.config.auth {
                    Auth::None => {}
                    Auth::Bearer { token } => request = request.bearer_auth(token.expose()),
                    Auth::ApiKey {
                        name,
                        value,
                        location: KeyLocation::Header,
                    } => request = request.header(name, value.expose()),
                    Auth::ApiKey { .. } => {}
                    Auth::Basic { username, password } => {
                        request = request.basic_auth(username, Some(password.expose()))
                    }
                }
                request
            },
            describe,
        )
        .await
        .map_err(|e| match e {
            Error::Remote {
                what,
                status,
                message,
                retryable,
            } => Error::Remote {
                what,
                status,
                message: format!("page {number}: {message}"),
                retryable,
            },
            other => other,
        })?;
        // The messages may quote the answer (a URL, a parser's excerpt):
        // what a server sent is cut, escaped and rid of the credentials.
        let malformed = |message: String| Error::Remote {
            what: what.clone(),
            status: None,
            message: format!("page {number}: {}", net::sanitize(&message, &secrets)),
            retryable: false,
        };
        // Integers past 64 bits stay exact: as text (a parser rounds them).
        let body: Value =
            serde_json::from_slice(&crate::bigint::big_integers_as_text(&answer.body))
                .map_err(|e| malformed(format!("the answer is not JSON: {e}")))?;
        let records = match at_path(&body, &resource.records) {
            Some(Value::Array(items)) => items.clone(),
            Some(Value::Object(_)) => vec![
                at_path(&body, &resource.records)
                    .cloned()
                    .unwrap_or_default(),
            ],
            Some(Value::Null) => Vec::new(),
            Some(other) => {
                return Err(malformed(format!(
                    "the records at {:?} are {}, not a list or an object",
                    resource.records,
                    json_type(other)
                )));
            }
            None => {
                return Err(malformed(format!(
                    "the answer has no {:?} (the resource's records path)",
                    resource.records
                )));
            }
        };
        let next = next_url(
            &resource.paginator,
            &url,
            &body,
            &answer.headers,
            records.len(),
        )
        .map_err(malformed)?;
        if next.as_ref() == Some(&url) {
            return Err(malformed(
                "the next page's URL is this page's: the pagination does not advance".into(),
            ));
        }
        Ok(Page {
            records,
            next,
            answered: answer.date(),
        })
    }

    /// Infers the table of `resource` from its first records.
    async fn infer(&self, resource: &Resource) -> Result<Table> {
        let want = self.config.infer_records;
        let mut shape: Vec<(String, Shape)> = Vec::new();
        let mut seen = 0;
        let mut add = |records: Vec<Value>| {
            for record in records {
                seen += 1;
                if let Value::Object(map) = record {
                    let merged = Shape::Object(std::mem::take(&mut shape))
                        .merge(Shape::of(&Value::Object(map)));
                    if let Shape::Object(fields) = merged {
                        shape = fields;
                    }
                }
            }
            seen < want
        };
        match &resource.parent {
            Some(parent) => {
                let parent = self.resource(parent)?;
                let mut parents = Pager::new(self, parent, self.first_url(parent, None, None)?);
                'parents: while let Some(records) = parents.next().await? {
                    for record in records {
                        let Value::Object(record) = record else {
                            continue;
                        };
                        let url = self.first_url(resource, Some(&record), None)?;
                        let mut children = Pager::new(self, resource, url);
                        while let Some(records) = children.next().await? {
                            if !add(records) {
                                break 'parents;
                            }
                        }
                    }
                }
            }
            None => {
                let initial = resource
                    .incremental
                    .as_ref()
                    .and_then(|i| i.initial.as_deref());
                let mut pages =
                    Pager::new(self, resource, self.first_url(resource, None, initial)?);
                while let Some(records) = pages.next().await? {
                    if !add(records) {
                        break;
                    }
                }
            }
        }
        let parent_columns: Vec<String> = if resource.parent.is_some() {
            resource.placeholders()
        } else {
            Vec::new()
        };
        let mut fields: Vec<Field> = parent_columns
            .iter()
            .map(|p| Field::new(format!("_parent_{p}"), DataType::Utf8, false))
            .collect();
        // Fields seen only as null: text is a guess, which the warehouse
        // may set aside for an existing column's type while they stay null.
        let guessed: std::collections::HashSet<String> = shape
            .iter()
            .filter(|(_, s)| *s == Shape::Null)
            .map(|(name, _)| name.clone())
            .collect();
        let mut columns: Vec<(String, Kind)> = shape
            .into_iter()
            .map(|(name, s)| (name, s.kind()))
            .collect();
        if columns.is_empty() {
            // Nothing to infer from: the key fields, as text, keep the table loadable.
            columns = resource
                .primary_key
                .iter()
                .map(|k| (k.clone(), Kind::Text))
                .collect();
        }
        fields.extend(columns.iter().map(|(name, kind)| {
            let field = Field::new(name, kind.data_type(), true);
            if guessed.contains(name) {
                field.with_metadata(
                    [(etl_core::SAMPLED_NULLS_ONLY.to_owned(), "true".to_owned())].into(),
                )
            } else {
                field
            }
        }));
        let mut spec = TableSpec::new(&resource.name, Schema::new(fields))
            .with_primary_key(resource.primary_key.iter().cloned())
            .with_mode(resource.mode()?);
        if let Some(inc) = &resource.incremental {
            spec = spec.with_cursor_field(&inc.cursor_field);
        }
        spec.validate()?;
        Ok(Table {
            spec,
            parent_columns,
            columns,
        })
    }
}

impl Extractor for HttpExtractor {
    fn source(&self) -> String {
        format!("http:{}", self.inner.config.base_url.trim_end_matches('/'))
    }

    async fn tables(&self) -> Result<Vec<TableSpec>> {
        Discovered::all(self.discover().await?)
    }

    /// Each resource's schema, inferred on its own: one whose answers
    /// cannot be read (an error status, a body that is not JSON, JSON
    /// nested too deep) fails its table only.
    async fn discover(&self) -> Result<Vec<Discovered>> {
        let mut found = Vec::with_capacity(self.inner.config.resources.len());
        for resource in &self.inner.config.resources {
            match self.inner.infer(resource).await {
                Ok(table) => {
                    let table = Arc::new(table);
                    found.push(Discovered::Ready(table.spec.clone()));
                    self.inner
                        .tables
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(resource.name.clone(), table);
                }
                Err(error) => found.push(Discovered::Failed {
                    table: resource.name.clone(),
                    error,
                }),
            }
        }
        Ok(found)
    }

    async fn extract(&self, spec: &TableSpec, options: &ExtractOptions) -> Result<BatchStream> {
        let resource = self.inner.resource(spec.name())?.clone();
        let known = self
            .inner
            .tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(spec.name())
            .cloned();
        let table = match known {
            Some(table) => table,
            None => Arc::new(self.inner.infer(&resource).await?),
        };
        if spec.schema().fields() != table.spec.schema().fields() {
            return Err(Error::Schema {
                table: spec.name().to_owned(),
                message: "the schema asked for is not the one inferred for this resource; list the tables again".into(),
            });
        }
        let since = match (&resource.incremental, spec.cursor_field()) {
            (Some(inc), Some(_)) => options.since.clone().or_else(|| inc.initial.clone()),
            _ => None,
        };
        let notes = ExtractNotes::default();
        let producer_notes = notes.clone();
        let inner = self.inner.clone();
        let batch_size = options.batch_size;
        let schema = table.spec.schema().clone();
        let stream = BatchStream::from_async(schema.clone(), 2, move |tx| async move {
            let what = inner.what(&resource.name);
            let mut rows: Vec<Value> = Vec::with_capacity(batch_size);
            let mut cursor: Option<Value> = None;
            let mut first_asked = None;
            let mut take = |records: Vec<Value>,
                            parent: Option<&Map<String, Value>>,
                            rows: &mut Vec<Value>| {
                for record in records {
                    let Value::Object(record) = record else {
                        producer_notes.count_invalid(1);
                        continue;
                    };
                    if let Some(inc) = &resource.incremental
                        && let Some(value) = record.get(&inc.cursor_field)
                        && later(value, cursor.as_ref())
                    {
                        cursor = Some(value.clone());
                    }
                    rows.push(row(&table, record, parent, &producer_notes));
                }
            };
            match &resource.parent {
                Some(parent) => {
                    let parent = inner.resource(parent)?;
                    let mut parents =
                        Pager::new(&inner, parent, inner.first_url(parent, None, None)?);
                    while let Some(records) = parents.next().await? {
                        for record in records {
                            let Value::Object(record) = record else {
                                continue;
                            };
                            let url = inner.first_url(&resource, Some(&record), None)?;
                            let mut children = Pager::new(&inner, &resource, url);
                            while let Some(records) = children.next().await? {
                                take(records, Some(&record), &mut rows);
                                if rows.len() >= batch_size
                                    && !flush(&schema, &what, &mut rows, &tx).await?
                                {
                                    return Ok(());
                                }
                            }
                        }
                    }
                }
                None => {
                    let first = inner.first_url(&resource, None, since.as_deref())?;
                    let mut pages = Pager::new(&inner, &resource, first);
                    while let Some(records) = pages.next().await? {
                        take(records, None, &mut rows);
                        if rows.len() >= batch_size
                            && !flush(&schema, &what, &mut rows, &tx).await?
                        {
                            return Ok(());
                        }
                    }
                    first_asked = pages.first_asked;
                }
            }
            if let Some(inc) = &resource.incremental
                && let Some(c) = next_cursor(cursor.as_ref(), since.as_deref(), first_asked, inc)
            {
                // Before the last batch goes: the warehouse reads it at the end.
                producer_notes.set_cursor_value(c);
            }
            flush(&schema, &what, &mut rows, &tx).await?;
            Ok(())
        });
        Ok(stream.with_notes(notes))
    }
}

/// Sends `rows` as one batch (nothing when empty); `false` when the stream was dropped.
async fn flush(
    schema: &SchemaRef,
    what: &str,
    rows: &mut Vec<Value>,
    tx: &AsyncBatchSender,
) -> Result<bool> {
    if rows.is_empty() {
        return Ok(true);
    }
    let batch = decode(schema, rows).map_err(|e| Error::Remote {
        what: what.to_owned(),
        status: None,
        message: e,
        retryable: false,
    })?;
    rows.clear();
    Ok(tx.send(batch).await)
}

/// One record as the decoder's row: parent columns, then each column's
/// value normalised (absent: null; not fitting: null and counted).
fn row(
    table: &Table,
    mut record: Map<String, Value>,
    parent: Option<&Map<String, Value>>,
    notes: &ExtractNotes,
) -> Value {
    let mut out = Map::with_capacity(table.columns.len() + table.parent_columns.len());
    if let Some(parent) = parent {
        for field in &table.parent_columns {
            if let Some(value) = parent_value(parent, field) {
                out.insert(format!("_parent_{field}"), Value::String(value));
            }
        }
    }
    for (name, kind) in &table.columns {
        if let Some(value) = record.remove(name) {
            match conform(kind, &value) {
                Some(v) => {
                    out.insert(name.clone(), v);
                }
                None => notes.count_invalid(1),
            }
        }
    }
    for unknown in record.keys() {
        notes.warn(format!(
            "field {unknown:?} was not in the records the schema was inferred from; it is not loaded"
        ));
    }
    Value::Object(out)
}

/// A parent's field as path text: strings as they are, numbers and booleans as their JSON.
fn parent_value(parent: &Map<String, Value>, field: &str) -> Option<String> {
    match parent.get(field)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `value` percent-encoded for one path segment.
fn url_segment(value: &str) -> String {
    let mut url = Url::parse("http://x/").expect("a valid URL");
    url.path_segments_mut()
        .expect("an http URL has a path")
        .pop_if_empty()
        .push(value);
    url.path().trim_start_matches('/').to_owned()
}

/// Sets a query parameter, replacing any of the same name.
fn set_param(url: &mut Url, name: &str, value: &str) {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut query = url.query_pairs_mut();
    query.clear();
    for (k, v) in &pairs {
        query.append_pair(k, v);
    }
    query.append_pair(name, value);
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The value at a dotted path (`data.items`); the whole value for `""`.
fn at_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(value);
    }
    path.split('.').try_fold(value, |v, key| match v {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The next page's URL, `None` at the end.
fn next_url(
    paginator: &Paginator,
    url: &Url,
    body: &Value,
    headers: &HeaderMap,
    records: usize,
) -> std::result::Result<Option<Url>, String> {
    Ok(match paginator {
        Paginator::None => None,
        Paginator::PageNumber {
            param: name,
            start,
            size,
            ..
        } => {
            if records == 0 || size.is_some_and(|s| (records as u64) < s) {
                None
            } else {
                let page = param(url, name)
                    .and_then(|p| p.parse::<u64>().ok())
                    .unwrap_or(*start);
                let mut next = url.clone();
                set_param(&mut next, name, &(page + 1).to_string());
                Some(next)
            }
        }
        Paginator::OffsetLimit {
            offset_param,
            limit_param: _,
            limit,
        } => {
            if (records as u64) < *limit {
                None
            } else {
                let offset = param(url, offset_param)
                    .and_then(|p| p.parse::<u64>().ok())
                    .unwrap_or(0);
                let mut next = url.clone();
                set_param(&mut next, offset_param, &(offset + limit).to_string());
                Some(next)
            }
        }
        Paginator::Cursor {
            cursor_path,
            param: name,
        } => match at_path(body, cursor_path) {
            Some(Value::String(c)) if !c.is_empty() => {
                let mut next = url.clone();
                set_param(&mut next, name, c);
                Some(next)
            }
            Some(Value::Number(n)) => {
                let mut next = url.clone();
                set_param(&mut next, name, &n.to_string());
                Some(next)
            }
            _ => None,
        },
        Paginator::LinkHeader => {
            let mut next = None;
            for value in headers.get_all(LINK) {
                let text = value
                    .to_str()
                    .map_err(|_| "a Link header is not text".to_owned())?;
                if let Some(target) = link_next(text) {
                    next = Some(
                        url.join(&target)
                            .map_err(|e| format!("the Link header's next URL {target:?}: {e}"))?,
                    );
                }
            }
            next
        }
        Paginator::NextUrl { path } => match at_path(body, path) {
            Some(Value::String(next)) if !next.is_empty() => Some(
                url.join(next)
                    .map_err(|e| format!("the next URL {next:?} at {path:?}: {e}"))?,
            ),
            _ => None,
        },
    })
}

/// Whether requests (credentials and all) may go to `url`: `base`'s origin,
/// or a host of `follow_hosts` over `https` (or over the base's scheme).
fn may_follow(url: &Url, base: &Url, follow_hosts: &[String]) -> bool {
    if net::same_origin(url, base) {
        return true;
    }
    let host = url.host_str().unwrap_or("");
    (url.scheme() == "https" || url.scheme() == base.scheme())
        && follow_hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
}

/// The `rel="next"` target of a `Link` header (RFC 8288).
fn link_next(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let mut parts = link.split(';');
        let target = parts.next()?.trim();
        let target = target.strip_prefix('<')?.strip_suffix('>')?;
        parts
            .any(|p| {
                let p = p.trim();
                p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
            })
            .then(|| target.to_owned())
    })
}

/// Whether `value` is past `current` (numbers as numbers, text as text).
fn later(value: &Value, current: Option<&Value>) -> bool {
    match (value, current) {
        (Value::Null, _) => false,
        (_, None) => matches!(value, Value::Number(_) | Value::String(_)),
        (Value::Number(a), Some(Value::Number(b))) => {
            a.as_f64().unwrap_or(f64::MIN) > b.as_f64().unwrap_or(f64::MIN)
        }
        (Value::String(a), Some(Value::String(b))) => a > b,
        _ => false,
    }
}

/// The cursor to store after a load that read `largest` at most, from
/// `since`, its first page asked for at `first_asked`.
///
/// A record changed while the pages were read gets a cursor value no
/// earlier than `first_asked` (by the server's clock); with a page order
/// other than the cursor's, it may be on a page already read, while the
/// largest value seen is later still. So a timestamp cursor (RFC 3339) does
/// not move past `first_asked` less the resource's lookback (the next load
/// reads those records again, which the merge makes harmless), written in
/// the format of the values the API sends. Other cursors (numbers, other
/// text) are the largest value read. It never moves back before `since`.
fn next_cursor(
    largest: Option<&Value>,
    since: Option<&str>,
    first_asked: Option<chrono::DateTime<chrono::Utc>>,
    incremental: &Incremental,
) -> Option<String> {
    let Some(largest) = largest else {
        return since.map(str::to_owned);
    };
    let mut next = cursor_text(largest);
    if let (Value::String(text), Some(asked)) = (largest, first_asked)
        && let Ok(read) = chrono::DateTime::parse_from_rfc3339(text)
    {
        let bound = asked - chrono::Duration::seconds(incremental.lookback_seconds as i64);
        if read.with_timezone(&chrono::Utc) > bound {
            next = like(text, bound.with_timezone(read.offset()));
        }
    }
    let backwards = match (largest, since) {
        (Value::Number(n), Some(since)) => since
            .parse::<f64>()
            .ok()
            .zip(n.as_f64())
            .is_some_and(|(since, n)| n < since),
        // Times of one format compare as text, as `later` compares them.
        (Value::String(_), Some(since)) => next.as_str() < since,
        _ => false,
    };
    match since {
        Some(since) if backwards => Some(since.to_owned()),
        _ => Some(next),
    }
}

/// `time` written as `example` is: its fraction digits, `Z` or an offset,
/// `T` or a space between date and time.
fn like(example: &str, time: chrono::DateTime<chrono::FixedOffset>) -> String {
    let digits = example.split_once('.').map_or(0, |(_, rest)| {
        rest.chars().take_while(char::is_ascii_digit).count()
    });
    let format = match digits {
        0 => chrono::SecondsFormat::Secs,
        1..=3 => chrono::SecondsFormat::Millis,
        4..=6 => chrono::SecondsFormat::Micros,
        _ => chrono::SecondsFormat::Nanos,
    };
    let zulu = example.ends_with('Z') || example.ends_with('z');
    let mut text = time.to_rfc3339_opts(format, zulu);
    if example.as_bytes().get(10) == Some(&b' ') {
        text.replace_range(10..11, " ");
    }
    text
}

fn cursor_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An error answer: the status and the start of the body.
fn describe(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut message: String = text.chars().take(300).collect();
    if message.is_empty() {
        message = status.canonical_reason().unwrap_or("no message").to_owned();
    }
    match status.as_u16() {
        401 | 403 => format!("{message} (check the credentials in the config's [auth])"),
        404 => format!("{message} (check base_url and the resource's path)"),
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn link_headers_give_their_next_target() {
        let header = r#"<https://api.github.com/repos?page=3>; rel="next", <https://api.github.com/repos?page=50>; rel="last""#;
        assert_eq!(
            link_next(header).as_deref(),
            Some("https://api.github.com/repos?page=3")
        );
        assert_eq!(link_next(r#"<https://x/?page=1>; rel="prev""#), None);
    }

    #[test]
    fn dotted_paths_reach_into_objects_and_lists() {
        let body = json!({"data": {"items": [1, 2]}, "meta": {"next": null}});
        assert_eq!(at_path(&body, "data.items.1"), Some(&json!(2)));
        assert_eq!(at_path(&body, "meta.next"), Some(&Value::Null));
        assert_eq!(at_path(&body, "nope"), None);
        assert_eq!(at_path(&body, ""), Some(&body));
    }

    fn incremental(lookback_seconds: u64) -> Incremental {
        Incremental {
            cursor_field: "updated_at".into(),
            param: "since".into(),
            initial: None,
            lookback_seconds,
        }
    }

    fn at(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        Some(chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc())
    }

    #[test]
    fn a_timestamp_cursor_stops_at_the_first_request_less_the_lookback() {
        // Read a value past the first request (an edit made while paging):
        // the stored cursor is the first request's time less 60 s, in the
        // values' own format.
        let next = next_cursor(
            Some(&json!("2024-03-01T10:00:30.250Z")),
            Some("2024-03-01T09:00:00.000Z"),
            at("2024-03-01T10:00:05Z"),
            &incremental(60),
        );
        assert_eq!(next.as_deref(), Some("2024-03-01T09:59:05.000Z"));
        // Everything read is older: the largest value it is.
        let next = next_cursor(
            Some(&json!("2024-03-01 08:00:00+01:00")),
            None,
            at("2024-03-01T10:00:05Z"),
            &incremental(60),
        );
        assert_eq!(next.as_deref(), Some("2024-03-01 08:00:00+01:00"));
        let bounded = next_cursor(
            Some(&json!("2024-03-01 12:00:00+01:00")),
            None,
            at("2024-03-01T10:00:05Z"),
            &incremental(0),
        );
        assert_eq!(bounded.as_deref(), Some("2024-03-01 11:00:05+01:00"));
    }

    #[test]
    fn a_cursor_never_moves_back() {
        let next = next_cursor(
            Some(&json!("2024-03-01T10:00:00Z")),
            Some("2024-03-01T10:00:00Z"),
            at("2024-03-01T10:00:30Z"),
            &incremental(60),
        );
        assert_eq!(next.as_deref(), Some("2024-03-01T10:00:00Z"));
        let next = next_cursor(Some(&json!(7)), Some("9"), None, &incremental(60));
        assert_eq!(next.as_deref(), Some("9"));
        let next = next_cursor(Some(&json!(12)), Some("9"), None, &incremental(60));
        assert_eq!(next.as_deref(), Some("12"));
        assert_eq!(
            next_cursor(None, Some("9"), None, &incremental(60)).as_deref(),
            Some("9")
        );
    }

    #[test]
    fn cursors_compare_by_type() {
        assert!(later(&json!(10), Some(&json!(9.5))));
        assert!(later(
            &json!("2024-02-01T00:00:00Z"),
            Some(&json!("2024-01-31T23:59:59Z"))
        ));
        assert!(!later(&json!(null), None));
        assert!(later(&json!("a"), None));
    }

    #[test]
    fn page_numbers_and_offsets_advance() {
        let url = Url::parse("http://x/users?page=2&per_page=2").unwrap();
        let paginator = Paginator::PageNumber {
            param: "page".into(),
            start: 1,
            size_param: Some("per_page".into()),
            size: Some(2),
        };
        let next = next_url(&paginator, &url, &json!([]), &HeaderMap::new(), 2).unwrap();
        assert_eq!(next.unwrap().as_str(), "http://x/users?per_page=2&page=3");
        assert!(
            next_url(&paginator, &url, &json!([]), &HeaderMap::new(), 1)
                .unwrap()
                .is_none()
        );
        let offsets = Paginator::OffsetLimit {
            offset_param: "offset".into(),
            limit_param: "limit".into(),
            limit: 10,
        };
        let url = Url::parse("http://x/e?offset=20&limit=10").unwrap();
        let next = next_url(&offsets, &url, &json!([]), &HeaderMap::new(), 10).unwrap();
        assert_eq!(next.unwrap().as_str(), "http://x/e?limit=10&offset=30");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(url_segment("a b/c"), "a%20b%2Fc");
    }
}
