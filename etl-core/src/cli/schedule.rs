//! `schedule`: the workflow at every tick of its cron expression, in a time
//! zone, one run at a time, until SIGTERM or Ctrl-C.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, LocalResult, TimeZone as _, Utc};
use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;

use super::Program;
use super::commands::NewRun;
use super::views::when;
use crate::state::{StateStore, Trigger};
use crate::{Error, Result};
use etl_dag::{Cron, StepStatus};

/// The first tick of `cron`, read in `zone`, strictly after `after`. Local
/// times that do not exist (the hour skipped when clocks go forward) are
/// skipped; a local time that happens twice (when they go back) runs once,
/// the first time.
pub(super) fn next_tick(cron: &Cron, zone: Tz, after: SystemTime) -> Option<SystemTime> {
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
const MISSED_COUNTED: usize = 10_000;

/// Ticks that passed without a run.
#[derive(Debug, PartialEq)]
struct Missed {
    /// How many, up to `MISSED_COUNTED + 1` (more are not counted).
    count: usize,
    first: SystemTime,
    latest: SystemTime,
}

/// The ticks of `cron` strictly after `after` and not after `now`, if any.
fn missed_ticks(cron: &Cron, zone: Tz, after: SystemTime, now: SystemTime) -> Option<Missed> {
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

/// Says that `missed` ticks passed without a run; with `catch_up`, that
/// the latest of them runs (the caller runs it): returns whether it does.
fn say_missed(missed: &Missed, during: &str, catch_up: bool) -> bool {
    let count = if missed.count > MISSED_COUNTED {
        format!("more than {MISSED_COUNTED} ticks")
    } else if missed.count == 1 {
        "1 tick".to_owned()
    } else {
        format!("{} ticks", missed.count)
    };
    let span = if missed.count == 1 {
        when(missed.latest)
    } else {
        format!("{} to {}", when(missed.first), when(missed.latest))
    };
    if catch_up {
        eprintln!(
            "{count} passed {during} ({span}): running once for {}",
            when(missed.latest)
        );
    } else {
        eprintln!("{count} passed {during} ({span}): skipped (--catch-up runs them once)");
    }
    catch_up
}

impl Program {
    pub(super) async fn schedule(
        &self,
        state: &Path,
        zone: &str,
        cron_override: Option<&str>,
        catch_up: bool,
    ) -> Result<ExitCode> {
        let name = self.dag.name();
        let Some(expression) = cron_override.or(self.dag.schedule()) else {
            return Err(Error::Config(format!(
                "workflow {name:?} has no schedule: give it one (#[workflow(schedule = \"0 6 * * *\")]) or pass --cron"
            )));
        };
        let cron = Cron::parse(expression).map_err(Error::Config)?;
        let zone: Tz = zone.parse().map_err(|_| {
            Error::Config(format!(
                "unknown time zone {zone:?}: use an IANA name such as UTC or Europe/Paris"
            ))
        })?;
        let store = self.store(state)?;
        let next = |after| {
            next_tick(&cron, zone, after).ok_or_else(|| {
                Error::Config(format!(
                    "schedule {expression:?} never runs again in {zone}"
                ))
            })
        };

        // The first SIGTERM or Ctrl-C stops the schedule after the running
        // run; a second cancels that run.
        let stop = CancellationToken::new();
        let cancel_run = CancellationToken::new();
        let signals = tokio::spawn(wait_for_signals(stop.clone(), cancel_run.clone()));

        eprintln!(
            "scheduling workflow {name:?} on {expression:?} ({zone}); next run at {}",
            when(next(SystemTime::now())?)
        );
        // Ticks that passed without a run: before the first run, those since
        // the last scheduled run (no scheduler ran); after, those that came
        // while the last run went on (one run at a time).
        let mut last = store.last_scheduled(name)?;
        let mut during = "since the last scheduled run";
        while !stop.is_cancelled() {
            if let Some(missed) =
                last.and_then(|last| missed_ticks(&cron, zone, last, SystemTime::now()))
            {
                if say_missed(&missed, during, catch_up) {
                    let next_due = next_tick(&cron, zone, missed.latest);
                    self.tick_until_done(&store, missed.latest, next_due, &cancel_run, &stop)
                        .await;
                }
                last = Some(missed.latest);
                during = "while the last run went on";
                continue;
            }
            let tick = next(SystemTime::now())?;
            let wait = tick
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
            let next_due = next_tick(&cron, zone, tick);
            self.tick_until_done(&store, tick, next_due, &cancel_run, &stop)
                .await;
            last = Some(tick);
            during = "while the last run went on";
        }
        signals.abort();
        eprintln!("schedule of workflow {name:?} stopped");
        Ok(ExitCode::SUCCESS)
    }

    /// [`Program::tick`], which a failing state store (a lock held too long,
    /// a full disk) does not end: the failure is said, and the tick tried
    /// again after a wait that doubles from 1 s to a minute, until it works,
    /// the schedule stops, or the next tick is due (then it is given up,
    /// and said). A run whose end could not be recorded is marked FAILED
    /// before the next one starts, so that it holds back no later tick.
    async fn tick_until_done(
        &self,
        store: &StateStore,
        tick: SystemTime,
        next_due: Option<SystemTime>,
        cancel: &CancellationToken,
        stop: &CancellationToken,
    ) {
        let mut wait = Duration::from_secs(1);
        loop {
            let outcome = match store.fail_unfinished(
                "its end could not be recorded: the state store failed while it ran",
            ) {
                Ok(_) => self.tick(store, tick, cancel).await,
                Err(e) => Err(e),
            };
            let Err(e) = outcome else {
                return;
            };
            let now = SystemTime::now();
            if stop.is_cancelled() || next_due.is_none_or(|next| now + wait >= next) {
                eprintln!(
                    "tick {}: not run, it failed: {e}; going on with the next tick",
                    when(tick)
                );
                return;
            }
            eprintln!(
                "tick {}: failed: {e}; trying again in {} s",
                when(tick),
                wait.as_secs()
            );
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(Duration::from_secs(60));
        }
    }

    /// One scheduled run, unless a run of the workflow is still going (in
    /// another process: this one runs one at a time).
    async fn tick(
        &self,
        store: &StateStore,
        tick: SystemTime,
        cancel: &CancellationToken,
    ) -> Result<()> {
        store.recover_abandoned()?;
        if let Some(running) = store
            .runs(self.dag.name(), 50)?
            .into_iter()
            .find(|r| r.status == StepStatus::Running)
        {
            eprintln!(
                "tick {}: skipped, run {} of the workflow is still running",
                when(tick),
                running.run_id
            );
            return Ok(());
        }
        eprintln!("tick {}: starting a run", when(tick));
        let run = NewRun {
            scheduled_for: Some(tick),
            cancel: Some(cancel.clone()),
            ..NewRun::new(Trigger::Schedule)
        };
        let (_, run_id) = self.start_run(store, run).await?;
        // The run's summary; a failed run does not stop the schedule.
        self.summary(store, &run_id)?;
        Ok(())
    }
}

async fn wait_for_signals(stop: CancellationToken, cancel_run: CancellationToken) {
    let mut count = 0;
    loop {
        #[cfg(unix)]
        let signal = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async {
                    match term.as_mut() {
                        Some(term) => { term.recv().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => {}
            }
        };
        #[cfg(not(unix))]
        let signal = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        signal.await;
        count += 1;
        if count == 1 {
            eprintln!(
                "stopping: the running run (if any) finishes first; signal again to cancel it"
            );
            stop.cancel();
        } else {
            eprintln!("cancelling the running run");
            cancel_run.cancel();
            return;
        }
    }
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
