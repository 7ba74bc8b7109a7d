//! The text a workflow is configured with: durations (`"2m"`, `"1h30m"`,
//! `"500ms"`) and cron expressions (`"0 6 * * *"`).
//!
//! Standard library only: `etl-macros` compiles this same file (through
//! `#[path]`) so that `#[workflow(schedule = "…")]` and
//! `#[step(timeout = "…")]` are checked at compile time by exactly the rules
//! the runtime builder applies.

use std::time::Duration;

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

/// A parsed cron expression: five fields, minute, hour, day of month, month,
/// day of week (`0 6 * * *` is 06:00 every day), or six with seconds first
/// (`*/5 * * * * *` is every five seconds). Each field takes `*`, a number, a
/// range `a-b`, a step `*/n` or `a-b/n`, and lists of those (`1,15,30`);
/// months and days of week also take names (`JAN`, `MON`; Sunday is 0 or 7).
/// `@hourly`, `@daily` (`@midnight`), `@weekly`, `@monthly` and `@yearly`
/// (`@annually`) stand for their usual expressions. As in Vixie cron, when
/// both day of month and day of week are restricted, a day matching either
/// runs.
///
/// [`Cron::next_after`] finds the next time that matches, in wall-clock
/// (civil) time: which time zone that is, is the scheduler's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    /// Bit `n` set: second `n` matches (only bit 0 for five fields).
    pub(crate) seconds: u64,
    /// Bit `n` set: minute `n` matches.
    pub(crate) minutes: u64,
    pub(crate) hours: u64,
    pub(crate) days_of_month: u64,
    pub(crate) months: u64,
    /// Sunday is bit 0.
    pub(crate) days_of_week: u64,
    pub(crate) dom_restricted: bool,
    pub(crate) dow_restricted: bool,
}

