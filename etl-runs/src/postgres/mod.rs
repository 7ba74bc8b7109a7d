//! The PostgreSQL state store, [`PgStore`]: the runs of many processes on
//! many machines in one database, with the same tables and meaning as the
//! embedded [`SqliteStore`](crate::state::SqliteStore) (in a schema of their
//! own, `etl`; times as `TIMESTAMPTZ`).
//!
//! ```no_run
//! # async fn demo() -> etl_runs::Result<()> {
//! use etl_runs::postgres::PgStore;
//!
//! // The password comes from the URL or the usual PGPASSWORD; it never
//! // appears in a message, only `postgres://etl@db.internal:5432/etl`.
//! let store = PgStore::connect("postgres://etl@db.internal/etl", "/srv/etl/outputs").await?;
//! # Ok(()) }
//! ```
//!
//! - **Migrations** are versioned (`etl.schema_version`) and applied when a
//!   store is opened, in one transaction under an advisory lock: processes
//!   opening a fresh database at once take turns, and a database newer than
//!   the program is refused.
//! - **Connections** come from a pool (8 by default); a connection that broke
//!   (the server restarted) is replaced on the next call.
//! - **Which process holds what** is a lease: each store writes a row in
//!   `etl.owners` and renews it every third of its lease (30 s by default,
//!   [`PgOptions::lease`]). A run or step still RUNNING whose owner's lease
//!   ran out belongs to a process that died or lost the database (kill -9, a
//!   lost machine, a lost network), and is marked FAILED ("abandoned") by
//!   [`StateStore::recover_abandoned`], which opening a store runs.
//! - Step events are written by a task of their own, in batches
//!   ([`StateStore::recorder`]).

mod recorder;
mod schema;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::{NoTls, Row};

use crate::registry::{WorkflowInfo, WorkflowRecord};
use crate::state::{AttemptRecord, RunRecord, RunStart, StepRecord};
use crate::store::{EventRecorder, RunQuery, StateStore, StoreFuture, StoreMetrics};
use crate::{Error, Result};
use etl_dag::{RunReport, StepStatus};

/// How a [`PgStore`] is opened.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PgOptions {
    /// How long a process's claim on what it runs lasts without renewal
    /// (default 30 s): after a process dies, its runs are taken for
    /// abandoned once this has passed. Renewed every third of it.
    pub lease: Duration,
    /// Connections in the pool (default 8).
    pub pool_size: usize,
    /// How long to wait for the server when connecting (default 10 s).
    pub connect_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            lease: Duration::from_secs(30),
            pool_size: 8,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl PgOptions {
    /// With this lease.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(300));
        self
    }

    /// With this many pooled connections.
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n.max(1);
        self
    }
}

/// The PostgreSQL state store: see the [module docs](self).
pub struct PgStore {
    inner: Arc<Inner>,
    heartbeat: tokio::task::AbortHandle,
}

pub(crate) struct Inner {
    pool: Pool,
    location: String,
    owner: String,
    outputs: PathBuf,
    lease: Duration,
    /// Whether this process has written its lease row once.
    leased: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.inner.location)
            .field("owner", &self.inner.owner)
            .finish_non_exhaustive()
    }
}

/// `url` with its password left out: `postgres://user@host:port/db`.
pub fn redacted(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            Host::Tcp(name) => format!("{name}:{port}"),
            Host::Unix(path) => format!("[{}]:{port}", path.display()),
        })
        .collect();
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    format!(
        "postgres://{user}{}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

impl PgStore {
    /// Opens the store at `url` with the default [`PgOptions`], saving step
    /// outputs under `outputs`.
    pub async fn connect(url: &str, outputs: impl Into<PathBuf>) -> Result<PgStore> {
        Self::connect_with(url, outputs, PgOptions::default()).await
    }

    /// Opens the store at `url` (`postgres://user:password@host:port/db`;
    /// a password left out comes from `PGPASSWORD`), brings its schema up to
    /// date, claims a lease for this process, and marks the runs of dead
    /// processes abandoned. A URL that cannot be reached, a wrong password
    /// or a database that does not exist is an error naming the URL without
    /// its password.
    pub async fn connect_with(
        url: &str,
        outputs: impl Into<PathBuf>,
        options: PgOptions,
    ) -> Result<PgStore> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| Error::State {
            // The text did not parse: say what kind of URL it was, never the text.
            store: "postgres://…".into(),
            message: format!("not a PostgreSQL URL: {e}"),
        })?;
        if config.get_password().is_none()
            && let Some(password) = std::env::var_os("PGPASSWORD")
        {
            config.password(password.to_string_lossy().as_bytes());
        }
        config.connect_timeout(options.connect_timeout);
        config.application_name("etl");
        let location = redacted(&config);
        let fail = |message: String| Error::State {
            store: location.clone(),
            message,
        };
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .build()
            .map_err(|e| fail(format!("building the connection pool: {e}")))?;
        let outputs = std::path::absolute(outputs.into()).map_err(|e| fail(e.to_string()))?;
        let inner = Arc::new(Inner {
            pool,
            location: location.clone(),
            owner: etl_rules::new_id(),
            outputs,
            lease: options.lease,
            leased: false.into(),
        });
        {
            let mut client = inner.client().await?;
            schema::migrate(&mut client).await.map_err(&fail)?;
        }
        inner.renew().await?;
        let heartbeat = tokio::spawn(heartbeat(Arc::downgrade(&inner))).abort_handle();
        let store = PgStore { inner, heartbeat };
        store.inner.recover_abandoned().await?;
        Ok(store)
    }

    /// The store's URL, without its password.
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// The id this process's runs and steps are recorded under.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// Ends this process's lease at once, so that another process may take
    /// up what it left unfinished without waiting for the lease to run out.
    pub async fn close(self) -> Result<()> {
        self.heartbeat.abort();
        let client = self.inner.client().await?;
        client
            .execute(
                "DELETE FROM etl.owners WHERE owner = $1",
                &[&self.inner.owner],
            )
            .await
            .map_err(|e| self.inner.db(e))?;
        Ok(())
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Not renewed, the lease runs out: what this process left unfinished
        // is then abandoned. `close` ends it at once.
        self.heartbeat.abort();
    }
}

