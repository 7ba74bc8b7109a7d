//! What the web extractors share: the retry policy, the rate limiter, and
//! sending a request with both.

use std::hash::{BuildHasher, Hasher};
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
    /// How long one request may take.
    #[serde(with = "millis")]
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            rate_limit_wait: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
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
/// `retry` says: a `429` waits `Retry-After` (or the policy's wait) and
/// holds back every request through `limiter`; a `5xx` or a network error
/// backs off exponentially with jitter; any other status fails at once.
/// `describe` turns an error answer into a message; errors name `what`.
pub(crate) async fn send<B, D>(
    limiter: &RateLimiter,
    retry: &RetryPolicy,
    what: &str,
    build: B,
    describe: D,
) -> Result<Answer>
where
    B: Fn() -> RequestBuilder,
    D: Fn(StatusCode, &[u8]) -> String,
{
    let mut backoff = retry.initial_backoff;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last = attempt >= retry.max_attempts;
        limiter.acquire().await;
        let (status, wait, failure) = match build().send().await {
            Ok(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                let retry_after = retry_after(&headers);
                match response.bytes().await {
                    Ok(body) if status.is_success() => return Ok(Answer { headers, body }),
                    Ok(body) => (Some(status), retry_after, describe(status, &body)),
                    Err(e) => (None, None, format!("reading the answer: {}", strip_url(&e))),
                }
            }
            Err(e) => (None, None, network_message(&e)),
        };
        let retryable = match status {
            None => true,
            Some(s) => s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error(),
        };
        if !retryable || last {
            return Err(Error::Remote {
                what: what.to_owned(),
                status: status.map(|s| s.as_u16()),
                message: if retryable {
                    format!("{failure} (gave up after {attempt} attempts)")
                } else {
                    failure
                },
                retryable,
            });
        }
        if status == Some(StatusCode::TOO_MANY_REQUESTS) {
            limiter.pause(wait.unwrap_or(retry.rate_limit_wait)).await;
        } else {
            tokio::time::sleep(jitter(backoff)).await;
            backoff = (backoff * 2).min(retry.max_backoff);
        }
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
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

/// A random wait between half of `backoff` and all of it.
fn jitter(backoff: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let fraction = 0.5 + (random % 1000) as f64 / 2000.0;
    backoff.mul_f64(fraction)
}

/// Spaces request starts at least `1 / rate` seconds apart, and holds every
/// request back during a pause a `429` asked for. One per base, shared by
/// all its tables' streams.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

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
        }
    }

    /// Waits for this request's turn.
    pub(crate) async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// Holds every request back for `wait` from now.
    pub(crate) async fn pause(&self, wait: Duration) {
        let mut next = self.next.lock().await;
        *next = (*next).max(Instant::now() + wait);
    }
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

    #[test]
    fn jitter_stays_between_half_and_all() {
        for _ in 0..100 {
            let d = jitter(Duration::from_millis(1000));
            assert!(d >= Duration::from_millis(500) && d <= Duration::from_millis(1000));
        }
    }
}
