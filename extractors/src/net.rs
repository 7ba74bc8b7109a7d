//! What the web extractors share: the retry policy, the rate limiter, and
//! sending a request with both.

use etl_rules::{Backoff, jitter};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use etl_core::{Error, Result};
use reqwest::header::{DATE, HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How failed requests are retried: a `429` waits `Retry-After` (or
/// [`RetryPolicy::rate_limit_wait`], 30 s as Airtable asks) and tries again; a `5xx`
/// or a network error backs off exponentially with jitter, from
/// [`RetryPolicy::initial_backoff`] up to [`RetryPolicy::max_backoff`].
/// Any other error status fails at once.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Tries per request, the first included, before the error is returned.
    pub max_attempts: u32,
    /// The first backoff after a server or network error.
    #[serde(with = "millis")]
    pub initial_backoff: Duration,
    /// The longest backoff.
    #[serde(with = "millis")]
    pub max_backoff: Duration,
    /// The wait after a `429` that carries no `Retry-After`.
    #[serde(with = "millis")]
    pub rate_limit_wait: Duration,
    /// How long one request may take, its whole answer read.
    #[serde(with = "millis")]
    pub request_timeout: Duration,
    /// The longest wait a `Retry-After` may ask for (2 minutes by default);
    /// a server asking more fails the request at once, saying so, instead
    /// of holding every request back.
    #[serde(with = "millis")]
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            rate_limit_wait: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Sets the tries per request (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the first and the longest backoff.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// Sets the wait after a `429` without `Retry-After`.
    pub fn with_rate_limit_wait(mut self, wait: Duration) -> Self {
        self.rate_limit_wait = wait;
        self
    }

    /// Sets how long one request may take.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the longest wait a `Retry-After` may ask for.
    pub fn with_max_retry_after(mut self, wait: Duration) -> Self {
        self.max_retry_after = wait;
        self
    }
}

/// Bounds on what a server can make the extractor do: how much of one
/// answer is read, and how many pages of one table. Going past one fails
/// the table with an error naming the bound, instead of growing memory or
/// paging for ever.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct Limits {
    /// The largest answer read, in bytes (64 MiB by default).
    pub max_response_bytes: u64,
    /// The most pages read of one table, or of one parent record's child
    /// resource (100,000 by default).
    pub max_pages: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_response_bytes: 64 << 20,
            max_pages: 100_000,
        }
    }
}

impl Limits {
    /// Sets the largest answer read, in bytes.
    pub fn with_max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Sets the most pages read of one table.
    pub fn with_max_pages(mut self, pages: u64) -> Self {
        self.max_pages = pages.max(1);
        self
    }

    /// The error for a table that went past [`Limits::max_pages`].
    pub(crate) fn too_many_pages(&self, what: &str) -> Error {
        Error::Remote {
            what: what.to_owned(),
            status: None,
            message: format!(
                "more than {} pages (the max_pages limit): the pagination does not end, \
                 or the limit is too low for this table",
                self.max_pages
            ),
            retryable: false,
        }
    }
}

/// The most characters of a server's error text kept in an error message.
const MAX_SERVER_TEXT: usize = 300;

/// The most characters of a whole error message built around a server's
/// text (each `describe` keeps at most [`MAX_SERVER_TEXT`] of it), so that
/// our own hints after it ("check AIRTABLE_TOKEN") are never cut off.
const MAX_MESSAGE: usize = 1_000;

/// Text a server sent, made safe to print and to store: each `secret` (a
/// token a proxy echoed back) replaced by `***`, control characters (ANSI
/// escapes, carriage returns) written as escapes, and at most 300 characters.
pub(crate) fn sanitize(text: &str, secrets: &[&str]) -> String {
    sanitize_to(text, secrets, MAX_SERVER_TEXT)
}

