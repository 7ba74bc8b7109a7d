//! Step events into PostgreSQL from a task of their own, in batches: a step
//! hands its event to a channel and goes on.

use std::sync::Arc;

use etl_dag::{StepEvent, StepStatus};
use tokio::sync::{mpsc, oneshot};

use super::Inner;
use crate::Result;
use crate::store::{EventRecorder, Recorded, StoreFuture};

enum Message {
    Record(Recorded),
    Flush(oneshot::Sender<Result<()>>),
}

/// The PostgreSQL store's [`EventRecorder`].
pub(super) struct PgRecorder {
    tx: mpsc::UnboundedSender<Message>,
    location: String,
}

impl PgRecorder {
    pub(super) fn start(inner: Arc<Inner>) -> PgRecorder {
        let (tx, rx) = mpsc::unbounded_channel();
        let location = inner.location.clone();
        tokio::spawn(write_loop(inner, rx));
        PgRecorder { tx, location }
    }
}

async fn write_loop(inner: Arc<Inner>, mut rx: mpsc::UnboundedReceiver<Message>) {
    let mut failed = None;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < 10_000 {
            match rx.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        let records: Vec<&Recorded> = batch
            .iter()
            .filter_map(|m| match m {
                Message::Record(r) => Some(r),
                Message::Flush(_) => None,
            })
            .collect();
        if !records.is_empty()
            && let Err(e) = write(&inner, &records).await
            && failed.is_none()
        {
            failed = Some(e);
        }
        for message in batch {
            if let Message::Flush(done) = message {
                let _ = done.send(failed.take().map_or(Ok(()), Err));
            }
        }
    }
}

/// One transaction for the batch. A batch that fails (the server went
/// away, restarting) is tried again on a new connection (the pool replaces
/// a broken one on the next call), five more times over about six seconds,
/// before it is reported.
async fn write(inner: &Inner, records: &[&Recorded]) -> Result<()> {
    let mut wait = std::time::Duration::from_millis(200);
    let mut tries = 0;
    loop {
        match write_once(inner, records).await {
            Ok(()) => return Ok(()),
            Err(e) if tries < 5 => {
                tracing::warn!(store = %inner.location, error = %e, "recording step events failed; trying again");
                tokio::time::sleep(wait).await;
                wait *= 2;
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn write_once(inner: &Inner, records: &[&Recorded]) -> Result<()> {
    let mut client = inner.client().await?;
    let tx = client.transaction().await.map_err(|e| inner.db(e))?;
    // Fenced as the SQLite store's: an attempt writes only a step it holds
    // (or, starting, one nobody holds), and a start already recorded (a
    // batch written again after a commit that looked failed) is not
    // counted twice.
    let running = tx
        .prepare_cached(
            "UPDATE etl.step_runs SET status = 'RUNNING', attempts = attempts + 1,
                started_at = CASE WHEN status = 'RETRYING' THEN coalesce(started_at, $3) ELSE $3 END,
                finished_at = NULL, error = NULL, owner = $4
             WHERE run_id = $1 AND step = $2 AND (owner IS NULL OR owner = $4)
               AND NOT EXISTS (SELECT 1 FROM etl.step_attempts a
                               WHERE a.run_id = $1 AND a.step = $2 AND a.started_at = $3 AND a.owner = $4)
             RETURNING attempts",
        )
        .await
        .map_err(|e| inner.db(e))?;
    let attempt_started = tx
        .prepare_cached(
            "INSERT INTO etl.step_attempts (run_id, step, attempt, owner, started_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (run_id, step, attempt) DO NOTHING",
        )
        .await
        .map_err(|e| inner.db(e))?;
    let retrying = tx
        .prepare_cached(
            "UPDATE etl.step_runs SET status = 'RETRYING', error = $3
             WHERE run_id = $1 AND step = $2 AND owner = $4",
        )
        .await
        .map_err(|e| inner.db(e))?;
    let ended = tx
        .prepare_cached(
            "UPDATE etl.step_runs SET status = $3, finished_at = $4, error = $5, rows = $6, output = $7,
                reused_from = NULL, owner = NULL
             WHERE run_id = $1 AND step = $2 AND (owner = $8 OR ($9::bigint = 0 AND owner IS NULL))",
        )
        .await
        .map_err(|e| inner.db(e))?;
    // The attempt that ends is the step's latest, still open, and this
    // process's own.
    let attempt_ended = tx
        .prepare_cached(
            "UPDATE etl.step_attempts SET finished_at = $3, status = $4, error = $5
             WHERE run_id = $1 AND step = $2 AND finished_at IS NULL AND owner = $6
               AND attempt = (SELECT attempts FROM etl.step_runs WHERE run_id = $1 AND step = $2)",
        )
        .await
        .map_err(|e| inner.db(e))?;
    for r in records {
        match r.status {
            StepStatus::Running => {
                let row = tx
                    .query_opt(&running, &[&r.run_id, &r.step, &r.at, &inner.owner])
                    .await
                    .map_err(|e| inner.db(e))?;
                if let Some(row) = row {
                    let attempt: i32 = row.get(0);
                    tx.execute(
                        &attempt_started,
                        &[&r.run_id, &r.step, &attempt, &inner.owner, &r.at],
                    )
                    .await
                    .map_err(|e| inner.db(e))?;
                }
            }
            StepStatus::Retrying => {
                let changed = tx
                    .execute(&retrying, &[&r.run_id, &r.step, &r.error, &inner.owner])
                    .await
                    .map_err(|e| inner.db(e))?;
                if changed > 0 {
                    // The attempt failed; the step will be tried again.
                    let failed = StepStatus::Failed.as_str();
                    tx.execute(
                        &attempt_ended,
                        &[&r.run_id, &r.step, &r.at, &failed, &r.error, &inner.owner],
                    )
                    .await
                    .map_err(|e| inner.db(e))?;
                }
            }
            status => {
                let changed = tx
                    .execute(
                        &ended,
                        &[
                            &r.run_id,
                            &r.step,
                            &status.as_str(),
                            &r.at,
                            &r.error,
                            &r.rows_i64(),
                            &r.output,
                            &inner.owner,
                            &i64::from(r.attempt),
                        ],
                    )
                    .await
                    .map_err(|e| inner.db(e))?;
                if changed > 0 {
                    tx.execute(
                        &attempt_ended,
                        &[
                            &r.run_id,
                            &r.step,
                            &r.at,
                            &status.as_str(),
                            &r.error,
                            &inner.owner,
                        ],
                    )
                    .await
                    .map_err(|e| inner.db(e))?;
                }
            }
        }
    }
    tx.commit().await.map_err(|e| inner.db(e))
}

impl EventRecorder for PgRecorder {
    fn record(&self, event: &StepEvent<'_>) {
        // A closed channel means the writer stopped; flush reports it.
        if let Some(record) = Recorded::of(event) {
            let _ = self.tx.send(Message::Record(record));
        }
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let stopped = || crate::Error::State {
                store: self.location.clone(),
                message: "the recorder task stopped".into(),
            };
            let (done, wait) = oneshot::channel();
            self.tx.send(Message::Flush(done)).map_err(|_| stopped())?;
            wait.await.map_err(|_| stopped())?
        })
    }
}