/// Renews the lease every third of it while the store lives. A renewal
/// that fails (the server restarting) is tried again at the next beat.
async fn heartbeat(inner: std::sync::Weak<Inner>) {
    loop {
        let Some(every) = inner.upgrade().map(|i| i.lease / 3) else {
            return;
        };
        tokio::time::sleep(every).await;
        let Some(strong) = inner.upgrade() else {
            return;
        };
        if let Err(e) = strong.renew().await {
            tracing::warn!(store = %strong.location, error = %e, "renewing the state store lease failed");
        }
    }
}

fn status(text: &str, location: &str) -> Result<StepStatus> {
    StepStatus::parse(text).ok_or_else(|| Error::State {
        store: location.to_owned(),
        message: format!("unknown status {text:?}"),
    })
}

impl Inner {
    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::State {
            store: self.location.clone(),
            message: e.to_string(),
        }
    }

    /// A driver's error with its causes (`db error: FATAL: password
    /// authentication failed for user "etl"`), never the URL.
    pub(crate) fn db(&self, e: impl std::error::Error + 'static) -> Error {
        self.err(etl_dag::error_chain(&e))
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| {
            let message = match e {
                deadpool_postgres::PoolError::Backend(e) => etl_dag::error_chain(&e),
                other => other.to_string(),
            };
            self.err(message)
        })
    }

    /// Writes or extends this process's lease. A row that is gone was
    /// taken: the lease ran out (a stalled process, a lost network) and
    /// another process took what this one held; it is said, and a new lease
    /// written. (What this process still runs of the old claims is fenced:
    /// its records of them are not written.)
    async fn renew(&self) -> Result<()> {
        let client = self.client().await?;
        let host = std::env::var("HOSTNAME").unwrap_or_default();
        let lease_ms = self.lease.as_millis() as f64;
        let extended = client
            .execute(
                "UPDATE etl.owners SET lease_until = now() + $2 * interval '1 millisecond'
                 WHERE owner = $1",
                &[&self.owner, &lease_ms],
            )
            .await
            .map_err(|e| self.db(e))?;
        if extended == 1 {
            return Ok(());
        }
        if self.leased.swap(true, std::sync::atomic::Ordering::SeqCst) {
            tracing::warn!(
                store = %self.location,
                lease = ?self.lease,
                "this process's lease ran out before it was renewed; what it held was taken over by another process, and its records of those steps are not written"
            );
        }
        client
            .execute(
                "INSERT INTO etl.owners (owner, pid, host, lease_until)
                 VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
                 ON CONFLICT (owner) DO UPDATE SET lease_until = excluded.lease_until",
                &[&self.owner, &(std::process::id() as i32), &host, &lease_ms],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    async fn insert_run(&self, run: &RunStart, owner: Option<&str>, join: bool) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.db(e))?;
        // Two processes joining one run at once: the second waits here.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&run.run_id],
        )
        .await
        .map_err(|e| self.db(e))?;
        let existing = tx
            .query_opt(
                "SELECT workflow FROM etl.workflow_runs WHERE run_id = $1",
                &[&run.run_id],
            )
            .await
            .map_err(|e| self.db(e))?
            .map(|row| row.get::<_, String>(0));
        if crate::store::check_existing(run, existing, join, &self.location)? {
            // A tick runs once: schedulers of one workflow take turns
            // here, and the later one finds the tick taken.
            if let Some(tick) = run.scheduled_for {
                tx.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended('tick:' || $1, 0))",
                    &[&run.workflow],
                )
                .await
                .map_err(|e| self.db(e))?;
                let taken = tx
                        .query_opt(
                            "SELECT run_id FROM etl.workflow_runs WHERE workflow = $1 AND scheduled_for = $2",
                            &[&run.workflow, &tick],
                        )
                        .await
                        .map_err(|e| self.db(e))?;
                if let Some(row) = taken {
                    return Err(Error::TickTaken {
                        workflow: run.workflow.clone(),
                        tick: crate::state::time::to_text(tick),
                        run_id: row.get(0),
                    });
                }
            }
            let params = serde_json::to_string(&run.params).map_err(|e| self.db(e))?;
            tx.execute(
                    "INSERT INTO etl.workflow_runs
                        (run_id, workflow, status, trigger, params, version, owner, scheduled_for, started_at, started_by)
                     VALUES ($1, $2, 'RUNNING', $3, CAST($4 AS TEXT)::jsonb, $5, $6, $7, now(), $8)",
                    &[
                        &run.run_id,
                        &run.workflow,
                        &run.trigger.as_str(),
                        &params,
                        &run.version,
                        &owner,
                        &run.scheduled_for,
                        &run.started_by,
                    ],
                )
                .await
                .map_err(|e| self.db(e))?;
        }
        // Every step in one statement: a JSON list of {step, position, needs}.
        let steps = serde_json::Value::Array(
            run.steps
                .iter()
                .enumerate()
                .map(|(i, step)| {
                    serde_json::json!({
                        "step": step,
                        "position": i,
                        "needs": run.needs.get(i).cloned().unwrap_or_default(),
                    })
                })
                .collect(),
        )
        .to_string();
        tx.execute(
            "INSERT INTO etl.step_runs (run_id, step, position, status, needs)
             SELECT $1, t.step, t.position, 'PENDING', ARRAY(SELECT jsonb_array_elements_text(t.needs))
             FROM jsonb_to_recordset(CAST($2 AS TEXT)::jsonb) AS t (step TEXT, position INTEGER, needs JSONB)
             ON CONFLICT (run_id, step) DO NOTHING",
            &[&run.run_id, &steps],
        )
        .await
        .map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))
    }

    async fn resume_run(&self, run_id: &str, steps: &[String]) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.db(e))?;
        let changed = tx
            .execute(
                "UPDATE etl.workflow_runs SET status = 'RUNNING', owner = $2, finished_at = NULL, error = NULL, cancel_requested_at = NULL
                 WHERE run_id = $1",
                &[&run_id, &self.owner],
            )
            .await
            .map_err(|e| self.db(e))?;
        if changed == 0 {
            return Err(self.unknown_run(run_id));
        }
        tx.execute(
            "UPDATE etl.step_runs SET status = 'PENDING', finished_at = NULL, error = NULL, owner = NULL
             WHERE run_id = $1 AND step = ANY($2)",
            &[&run_id, &steps],
        )
        .await
        .map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))
    }

    fn unknown_run(&self, run_id: &str) -> Error {
        Error::UnknownRun {
            run_id: run_id.to_owned(),
            store: self.location.clone(),
        }
    }

    async fn mark_reused(
        &self,
        run_id: &str,
        step: &str,
        from_run: &str,
        output: &str,
    ) -> Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE etl.step_runs SET status = 'SUCCEEDED', started_at = now(), finished_at = now(),
                    output = $3, reused_from = $4, error = NULL
                 WHERE run_id = $1 AND step = $2",
                &[&run_id, &step, &output, &from_run],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    async fn fail_step(&self, run_id: &str, step: &str, why: &str) -> Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE etl.step_runs SET status = 'FAILED', finished_at = now(), error = $3
                 WHERE run_id = $1 AND step = $2",
                &[&run_id, &step, &why],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    async fn end_run(&self, run_id: &str, status: StepStatus, error: Option<&str>) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.db(e))?;
        let changed = tx
            .execute(
                "UPDATE etl.workflow_runs SET status = $2, finished_at = now(), error = $3, owner = NULL
                 WHERE run_id = $1",
                &[&run_id, &status.as_str(), &error],
            )
            .await
            .map_err(|e| self.db(e))?;
        if changed == 0 {
            return Err(self.unknown_run(run_id));
        }
        tx.execute(
            "UPDATE etl.step_runs SET status = 'CANCELLED', error = 'not run: the run ended first'
             WHERE run_id = $1 AND status = 'PENDING'",
            &[&run_id],
        )
        .await
        .map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))
    }

    /// As the SQLite store's: the steps read and the run written in one
    /// transaction, with the run's row locked first, so that two processes
    /// settling at once take turns and the later one writes the final status.
    async fn settle_run(&self, run_id: &str) -> Result<StepStatus> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.db(e))?;
        tx.execute(
            "SELECT 1 FROM etl.workflow_runs WHERE run_id = $1 FOR UPDATE",
            &[&run_id],
        )
        .await
        .map_err(|e| self.db(e))?;
        let steps = tx
            .query(
                "SELECT step, status, needs FROM etl.step_runs WHERE run_id = $1",
                &[&run_id],
            )
            .await
            .map_err(|e| self.db(e))?
            .iter()
            .map(|row| {
                let needs: Vec<String> = row.get(2);
                Ok((
                    row.get::<_, String>(0),
                    status(row.get(1), &self.location)?,
                    needs,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let settled = crate::store::settle(&steps);
        for (step, why) in &settled.skipped {
            tx.execute(
                "UPDATE etl.step_runs SET status = 'SKIPPED', finished_at = now(), error = $3
                 WHERE run_id = $1 AND step = $2 AND status = 'PENDING'",
                &[&run_id, step, why],
            )
            .await
            .map_err(|e| self.db(e))?;
        }
        let ended = settled.status != StepStatus::Running;
        tx.execute(
            "UPDATE etl.workflow_runs SET status = $2,
                finished_at = CASE WHEN $3 THEN coalesce(
                    (SELECT max(finished_at) FROM etl.step_runs WHERE run_id = $1), finished_at, now()) END,
                error = CASE WHEN $2 = 'SUCCEEDED' THEN NULL ELSE coalesce($4, error) END
             WHERE run_id = $1",
            &[&run_id, &settled.status.as_str(), &ended, &settled.error],
        )
        .await
        .map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))?;
        Ok(settled.status)
    }

    async fn query_runs(
        &self,
        filter: &str,
        args: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<RunRecord>> {
        let sql = format!(
            "SELECT r.run_id, r.workflow, r.status, r.trigger, r.params::text, r.version, r.scheduled_for,
                    r.started_at, r.finished_at, r.error,
                    (SELECT count(*) FROM etl.step_runs s WHERE s.run_id = r.run_id),
                    (SELECT count(*) FROM etl.step_runs s WHERE s.run_id = r.run_id AND s.status = 'SUCCEEDED'),
                    r.started_by, r.cancel_requested_at IS NOT NULL
             FROM etl.workflow_runs r {filter}"
        );
        let rows = self
            .client()
            .await?
            .query(&sql, args)
            .await
            .map_err(|e| self.db(e))?;
        rows.iter().map(|row| self.run_record(row)).collect()
    }

    fn run_record(&self, row: &Row) -> Result<RunRecord> {
        let run_id: String = row.get(0);
        let params: String = row.get(4);
        let params: BTreeMap<String, String> = serde_json::from_str(&params)
            .map_err(|e| self.err(format!("run {run_id:?}: params: {e}")))?;
        Ok(RunRecord {
            workflow: row.get(1),
            status: status(row.get(2), &self.location)?,
            trigger: row.get(3),
            params,
            version: row.get(5),
            scheduled_for: row.get(6),
            started_at: row.get(7),
            finished_at: row.get(8),
            error: row.get(9),
            steps: row.get::<_, i64>(10) as usize,
            succeeded: row.get::<_, i64>(11) as usize,
            started_by: row.get(12),
            cancel_requested: row.get(13),
            run_id,
        })
    }

    async fn steps(&self, run_id: &str) -> Result<Vec<StepRecord>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT step, status, attempts, started_at, finished_at, rows, output, reused_from, error
                 FROM etl.step_runs WHERE run_id = $1 ORDER BY position, step",
                &[&run_id],
            )
            .await
            .map_err(|e| self.db(e))?;
        rows.iter()
            .map(|row| {
                Ok(StepRecord {
                    step: row.get(0),
                    status: status(row.get(1), &self.location)?,
                    attempts: row.get::<_, i32>(2) as u32,
                    started_at: row.get(3),
                    finished_at: row.get(4),
                    rows: row.get::<_, Option<i64>>(5).map(|r| r as u64),
                    output: row.get::<_, Option<String>>(6),
                    reused_from: row.get(7),
                    error: row.get(8),
                })
            })
            .collect()
    }

    async fn attempts(&self, run_id: &str) -> Result<Vec<AttemptRecord>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT step, attempt, started_at, finished_at, status, error
                 FROM etl.step_attempts WHERE run_id = $1 ORDER BY step, attempt",
                &[&run_id],
            )
            .await
            .map_err(|e| self.db(e))?;
        rows.iter()
            .map(|row| {
                Ok(AttemptRecord {
                    step: row.get(0),
                    attempt: row.get::<_, i32>(1) as u32,
                    started_at: row.get(2),
                    finished_at: row.get(3),
                    status: row
                        .get::<_, Option<&str>>(4)
                        .map(|s| status(s, &self.location))
                        .transpose()?,
                    error: row.get(5),
                })
            })
            .collect()
    }

    async fn latest_output(&self, workflow: &str, step: &str) -> Result<Option<(String, String)>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT coalesce(s.reused_from, s.run_id), s.output
                 FROM etl.step_runs s JOIN etl.workflow_runs r USING (run_id)
                 WHERE r.workflow = $1 AND s.step = $2 AND s.status = 'SUCCEEDED' AND s.output IS NOT NULL
                 ORDER BY s.finished_at DESC LIMIT 1",
                &[&workflow, &step],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
    }

    async fn last_scheduled(&self, workflow: &str) -> Result<Option<SystemTime>> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT max(scheduled_for) FROM etl.workflow_runs WHERE workflow = $1",
                &[&workflow],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(row.get(0))
    }

    /// The owners holding something RUNNING whose lease ran out (or who
    /// have no lease row at all), each failed in its own transaction.
    async fn recover_abandoned(&self) -> Result<Vec<String>> {
        let rows = self
            .client()
            .await?
            .query(
                "WITH holders AS (
                    SELECT owner FROM etl.workflow_runs WHERE owner IS NOT NULL AND status = 'RUNNING'
                    UNION SELECT owner FROM etl.step_runs WHERE owner IS NOT NULL
                        AND status IN ('CLAIMED', 'RUNNING', 'RETRYING'))
                 SELECT h.owner, o.pid, o.host FROM holders h LEFT JOIN etl.owners o USING (owner)
                 WHERE h.owner <> $1 AND (o.owner IS NULL OR o.lease_until < now())",
                &[&self.owner],
            )
            .await
            .map_err(|e| self.db(e))?;
        let mut abandoned = Vec::new();
        for row in rows {
            let owner: String = row.get(0);
            let pid: Option<i32> = row.get(1);
            let host: Option<String> = row.get(2);
            let by = match (pid, host.filter(|h| !h.is_empty())) {
                (Some(pid), Some(host)) => format!("pid {pid} on {host}"),
                (Some(pid), None) => format!("pid {pid}"),
                _ => format!("owner {owner}"),
            };
            let why = format!(
                "abandoned: the process running it ({by}) stopped renewing its lease without finishing it"
            );
            let (runs, stepwise) = self.fail_owned(&owner, &why).await?;
            abandoned.extend(runs);
            for run_id in stepwise {
                self.settle_run(&run_id).await?;
                abandoned.push(run_id);
            }
            self.client()
                .await?
                .execute(
                    "DELETE FROM etl.owners WHERE owner = $1 AND lease_until < now()",
                    &[&owner],
                )
                .await
                .map_err(|e| self.db(e))?;
        }
        Ok(abandoned)
    }

    /// One statement: the runnable steps, locked, skipping those another
    /// claim holds (`FOR UPDATE SKIP LOCKED`), made CLAIMED by this process.
    /// A row another claim committed meanwhile is checked again by
    /// PostgreSQL against `status = 'PENDING'`, so no step is claimed twice.
    async fn claim_steps(&self, workflow: &str, limit: usize) -> Result<Vec<crate::Claim>> {
        self.recover_abandoned().await?;
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows = self
            .client()
            .await?
            .query(
                "WITH ready AS (
                    SELECT s.run_id, s.step FROM etl.step_runs s
                    JOIN etl.workflow_runs r USING (run_id)
                    WHERE r.workflow = $1 AND r.trigger = 'queue' AND r.status = 'RUNNING'
                      AND s.status = 'PENDING'
                      AND NOT EXISTS (
                          SELECT 1 FROM etl.step_runs d
                          WHERE d.run_id = s.run_id AND d.step = ANY (s.needs) AND d.status <> 'SUCCEEDED')
                    ORDER BY r.seq, s.position
                    LIMIT $2
                    FOR UPDATE OF s SKIP LOCKED)
                 UPDATE etl.step_runs s SET status = 'CLAIMED', owner = $3, error = NULL
                 FROM ready WHERE s.run_id = ready.run_id AND s.step = ready.step
                 RETURNING s.run_id, s.step, s.attempts,
                    (SELECT r.params::text FROM etl.workflow_runs r WHERE r.run_id = s.run_id)",
                &[&workflow, &limit, &self.owner],
            )
            .await
            .map_err(|e| self.db(e))?;
        rows.iter()
            .map(|row| {
                let run_id: String = row.get(0);
                let params: String = row.get(3);
                Ok(crate::Claim {
                    params: serde_json::from_str(&params)
                        .map_err(|e| self.err(format!("run {run_id:?}: params: {e}")))?,
                    step: row.get(1),
                    attempts: row.get::<_, i32>(2) as u32,
                    run_id,
                })
            })
            .collect()
    }

    async fn release_step(&self, run_id: &str, step: &str, why: &str) -> Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE etl.step_runs SET status = 'PENDING', owner = NULL, error = $4
                 WHERE run_id = $1 AND step = $2 AND owner = $3
                   AND status IN ('CLAIMED', 'RUNNING', 'RETRYING')",
                &[&run_id, &step, &self.owner, &why],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    /// Takes `name`'s row when it is free, ours, or held by an owner whose
    /// lease ran out; one statement, so two takers cannot both win.
    async fn lead(&self, name: &str) -> Result<bool> {
        let row = self
            .client()
            .await?
            .query_opt(
                "INSERT INTO etl.leaders AS l (name, owner, since) VALUES ($1, $2, now())
                 ON CONFLICT (name) DO UPDATE
                    SET owner = excluded.owner,
                        since = CASE WHEN l.owner = excluded.owner THEN l.since ELSE now() END
                    WHERE l.owner = excluded.owner OR NOT EXISTS (
                        SELECT 1 FROM etl.owners o WHERE o.owner = l.owner AND o.lease_until >= now())
                 RETURNING owner",
                &[&name, &self.owner],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(row.is_some())
    }

    async fn list_runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>> {
        use tokio_postgres::types::ToSql;
        let status = query.status.map(|s| s.as_str());
        let limit = query.limit.min(i64::MAX as usize) as i64;
        let mut filter = vec!["TRUE".to_owned()];
        let mut args: Vec<&(dyn ToSql + Sync)> = Vec::new();
        fn arg<'q>(
            args: &mut Vec<&'q (dyn ToSql + Sync)>,
            value: &'q (dyn ToSql + Sync),
        ) -> String {
            args.push(value);
            format!("${}", args.len())
        }
        if let Some(workflow) = &query.workflow {
            filter.push(format!("r.workflow = {}", arg(&mut args, workflow)));
        }
        if let Some(status) = &status {
            filter.push(format!("r.status = {}", arg(&mut args, status)));
        }
        if let Some(since) = &query.since {
            filter.push(format!("r.started_at >= {}", arg(&mut args, since)));
        }
        if let Some(until) = &query.until {
            filter.push(format!("r.started_at < {}", arg(&mut args, until)));
        }
        if let Some(since) = &query.finished_since {
            filter.push(format!("r.finished_at >= {}", arg(&mut args, since)));
        }
        if let Some(after) = &query.after {
            let known = self
                .client()
                .await?
                .query_opt(
                    "SELECT 1 FROM etl.workflow_runs WHERE run_id = $1",
                    &[after],
                )
                .await
                .map_err(|e| self.db(e))?;
            if known.is_none() {
                return Err(self.unknown_run(after));
            }
            let at = arg(&mut args, after);
            filter.push(format!(
                "(r.started_at, r.seq) < (SELECT started_at, seq FROM etl.workflow_runs WHERE run_id = {at})"
            ));
        }
        let limit = arg(&mut args, &limit);
        self.query_runs(
            &format!(
                "WHERE {} ORDER BY r.started_at DESC, r.seq DESC LIMIT {limit}",
                filter.join(" AND ")
            ),
            &args,
        )
        .await
    }

    async fn register_workflow(&self, info: &WorkflowInfo) -> Result<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO etl.workflows (name, version, graph, schedule, zone, registered_at, updated_at)
                 VALUES ($1, $2, CAST($3 AS TEXT)::jsonb, $4, $5, now(), now())
                 ON CONFLICT (name) DO UPDATE SET version = excluded.version, graph = excluded.graph,
                    schedule = excluded.schedule, zone = excluded.zone, updated_at = excluded.updated_at",
                &[&info.name, &info.version, &info.graph_json(), &info.schedule, &info.zone],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    async fn query_workflows(
        &self,
        filter: &str,
        args: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<WorkflowRecord>> {
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT name, version, graph::text, schedule, zone, enabled, registered_at, updated_at
                     FROM etl.workflows {filter}"
                ),
                args,
            )
            .await
            .map_err(|e| self.db(e))?;
        rows.iter()
            .map(|row| {
                let graph: String = row.get(2);
                let mut info = WorkflowInfo::named(row.get(0), row.get(1))
                    .with_graph(&graph)
                    .map_err(|e| self.err(e))?;
                info.schedule = row.get(3);
                info.zone = row.get(4);
                Ok(WorkflowRecord {
                    info,
                    enabled: row.get(5),
                    registered_at: row.get(6),
                    updated_at: row.get(7),
                })
            })
            .collect()
    }

    async fn set_enabled(&self, name: &str, enabled: bool) -> Result<()> {
        let changed = self
            .client()
            .await?
            .execute(
                "UPDATE etl.workflows SET enabled = $2, updated_at = now() WHERE name = $1",
                &[&name, &enabled],
            )
            .await
            .map_err(|e| self.db(e))?;
        if changed == 0 {
            return Err(self.unknown_workflow(name));
        }
        Ok(())
    }

    fn unknown_workflow(&self, name: &str) -> Error {
        Error::UnknownWorkflow {
            name: name.to_owned(),
            store: self.location.clone(),
        }
    }

    async fn metrics(&self) -> Result<StoreMetrics> {
        let client = self.client().await?;
        let rows = |sql: &'static str| {
            let client = &client;
            async move {
                client
                    .query(sql, &[])
                    .await
                    .map_err(|e| self.db(e))
                    .map(|rows| {
                        rows.iter()
                            .map(|row| {
                                (
                                    row.get::<_, String>(0),
                                    row.get::<_, String>(1),
                                    row.get::<_, i64>(2) as u64,
                                )
                            })
                            .collect::<Vec<_>>()
                    })
            }
        };
        let runs = rows(
            "SELECT workflow, status, count(*) FROM etl.workflow_runs GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .await?;
        let steps = rows(
            "SELECT r.workflow, s.status, count(*) FROM etl.step_runs s JOIN etl.workflow_runs r USING (run_id)
             GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .await?;
        let queued = rows(
            "SELECT r.workflow, '', count(*) FROM etl.step_runs s JOIN etl.workflow_runs r USING (run_id)
             WHERE s.status = 'PENDING' AND r.status = 'RUNNING' AND r.trigger = 'queue' GROUP BY 1 ORDER BY 1",
        )
        .await?;
        let lost = rows(
            "SELECT r.workflow, '', sum(s.lost_claims)::bigint FROM etl.step_runs s JOIN etl.workflow_runs r USING (run_id)
             GROUP BY 1 HAVING sum(s.lost_claims) > 0 ORDER BY 1",
        )
        .await?;
        let buckets: Vec<String> = crate::store::STEP_SECONDS_BUCKETS
            .iter()
            .map(|le| format!("count(*) FILTER (WHERE d <= {le})"))
            .collect();
        let step_seconds = client
            .query(
                &format!(
                    "SELECT workflow, {}, count(*), coalesce(sum(d), 0)::float8 FROM (
                        SELECT r.workflow, extract(epoch FROM s.finished_at - s.started_at)::float8 AS d
                        FROM etl.step_runs s JOIN etl.workflow_runs r USING (run_id)
                        WHERE s.started_at IS NOT NULL AND s.finished_at IS NOT NULL AND s.reused_from IS NULL) t
                     GROUP BY 1 ORDER BY 1",
                    buckets.join(", ")
                ),
                &[],
            )
            .await
            .map_err(|e| self.db(e))?
            .iter()
            .map(|row| {
                let mut le = [0u64; 8];
                for (i, slot) in le.iter_mut().enumerate() {
                    *slot = row.get::<_, i64>(i + 1) as u64;
                }
                (row.get(0), le, row.get::<_, i64>(9) as u64, row.get::<_, f64>(10))
            })
            .collect();
        Ok(StoreMetrics {
            runs,
            steps,
            step_seconds,
            queued: queued.into_iter().map(|(w, _, n)| (w, n)).collect(),
            lost_claims: lost.into_iter().map(|(w, _, n)| (w, n)).collect(),
        })
    }

    async fn settle_ended_runs(&self) -> Result<Vec<String>> {
        let candidates: Vec<String> = self
            .client()
            .await?
            .query(&crate::store::ended_unsettled("etl."), &[])
            .await
            .map_err(|e| self.db(e))?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let mut ended = Vec::new();
        for run_id in candidates {
            if self.settle_run(&run_id).await? != StepStatus::Running {
                ended.push(run_id);
            }
        }
        Ok(ended)
    }

    async fn cancel_run(&self, run_id: &str, why: &str) -> Result<()> {
        // A run whose steps have all ended is settled first: cancelling it
        // then changes nothing (it has ended).
        let unsettled = self
            .client()
            .await?
            .query_opt(
                "SELECT owner IS NULL AND status = 'RUNNING' FROM etl.workflow_runs WHERE run_id = $1",
                &[&run_id],
            )
            .await
            .map_err(|e| self.db(e))?
            .is_some_and(|row| row.get::<_, bool>(0));
        if unsettled {
            self.settle_run(run_id).await?;
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.db(e))?;
        let row = tx
            .query_opt(
                "SELECT status, owner FROM etl.workflow_runs WHERE run_id = $1 FOR UPDATE",
                &[&run_id],
            )
            .await
            .map_err(|e| self.db(e))?;
        let Some(row) = row else {
            return Err(self.unknown_run(run_id));
        };
        let status: String = row.get(0);
        let owner: Option<String> = row.get(1);
        if status != StepStatus::Running.as_str() {
            return Err(Error::RunEnded {
                run_id: run_id.to_owned(),
                status,
            });
        }
        tx.execute(
            "UPDATE etl.workflow_runs SET cancel_requested_at = now() WHERE run_id = $1",
            &[&run_id],
        )
        .await
        .map_err(|e| self.db(e))?;
        tx.execute(
            "UPDATE etl.step_runs SET status = 'CANCELLED', finished_at = now(), error = $2
             WHERE run_id = $1 AND status = 'PENDING'",
            &[&run_id, &why],
        )
        .await
        .map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))?;
        if owner.is_none() {
            self.settle_run(run_id).await?;
        }
        Ok(())
    }

    async fn cancel_requested(&self, run_id: &str) -> Result<bool> {
        Ok(self
            .client()
            .await?
            .query_opt(
                "SELECT cancel_requested_at IS NOT NULL FROM etl.workflow_runs WHERE run_id = $1",
                &[&run_id],
            )
            .await
            .map_err(|e| self.db(e))?
            .is_some_and(|row| row.get(0)))
    }

    async fn requeue_run(&self, run_id: &str, steps: &[String]) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.db(e))?;
        let status: Option<String> = tx
            .query_opt(
                "SELECT status FROM etl.workflow_runs WHERE run_id = $1 FOR UPDATE",
                &[&run_id],
            )
            .await
            .map_err(|e| self.db(e))?
            .map(|row| row.get(0));
        match status.as_deref() {
            None => return Err(self.unknown_run(run_id)),
            Some("RUNNING") => {
                return Err(Error::StillRunning {
                    run_id: run_id.to_owned(),
                });
            }
            Some(_) => {}
        }
        tx.execute(
            "UPDATE etl.workflow_runs SET status = 'RUNNING', trigger = 'queue', owner = NULL,
                finished_at = NULL, error = NULL, cancel_requested_at = NULL
             WHERE run_id = $1",
            &[&run_id],
        )
        .await
        .map_err(|e| self.db(e))?;
        tx.execute(
            "UPDATE etl.step_runs SET status = 'PENDING', owner = NULL, finished_at = NULL, error = NULL
             WHERE run_id = $1 AND step = ANY ($2)",
            &[&run_id, &steps],
        )
        .await
        .map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))
    }

    /// One transaction that locks out new runs of every workflow while it
    /// looks for a running one and deletes (a run queued meanwhile would
    /// otherwise be half deleted).
    async fn delete_workflow(&self, name: &str, force: bool) -> Result<usize> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.db(e))?;
        tx.batch_execute("LOCK TABLE etl.workflow_runs IN SHARE ROW EXCLUSIVE MODE")
            .await
            .map_err(|e| self.db(e))?;
        if !force
            && let Some(row) = tx
                .query_opt(
                    "SELECT run_id FROM etl.workflow_runs WHERE workflow = $1 AND status = 'RUNNING'
                     ORDER BY started_at LIMIT 1",
                    &[&name],
                )
                .await
                .map_err(|e| self.db(e))?
        {
            return Err(Error::WorkflowRunning {
                name: name.to_owned(),
                run_id: row.get(0),
            });
        }
        tx.execute(
            "DELETE FROM etl.step_runs WHERE run_id IN (SELECT run_id FROM etl.workflow_runs WHERE workflow = $1)",
            &[&name],
        )
        .await
        .map_err(|e| self.db(e))?;
        let runs = tx
            .execute(
                "DELETE FROM etl.workflow_runs WHERE workflow = $1",
                &[&name],
            )
            .await
            .map_err(|e| self.db(e))?;
        tx.execute("DELETE FROM etl.leaders WHERE name = $1", &[&name])
            .await
            .map_err(|e| self.db(e))?;
        let registered = tx
            .execute("DELETE FROM etl.workflows WHERE name = $1", &[&name])
            .await
            .map_err(|e| self.db(e))?;
        if registered == 0 && runs == 0 {
            return Err(self.unknown_workflow(name));
        }
        tx.commit().await.map_err(|e| self.db(e))?;
        Ok(runs as usize)
    }

    async fn skip_steps(&self, run_id: &str, steps: &[String], why: &str) -> Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE etl.step_runs SET status = 'SKIPPED', finished_at = now(), error = $3
                 WHERE run_id = $1 AND step = ANY ($2) AND status = 'PENDING'",
                &[&run_id, &steps, &why],
            )
            .await
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    async fn fail_unfinished(&self, why: &str) -> Result<Vec<String>> {
        let (mut runs, stepwise) = self.fail_owned(&self.owner, why).await?;
        for run_id in stepwise {
            self.settle_run(&run_id).await?;
            runs.push(run_id);
        }
        Ok(runs)
    }

    /// As the SQLite store's: FAILED for what `owner` holds RUNNING,
    /// CANCELLED for the PENDING steps of its runs; those runs, and the runs
    /// of one step per process to settle.
    async fn fail_owned(&self, owner: &str, why: &str) -> Result<(Vec<String>, Vec<String>)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.db(e))?;
        let runs: Vec<String> = tx
            .query(
                "SELECT run_id FROM etl.workflow_runs WHERE owner = $1 AND status = 'RUNNING' FOR UPDATE",
                &[&owner],
            )
            .await
            .map_err(|e| self.db(e))?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let stepwise: Vec<String> = tx
            .query(
                "SELECT DISTINCT s.run_id FROM etl.step_runs s JOIN etl.workflow_runs r USING (run_id)
                 WHERE s.owner = $1 AND s.status IN ('CLAIMED', 'RUNNING', 'RETRYING') AND r.owner IS NULL",
                &[&owner],
            )
            .await
            .map_err(|e| self.db(e))?
            .iter()
            .map(|row| row.get(0))
            .collect();
        // A queued run's step goes back to the queue, to run again as a new
        // attempt, until it has lost its worker too often.
        let max = crate::store::MAX_LOST_ATTEMPTS as i32;
        tx.execute(
            "UPDATE etl.step_runs s SET status = 'PENDING', error = $2 || '; queued again', owner = NULL,
                lost_claims = s.lost_claims + 1
             FROM etl.workflow_runs r
             WHERE s.run_id = r.run_id AND r.trigger = 'queue'
               AND s.owner = $1 AND s.status IN ('CLAIMED', 'RUNNING', 'RETRYING') AND s.attempts < $3",
            &[&owner, &why, &max],
        )
        .await
        .map_err(|e| self.db(e))?;
        tx.execute(
            "UPDATE etl.step_runs SET status = 'FAILED', finished_at = now(), error = $2, owner = NULL
             WHERE owner = $1 AND status IN ('CLAIMED', 'RUNNING', 'RETRYING')",
            &[&owner, &why],
        )
        .await
        .map_err(|e| self.db(e))?;
        tx.execute(
            "UPDATE etl.step_runs SET status = 'CANCELLED', error = $1
             WHERE status = 'PENDING' AND run_id = ANY($2)",
            &[&why, &runs],
        )
        .await
        .map_err(|e| self.db(e))?;
        tx.execute(
            "UPDATE etl.workflow_runs SET status = 'FAILED', finished_at = now(), error = $2, owner = NULL
             WHERE owner = $1 AND status = 'RUNNING'",
            &[&owner, &why],
        )
        .await
        .map_err(|e| self.db(e))?;
        tx.commit().await.map_err(|e| self.db(e))?;
        Ok((runs, stepwise))
    }
}