/// [`sanitize`], keeping at most `max` characters.
fn sanitize_to(text: &str, secrets: &[&str], max: usize) -> String {
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        text = text.replace(secret, "***");
    }
    let mut out = String::with_capacity(text.len().min(max + 4));
    for (kept, c) in text.chars().enumerate() {
        if kept == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The forms a credential can take on the wire: itself, and for HTTP basic
/// the base64 of `user:password`, which a server may echo in an error.
pub(crate) fn basic_credentials(username: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{username}:{password}");
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0_u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Whether `url` is at `origin`'s scheme, host and port.
pub(crate) fn same_origin(url: &reqwest::Url, origin: &reqwest::Url) -> bool {
    url.scheme() == origin.scheme()
        && url.host_str().map(str::to_ascii_lowercase)
            == origin.host_str().map(str::to_ascii_lowercase)
        && url.port_or_known_default() == origin.port_or_known_default()
}

/// An origin as `scheme://host:port`, the port written even when it is the
/// scheme's default: it can be the only part of two origins that differs.
pub(crate) fn origin_text(url: &reqwest::Url) -> String {
    let port = url
        .port_or_known_default()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    format!("{}://{}{port}", url.scheme(), url.host_str().unwrap_or(""))
}

/// A redirect policy that follows redirects within the origins `allowed`
/// says, at most 10, and stops at any other: a redirect must not carry the
/// request's credentials (a header, a query key) to another host, or from
/// `https` to `http`. A refused redirect is final: [`send`] does not retry
/// it. `configured` names the origin the credentials belong to, in its
/// message.
pub(crate) fn redirect_policy<F>(configured: String, allowed: F) -> reqwest::redirect::Policy
where
    F: Fn(&reqwest::Url) -> bool + Send + Sync + 'static,
{
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 10 {
            attempt.error("more than 10 redirects")
        } else if allowed(attempt.url()) {
            attempt.follow()
        } else {
            let to = origin_text(attempt.url());
            attempt.error(format!(
                "a redirect to {to}, another origin than the configured {configured}, was not \
                 followed (the request's credentials go to the configured origin only)"
            ))
        }
    })
}

mod millis {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// A `2xx` answer: its headers and body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    /// When the server answered, by its own clock (the `Date` header).
    pub(crate) fn date(&self) -> Option<DateTime<Utc>> {
        let value = self.headers.get(DATE)?.to_str().ok()?;
        Some(
            DateTime::parse_from_rfc2822(value)
                .ok()?
                .with_timezone(&Utc),
        )
    }
}

/// Sends the request `build` makes, waiting for `limiter`, retrying as
/// `retry` says: a `429` waits `Retry-After` (or the policy's wait, and
/// fails at once past [`RetryPolicy::max_retry_after`]) and holds back
/// every request through `limiter`; a `5xx` or a network error backs off
/// exponentially with jitter; any other status fails at once. An answer
/// past [`Limits::max_response_bytes`] fails at once. `describe` turns an
/// error answer into a message, keeping at most 300 characters of the
/// server's text, and the message is [`sanitize`]d of `secrets`; errors
/// name `what`.
pub(crate) async fn send<B, D>(
    limiter: &RateLimiter,
    retry: &RetryPolicy,
    limits: &Limits,
    what: &str,
    secrets: &[&str],
    build: B,
    describe: D,
) -> Result<Answer>
where
    B: Fn() -> RequestBuilder,
    D: Fn(StatusCode, &[u8]) -> String,
{
    // The backoff a step of a workflow has too: doubling, capped.
    let backoff = Backoff::Exponential {
        initial: retry.initial_backoff,
        max: retry.max_backoff.max(retry.initial_backoff),
    };
    let mut attempt = 0;
    let remote = |status: Option<StatusCode>, message: String, retryable: bool| Error::Remote {
        what: what.to_owned(),
        status: status.map(|s| s.as_u16()),
        // `describe` bounds the server's part; this, the message around it.
        message: sanitize_to(&message, secrets, MAX_MESSAGE),
        retryable,
    };
    loop {
        attempt += 1;
        let last = attempt >= retry.max_attempts;
        limiter.acquire().await;
        let (status, wait, failure) = match build().send().await {
            Ok(mut response) => {
                let status = response.status();
                let headers = response.headers().clone();
                if status.is_success() {
                    match read_body(&mut response, limits.max_response_bytes).await {
                        Ok(body) => return Ok(Answer { headers, body }),
                        Err(BodyError::TooLarge) => {
                            return Err(remote(
                                Some(status),
                                format!(
                                    "the answer is larger than {} bytes (the max_response_bytes \
                                     limit); nothing more of it was read",
                                    limits.max_response_bytes
                                ),
                                false,
                            ));
                        }
                        Err(BodyError::Read(e)) => {
                            (None, None, format!("reading the answer: {}", strip_url(&e)))
                        }
                    }
                } else {
                    // Only an answer that would be retried waits: a 404's
                    // Retry-After says nothing, and its own error is the one to tell.
                    let retried =
                        status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    let wait = match retry_after(&headers).filter(|_| retried) {
                        Some(wait) if wait > retry.max_retry_after => {
                            return Err(remote(
                                Some(status),
                                format!(
                                    "the server asks to wait {} s before trying again \
                                     (Retry-After), more than the {} s allowed \
                                     (RetryPolicy::max_retry_after)",
                                    wait.as_secs(),
                                    retry.max_retry_after.as_secs()
                                ),
                                false,
                            ));
                        }
                        wait => wait,
                    };
                    // Enough of an error answer to say what it is, no more.
                    let cap = limits.max_response_bytes.min(ERROR_BODY_BYTES);
                    let body = read_body_prefix(&mut response, cap).await;
                    (Some(status), wait, describe(status, &body))
                }
            }
            // A redirect refused by the policy is an answer, not a network
            // failure: trying again would be refused again.
            Err(e) if e.is_redirect() => {
                return Err(remote(None, network_message(&e), false));
            }
            Err(e) => (None, None, network_message(&e)),
        };
        let retryable = match status {
            None => true,
            Some(s) => s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error(),
        };
        if !retryable || last {
            let message = if retryable {
                format!("{failure} (gave up after {attempt} attempts)")
            } else {
                failure
            };
            return Err(remote(status, message, retryable));
        }
        if status == Some(StatusCode::TOO_MANY_REQUESTS) {
            let wait = wait
                .unwrap_or(retry.rate_limit_wait)
                .min(retry.max_retry_after);
            limiter.pause(wait).await;
        } else {
            tokio::time::sleep(jitter(backoff.delay(attempt))).await;
        }
    }
}

