//! A schedule's ticks: a cron expression read in a time zone, the next tick
//! after an instant, and the ticks that passed without a run. The loop that
//! waits for them is the caller's (the CLI's `schedule`, a server).

use std::time::{Duration, SystemTime};

use chrono::{DateTime, LocalResult, TimeZone as _, Utc};
use chrono_tz::Tz;
use etl_dag::{Cron, Dag};

use crate::{Error, Result};

/// A cron expression in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The expression as written.
    pub expression: String,
    /// It, parsed.
    pub cron: Cron,
    /// The zone it is read in.
    pub zone: Tz,
}

impl Schedule {
    /// `dag`'s schedule, or `expression` instead, read in `zone` (an IANA
    /// name). A workflow with no schedule, a bad expression or an unknown
    /// zone is an error saying what to do.
    pub fn of(dag: &Dag, expression: Option<&str>, zone: &str) -> Result<Schedule> {
        let name = dag.name();
        let Some(expression) = expression.or(dag.schedule()) else {
            return Err(Error::Schedule(format!(
                "workflow {name:?} has no schedule: give it one (#[workflow(schedule = \"0 6 * * *\")]) or pass --cron"
            )));
        };
        let cron = Cron::parse(expression).map_err(Error::Schedule)?;
        let zone: Tz = zone.parse().map_err(|_| {
            Error::Schedule(format!(
                "unknown time zone {zone:?}: use an IANA name such as UTC or Europe/Paris"
            ))
        })?;
        Ok(Schedule {
            expression: expression.to_owned(),
            cron,
            zone,
        })
    }

    /// The first tick strictly after `after`, or an error if there is none.
    pub fn next(&self, after: SystemTime) -> Result<SystemTime> {
        next_tick(&self.cron, self.zone, after).ok_or_else(|| {
            Error::Schedule(format!(
                "schedule {:?} never runs again in {}",
                self.expression, self.zone
            ))
        })
    }

    /// The ticks strictly after `after` and not after `now`, if any.
    pub fn missed(&self, after: SystemTime, now: SystemTime) -> Option<Missed> {
        missed_ticks(&self.cron, self.zone, after, now)
    }
}

/// The first tick of `cron`, read in `zone`, strictly after `after`. Local
/// times that do not exist (the hour skipped when clocks go forward) are
/// skipped; a local time that happens twice (when they go back) runs once,
/// the first time.
pub fn next_tick(cron: &Cron, zone: Tz, after: SystemTime) -> Option<SystemTime> {
    let after_utc: DateTime<Utc> = after.into();
    let mut local = after_utc.with_timezone(&zone).naive_local();
    // A bounded search: each pass moves `local` forward.
    for _ in 0..10_000 {
        local = cron.next_after_datetime(local)?;
        let instant = match zone.from_local_datetime(&local) {
            LocalResult::Single(t) => t,
            LocalResult::Ambiguous(first, _) => first,
            LocalResult::None => continue,
        };
        let instant: SystemTime = instant.with_timezone(&Utc).into();
        if instant > after {
            return Some(instant);
        }
    }
    None
}

/// How many missed ticks are counted one by one; more are "more than".
pub const MISSED_COUNTED: usize = 10_000;

/// Ticks that passed without a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missed {
    /// How many, up to `MISSED_COUNTED + 1` (more are not counted).
    pub count: usize,
    /// The first.
    pub first: SystemTime,
    /// The latest.
    pub latest: SystemTime,
}