struct FieldRule {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const SECONDS: FieldRule = FieldRule {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
};

const FIELDS: [FieldRule; 5] = [
    FieldRule {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    FieldRule {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    FieldRule {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    FieldRule {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ],
    },
    FieldRule {
        name: "day of week",
        min: 0,
        max: 7,
        names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    },
];

/// A wall-clock date and time, to the second, in no particular time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilTime {
    /// The year.
    pub year: i32,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
    /// 0 to 23.
    pub hour: u32,
    /// 0 to 59.
    pub minute: u32,
    /// 0 to 59.
    pub second: u32,
}

impl CivilTime {
    /// Midnight at the start of the given day.
    pub fn date(year: i32, month: u32, day: u32) -> CivilTime {
        CivilTime {
            year,
            month,
            day,
            hour: 0,
            minute: 0,
            second: 0,
        }
    }

    /// The same day at `hour:minute:second`.
    pub fn at(self, hour: u32, minute: u32, second: u32) -> CivilTime {
        CivilTime {
            hour,
            minute,
            second,
            ..self
        }
    }

    /// Days since 1970-01-01 (negative before).
    fn days(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The day `days` after 1970-01-01, at midnight.
    fn from_days(days: i64) -> CivilTime {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        CivilTime::date(year, month, day)
    }

    /// Seconds since 1970-01-01 00:00:00, reading this time as UTC.
    pub fn to_unix_seconds(self) -> i64 {
        self.days() * 86_400
            + i64::from(self.hour) * 3_600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// The UTC time `seconds` after 1970-01-01 00:00:00.
    pub fn from_unix_seconds(seconds: i64) -> CivilTime {
        let in_day = seconds.rem_euclid(86_400) as u32;
        CivilTime::from_days(seconds.div_euclid(86_400)).at(
            in_day / 3_600,
            in_day % 3_600 / 60,
            in_day % 60,
        )
    }

    /// 0 for Sunday to 6 for Saturday.
    fn weekday(self) -> u32 {
        // 1970-01-01 was a Thursday.
        (self.days() + 4).rem_euclid(7) as u32
    }
}

impl std::fmt::Display for CivilTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

impl Cron {
    /// Parses `text`; the error says which field is wrong and why.
    pub fn parse(text: &str) -> Result<Cron, String> {
        let expanded = match text.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => {
                return Err(format!(
                    "cron {text:?}: unknown shorthand {other:?}; use @hourly, @daily, @weekly, @monthly or @yearly"
                ));
            }
            other => other,
        };
        let mut parts: Vec<&str> = expanded.split_whitespace().collect();
        let seconds = match parts.len() {
            5 => 1,
            6 => {
                parse_field(parts.remove(0), &SECONDS).map_err(|e| format!("cron {text:?}: {e}"))?
            }
            n => {
                return Err(format!(
                    "cron {text:?}: expected 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first, found {n}"
                ));
            }
        };
        let mut sets = [0u64; 5];
        for (i, (part, rule)) in parts.iter().zip(&FIELDS).enumerate() {
            sets[i] = parse_field(part, rule).map_err(|e| format!("cron {text:?}: {e}"))?;
        }
        // Sunday is 0 or 7.
        if sets[4] & (1 << 7) != 0 {
            sets[4] = (sets[4] | 1) & !(1 << 7);
        }
        let cron = Cron {
            seconds,
            minutes: sets[0],
            hours: sets[1],
            days_of_month: sets[2],
            months: sets[3],
            days_of_week: sets[4],
            dom_restricted: !parts[2].starts_with('*'),
            dow_restricted: !parts[4].starts_with('*'),
        };
        if cron.next_after(CivilTime::date(2000, 1, 1)).is_none() {
            return Err(format!(
                "cron {text:?}: no date ever matches (day {} of a month that never has it)",
                parts[2]
            ));
        }
        Ok(cron)
    }

    /// Whether the schedule runs at most once a minute, at second 0: what a
    /// five-field expression means, and all that schedulers such as Airflow take.
    pub fn is_minutely(&self) -> bool {
        self.seconds == 1
    }

    /// The first time strictly after `after` that matches, or `None` if none
    /// does in the next 28 years (a schedule that can never run is refused by
    /// [`Cron::parse`]).
    pub fn next_after(&self, after: CivilTime) -> Option<CivilTime> {
        let has = |set: u64, v: u32| set & (1 << v) != 0;
        let first_day = after.days();
        // The Gregorian calendar repeats every 400 years; within 28 years
        // every day of every month meets every weekday, leap days included.
        for offset in 0..28 * 366 {
            let day = CivilTime::from_days(first_day + offset);
            if !has(self.months, day.month) || !self.day_matches(day) {
                continue;
            }
            let (from_h, from_m, from_s) = if offset == 0 {
                (after.hour, after.minute, after.second + 1)
            } else {
                (0, 0, 0)
            };
            for hour in from_h..24 {
                if !has(self.hours, hour) {
                    continue;
                }
                let minute_start = if hour == from_h { from_m } else { 0 };
                for minute in minute_start..60 {
                    if !has(self.minutes, minute) {
                        continue;
                    }
                    let second_start = if hour == from_h && minute == from_m {
                        from_s
                    } else {
                        0
                    };
                    if let Some(second) = (second_start..60).find(|&s| has(self.seconds, s)) {
                        return Some(day.at(hour, minute, second));
                    }
                }
            }
        }
        None
    }

    fn day_matches(&self, day: CivilTime) -> bool {
        let dom = self.days_of_month & (1 << day.day) != 0;
        let dow = self.days_of_week & (1 << day.weekday()) != 0;
        match (self.dom_restricted, self.dow_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }
}

fn parse_field(text: &str, rule: &FieldRule) -> Result<u64, String> {
    let mut set = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().map_err(|_| {
                    format!(
                        "{} field {text:?}: step {step:?} is not a number",
                        rule.name
                    )
                })?;
                if step == 0 {
                    return Err(format!("{} field {text:?}: a step of 0", rule.name));
                }
                (range, step)
            }
            None => (item, 1),
        };
        let (low, high) = if range == "*" {
            (rule.min, rule.max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, text, rule)?, value(b, text, rule)?)
        } else {
            let v = value(range, text, rule)?;
            // `5/15` means from 5 to the end, every 15.
            (v, if step > 1 { rule.max } else { v })
        };
        if low > high {
            return Err(format!(
                "{} field {text:?}: range {low}-{high} runs backwards",
                rule.name
            ));
        }
        for v in (low..=high).step_by(step as usize) {
            set |= 1 << v;
        }
    }
    Ok(set)
}