/// The most of an error answer's body read, to describe it.
const ERROR_BODY_BYTES: u64 = 64 << 10;

enum BodyError {
    TooLarge,
    Read(reqwest::Error),
}

/// The whole body, refused past `max` bytes (by `Content-Length` before
/// reading, or as it streams in, for an answer that does not say or lies).
async fn read_body(response: &mut reqwest::Response, max: u64) -> Result<Bytes, BodyError> {
    if response.content_length().is_some_and(|len| len > max) {
        return Err(BodyError::TooLarge);
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if (body.len() + chunk.len()) as u64 > max {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The first `max` bytes of the body, or what could be read of them.
async fn read_body_prefix(response: &mut reqwest::Response, max: u64) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = (max as usize).saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() as u64 >= max {
            break;
        }
    }
    body
}

/// `Retry-After` as seconds or as an HTTP date (RFC 9110), `None` when
/// absent or unreadable. Any number of seconds is taken: the caller compares
/// it with its limit before waiting.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - Utc::now()).to_std().unwrap_or_default())
}

fn network_message(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    // The URL holds no secret, but `without_url` keeps the message short.
    let mut message = format!("{kind}: {}", strip_url(e));
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    message
}

fn strip_url(e: &reqwest::Error) -> String {
    // `reqwest::Error` is not `Clone`; its text without the URL is enough.
    let text = e.to_string();
    match e.url() {
        Some(url) => text.replace(&format!(" for url ({url})"), ""),
        None => text,
    }
}

/// Spaces request starts at least `1 / rate` seconds apart, and holds every
/// request back during a pause a `429` asked for. One per base, shared by
/// all its tables' streams.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
    /// The file through which every process of this user on this machine
    /// that reads the same API shares the budget ([`RateLimiter::shared`]);
    /// `None`: this process alone.
    shared: Option<std::path::PathBuf>,
}

/// The longest any turn is waited for, or a pause held: a wait past what
/// the clock can hold (or a slot a corrupt shared file names) must not
/// hang a load for ever.
const MAX_WAIT: Duration = Duration::from_secs(86_400);

