//! [`AirtableConfig`]: which base, with which token, and how to read it.

use std::collections::BTreeMap;
use std::fmt;

use etl_core::{Error, Result};
use serde::Deserialize;

pub use crate::net::{Limits, RetryPolicy};

/// Airtable's API address; [`AirtableConfig::api_url`] points elsewhere (a
/// local server in tests, a proxy).
pub const AIRTABLE_API_URL: &str = "https://api.airtable.com";

/// Airtable's limit per base is 5 requests per second.
pub const DEFAULT_REQUESTS_PER_SECOND: f64 = 5.0;

/// An Airtable personal access token. Its `Debug` and `Display` never show it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Token(String);

impl Token {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Token(token.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// How an [`AirtableExtractor`](super::AirtableExtractor) reads a base.
///
/// Built in Rust with the `with_*` methods, from the environment with
/// [`AirtableConfig::from_env`], or deserialized (unknown keys are an error):
///
/// ```
/// use etl_extractors::airtable::AirtableConfig;
///
/// let config: AirtableConfig = serde_json::from_str(r#"{
///     "token": "patXXXXXXXXXXXXXX.0123",
///     "base_id": "appAbCdEfGhIjKlMn",
///     "tables": ["Customers", "Orders"],
///     "snake_case": true
/// }"#).unwrap();
/// assert_eq!(config.base_id, "appAbCdEfGhIjKlMn");
/// assert!(!format!("{config:?}").contains("patXXX"));
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AirtableConfig {
    /// The personal access token (scopes `data.records:read` and `schema.bases:read`).
    pub token: Token,
    /// The base id, `app` and 14 letters or digits.
    pub base_id: String,
    /// Only these tables (by name or id); all of the base's tables when `None`.
    #[serde(default)]
    pub tables: Option<Vec<String>>,
    /// The API's address, [`AIRTABLE_API_URL`] by default.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Requests per second to the base, shared by all its tables; `None`
    /// turns the limiter off (for a local server). 5 by default.
    #[serde(default = "default_rate")]
    pub requests_per_second: Option<f64>,
    /// Table and column names in snake_case (`Order Lines` → `order_lines`)
    /// instead of as Airtable has them.
    #[serde(default)]
    pub snake_case: bool,
    /// A `filterByFormula` per table (by name or id), sent with every page request.
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
    /// Read tables incrementally: merge on `_airtable_id`, and after the
    /// first load read only records modified since the last one; see the
    /// [module docs](super#incremental-loads).
    #[serde(default)]
    pub incremental: bool,
    /// How requests are retried.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// How much of one answer is read, and how many pages of one table.
    #[serde(default)]
    pub limits: Limits,
}

/// Its fields, the token and the user and password of `api_url` left out.
impl fmt::Debug for AirtableConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AirtableConfig")
            .field("token", &self.token)
            .field("base_id", &self.base_id)
            .field("tables", &self.tables)
            .field("api_url", &etl_rules::text::without_userinfo(&self.api_url))
            .field("requests_per_second", &self.requests_per_second)
            .field("snake_case", &self.snake_case)
            .field("filters", &self.filters)
            .field("incremental", &self.incremental)
            .field("retry", &self.retry)
            .field("limits", &self.limits)
            .finish()
    }
}

fn default_api_url() -> String {
    AIRTABLE_API_URL.to_owned()
}

fn default_rate() -> Option<f64> {
    Some(DEFAULT_REQUESTS_PER_SECOND)
}

impl AirtableConfig {
    /// A config for `base_id` read with `token`, every other setting at its default.
    pub fn new(token: impl Into<String>, base_id: impl Into<String>) -> Self {
        AirtableConfig {
            token: Token::new(token),
            base_id: base_id.into(),
            tables: None,
            api_url: default_api_url(),
            requests_per_second: default_rate(),
            snake_case: false,
            filters: BTreeMap::new(),
            incremental: false,
            retry: RetryPolicy::default(),
            limits: Limits::default(),
        }
    }

