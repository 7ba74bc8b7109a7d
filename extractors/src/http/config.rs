//! [`HttpConfig`]: a REST/JSON API described in Rust or in a TOML file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use etl_core::{Error, Result, WriteMode};
use serde::{Deserialize, Deserializer};

pub use crate::net::{Limits, RetryPolicy};

/// How many records schema inference reads per resource, by default.
pub const DEFAULT_INFER_RECORDS: usize = 1_000;

/// A secret (token, password, key). Its `Debug` never shows it. In a config
/// file, `"${NAME}"` reads the environment variable `NAME` when the file is loaded.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.strip_prefix("${").and_then(|t| t.strip_suffix('}')) {
            Some(name) => std::env::var(name).map(Secret).map_err(|_| {
                serde::de::Error::custom(format!("the environment variable {name} is not set"))
            }),
            None => Ok(Secret(text)),
        }
    }
}

/// How requests authenticate.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: Secret,
    },
    /// A key in a header (`X-Api-Key: <key>`) or in the query (`?api_key=<key>`).
    ApiKey {
        /// The header or query parameter name.
        name: String,
        /// The key.
        value: Secret,
        /// Where it goes; a header by default.
        #[serde(default)]
        location: KeyLocation,
    },
    /// HTTP basic authentication.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
}

/// Where an API key goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeyLocation {
    /// A request header.
    #[default]
    Header,
    /// A query parameter.
    Query,
}

/// How a resource's pages follow one another.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Paginator {
    /// One request: the answer holds every record.
    #[default]
    None,
    /// `?page=1`, `?page=2`, … until a page has no records, or fewer than `size`.
    PageNumber {
        /// The page parameter, `page` by default.
        #[serde(default = "page")]
        param: String,
        /// The first page's number, 1 by default.
        #[serde(default = "one")]
        start: u64,
        /// The page size parameter (`per_page`), if the API takes one.
        #[serde(default)]
        size_param: Option<String>,
        /// The page size sent with `size_param`.
        #[serde(default)]
        size: Option<u64>,
    },
    /// `?offset=0&limit=100`, `?offset=100&limit=100`, … until a page has fewer than `limit`.
    OffsetLimit {
        /// The offset parameter, `offset` by default.
        #[serde(default = "offset")]
        offset_param: String,
        /// The limit parameter, `limit` by default.
        #[serde(default = "limit")]
        limit_param: String,
        /// Records per page, 100 by default.
        #[serde(default = "hundred")]
        limit: u64,
    },
    /// The next page's cursor is in the body (`meta.next_cursor`) and goes back
    /// as a parameter (`?cursor=`), until it is missing, null or empty.
    Cursor {
        /// The dotted path of the cursor in the body.
        cursor_path: String,
        /// The parameter it goes back in, `cursor` by default.
        #[serde(default = "cursor")]
        param: String,
    },
    /// The next page's URL is the `Link` header's `rel="next"` (GitHub's style).
    LinkHeader,
    /// The next page's URL is in the body (`next`, `links.next`), until it is missing or null.
    NextUrl {
        /// The dotted path of the URL in the body.
        path: String,
    },
}

fn page() -> String {
    "page".into()
}
fn one() -> u64 {
    1
}
fn offset() -> String {
    "offset".into()
}
fn limit() -> String {
    "limit".into()
}
fn hundred() -> u64 {
    100
}
fn cursor() -> String {
    "cursor".into()
}

/// An incremental resource: the field whose largest value is the cursor, and
/// the parameter that asks the API for records past it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Incremental {
    /// The record field the cursor tracks (`updated_at`); the largest value
    /// read is the next run's cursor. Numbers compare as numbers, text as
    /// text (ISO 8601 times in one format sort correctly).
    pub cursor_field: String,
    /// The query parameter the cursor goes in (`updated_since`).
    pub param: String,
    /// The cursor of the very first run, if the API needs one.
    #[serde(default)]
    pub initial: Option<String>,
    /// For a timestamp cursor: how far before the load's first request
    /// (by the server's `Date`) the stored cursor stays at most, for a
    /// server whose records take their time a little before it answers
    /// (60 by default). See [the module docs](super#incremental-loads).
    #[serde(default = "default_lookback")]
    pub lookback_seconds: u64,
}

fn default_lookback() -> u64 {
    60
}