impl RateLimiter {
    pub(crate) fn new(requests_per_second: Option<f64>) -> Self {
        // 5 % under the rate, so that network jitter cannot put one request
        // too many into a one-second window on the server's clock.
        let interval = requests_per_second
            .map(|rate| Duration::from_nanos((1.05e9 / rate) as u64))
            .unwrap_or_default();
        RateLimiter {
            interval,
            next: Mutex::new(Instant::now()),
            shared: None,
        }
    }

    /// A limiter whose budget every process of this user on this machine
    /// reading `key` (an API and a base) shares: the tasks of an exported
    /// DAG, workers, a second `run`. The turns are kept in a file of
    /// [`shared_dir`] (`$ETL_RATE_LIMIT_DIR`, else `$XDG_RUNTIME_DIR`, else
    /// `~/.cache/etl`), locked for the moment each turn is taken. Without
    /// such a folder, or if the file cannot be used, the budget is this
    /// process's own, as [`RateLimiter::new`]'s.
    pub(crate) fn shared(requests_per_second: Option<f64>, key: &str) -> Self {
        let dir = requests_per_second.and(shared_dir());
        Self::shared_in(requests_per_second, key, dir.as_deref())
    }

    /// [`RateLimiter::shared`], its file in `dir`.
    pub(crate) fn shared_in(
        requests_per_second: Option<f64>,
        key: &str,
        dir: Option<&std::path::Path>,
    ) -> Self {
        let name: String = key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(200)
            .collect();
        RateLimiter {
            shared: dir.map(|d| d.join(name)),
            ..RateLimiter::new(requests_per_second)
        }
    }

    /// Waits for this request's turn.
    pub(crate) async fn acquire(&self) {
        if let Some(path) = &self.shared {
            let (path, interval) = (path.clone(), self.interval);
            // A file lock, held for a read and a write: off the async threads.
            let slot =
                tokio::task::spawn_blocking(move || shared_turn(&path, interval, None)).await;
            if let Ok(Ok(wait)) = slot {
                tokio::time::sleep(wait).await;
                return;
            }
        }
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// Holds every request back for `wait` from now (at most a day: a
    /// wait past what the clock can hold must not panic), in every process
    /// sharing the budget.
    pub(crate) async fn pause(&self, wait: Duration) {
        let wait = wait.min(MAX_WAIT);
        if let Some(path) = &self.shared {
            let path = path.clone();
            let _ =
                tokio::task::spawn_blocking(move || shared_turn(&path, Duration::ZERO, Some(wait)))
                    .await;
        }
        let mut next = self.next.lock().await;
        *next = (*next).max(Instant::now() + wait);
    }
}

/// Where shared budgets are kept: `$ETL_RATE_LIMIT_DIR`, else
/// `$XDG_RUNTIME_DIR/etl-rate-limits`, else `~/.cache/etl/rate-limits`;
/// made (private to this user) when missing. `None` when there is none.
pub(crate) fn shared_dir() -> Option<std::path::PathBuf> {
    let env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
    };
    let dir = env("ETL_RATE_LIMIT_DIR")
        .or_else(|| env("XDG_RUNTIME_DIR").map(|d| d.join("etl-rate-limits")))
        .or_else(|| env("HOME").map(|d| d.join(".cache/etl/rate-limits")))?;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir).ok()?;
    Some(dir)
}

