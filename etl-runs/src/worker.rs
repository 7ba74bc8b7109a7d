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

    /// One claimed step; whether it succeeded. A store that fails as the
    /// step ends leaves the step held: once this worker's lease runs out it
    /// is queued again, not lost.
    async fn one(&self, claim: Claim, observer: Arc<dyn Observer>) -> bool {
        match self.runs.work(&claim, observer).await {
            Ok(StepRun::Ran { report, .. }) => report.succeeded(),
            Ok(StepRun::NotRunnable { why }) => {
                tracing::warn!(run_id = %claim.run_id, step = %claim.step, %why, "a queued step could not run");
                false
            }
            Err(e) => {
                tracing::warn!(run_id = %claim.run_id, step = %claim.step, error = %e, "a queued step could not be recorded");
                false
            }
        }
    }
}
