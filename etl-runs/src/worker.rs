//! [`Worker`]: claims the runnable steps of queued runs from the state store
//! and runs them, a few at a time, until told to stop.
//!
//! The queue is the store's own tables and locks, not a second system to
//! run: a queued run's steps are rows PENDING; a worker claims the ones
//! whose inputs have succeeded ([`StateStore::claim_steps`]: PostgreSQL's
//! `FOR UPDATE SKIP LOCKED`, SQLite's write lock), runs each as one step of
//! a shared run, and records it. N workers on N machines against one
//! PostgreSQL share one queue, and a step attempt runs once. A claim lasts
//! as long as its worker's lease: a worker that dies (kill -9, a lost
//! machine or network) stops renewing it, and once it runs out the next
//! claim by any worker puts the step back in the queue, to run again as a
//! new attempt (at most [`MAX_LOST_ATTEMPTS`](crate::MAX_LOST_ATTEMPTS)
//! times).

use std::sync::Arc;
use std::time::Duration;

use etl_dag::CancellationToken;
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;

use crate::{Claim, Observer, Runs, StepRun};

/// What a [`Worker`] did until it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Steps it ran (or found it could not run).
    pub steps: u64,
    /// Of those, the ones that did not succeed.
    pub failed: u64,
}

/// Runs queued steps of one workflow: see the [module docs](self).
pub struct Worker<'r, 'a> {
    runs: &'r Runs<'a>,
    concurrency: usize,
    poll: Duration,
}

impl std::fmt::Debug for Worker<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("runs", self.runs)
            .field("concurrency", &self.concurrency)
            .field("poll", &self.poll)
            .finish()
    }
}

impl<'r, 'a> Worker<'r, 'a> {
    /// A worker of `runs`' workflow, one step at a time, asking for work
    /// every 200 ms while it has room.
    pub fn new(runs: &'r Runs<'a>) -> Self {
        Worker {
            runs,
            concurrency: 1,
            poll: Duration::from_millis(200),
        }
    }

    /// Runs up to `n` steps at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How long to wait between asking for work while it has room.
    pub fn poll(mut self, every: Duration) -> Self {
        self.poll = every.max(Duration::from_millis(1));
        self
    }

    /// Claims and runs steps until `stop` is cancelled, then finishes the
    /// steps it holds and returns. A store that fails (PostgreSQL
    /// restarting) is waited out: the worker says so in the logs and asks
    /// again at the next poll.
    pub async fn run(&self, stop: CancellationToken, observer: Arc<dyn Observer>) -> WorkerReport {
        let workflow = self.runs.dag().name();
        let mut report = WorkerReport::default();
        let mut running = FuturesUnordered::new();
        loop {
            let room = self.concurrency - running.len();
            if running.is_empty() && !stop.is_cancelled() {
                // Runs a fault left RUNNING though their steps have ended.
                // Only while idle: the steps under way are not polled
                // meanwhile, and may hold the connections it would wait for.
                if let Err(e) = self.runs.store().settle_ended_runs().await {
                    tracing::warn!(workflow, error = %e, "settling ended runs failed; trying again");
                }
            }
            if room > 0 && !stop.is_cancelled() {
                match self.runs.store().claim_steps(workflow, room).await {
                    Ok(claims) => {
                        for claim in claims {
                            running.push(self.one(claim, observer.clone()));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(workflow, error = %e, "claiming queued steps failed; trying again");
                    }
                }
            }
            if running.is_empty() && stop.is_cancelled() {
                return report;
            }
            let full = running.len() >= self.concurrency;
            tokio::select! {
                Some(done) = running.next(), if !running.is_empty() => {
                    report.steps += 1;
                    if !done {
                        report.failed += 1;
                    }
                }
                _ = tokio::time::sleep(self.poll), if !full && !stop.is_cancelled() => {}
                _ = stop.cancelled(), if !stop.is_cancelled() => {}
            }
        }
    }

    /// One claimed step; whether it succeeded. A step whose end could not
    /// be recorded (the store went away) is put back in the queue once the
    /// store answers again, to run again: not lost, and not held for as
    /// long as this worker lives. Should that fail for ten minutes, the
    /// worker's lease still frees it once the worker stops.
    async fn one(&self, claim: Claim, observer: Arc<dyn Observer>) -> bool {
        let error = match self.runs.work(&claim, observer).await {
            Ok(StepRun::Ran { report, .. }) => return report.succeeded(),
            Ok(StepRun::NotRunnable { why }) => {
                tracing::warn!(run_id = %claim.run_id, step = %claim.step, %why, "a queued step could not run");
                return false;
            }
            Err(e) => e,
        };
        tracing::warn!(run_id = %claim.run_id, step = %claim.step, %error, "a queued step's end could not be recorded; queueing it again");
        let why = format!("its end could not be recorded ({error}); queued again");
        let mut wait = Duration::from_millis(200);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
        while let Err(e) = self
            .runs
            .store()
            .release_step(&claim.run_id, &claim.step, &why)
            .await
        {
            if tokio::time::Instant::now() > deadline {
                tracing::warn!(run_id = %claim.run_id, step = %claim.step, error = %e, "giving up putting the step back; the lease will");
                break;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(10));
        }
        false
    }
}