/// One resource: an endpoint whose records become one table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Resource {
    /// The table's name.
    pub name: String,
    /// The path under the base URL (`users`, `users/{id}/orders`). In a
    /// child resource, `{field}` is a field of each record of the parent.
    pub path: String,
    /// Query parameters sent with every request.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The dotted path of the records in the body (`data`, `result.items`);
    /// empty when the body is the list itself. An object there is one record.
    #[serde(default)]
    pub records: String,
    /// The primary key fields.
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// How pages follow one another.
    #[serde(default)]
    pub paginator: Paginator,
    /// The resource whose records fill this one's `{field}` placeholders.
    #[serde(default)]
    pub parent: Option<String>,
    /// Read only what changed since the last run.
    #[serde(default)]
    pub incremental: Option<Incremental>,
    /// `replace` (the default), `append`, or `merge` (the default for incremental resources).
    #[serde(default)]
    pub write_mode: Option<String>,
}

impl Resource {
    /// A resource named `name` at `path`, one request, the body the list of records.
    pub fn new(name: impl Into<String>, path: impl Into<String>) -> Self {
        Resource {
            name: name.into(),
            path: path.into(),
            params: BTreeMap::new(),
            records: String::new(),
            primary_key: Vec::new(),
            paginator: Paginator::None,
            parent: None,
            incremental: None,
            write_mode: None,
        }
    }

    /// Records at this dotted path in the body.
    pub fn with_records(mut self, path: impl Into<String>) -> Self {
        self.records = path.into();
        self
    }

    /// A query parameter sent with every request.
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(name.into(), value.into());
        self
    }

    /// The primary key fields.
    pub fn with_primary_key<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.primary_key = fields.into_iter().map(Into::into).collect();
        self
    }

    /// How pages follow one another.
    pub fn with_paginator(mut self, paginator: Paginator) -> Self {
        self.paginator = paginator;
        self
    }

    /// The parent whose records fill the path's `{field}` placeholders.
    pub fn with_parent(mut self, parent: impl Into<String>) -> Self {
        self.parent = Some(parent.into());
        self
    }

    /// Reads incrementally: `cursor_field`'s largest value goes back in `param`.
    pub fn with_incremental(
        mut self,
        cursor_field: impl Into<String>,
        param: impl Into<String>,
    ) -> Self {
        self.incremental = Some(Incremental {
            cursor_field: cursor_field.into(),
            param: param.into(),
            initial: None,
            lookback_seconds: default_lookback(),
        });
        self
    }

    /// The write mode: what `write_mode` says, else merge for an incremental
    /// resource and replace for others.
    pub(crate) fn mode(&self) -> Result<WriteMode> {
        match &self.write_mode {
            Some(mode) => mode
                .parse()
                .map_err(|e: Error| Error::Config(format!("resource {:?}: {e}", self.name))),
            None if self.incremental.is_some() => Ok(WriteMode::Merge),
            None => Ok(WriteMode::Replace),
        }
    }

    /// The `{field}` placeholders of the path, in order.
    pub(crate) fn placeholders(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = self.path.as_str();
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            out.push(rest[open + 1..open + close].to_owned());
            rest = &rest[open + close + 1..];
        }
        out
    }
}

/// A REST/JSON API and the resources to read from it.
///
/// ```
/// use etl_extractors::http::HttpConfig;
///
/// let config = HttpConfig::from_toml(r#"
///     base_url = "https://api.example.com/v1"
///     requests_per_second = 10
///
///     [auth]
///     type = "bearer"
///     token = "not-a-real-token"
///
///     [[resources]]
///     name = "users"
///     path = "users"
///     records = "data"
///     primary_key = ["id"]
///     paginator = { type = "page_number", size_param = "per_page", size = 100 }
///     incremental = { cursor_field = "updated_at", param = "updated_since" }
///
///     [[resources]]
///     name = "orders"
///     path = "users/{id}/orders"
///     parent = "users"
/// "#).unwrap();
/// assert_eq!(config.resources.len(), 2);
/// assert!(!format!("{config:?}").contains("not-a-real-token"));
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpConfig {
    /// The API's base URL; resource paths are relative to it.
    pub base_url: String,
    /// How requests authenticate.
    #[serde(default)]
    pub auth: Auth,
    /// Headers sent with every request. A value may be a credential: it is
    /// shown only for the headers known to be harmless ([`harmless_header`]),
    /// `***` elsewhere (`Debug`, and any error text a server echoes it in).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Requests per second, shared by all resources; no limit when absent.
    #[serde(default)]
    pub requests_per_second: Option<f64>,
    /// How requests are retried.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// How much of one answer is read, and how many pages of one table.
    #[serde(default)]
    pub limits: Limits,
    /// Hosts other than `base_url`'s that next-page URLs (`link_header`,
    /// `next_url`) and redirects may lead to; requests to them carry the
    /// credentials too. Any other host is refused: credentials, headers and
    /// API keys go to `base_url`'s origin (scheme, host, port) only.
    #[serde(default)]
    pub follow_hosts: Vec<String>,
    /// Records read per resource to infer its schema.
    #[serde(default = "default_infer")]
    pub infer_records: usize,
    /// The resources, one table each.
    #[serde(default)]
    pub resources: Vec<Resource>,
}