fn value(text: &str, field: &str, rule: &FieldRule) -> Result<u32, String> {
    let upper = text.to_ascii_uppercase();
    if let Some(i) = rule.names.iter().position(|n| *n == upper) {
        return Ok(i as u32 + if rule.min == 1 { 1 } else { 0 });
    }
    let v: u32 = text.parse().map_err(|_| {
        let names = if rule.names.is_empty() {
            String::new()
        } else {
            format!(" or a name ({})", rule.names.join(", "))
        };
        format!(
            "{} field {field:?}: {text:?} is not a number{names}",
            rule.name
        )
    })?;
    if v < rule.min || v > rule.max {
        return Err(format!(
            "{} field {field:?}: {v} is out of range {}-{}",
            rule.name, rule.min, rule.max
        ));
    }
    Ok(v)
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
    fn cron_fields_parse() {
        let c = Cron::parse("0 6 * * *").unwrap();
        assert_eq!((c.minutes, c.hours), (1, 1 << 6));
        assert_eq!(c.days_of_week, 0b111_1111);
        assert!(!c.dom_restricted && !c.dow_restricted);

        let c = Cron::parse("*/15 9-17 1,15 JAN-mar mon-FRI").unwrap();
        assert_eq!(c.minutes, 1 | 1 << 15 | 1 << 30 | 1 << 45);
        assert_eq!(c.hours, ((1u64 << 18) - 1) & !((1 << 9) - 1));
        assert_eq!(c.days_of_month, 1 << 1 | 1 << 15);
        assert_eq!(c.months, 1 << 1 | 1 << 2 | 1 << 3);
        assert_eq!(c.days_of_week, 0b011_1110);
        assert!(c.dom_restricted && c.dow_restricted);

        assert_eq!(Cron::parse("0 0 * * 7").unwrap().days_of_week, 1);
        assert_eq!(Cron::parse("@daily"), Cron::parse("0 0 * * *"));
        assert_eq!(
            Cron::parse("5/20 * * * *").unwrap().minutes,
            1 << 5 | 1 << 25 | 1 << 45
        );
    }

    fn t(text: &str) -> CivilTime {
        let (date, time) = text.split_once(' ').unwrap();
        let d: Vec<u32> = date.split('-').map(|p| p.parse().unwrap()).collect();
        let h: Vec<u32> = time.split(':').map(|p| p.parse().unwrap()).collect();
        CivilTime::date(d[0] as i32, d[1], d[2]).at(h[0], h[1], h[2])
    }

    fn next(cron: &str, after: &str) -> String {
        Cron::parse(cron)
            .unwrap()
            .next_after(t(after))
            .unwrap()
            .to_string()
    }

    #[test]
    fn civil_days_round_trip_and_know_their_weekday() {
        for (date, days, weekday) in [
            ((1970, 1, 1), 0, 4),
            ((2000, 2, 29), 11_016, 2),
            ((2024, 3, 1), 19_783, 5),
            ((1969, 12, 31), -1, 3),
            ((2100, 3, 1), 47_541, 1),
        ] {
            let c = CivilTime::date(date.0, date.1, date.2);
            assert_eq!(c.days(), days, "{c}");
            assert_eq!(CivilTime::from_days(days), c);
            assert_eq!(c.weekday(), weekday, "{c}");
        }
        let t = CivilTime::date(2026, 11, 23).at(16, 50, 7);
        assert_eq!(t.to_unix_seconds(), 1_795_452_607);
        assert_eq!(CivilTime::from_unix_seconds(1_795_452_607), t);
        assert_eq!(
            CivilTime::from_unix_seconds(-1),
            CivilTime::date(1969, 12, 31).at(23, 59, 59)
        );
    }

    #[test]
    fn next_after_finds_the_next_match() {
        assert_eq!(
            next("0 6 * * *", "2024-03-01 05:59:59"),
            "2024-03-01 06:00:00"
        );
        assert_eq!(
            next("0 6 * * *", "2024-03-01 06:00:00"),
            "2024-03-02 06:00:00"
        );
        assert_eq!(
            next("*/15 * * * *", "2024-03-01 10:07:30"),
            "2024-03-01 10:15:00"
        );
        assert_eq!(
            next("@hourly", "2024-12-31 23:00:00"),
            "2025-01-01 00:00:00"
        );
        // Seconds: every second, and every 5.
        assert_eq!(
            next("* * * * * *", "2024-03-01 10:00:59"),
            "2024-03-01 10:01:00"
        );
        assert_eq!(
            next("*/5 * * * * *", "2024-03-01 10:00:01"),
            "2024-03-01 10:00:05"
        );
        assert_eq!(
            next("30 0 12 * * *", "2024-03-01 12:00:30"),
            "2024-03-02 12:00:30"
        );
        // Leap days, months without a 31st, weekdays.
        assert_eq!(
            next("0 0 29 2 *", "2024-03-01 00:00:00"),
            "2028-02-29 00:00:00"
        );
        assert_eq!(
            next("0 0 31 * *", "2024-04-01 00:00:00"),
            "2024-05-31 00:00:00"
        );
        assert_eq!(
            next("0 9 * * MON", "2024-03-01 09:00:00"),
            "2024-03-04 09:00:00"
        );
        // Day of month and day of week both restricted: either matches.
        assert_eq!(
            next("0 0 13 * FRI", "2024-03-09 00:00:00"),
            "2024-03-13 00:00:00"
        );
        assert_eq!(
            next("0 0 13 * FRI", "2024-03-13 00:00:00"),
            "2024-03-15 00:00:00"
        );
        assert_eq!(
            next("0 0 29 2 *", "2028-02-29 00:00:00"),
            "2032-02-29 00:00:00"
        );
        // Across the turn of a century that is not a leap year.
        assert_eq!(
            next("0 0 29 2 *", "2096-03-01 00:00:00"),
            "2104-02-29 00:00:00"
        );
        assert!(Cron::parse("0 0 * * *").unwrap().is_minutely());
        assert!(!Cron::parse("*/5 * * * * *").unwrap().is_minutely());
        assert!(Cron::parse("0 0 0 * * *").unwrap().is_minutely());
    }

    #[test]
    fn bad_cron_says_which_field() {
        let cases = [
            ("0 6 * *", "expected 5 fields"),
            ("0 25 * * *", "hour field \"25\": 25 is out of range 0-23"),
            ("61 * * * *", "minute field"),
            (
                "* * 0 * *",
                "day of month field \"0\": 0 is out of range 1-31",
            ),
            (
                "* * * FOO *",
                "month field \"FOO\": \"FOO\" is not a number or a name",
            ),
            ("*/0 * * * *", "a step of 0"),
            ("* 9-5 * * *", "runs backwards"),
            ("@often", "unknown shorthand"),
            (
                "60 * * * * *",
                "second field \"60\": 60 is out of range 0-59",
            ),
            ("* * * * * * *", "or 6 with seconds first, found 7"),
            ("0 0 31 2 *", "no date ever matches"),
        ];
        for (text, expected) in cases {
            let err = Cron::parse(text).unwrap_err();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }
}
