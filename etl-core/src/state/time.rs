//! Times as the state store writes them: UTC, ISO 8601 to the millisecond
//! (`2026-11-23T16:50:07.123Z`), which sort as text.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::dag::CivilTime;

/// `t` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn to_text(t: SystemTime) -> String {
    let (seconds, millis) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_millis()),
        Err(e) => {
            let d = e.duration();
            let ms = d.as_millis() as i64;
            ((-ms).div_euclid(1000), (-ms).rem_euclid(1000) as u32)
        }
    };
    let c = CivilTime::from_unix_seconds(seconds);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// The time [`to_text`] wrote; `None` for other text.
pub fn from_text(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 24 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[23] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<u32>().ok();
    let c = CivilTime::date(num(0..4)? as i32, num(5..7)?, num(8..10)?).at(
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let seconds = c.to_unix_seconds();
    let millis = Duration::from_millis(u64::from(num(20..23)?));
    if seconds >= 0 {
        Some(UNIX_EPOCH + Duration::from_secs(seconds as u64) + millis)
    } else {
        Some(UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs()) + millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
