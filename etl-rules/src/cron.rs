//! Cron expressions: [`Cron::parse`] checks one, [`Cron::next_after`]
//! finds its next tick on a calendar the caller brings.

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
/// time, on any calendar that implements [`CronDay`] (the scheduler uses
/// chrono's): this crate holds the rule, not a calendar; which time zone the
/// wall clock is in is the scheduler's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    /// Bit `n` set: second `n` matches (only bit 0 for five fields).
    seconds: u64,
    /// Bit `n` set: minute `n` matches.
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    /// Sunday is bit 0.
    days_of_week: u64,
    dom_restricted: bool,
    dow_restricted: bool,
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

/// A day of a calendar, as [`Cron::next_after`] walks them: the scheduler
/// implements it for chrono's `NaiveDate`, so that one calendar library
/// serves the whole product.
pub trait CronDay: Copy {
    /// 1 to 12.
    fn month(&self) -> u32;
    /// 1 to 31.
    fn day(&self) -> u32;
    /// 0 for Sunday to 6 for Saturday.
    fn weekday_from_sunday(&self) -> u32;
    /// The next day, or `None` past the calendar's end.
    fn next_day(&self) -> Option<Self>;
}

/// The most days each month can have (February's 29th in leap years).
const MONTH_DAYS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

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
        if !cron.some_day_matches() {
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

    /// The first time strictly after `time` (hour, minute, second) on `day`
    /// that matches, or `None` if none does in the next 28 years (a
    /// schedule that can never run is refused by [`Cron::parse`]) or the
    /// calendar ends first.
    pub fn next_after<D: CronDay>(
        &self,
        day: D,
        time: (u32, u32, u32),
    ) -> Option<(D, (u32, u32, u32))> {
        let (hour, minute, second) = time;
        let mut candidate = day;
        // The Gregorian calendar repeats every 400 years; within 28 years
        // every day of every month meets every weekday, leap days included.
        for offset in 0..28 * 366 {
            if offset > 0 {
                candidate = candidate.next_day()?;
            }
            if !self.day_matches(candidate) {
                continue;
            }
            let from = if offset == 0 {
                (hour, minute, second + 1)
            } else {
                (0, 0, 0)
            };
            if let Some(at) = self.first_time_from(from) {
                return Some((candidate, at));
            }
        }
        None
    }

    /// Whether the schedule runs on `day` at all.
    pub fn day_matches<D: CronDay>(&self, day: D) -> bool {
        if !has(self.months, day.month()) {
            return false;
        }
        let dom = has(self.days_of_month, day.day());
        let dow = has(self.days_of_week, day.weekday_from_sunday());
        match (self.dom_restricted, self.dow_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The first matching time of a day at or after `from` (whose second
    /// may be 60: the minute after).
    fn first_time_from(&self, from: (u32, u32, u32)) -> Option<(u32, u32, u32)> {
        let (from_h, from_m, from_s) = from;
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
                    return Some((hour, minute, second));
                }
            }
        }
        None
    }

    /// Whether some day of some year matches: a day of the month that every
    /// chosen month lacks (`31 2`) never does, unless the day of the week is
    /// restricted too (a matching weekday then runs).
    fn some_day_matches(&self) -> bool {
        if !self.dom_restricted || self.dow_restricted {
            return true;
        }
        (1..=12u32).any(|month| {
            has(self.months, month)
                && (1..=MONTH_DAYS[month as usize - 1]).any(|day| has(self.days_of_month, day))
        })
    }
}

/// chrono's calendar, the one the scheduler, the state store and the
/// warehouses use.
#[cfg(feature = "chrono")]
impl CronDay for chrono::NaiveDate {
    fn month(&self) -> u32 {
        chrono::Datelike::month(self)
    }
    fn day(&self) -> u32 {
        chrono::Datelike::day(self)
    }
    fn weekday_from_sunday(&self) -> u32 {
        chrono::Datelike::weekday(self).num_days_from_sunday()
    }
    fn next_day(&self) -> Option<Self> {
        self.succ_opt()
    }
}

#[cfg(feature = "chrono")]
impl Cron {
    /// The first wall-clock time strictly after `after` that matches, on
    /// chrono's calendar.
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use etl_rules::Cron;
    ///
    /// let cron = Cron::parse("0 0 29 2 *").unwrap();
    /// let after = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
    /// let next = cron.next_after_datetime(after).unwrap();
    /// assert_eq!(next.to_string(), "2028-02-29 00:00:00");
    /// ```
    pub fn next_after_datetime(
        &self,
        after: chrono::NaiveDateTime,
    ) -> Option<chrono::NaiveDateTime> {
        use chrono::Timelike as _;
        let (day, (h, m, s)) =
            self.next_after(after.date(), (after.hour(), after.minute(), after.second()))?;
        day.and_hms_opt(h, m, s)
    }
}

fn has(set: u64, v: u32) -> bool {
    set & (1 << v) != 0
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

#[cfg(all(test, feature = "chrono"))]
mod tests {
    use super::*;
    use chrono::{NaiveDate, NaiveDateTime};

    fn next(cron: &str, after: &str) -> String {
        let t = NaiveDateTime::parse_from_str(after, "%Y-%m-%d %H:%M:%S").unwrap();
        Cron::parse(cron)
            .unwrap()
            .next_after_datetime(t)
            .unwrap()
            .to_string()
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
            ("0 0 30,31 2 *", "no date ever matches"),
        ];
        for (text, expected) in cases {
            let err = Cron::parse(text).unwrap_err();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_day_every_month_lacks_runs_on_its_weekdays() {
        // Vixie cron: day 31 of February, or any Monday.
        assert_eq!(
            next("0 0 31 2 MON", "2024-02-01 00:00:00"),
            "2024-02-05 00:00:00"
        );
        assert_eq!(
            next("0 0 29 2 *", "2024-02-28 00:00:00"),
            "2024-02-29 00:00:00"
        );
    }

    #[test]
    fn the_end_of_the_calendar_ends_the_search() {
        let last = NaiveDate::MAX;
        assert_eq!(
            Cron::parse("0 0 * * *")
                .unwrap()
                .next_after(last, (0, 0, 0)),
            None
        );
    }
}
