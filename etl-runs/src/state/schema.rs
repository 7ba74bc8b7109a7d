//! The state store's tables, and the migrations that bring an older file up
//! to date. `PRAGMA user_version` holds the version a file is at.

use rusqlite::Connection;

/// Each migration takes a file from version `i` to `i + 1`. Append, never edit.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: runs and their steps.
    "CREATE TABLE workflow_runs (
        run_id TEXT PRIMARY KEY,
        workflow TEXT NOT NULL,
        status TEXT NOT NULL,
        trigger TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        version TEXT NOT NULL,
        owner TEXT,
        scheduled_for TEXT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        error TEXT
    );
    CREATE INDEX workflow_runs_by_start ON workflow_runs (workflow, started_at);
    CREATE TABLE step_runs (
        run_id TEXT NOT NULL REFERENCES workflow_runs (run_id) ON DELETE CASCADE,
        step TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        started_at TEXT,
        finished_at TEXT,
        rows INTEGER,
        output TEXT,
        reused_from TEXT,
        owner TEXT,
        error TEXT,
        PRIMARY KEY (run_id, step)
    );",
    // 2: the queue: what each step waits for (a JSON list of step names).
    "ALTER TABLE step_runs ADD COLUMN needs TEXT NOT NULL DEFAULT '[]';
    CREATE INDEX step_runs_pending ON step_runs (run_id) WHERE status = 'PENDING';",
    // 3: one scheduler among many: who leads each workflow's schedule.
    "CREATE TABLE leaders (name TEXT PRIMARY KEY, owner TEXT NOT NULL, since TEXT NOT NULL);
    CREATE INDEX workflow_runs_by_tick ON workflow_runs (workflow, scheduled_for)
        WHERE scheduled_for IS NOT NULL;",
    // 4: the workflows registered with the store (for a server that holds no
    // workflow code), whether each is enabled; who started each run, and whether it was asked
    // to stop; how often each step lost its worker.
    "CREATE TABLE workflows (
        name TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        graph TEXT NOT NULL,
        schedule TEXT,
        zone TEXT,
        enabled INTEGER NOT NULL DEFAULT 1,
        registered_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    ALTER TABLE workflow_runs ADD COLUMN started_by TEXT;
    ALTER TABLE workflow_runs ADD COLUMN cancel_requested_at TEXT;
    ALTER TABLE step_runs ADD COLUMN lost_claims INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX workflow_runs_by_time ON workflow_runs (started_at);",
    // 5: the runs still RUNNING, which every worker, server and scheduler
    // looks over for those whose steps have all ended (to settle them).
    "CREATE INDEX workflow_runs_running ON workflow_runs (run_id) WHERE status = 'RUNNING';",
    // 6: each attempt of each step: when it started and ended, and how, so
    // that a step re-run in the same run (a task cleared in Airflow, a
    // retry, a step taken over from a lost worker) keeps every attempt's
    // times. `status` and `finished_at` stay NULL while it runs, and for
    // an attempt whose end was never recorded (its process was lost).
    "CREATE TABLE step_attempts (
        run_id TEXT NOT NULL REFERENCES workflow_runs (run_id) ON DELETE CASCADE,
        step TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        owner TEXT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT,
        error TEXT,
        PRIMARY KEY (run_id, step, attempt)
    );",
];

/// The version this build writes.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the file to [`VERSION`], in one transaction that a concurrent
/// process waits on: each migration runs once. A file newer than this build
/// is refused.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), String> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| e.to_string())?;
    if version > VERSION {
        return Err(format!(
            "its schema is version {version}, newer than this program's {VERSION}: run a newer build"
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)
            .map_err(|e| format!("migrating to version {}: {e}", i + 1))?;
    }
    tx.pragma_update(None, "user_version", VERSION)
        .map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())
}
