//! Writing step events to the store from a thread of its own, in batches.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use rusqlite::{Connection, OptionalExtension, params};

use super::{connect, state_error, time};
use crate::store::Recorded;
use crate::{Error, Result};
use etl_dag::{StepEvent, StepStatus};

enum Message {
    Record(Recorded),
    Flush(tokio::sync::oneshot::Sender<Result<()>>),
}

/// Records step events in the state store from a thread of its own: events
/// queue while a transaction commits and the next transaction takes them
/// all, so a run's steps rarely wait for the disk. Made by
/// [`SqliteStore::recorder`](super::SqliteStore::recorder).
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Message>,
    path: PathBuf,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    pub(super) fn start(path: &Path, owner: &str) -> Result<Recorder> {
        let conn = connect(path)?;
        let (tx, rx) = mpsc::channel();
        let owner = owner.to_owned();
        let thread_path = path.to_owned();
        std::thread::Builder::new()
            .name("etl-state-recorder".into())
            .spawn(move || write_loop(conn, &thread_path, &owner, rx))
            .map_err(|e| state_error(path, format!("starting the recorder thread: {e}")))?;
        Ok(Recorder {
            tx,
            path: path.to_owned(),
        })
    }

    /// A listener for [`Runner::on_event`](etl_dag::Runner::on_event).
    pub fn listener(&self) -> impl Fn(&StepEvent<'_>) + Send + Sync + 'static {
        let recorder = self.clone();
        move |event| recorder.send(event)
    }

    fn send(&self, event: &StepEvent<'_>) {
        // A closed channel means the recorder failed; flush reports it.
        if let Some(record) = Recorded::of(event) {
            let _ = self.tx.send(Message::Record(record));
        }
    }

    /// Waits until every event given so far is written; the first error
    /// since the last flush, if writing failed.
    pub async fn flush(&self) -> Result<()> {
        let (done, wait) = tokio::sync::oneshot::channel();
        let stopped = || state_error(&self.path, "the recorder thread stopped");
        self.tx.send(Message::Flush(done)).map_err(|_| stopped())?;
        wait.await.map_err(|_| stopped())?
    }
}

fn write_loop(mut conn: Connection, path: &Path, owner: &str, rx: mpsc::Receiver<Message>) {
    let mut failed: Option<Error> = None;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter().take(10_000));
        let records: Vec<&Recorded> = batch
            .iter()
            .filter_map(|m| match m {
                Message::Record(r) => Some(r),
                Message::Flush(_) => None,
            })
            .collect();
        if !records.is_empty()
            && let Err(e) = write(&mut conn, owner, &records)
            && failed.is_none()
        {
            failed = Some(state_error(path, format!("recording step events: {e}")));
        }
        for message in batch {
            if let Message::Flush(done) = message {
                let _ = done.send(failed.take().map_or(Ok(()), Err));
            }
        }
    }
}

fn write(conn: &mut Connection, owner: &str, records: &[&Recorded]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        // Fenced: an attempt writes only a step it holds (or, starting, one
        // nobody holds), so a process that lost a step to another (its
        // lease ran out) cannot record over the attempt that took it up.
        // A start already recorded (the same step, owner and time: a batch
        // written again) is not counted twice.
        let mut running = tx.prepare_cached(
            "UPDATE step_runs SET status = 'RUNNING', attempts = attempts + 1,
                started_at = CASE WHEN status = 'RETRYING' THEN coalesce(started_at, ?3) ELSE ?3 END,
                finished_at = NULL, error = NULL, owner = ?4
             WHERE run_id = ?1 AND step = ?2 AND (owner IS NULL OR owner = ?4)
               AND NOT EXISTS (SELECT 1 FROM step_attempts a
                               WHERE a.run_id = ?1 AND a.step = ?2 AND a.started_at = ?3 AND a.owner = ?4)
             RETURNING attempts",
        )?;
        let mut attempt_started = tx.prepare_cached(
            "INSERT INTO step_attempts (run_id, step, attempt, owner, started_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (run_id, step, attempt) DO NOTHING",
        )?;
        let mut retrying = tx.prepare_cached(
            "UPDATE step_runs SET status = 'RETRYING', error = ?3
             WHERE run_id = ?1 AND step = ?2 AND owner = ?4",
        )?;
        let mut ended = tx.prepare_cached(
            "UPDATE step_runs SET status = ?3, finished_at = ?4, error = ?5, rows = ?6, output = ?7,
                reused_from = NULL, owner = NULL
             WHERE run_id = ?1 AND step = ?2 AND (owner = ?8 OR (?9 = 0 AND owner IS NULL))",
        )?;
        // The attempt that ends is the step's latest, still open, and this
        // process's own.
        let mut attempt_ended = tx.prepare_cached(
            "UPDATE step_attempts SET finished_at = ?3, status = ?4, error = ?5
             WHERE run_id = ?1 AND step = ?2 AND finished_at IS NULL AND owner = ?6
               AND attempt = (SELECT attempts FROM step_runs WHERE run_id = ?1 AND step = ?2)",
        )?;
        for r in records {
            let at = time::to_text(r.at);
            match r.status {
                StepStatus::Running => {
                    let attempt: Option<i64> = running
                        .query_row(params![r.run_id, r.step, at, owner], |row| row.get(0))
                        .optional()?;
                    if let Some(attempt) = attempt {
                        attempt_started.execute(params![r.run_id, r.step, attempt, owner, at])?;
                    }
                }
                StepStatus::Retrying => {
                    if retrying.execute(params![r.run_id, r.step, r.error, owner])? > 0 {
                        // The attempt failed; the step will be tried again.
                        attempt_ended.execute(params![
                            r.run_id,
                            r.step,
                            at,
                            StepStatus::Failed.as_str(),
                            r.error,
                            owner
                        ])?;
                    }
                }
                status => {
                    let changed = ended.execute(params![
                        r.run_id,
                        r.step,
                        status.as_str(),
                        at,
                        r.error,
                        r.rows_i64(),
                        r.output,
                        owner,
                        r.attempt,
                    ])?;
                    if changed > 0 {
                        attempt_ended.execute(params![
                            r.run_id,
                            r.step,
                            at,
                            status.as_str(),
                            r.error,
                            owner
                        ])?;
                    }
                }
            }
        }
    }
    tx.commit()
}

impl crate::store::EventRecorder for Recorder {
    fn record(&self, event: &StepEvent<'_>) {
        self.send(event);
    }
    fn flush(&self) -> crate::store::StoreFuture<'_, ()> {
        Box::pin(Recorder::flush(self))
    }
}