/// The ticks of `cron` strictly after `after` and not after `now`, if any.
pub fn missed_ticks(cron: &Cron, zone: Tz, after: SystemTime, now: SystemTime) -> Option<Missed> {
    let first = next_tick(cron, zone, after).filter(|t| *t <= now)?;
    let mut count = 1;
    let mut tick = first;
    while count <= MISSED_COUNTED {
        match next_tick(cron, zone, tick).filter(|t| *t <= now) {
            Some(t) => {
                tick = t;
                count += 1;
            }
            None => {
                return Some(Missed {
                    count,
                    first,
                    latest: tick,
                });
            }
        }
    }
    // Too many to walk through (a year of an every-second schedule): the
    // latest is found from the smallest window before `now` that holds one.
    let latest = [
        60,
        3_600,
        86_400,
        31 * 86_400,
        366 * 86_400,
        5 * 366 * 86_400,
    ]
    .into_iter()
    .filter_map(|seconds| {
        let start = now.checked_sub(Duration::from_secs(seconds))?.max(tick);
        let mut latest = next_tick(cron, zone, start).filter(|t| *t <= now)?;
        while let Some(t) = next_tick(cron, zone, latest).filter(|t| *t <= now) {
            latest = t;
        }
        Some(latest)
    })
    .next()
    .unwrap_or(tick);
    Some(Missed {
        count,
        first,
        latest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
            .into()
    }

    fn tick(cron: &str, zone: &str, after: &str) -> String {
        let zone: Tz = zone.parse().unwrap();
        let t: DateTime<Utc> = next_tick(&Cron::parse(cron).unwrap(), zone, at(after))
            .unwrap()
            .into();
        t.to_rfc3339()
    }

    #[test]
    fn ticks_are_read_in_the_time_zone() {
        assert_eq!(
            tick("0 6 * * *", "UTC", "2024-03-01T06:00:00Z"),
            "2024-03-02T06:00:00+00:00"
        );
        // 06:00 in Paris is 05:00 UTC in winter, 04:00 in summer.
        assert_eq!(
            tick("0 6 * * *", "Europe/Paris", "2024-03-01T00:00:00Z"),
            "2024-03-01T05:00:00+00:00"
        );
        assert_eq!(
            tick("0 6 * * *", "Europe/Paris", "2024-07-01T00:00:00Z"),
            "2024-07-01T04:00:00+00:00"
        );
        // Every second: the next whole second.
        assert_eq!(
            tick("* * * * * *", "UTC", "2024-03-01T10:00:00.400Z"),
            "2024-03-01T10:00:01+00:00"
        );
    }

    #[test]
    fn daylight_saving_gaps_are_skipped_and_repeats_run_once() {
        // 2024-03-31 02:30 does not exist in Paris (02:00 -> 03:00): the next is the 1st of April.
        assert_eq!(
            tick("30 2 * * *", "Europe/Paris", "2024-03-30T12:00:00Z"),
            "2024-04-01T00:30:00+00:00"
        );
        // 2024-10-27 02:30 happens twice in Paris: the first, 00:30 UTC; not again at 01:30.
        assert_eq!(
            tick("30 2 * * *", "Europe/Paris", "2024-10-26T12:00:00Z"),
            "2024-10-27T00:30:00+00:00"
        );
        assert_eq!(
            tick("30 2 * * *", "Europe/Paris", "2024-10-27T00:30:00Z"),
            "2024-10-28T01:30:00+00:00"
        );
    }

    fn missed(cron: &str, after: &str, now: &str) -> Option<(usize, String, String)> {
        let m = missed_ticks(&Cron::parse(cron).unwrap(), Tz::UTC, at(after), at(now))?;
        let text = |t: SystemTime| DateTime::<Utc>::from(t).to_rfc3339();
        Some((m.count, text(m.first), text(m.latest)))
    }

    #[test]
    fn missed_ticks_are_counted_with_the_first_and_the_latest() {
        // Every minute, from 10:00:30 to 10:10:00: 10:01 to 10:10.
        assert_eq!(
            missed(
                "0 * * * * *",
                "2024-03-01T10:00:30Z",
                "2024-03-01T10:10:00Z"
            ),
            Some((
                10,
                "2024-03-01T10:01:00+00:00".into(),
                "2024-03-01T10:10:00+00:00".into()
            ))
        );
        // The tick at `after` was the last one run: not missed.
        assert_eq!(
            missed(
                "0 * * * * *",
                "2024-03-01T10:00:00Z",
                "2024-03-01T10:00:59Z"
            ),
            None
        );
        assert_eq!(
            missed(
                "0 * * * * *",
                "2024-03-01T10:00:00Z",
                "2024-03-01T10:01:00Z"
            ),
            Some((
                1,
                "2024-03-01T10:01:00+00:00".into(),
                "2024-03-01T10:01:00+00:00".into()
            ))
        );
    }

    #[test]
    fn too_many_missed_ticks_are_not_all_walked_through() {
        // A year of an every-second schedule: counted up to the limit, and
        // the latest is still the last whole second.
        let (count, first, latest) = missed(
            "* * * * * *",
            "2023-03-01T10:00:00Z",
            "2024-03-01T10:00:00.500Z",
        )
        .unwrap();
        assert_eq!(count, MISSED_COUNTED + 1);
        assert_eq!(first, "2023-03-01T10:00:01+00:00");
        assert_eq!(latest, "2024-03-01T10:00:00+00:00");
        // An hourly one missed for two years: the window that finds the
        // latest is an hour, not a minute.
        let (count, _, latest) = missed(
            "0 0 * * * *",
            "2022-01-01T00:00:00Z",
            "2024-03-01T10:30:00Z",
        )
        .unwrap();
        assert_eq!(count, MISSED_COUNTED + 1);
        assert_eq!(latest, "2024-03-01T10:00:00+00:00");
    }
}