/// Whether a header's value is known to carry no credential, so that it
/// may be shown: `Accept`, `Accept-Encoding`, `Accept-Language`,
/// `Cache-Control`, `Content-Type`, `Pragma` and `User-Agent`, in any case.
/// Any other header (`Authorization`, `X-Api-Key`, `Cookie`, one an API made
/// up) may be a secret, and its value is never printed.
pub fn harmless_header(name: &str) -> bool {
    const HARMLESS: [&str; 7] = [
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "content-type",
        "pragma",
        "user-agent",
    ];
    HARMLESS.iter().any(|h| h.eq_ignore_ascii_case(name.trim()))
}

/// Its fields, with the user and password of `base_url` and every header
/// value that may be a credential left out (see [`harmless_header`]).
impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: BTreeMap<&str, &str> = self
            .headers
            .iter()
            .map(|(name, value)| match harmless_header(name) {
                true => (name.as_str(), value.as_str()),
                false => (name.as_str(), "***"),
            })
            .collect();
        f.debug_struct("HttpConfig")
            .field(
                "base_url",
                &etl_rules::text::without_userinfo(&self.base_url),
            )
            .field("auth", &self.auth)
            .field("headers", &headers)
            .field("requests_per_second", &self.requests_per_second)
            .field("retry", &self.retry)
            .field("limits", &self.limits)
            .field("follow_hosts", &self.follow_hosts)
            .field("infer_records", &self.infer_records)
            .field("resources", &self.resources)
            .finish()
    }
}

/// A TOML error as "line L, column C: message", the message's string
/// values (in double quotes; names are in backticks) replaced by `"…"`:
/// the toml crate's own text quotes the offending line, secrets and all.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let place = e.span().map(|span| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("line {line}, column {column}: ")
    });
    let mut message = String::new();
    let mut quoted = false;
    for c in e.message().chars() {
        if c == '"' {
            if !quoted {
                message.push_str("\"…\"");
            }
            quoted = !quoted;
        } else if !quoted {
            message.push(c);
        }
    }
    format!("{}{}", place.unwrap_or_default(), message.trim_end())
}

fn default_infer() -> usize {
    DEFAULT_INFER_RECORDS
}

impl HttpConfig {
    /// A config for the API at `base_url`, with no resources yet.
    pub fn new(base_url: impl Into<String>) -> Self {
        HttpConfig {
            base_url: base_url.into(),
            auth: Auth::None,
            headers: BTreeMap::new(),
            requests_per_second: None,
            retry: RetryPolicy::default(),
            limits: Limits::default(),
            follow_hosts: Vec::new(),
            infer_records: DEFAULT_INFER_RECORDS,
            resources: Vec::new(),
        }
    }

    /// Parses a TOML config; unknown keys are errors. An error names the
    /// line and column and never quotes the file (the line may hold a
    /// token), nor any string value.
    pub fn from_toml(text: &str) -> Result<Self> {
        let config: HttpConfig = toml::from_str(text).map_err(|e| {
            Error::Config(format!("HTTP extractor config: {}", toml_error(text, &e)))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a TOML config file.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text).map_err(|e| {
            Error::Config(format!(
                "{}: {}",
                path.display(),
                e.to_string().trim_start_matches("invalid configuration: ")
            ))
        })
    }

    /// Sets the authentication.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// A header sent with every request.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Requests per second; `None` for no limit.
    pub fn with_requests_per_second(mut self, rate: Option<f64>) -> Self {
        self.requests_per_second = rate;
        self
    }

    /// Sets how requests are retried.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the bounds on answers and pages.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// A host (besides `base_url`'s) that next-page URLs and redirects may
    /// lead to, credentials included; see [`HttpConfig::follow_hosts`].
    pub fn with_follow_host(mut self, host: impl Into<String>) -> Self {
        self.follow_hosts.push(host.into());
        self
    }

    /// Records read per resource to infer its schema (at least 1).
    pub fn with_infer_records(mut self, records: usize) -> Self {
        self.infer_records = records.max(1);
        self
    }

    /// Adds a resource.
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resources.push(resource);
        self
    }

