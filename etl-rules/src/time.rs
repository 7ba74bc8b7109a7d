//! The one timestamp format of etl's own records (`_etl_loads` and
//! `_etl_state` in every warehouse, the runs and steps of the state store):
//! UTC, RFC 3339 to the microsecond (`2026-11-23T16:50:07.123456Z`), which
//! sorts as text. On chrono's calendar (feature `chrono`).
//!
//! ```
//! use etl_rules::time;
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! let t = UNIX_EPOCH + Duration::from_micros(1_795_452_607_123_456);
//! assert_eq!(time::format(t), "2026-11-23T16:50:07.123456Z");
//! assert_eq!(time::parse("2026-11-23T16:50:07.123456Z"), Some(t));
//! ```

use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};

/// `t` in the one format.
pub fn format(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `micros` after the Unix epoch in the one format.
pub fn format_micros(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The time RFC 3339 text stands for (the one format, or any other RFC 3339
/// text such as what older versions wrote, to the millisecond); `None` for
/// anything else.
pub fn parse(text: &str) -> Option<SystemTime> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn times_round_trip_and_sort_as_text() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_452_607_123_456);
        assert_eq!(parse(&format(t)), Some(t));
        assert_eq!(format_micros(1_795_452_607_123_456), format(t));
        let before = UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!(format(before), "1969-12-31T23:59:58.500000Z");
        assert_eq!(parse(&format(before)), Some(before));
        assert!(format(t) > format(t - Duration::from_micros(1)));
        // What the state store wrote before: milliseconds.
        assert_eq!(
            parse("2026-11-23T16:50:07.123Z"),
            Some(UNIX_EPOCH + Duration::from_millis(1_795_452_607_123))
        );
        assert_eq!(parse("2026-11-23 16:50:07"), None);
    }
}