    /// Reads `AIRTABLE_TOKEN` and `AIRTABLE_BASE_ID` (an error names the one
    /// missing); `AIRTABLE_API_URL` when it is set (a proxy, or a local
    /// server speaking Airtable's API; default [`AIRTABLE_API_URL`]); and
    /// `AIRTABLE_REQUESTS_PER_SECOND` when it is set: this machine's share of
    /// the base's 5 requests per second, when processes on several machines
    /// read one base (those of one machine share the budget by themselves).
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env), from the variables `get` gives.
    fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let optional = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let var =
            |name: &str| optional(name).ok_or_else(|| Error::Config(format!("{name} is not set")));
        let mut config = Self::new(var("AIRTABLE_TOKEN")?, var("AIRTABLE_BASE_ID")?);
        if let Some(url) = optional("AIRTABLE_API_URL") {
            config = config.with_api_url(url);
        }
        if let Some(rate) = optional("AIRTABLE_REQUESTS_PER_SECOND") {
            let parsed = rate
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "AIRTABLE_REQUESTS_PER_SECOND is {rate:?}: a number of requests per second above 0 (2.5 for half of the base's 5)"
                    ))
                })?;
            config = config.with_requests_per_second(Some(parsed));
        }
        Ok(config)
    }

    /// Only these tables, by name or id.
    pub fn with_tables<I, S>(mut self, tables: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tables = Some(tables.into_iter().map(Into::into).collect());
        self
    }

    /// Another API address (a local server, a proxy), without a trailing `/v0`.
    pub fn with_api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = url.into();
        self
    }

    /// Requests per second to the base; `None` turns the limiter off.
    pub fn with_requests_per_second(mut self, rate: Option<f64>) -> Self {
        self.requests_per_second = rate;
        self
    }

    /// snake_case table and column names.
    pub fn with_snake_case(mut self, snake_case: bool) -> Self {
        self.snake_case = snake_case;
        self
    }

    /// Reads only the records of `table` (name or id) for which `formula` is true.
    pub fn with_filter(mut self, table: impl Into<String>, formula: impl Into<String>) -> Self {
        self.filters.insert(table.into(), formula.into());
        self
    }

    /// Reads tables incrementally; see [`AirtableConfig::incremental`].
    pub fn with_incremental(mut self, incremental: bool) -> Self {
        self.incremental = incremental;
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

    /// Checks the config before any request: a token, a base id that looks
    /// like one, an http(s) URL, a positive rate.
    pub fn validate(&self) -> Result<()> {
        if self.token.expose().trim().is_empty() {
            return Err(Error::Config("the Airtable token is empty".into()));
        }
        let id = &self.base_id;
        if !(id.len() == 17
            && id.starts_with("app")
            && id.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(Error::Config(format!(
                "{id:?} is not an Airtable base id (\"app\" and 14 letters or digits, as in the base's URL)"
            )));
        }
        let url = self.api_url.trim_end_matches('/');
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(Error::Config(format!(
                "the Airtable API URL {url:?} is not an http(s) URL"
            )));
        }
        if let Some(rate) = self.requests_per_second
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(Error::Config(format!(
                "requests_per_second must be positive, not {rate}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_shows() {
        let config = AirtableConfig::new("patSECRET.123", "appAAAAAAAAAAAAAA");
        assert!(!format!("{config:?}").contains("SECRET"));
        assert!(!format!("{:?}", config.token).contains("SECRET"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = serde_json::from_str::<AirtableConfig>(
            r#"{"token": "t", "base_id": "appAAAAAAAAAAAAAA", "tabels": []}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `tabels`"), "{err}");
    }

    #[test]
    fn a_bad_base_id_is_named() {
        let err = AirtableConfig::new("t", "Sales base")
            .validate()
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("\"Sales base\" is not an Airtable base id")
        );
        AirtableConfig::new("t", "appAbCdEfGhIjKlMn")
            .validate()
            .unwrap();
    }

    #[test]
    fn retry_settings_read_as_milliseconds() {
        let config: AirtableConfig = serde_json::from_str(
            r#"{"token": "t", "base_id": "appAAAAAAAAAAAAAA", "retry": {"rate_limit_wait": 250}}"#,
        )
        .unwrap();
        assert_eq!(
            config.retry.rate_limit_wait,
            std::time::Duration::from_millis(250)
        );
        assert_eq!(config.retry.max_attempts, 6);
    }

    /// The variables `pairs`, as the environment would give them.
    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn the_environment_gives_a_machines_share_of_the_rate() {
        let token = ("AIRTABLE_TOKEN", "pat.secret");
        let base = ("AIRTABLE_BASE_ID", "appAAAAAAAAAAAAAA");
        let config = AirtableConfig::from_vars(env(&[token, base])).unwrap();
        assert_eq!(config.requests_per_second, Some(5.0));
        let half = ("AIRTABLE_REQUESTS_PER_SECOND", " 2.5 ");
        let config = AirtableConfig::from_vars(env(&[token, base, half])).unwrap();
        assert_eq!(config.requests_per_second, Some(2.5));
        for bad in ["0", "-1", "NaN", "inf", "fast"] {
            let rate = ("AIRTABLE_REQUESTS_PER_SECOND", bad);
            let err = AirtableConfig::from_vars(env(&[token, base, rate]))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("AIRTABLE_REQUESTS_PER_SECOND is {bad:?}")),
                "{err}"
            );
            assert!(!err.contains("pat.secret"), "{err}");
        }
        let err = AirtableConfig::from_vars(env(&[base]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("AIRTABLE_TOKEN is not set"), "{err}");
    }
}