/// Each method is one transaction (or one statement) on a pooled connection.
impl StateStore for PgStore {
    fn location(&self) -> String {
        self.inner.location.clone()
    }
    fn outputs_dir(&self, run_id: &str) -> Result<PathBuf> {
        etl_dag::check_run_id(run_id)?;
        Ok(self.inner.outputs.join(run_id))
    }
    fn begin_run<'a>(&'a self, run: &'a RunStart) -> StoreFuture<'a, ()> {
        Box::pin(self.inner.insert_run(run, Some(&self.inner.owner), false))
    }
    fn join_run<'a>(&'a self, run: &'a RunStart) -> StoreFuture<'a, ()> {
        Box::pin(self.inner.insert_run(run, None, true))
    }
    fn resume_run<'a>(&'a self, run_id: &'a str, steps: &'a [String]) -> StoreFuture<'a, ()> {
        Box::pin(self.inner.resume_run(run_id, steps))
    }
    fn mark_reused<'a>(
        &'a self,
        run_id: &'a str,
        step: &'a str,
        from_run: &'a str,
        output: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.inner.mark_reused(run_id, step, from_run, output))
    }
    fn fail_step<'a>(
        &'a self,
        run_id: &'a str,
        step: &'a str,
        why: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.inner.fail_step(run_id, step, why))
    }
    fn recorder(&self) -> Result<Arc<dyn EventRecorder>> {
        Ok(Arc::new(recorder::PgRecorder::start(self.inner.clone())))
    }
    fn finish_run<'a>(&'a self, report: &'a RunReport) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let (status, error) = crate::store::outcome(report);
            self.inner
                .end_run(&report.run_id, status, error.as_deref())
                .await
        })
    }
    fn settle_run<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, StepStatus> {
        Box::pin(self.inner.settle_run(run_id))
    }
    fn runs<'a>(&'a self, workflow: &'a str, limit: usize) -> StoreFuture<'a, Vec<RunRecord>> {
        Box::pin(async move {
            let limit = limit.min(i64::MAX as usize) as i64;
            self.inner
                .query_runs(
                    "WHERE r.workflow = $1 ORDER BY r.started_at DESC, r.seq DESC LIMIT $2",
                    &[&workflow, &limit],
                )
                .await
        })
    }
    fn run<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, Option<RunRecord>> {
        Box::pin(async move {
            Ok(self
                .inner
                .query_runs("WHERE r.run_id = $1", &[&run_id])
                .await?
                .pop())
        })
    }
    fn steps<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, Vec<StepRecord>> {
        Box::pin(self.inner.steps(run_id))
    }
    fn attempts<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, Vec<AttemptRecord>> {
        Box::pin(self.inner.attempts(run_id))
    }
    fn latest_output<'a>(
        &'a self,
        workflow: &'a str,
        step: &'a str,
    ) -> StoreFuture<'a, Option<(String, String)>> {
        Box::pin(self.inner.latest_output(workflow, step))
    }
    fn last_scheduled<'a>(&'a self, workflow: &'a str) -> StoreFuture<'a, Option<SystemTime>> {
        Box::pin(self.inner.last_scheduled(workflow))
    }
    fn recover_abandoned(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(self.inner.recover_abandoned())
    }
    fn settle_ended_runs(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(self.inner.settle_ended_runs())
    }
    fn fail_unfinished<'a>(&'a self, why: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(self.inner.fail_unfinished(why))
    }
    fn enqueue_run<'a>(&'a self, run: &'a RunStart) -> StoreFuture<'a, ()> {
        Box::pin(self.inner.insert_run(run, None, false))
    }
    fn claim_steps<'a>(
        &'a self,
        workflow: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<crate::Claim>> {
        Box::pin(self.inner.claim_steps(workflow, limit))
    }
    fn lead<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(self.inner.lead(name))
    }
    fn release_step<'a>(
        &'a self,
        run_id: &'a str,
        step: &'a str,
        why: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.inner.release_step(run_id, step, why))
    }
    fn skip_steps<'a>(
        &'a self,
        run_id: &'a str,
        steps: &'a [String],
        why: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.inner.skip_steps(run_id, steps, why))
    }
    fn list_runs<'a>(&'a self, query: &'a RunQuery) -> StoreFuture<'a, Vec<RunRecord>> {
        Box::pin(self.inner.list_runs(query))
    }
    fn register_workflow<'a>(&'a self, info: &'a WorkflowInfo) -> StoreFuture<'a, ()> {
        Box::pin(self.inner.register_workflow(info))
    }
    fn workflows(&self) -> StoreFuture<'_, Vec<WorkflowRecord>> {
        Box::pin(self.inner.query_workflows("ORDER BY name", &[]))
    }
    fn workflow<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<WorkflowRecord>> {
        Box::pin(async move {
            Ok(self
                .inner
                .query_workflows("WHERE name = $1", &[&name])
                .await?
                .pop())
        })
    }
    fn set_enabled<'a>(&'a self, name: &'a str, enabled: bool) -> StoreFuture<'a, ()> {
        Box::pin(self.inner.set_enabled(name, enabled))
    }
    fn delete_workflow<'a>(&'a self, name: &'a str, force: bool) -> StoreFuture<'a, usize> {
        Box::pin(self.inner.delete_workflow(name, force))
    }
    fn cancel_run<'a>(&'a self, run_id: &'a str, why: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.inner.cancel_run(run_id, why))
    }
    fn cancel_requested<'a>(&'a self, run_id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(self.inner.cancel_requested(run_id))
    }
    fn requeue_run<'a>(&'a self, run_id: &'a str, steps: &'a [String]) -> StoreFuture<'a, ()> {
        Box::pin(self.inner.requeue_run(run_id, steps))
    }
    fn metrics(&self) -> StoreFuture<'_, StoreMetrics> {
        Box::pin(self.inner.metrics())
    }
}
