//! Durations as workflows write them: `500ms`, `90s`, `1h30m`, `2d`.

use std::time::Duration;

/// A duration as [`parse_duration`] reads it: `500ms`, `90s` → `1m30s`, `1h30m`, `2d`.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// Parses a duration: one or more `<number><unit>` parts, units `ms`, `s`,
/// `m`, `h`, `d` (`"90s"`, `"2m"`, `"1h30m"`, `"250ms"`). Zero is refused: a
/// timeout or delay of nothing is a mistake.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("a duration is empty; write e.g. \"30s\", \"2m\", \"1h30m\"".into());
    }
    let mut total: u128 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "duration {text:?}: expected a number at {rest:?}; write e.g. \"30s\", \"2m\", \"1h30m\""
            ));
        }
        let number: u128 = rest[..digits]
            .parse()
            .map_err(|_| format!("duration {text:?}: {} is too large", &rest[..digits]))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let millis_per_unit: u128 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                return Err(format!(
                    "duration {text:?}: {number} has no unit; add ms, s, m, h or d"
                ));
            }
            other => {
                return Err(format!(
                    "duration {text:?}: unknown unit {other:?}; use ms, s, m, h or d"
                ));
            }
        };
        rest = &rest[unit_len..];
        total = total
            .checked_add(number.saturating_mul(millis_per_unit))
            .filter(|t| *t <= u128::from(u64::MAX))
            .ok_or_else(|| format!("duration {text:?} is too large"))?;
    }
    if total == 0 {
        return Err(format!("duration {text:?} is zero"));
    }
    Ok(Duration::from_millis(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_add_up() {
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration(" 250ms "), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        for bad in [
            "",
            "2",
            "m",
            "2x",
            "0s",
            "1.5s",
            "-1s",
            "99999999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(
            parse_duration("2x")
                .unwrap_err()
                .contains("unknown unit \"x\"")
        );
    }
}
