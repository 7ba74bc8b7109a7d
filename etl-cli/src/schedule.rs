//! `schedule`: the workflow at every tick of its cron expression, in a time
//! zone, one run at a time, until SIGTERM or Ctrl-C. The ticks are
//! `etl_runs::schedule`'s; this is the loop that waits for them and says
//! what it does.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::Program;
use super::views::when;
use crate::Result;
use etl_runs::schedule::{MISSED_COUNTED, Missed, Schedule};
use etl_runs::state::Trigger;
use etl_runs::{NewRun, StateStore};

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
        store: &dyn StateStore,
        zone: &str,
        cron_override: Option<&str>,
        catch_up: bool,
        signals: Signals,
    ) -> Result<ExitCode> {
        let name = self.dag.name();
        let schedule = Schedule::of(&self.dag, cron_override, zone)?;
        let (expression, zone) = (&schedule.expression, schedule.zone);
        let next = |after| schedule.next(after);
        self.register(store, Some((expression, &zone.to_string())))
            .await?;

        // The first SIGTERM or Ctrl-C stops the schedule after the running
        // run; a second cancels that run.
        let stop = CancellationToken::new();
        let cancel_run = CancellationToken::new();
        let signals = tokio::spawn(wait_for_signals(signals, stop.clone(), cancel_run.clone()));

        eprintln!(
            "scheduling workflow {name:?} on {expression:?} ({zone}); next run at {}",
            when(next(SystemTime::now())?)
        );
        // Ticks that passed without a run: before the first run, those since
        // the last scheduled run (no scheduler ran); after, those that came
        // while the last run went on (one run at a time).
        let mut last = store.last_scheduled(name).await?;
        let mut during = "since the last scheduled run";
        while !stop.is_cancelled() {
            if let Some(missed) = last.and_then(|last| schedule.missed(last, SystemTime::now())) {
                if say_missed(&missed, during, catch_up) {
                    let next_due = schedule.next(missed.latest).ok();
                    self.tick_until_done(store, missed.latest, next_due, &cancel_run, &stop)
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
            let next_due = schedule.next(tick).ok();
            self.tick_until_done(store, tick, next_due, &cancel_run, &stop)
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
        store: &dyn StateStore,
        tick: SystemTime,
        next_due: Option<SystemTime>,
        cancel: &CancellationToken,
        stop: &CancellationToken,
    ) {
        let mut wait = Duration::from_secs(1);
        loop {
            let outcome = match store
                .fail_unfinished(
                    "its end could not be recorded: the state store failed while it ran",
                )
                .await
            {
                Ok(_) => self.tick(store, tick, cancel).await,
                Err(e) => Err(e.into()),
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
        store: &dyn StateStore,
        tick: SystemTime,
        cancel: &CancellationToken,
    ) -> Result<()> {
        // A run a fault left RUNNING though its steps have ended would hold
        // this tick back as "still going": settled first.
        store.settle_ended_runs().await?;
        // One scheduler among many: only the leader ticks. Said when it
        // changes, not at every tick.
        let leads = store.lead(self.dag.name()).await?;
        let was = self
            .leading
            .swap(leads, std::sync::atomic::Ordering::SeqCst);
        if leads != was {
            eprintln!(
                "tick {}: {}",
                when(tick),
                if leads {
                    "this scheduler leads the workflow's schedule"
                } else {
                    "another scheduler leads the workflow's schedule; this one waits"
                }
            );
        }
        if !leads {
            return Ok(());
        }
        // Switched off (the server's API or page): the tick passes, the
        // history stays; a workflow no one registered runs as before.
        if let Some(workflow) = store.workflow(self.dag.name()).await?
            && !workflow.enabled
        {
            eprintln!("tick {}: skipped, the workflow is disabled", when(tick));
            return Ok(());
        }
        let runs = self.runs(store);
        if let Some(running) = runs.running_run().await? {
            eprintln!(
                "tick {}: skipped, run {running} of the workflow is still running",
                when(tick),
            );
            return Ok(());
        }
        eprintln!("tick {}: starting a run", when(tick));
        let mut run = NewRun::new(Trigger::Schedule);
        run.scheduled_for = Some(tick);
        run.cancel = Some(cancel.clone());
        let run_id = match runs.start(run, self.progress()).await {
            Ok((_, run_id)) => run_id,
            Err(etl_runs::Error::TickTaken { run_id, .. }) => {
                eprintln!(
                    "tick {}: skipped, another scheduler ran it (run {run_id})",
                    when(tick)
                );
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        // The run's summary; a failed run does not stop the schedule.
        self.summary(store, &run_id).await?;
        Ok(())
    }
}

/// SIGTERM and Ctrl-C (SIGINT), listened to from the moment this is made:
/// made first thing, so that a signal that comes while the command starts
/// (a service manager stopping it at once) is not the default one, which
/// kills the process.
pub(super) struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    pub(super) fn listen() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                term: signal(SignalKind::terminate()).ok(),
                interrupt: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    pub(super) async fn next(&mut self) {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                match s.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                _ = recv(&mut self.term) => {}
                _ = recv(&mut self.interrupt) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The first signal cancels `stop`, the second `cancel_run`.
pub(super) async fn wait_for_signals(
    mut signals: Signals,
    stop: CancellationToken,
    cancel_run: CancellationToken,
) {
    signals.next().await;
    eprintln!("stopping: the running run (if any) finishes first; signal again to cancel it");
    stop.cancel();
    signals.next().await;
    eprintln!("cancelling the running run");
    cancel_run.cancel();
}