/// Takes the next turn in the shared file at `path` (the next free slot, in
/// nanoseconds since the epoch, 8 bytes), moving it on by `interval`, or,
/// with `pause`, holds every turn back for that long from now; how long to
/// wait for the turn taken. The file is locked only meanwhile.
fn shared_turn(
    path: &std::path::Path,
    interval: Duration,
    pause: Option<Duration>,
) -> std::io::Result<Duration> {
    use std::io::{Read, Seek, Write};
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    file.lock()?;
    let mut bytes = [0_u8; 8];
    let next = match file.read_exact(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => 0,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let cap = now.saturating_add(MAX_WAIT.as_nanos() as u64);
    // A slot past a day from now (a clock set back, a file written by
    // something else) is not waited for.
    let next = if next > cap { now } else { next };
    let (slot, after) = match pause {
        Some(wait) => (now, next.max(now.saturating_add(wait.as_nanos() as u64))),
        None => {
            let slot = next.max(now);
            (slot, slot.saturating_add(interval.as_nanos() as u64))
        }
    };
    file.seek(std::io::SeekFrom::Start(0))?;
    file.write_all(&after.to_le_bytes())?;
    file.unlock()?;
    Ok(Duration::from_nanos(slot - now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_limiter_spaces_requests_and_honours_pauses() {
        let limiter = RateLimiter::new(Some(5.0));
        let start = Instant::now();
        for _ in 0..6 {
            limiter.acquire().await;
        }
        // Five intervals of 210 ms between six requests.
        assert_eq!(start.elapsed(), Duration::from_millis(1050));
        limiter.pause(Duration::from_secs(30)).await;
        let paused = Instant::now();
        limiter.acquire().await;
        assert_eq!(paused.elapsed(), Duration::from_secs(30));
    }

    /// Two limiters over one folder are two processes reading one base:
    /// together they keep to the one budget, pauses included.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn processes_reading_one_base_share_its_budget() {
        let dir = tempfile::tempdir().unwrap();
        let key = "airtable http://127.0.0.1:9 appAbCdEfGhIjKlMn";
        let [a, b] = [0, 1].map(|_| {
            std::sync::Arc::new(RateLimiter::shared_in(Some(20.0), key, Some(dir.path())))
        });
        let start = std::time::Instant::now();
        let each = |l: std::sync::Arc<RateLimiter>| async move {
            for _ in 0..5 {
                l.acquire().await;
            }
        };
        tokio::join!(each(a.clone()), each(b.clone()));
        // Ten turns of 52.5 ms: nine intervals, not four and a half.
        assert!(
            start.elapsed() >= Duration::from_millis(9 * 52),
            "{:?}",
            start.elapsed()
        );
        // A 429 seen by one holds the other back.
        a.pause(Duration::from_millis(400)).await;
        let paused = std::time::Instant::now();
        b.acquire().await;
        assert!(
            paused.elapsed() >= Duration::from_millis(390),
            "{:?}",
            paused.elapsed()
        );
        // Another base, another budget.
        let other = RateLimiter::shared_in(
            Some(20.0),
            "airtable http://127.0.0.1:9 appOther",
            Some(dir.path()),
        );
        let quick = std::time::Instant::now();
        other.acquire().await;
        assert!(quick.elapsed() < Duration::from_millis(300));
        // A file holding nonsense (a slot years away) is not waited for.
        std::fs::write(dir.path().join("junk"), u64::MAX.to_le_bytes()).unwrap();
        let junk = RateLimiter::shared_in(Some(20.0), "junk", Some(dir.path()));
        let quick = std::time::Instant::now();
        junk.acquire().await;
        assert!(quick.elapsed() < Duration::from_millis(300));
    }

    #[test]
    fn server_text_is_cut_escaped_and_rid_of_secrets() {
        let text = format!(
            "\u{1b}[31mdenied\u{1b}[0m for token sekrit-token\r\n{}",
            "x".repeat(1000)
        );
        let clean = sanitize(&text, &["sekrit-token", "ab"]);
        assert!(
            !clean.contains('\u{1b}') && !clean.contains('\r'),
            "{clean}"
        );
        assert!(
            clean.starts_with("\\u{1b}[31mdenied\\u{1b}[0m for token ***\\r\\n"),
            "{clean}"
        );
        assert!(
            clean.ends_with('…') && clean.chars().count() < 330,
            "{clean}"
        );
        assert_eq!(sanitize("short", &[]), "short");
    }

    #[test]
    fn basic_credentials_are_base64_as_sent() {
        assert_eq!(
            basic_credentials("Aladdin", "open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic_credentials("a", "b"), "YTpi");
        assert_eq!(basic_credentials("ab", "c"), "YWI6Yw==");
    }

    #[test]
    fn retry_after_takes_seconds_of_any_size_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "18446744073709551615".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(u64::MAX)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn jitter_stays_between_half_and_all() {
        for _ in 0..100 {
            let d = jitter(Duration::from_millis(1000));
            assert!(d >= Duration::from_millis(500) && d <= Duration::from_millis(1000));
        }
    }
}
