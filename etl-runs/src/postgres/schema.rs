//! The PostgreSQL store's tables, in a schema of their own (`etl`), and the
//! migrations that bring an older database up to date.

/// Each migration takes the database from version `i` to `i + 1`. Append,
/// never edit. The tables mean what the SQLite store's do; times are
/// `TIMESTAMPTZ`, parameters `JSONB`.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: runs, their steps, and the processes that hold them.
    "CREATE TABLE etl.workflow_runs (
        run_id TEXT PRIMARY KEY,
        workflow TEXT NOT NULL,
        status TEXT NOT NULL,
        trigger TEXT NOT NULL,
        params JSONB NOT NULL DEFAULT '{}',
        version TEXT NOT NULL,
        owner TEXT,
        scheduled_for TIMESTAMPTZ,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        error TEXT,
        seq BIGSERIAL NOT NULL
    );
    CREATE INDEX workflow_runs_by_start ON etl.workflow_runs (workflow, started_at);
    CREATE TABLE etl.step_runs (
        run_id TEXT NOT NULL REFERENCES etl.workflow_runs (run_id) ON DELETE CASCADE,
        step TEXT NOT NULL,
        position INTEGER NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        rows BIGINT,
        output TEXT,
        reused_from TEXT,
        owner TEXT,
        error TEXT,
        PRIMARY KEY (run_id, step)
    );
    CREATE INDEX step_runs_by_owner ON etl.step_runs (owner) WHERE owner IS NOT NULL;
    CREATE TABLE etl.owners (
        owner TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        lease_until TIMESTAMPTZ NOT NULL
    );",
    // 2: the queue. What each step waits for, so that a worker can tell a
    // runnable step without the workflow; indexes for the claim.
    "ALTER TABLE etl.step_runs ADD COLUMN needs TEXT[] NOT NULL DEFAULT '{}';
    CREATE INDEX step_runs_pending ON etl.step_runs (run_id) WHERE status = 'PENDING';
    CREATE INDEX workflow_runs_queued ON etl.workflow_runs (workflow, seq)
        WHERE trigger = 'queue' AND status = 'RUNNING';",
    // 3: one scheduler among many: who leads each workflow's schedule.
    "CREATE TABLE etl.leaders (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        since TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX workflow_runs_by_tick ON etl.workflow_runs (workflow, scheduled_for)
        WHERE scheduled_for IS NOT NULL;",
    // 4: the workflows registered with the store (for a server that holds no
    // workflow code), whether each is enabled; who started each run, and whether it was asked
    // to stop; how often each step lost its worker.
    "CREATE TABLE etl.workflows (
        name TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        graph JSONB NOT NULL,
        schedule TEXT,
        zone TEXT,
        enabled BOOLEAN NOT NULL DEFAULT TRUE,
        registered_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    );
    ALTER TABLE etl.workflow_runs ADD COLUMN started_by TEXT;
    ALTER TABLE etl.workflow_runs ADD COLUMN cancel_requested_at TIMESTAMPTZ;
    ALTER TABLE etl.step_runs ADD COLUMN lost_claims INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX workflow_runs_by_time ON etl.workflow_runs (started_at, seq);",
    // 5: the runs still RUNNING, which every worker, server and scheduler
    // looks over for those whose steps have all ended (to settle them).
    "CREATE INDEX workflow_runs_running ON etl.workflow_runs (run_id) WHERE status = 'RUNNING';",
    // 6: each attempt of each step, as the SQLite store's.
    "CREATE TABLE etl.step_attempts (
        run_id TEXT NOT NULL REFERENCES etl.workflow_runs (run_id) ON DELETE CASCADE,
        step TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        owner TEXT,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        status TEXT,
        error TEXT,
        PRIMARY KEY (run_id, step, attempt)
    );",
];

/// The version this build writes.
pub(super) const VERSION: i32 = MIGRATIONS.len() as i32;

/// The key of the advisory lock that migrations hold: two processes opening
/// a fresh database at once take turns, and the second finds it migrated.
pub(super) const MIGRATION_LOCK: i64 = 0x0065_746c_5f6d_6967; // "etl_mig"

/// Brings the database to [`VERSION`] in one transaction, under
/// [`MIGRATION_LOCK`]. A database newer than this build is refused.
pub(super) async fn migrate(client: &mut tokio_postgres::Client) -> Result<(), String> {
    let tx = client.transaction().await.map_err(|e| e.to_string())?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| e.to_string())?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS etl;
         CREATE TABLE IF NOT EXISTS etl.schema_version (version INTEGER NOT NULL);",
    )
    .await
    .map_err(|e| e.to_string())?;
    let version: i32 = tx
        .query_opt("SELECT max(version) FROM etl.schema_version", &[])
        .await
        .map_err(|e| e.to_string())?
        .and_then(|row| row.get::<_, Option<i32>>(0))
        .unwrap_or(0);
    if version > VERSION {
        return Err(format!(
            "its schema is version {version}, newer than this program's {VERSION}: run a newer build"
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| format!("migrating to version {}: {e}", i + 1))?;
    }
    if version < VERSION {
        tx.execute("DELETE FROM etl.schema_version", &[])
            .await
            .map_err(|e| e.to_string())?;
        tx.execute("INSERT INTO etl.schema_version VALUES ($1)", &[&VERSION])
            .await
            .map_err(|e| e.to_string())?;
    }
    tx.commit().await.map_err(|e| e.to_string())
}
