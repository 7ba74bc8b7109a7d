//! How long to wait before a retry: [`Backoff`], and the [`jitter`] that
//! spreads retries out. Steps of a workflow and the HTTP and Airtable
//! clients retry with the same two.

use std::time::Duration;

use crate::duration::{format_duration, parse_duration};

/// How long to wait before retrying a failed step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backoff {
    /// Retry at once.
    None,
    /// The same delay before every retry.
    Fixed(Duration),
    /// `initial`, doubling each retry up to `max`.
    Exponential {
        /// The delay before the first retry.
        initial: Duration,
        /// The longest delay.
        max: Duration,
    },
}

impl Default for Backoff {
    /// Exponential from 1 s up to 1 min.
    fn default() -> Self {
        Backoff::Exponential {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// Parses `"none"`, `"fixed"`, `"exponential"`, optionally followed by the
    /// (first) delay: `"fixed 5s"`, `"exponential 200ms"`. Without a delay,
    /// 1 s; exponential stops growing at 1 min (or at the first delay, if larger).
    pub fn parse(text: &str) -> std::result::Result<Backoff, String> {
        let mut words = text.split_whitespace();
        let kind = words.next().unwrap_or_default();
        let delay = match words.next() {
            Some(d) => parse_duration(d)?,
            None => Duration::from_secs(1),
        };
        if let Some(extra) = words.next() {
            return Err(format!("backoff {text:?}: unexpected {extra:?}"));
        }
        match kind {
            "none" if text.split_whitespace().count() == 1 => Ok(Backoff::None),
            "fixed" => Ok(Backoff::Fixed(delay)),
            "exponential" => Ok(Backoff::Exponential {
                initial: delay,
                max: delay.max(Duration::from_secs(60)),
            }),
            _ => Err(format!(
                "backoff {text:?}: expected \"none\", \"fixed [delay]\" or \"exponential [first delay]\""
            )),
        }
    }

    /// The delay before retry number `retry` (1 for the first), before jitter.
    pub fn delay(&self, retry: u32) -> Duration {
        match *self {
            Backoff::None => Duration::ZERO,
            Backoff::Fixed(d) => d,
            Backoff::Exponential { initial, max } => initial
                .saturating_mul(2_u32.saturating_pow(retry.saturating_sub(1)))
                .min(max),
        }
    }
}

/// `none`, `fixed 5s`, `exponential 1s` (up to 1m): what [`Backoff::parse`] reads.
impl std::fmt::Display for Backoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Backoff::None => f.write_str("none"),
            Backoff::Fixed(d) => write!(f, "fixed {}", format_duration(d)),
            Backoff::Exponential { initial, max } => write!(
                f,
                "exponential {} (up to {})",
                format_duration(initial),
                format_duration(max)
            ),
        }
    }
}

/// Between half and all of `delay`, at random, so that the retries of many
/// steps or requests that failed together do not all come back at once.
pub fn jitter(delay: Duration) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    if delay.is_zero() {
        return delay;
    }
    let random = RandomState::new().hash_one(std::time::Instant::now());
    let fraction = 0.5 + (random % 1_000) as f64 / 2_000.0;
    delay.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_backoffs_print_as_they_parse() {
        for text in ["500ms", "1m30s", "1h30m", "2d", "1s250ms"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
        assert_eq!(Backoff::parse("fixed 5s").unwrap().to_string(), "fixed 5s");
        assert_eq!(Backoff::parse("none").unwrap().to_string(), "none");
        assert_eq!(Backoff::default().to_string(), "exponential 1s (up to 1m)");
    }

    #[test]
    fn jitter_keeps_between_half_and_all() {
        let delay = Duration::from_secs(10);
        for _ in 0..200 {
            let j = jitter(delay);
            assert!(j >= delay / 2 && j <= delay, "{j:?}");
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
