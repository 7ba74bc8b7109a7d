//! `schedule`: the workflow at every tick of its cron expression, in a time
//! zone, one run at a time, until SIGTERM or Ctrl-C.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, LocalResult, NaiveDate, TimeZone as _, Utc};
use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;

use super::Program;
use super::commands::NewRun;
use super::views::when;
use crate::dag::{CivilTime, Cron, StepStatus};
use crate::state::{StateStore, Trigger};
use crate::{Error, Result};

/// The first tick of `cron`, read in `zone`, strictly after `after`. Local
/// times that do not exist (the hour skipped when clocks go forward) are
/// skipped; a local time that happens twice (when they go back) runs once,
/// the first time.
pub(super) fn next_tick(cron: &Cron, zone: Tz, after: SystemTime) -> Option<SystemTime> {
    let after_utc: DateTime<Utc> = after.into();
    let local = after_utc.with_timezone(&zone).naive_local();
    let mut civil = CivilTime::date(
        chrono::Datelike::year(&local),
        chrono::Datelike::month(&local),
        chrono::Datelike::day(&local),
    )
    .at(
        chrono::Timelike::hour(&local),
        chrono::Timelike::minute(&local),
        chrono::Timelike::second(&local),
    );
    // A bounded search: each pass moves `civil` forward.
    for _ in 0..10_000 {
        civil = cron.next_after(civil)?;
        let naive = NaiveDate::from_ymd_opt(civil.year, civil.month, civil.day)?.and_hms_opt(
            civil.hour,
            civil.minute,
            civil.second,
        )?;
        let instant = match zone.from_local_datetime(&naive) {
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
        if let Some(last) = store.last_scheduled(name)? {
            let missed = next(last)?;
            if missed <= SystemTime::now() {
                if catch_up {
                    // The latest tick missed, run once for all of them.
                    let mut latest = missed;
                    while let Some(t) =
                        next_tick(&cron, zone, latest).filter(|t| *t <= SystemTime::now())
                    {
                        latest = t;
                    }
                    eprintln!(
                        "ticks were missed since the last scheduled run ({}): running once for {}",
                        when(last),
                        when(latest)
                    );
                    self.tick(&store, latest, &cancel_run).await?;
                } else {
                    eprintln!(
                        "ticks were missed since the last scheduled run ({}): skipped (--catch-up runs them)",
                        when(last)
                    );
                }
            }
        }
        while !stop.is_cancelled() {
            let tick = next(SystemTime::now())?;
            let wait = tick
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
            self.tick(&store, tick, &cancel_run).await?;
        }
        signals.abort();
        eprintln!("schedule of workflow {name:?} stopped");
        Ok(ExitCode::SUCCESS)
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
}
