//! Times as the state store writes them: UTC, ISO 8601 to the millisecond
//! (`2026-11-23T16:50:07.123Z`), which sort as text.

use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};

/// `t` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn to_text(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The time [`to_text`] wrote; `None` for other text.
pub fn from_text(text: &str) -> Option<SystemTime> {
    if text.len() != 24 || !text.ends_with('Z') {
        return None;
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn times_round_trip_as_sortable_text() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_452_607_123);
        assert_eq!(to_text(t), "2026-11-23T16:50:07.123Z");
        assert_eq!(from_text("2026-11-23T16:50:07.123Z"), Some(t));
        let before = UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!(to_text(before), "1969-12-31T23:59:58.500Z");
        assert_eq!(from_text(&to_text(before)), Some(before));
        assert!(to_text(t) > to_text(t - Duration::from_millis(1)));
        assert_eq!(from_text("2026-11-23 16:50:07"), None);
    }
}