    /// Checks the config before any request: an http(s) base URL, resources
    /// with unique names, parents that exist (one level), placeholders only
    /// in child paths, keys for merges.
    pub fn validate(&self) -> Result<()> {
        let shown = etl_rules::text::without_userinfo(&self.base_url);
        let url = reqwest::Url::parse(&self.base_url)
            .map_err(|e| Error::Config(format!("base_url {shown:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!("base_url {shown:?} is not http(s)")));
        }
        // The base URL is the load's recorded source: a credential in it
        // would be written into every warehouse it loads.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::Config(format!(
                "base_url {shown:?} has a user or password in it: give them as auth \
                 (type = \"basic\"), which is never printed nor recorded"
            )));
        }
        if let Some(rate) = self.requests_per_second
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(Error::Config(format!(
                "requests_per_second must be positive, not {rate}"
            )));
        }
        if self.resources.is_empty() {
            return Err(Error::Config("the HTTP extractor has no resources".into()));
        }
        let mut names = std::collections::HashSet::new();
        for r in &self.resources {
            let what = |m: String| Error::Config(format!("resource {:?}: {m}", r.name));
            if r.name.is_empty() {
                return Err(Error::Config("a resource has an empty name".into()));
            }
            if !names.insert(r.name.as_str()) {
                return Err(what("appears twice".into()));
            }
            if let Some(other) = self
                .resources
                .iter()
                .take_while(|o| !std::ptr::eq(*o, r))
                .find(|o| etl_core::names::fold(&o.name) == etl_core::names::fold(&r.name))
            {
                return Err(what(format!(
                    "differs from resource {:?} only in case; warehouses resolve names \
                     without case, so both would load into one table",
                    other.name
                )));
            }
            let mode = r.mode()?;
            if mode == WriteMode::Merge && r.primary_key.is_empty() {
                return Err(what(
                    "merge (the default for incremental resources) needs a primary_key".into(),
                ));
            }
            match &r.parent {
                None if !r.placeholders().is_empty() => {
                    return Err(what(format!(
                        "the path {:?} has placeholders but no parent fills them",
                        r.path
                    )));
                }
                None => {}
                Some(parent) => {
                    let Some(p) = self.resources.iter().find(|p| &p.name == parent) else {
                        return Err(what(format!("its parent {parent:?} is not a resource")));
                    };
                    if p.parent.is_some() {
                        return Err(what(format!(
                            "its parent {parent:?} is a child itself; one level of parents is supported"
                        )));
                    }
                    if r.placeholders().is_empty() {
                        return Err(what(format!(
                            "it has a parent but its path {:?} has no {{field}} placeholder",
                            r.path
                        )));
                    }
                    if r.incremental.is_some() {
                        return Err(what("a child resource cannot be incremental".into()));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_paginators_are_refused() {
        let err = HttpConfig::from_toml(
            "base_url = \"http://x\"\n[[resources]]\nname = \"a\"\npath = \"a\"\nrecord = \"data\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `record`"), "{err}");
        let err = HttpConfig::from_toml(
            "base_url = \"http://x\"\n[[resources]]\nname = \"a\"\npath = \"a\"\npaginator = { type = \"pages\" }\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown variant `pages`"), "{err}");
    }

    #[test]
    fn secrets_come_from_the_environment_and_never_show() {
        // SAFETY of the test: the variable name is unique to this test.
        let name = "ETL_TEST_HTTP_SECRET_7f3a";
        let config = format!(
            "base_url = \"http://x\"\nauth = {{ type = \"bearer\", token = \"${{{name}}}\" }}\n[[resources]]\nname = \"a\"\npath = \"a\"\n"
        );
        let err = HttpConfig::from_toml(&config).unwrap_err();
        assert!(
            err.to_string().contains(&format!("{name} is not set")),
            "{err}"
        );
    }

    #[test]
    fn parents_and_placeholders_are_checked() {
        let config = HttpConfig::new("http://127.0.0.1:1")
            .with_resource(Resource::new("orders", "users/{id}/orders"));
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("has placeholders but no parent fills them"),
            "{err}"
        );
        let config = HttpConfig::new("http://127.0.0.1:1")
            .with_resource(Resource::new("users", "users"))
            .with_resource(Resource::new("orders", "users/{id}/orders").with_parent("user"));
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("its parent \"user\" is not a resource"),
            "{err}"
        );
        assert_eq!(
            Resource::new("x", "a/{org}/b/{id}").placeholders(),
            ["org", "id"]
        );
        let config = HttpConfig::new("http://127.0.0.1:1")
            .with_resource(Resource::new("users", "users").with_incremental("updated_at", "since"));
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("needs a primary_key"), "{err}");
    }
}
