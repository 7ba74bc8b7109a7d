//! The [`Warehouse`] trait: where tables land.

use std::fmt;
use std::future::Future;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::{BatchStream, Result, TableSpec};

/// The name of the table in which a warehouse records every load.
pub const LOADS_TABLE: &str = "_etl_loads";

/// The name of the table in which a warehouse keeps incremental cursors,
/// one per (source, table), written in the same transaction as the data.
pub const STATE_TABLE: &str = "_etl_state";

/// Options of one [`Warehouse::write`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteOptions {
    /// Drop the existing table and create it anew from the load's schema, in
    /// the same transaction as the write: if the write fails, the old table
    /// stays as it was.
    pub recreate: bool,
    /// The source whose incremental cursor this write carries: when set and
    /// the stream's [`ExtractNotes`](crate::ExtractNotes) hold a cursor once
    /// it has ended, the warehouse stores it in [`STATE_TABLE`] under
    /// (source, table) in the write's transaction, so a failed write leaves
    /// the cursor where it was.
    pub source: Option<String>,
}

impl WriteOptions {
    /// Options that drop and recreate the table when `recreate` is true.
    pub fn recreate(recreate: bool) -> Self {
        WriteOptions {
            recreate,
            source: None,
        }
    }

    /// Stores the stream's cursor under `source`; see [`WriteOptions::source`].
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }
}

/// What one successful [`Warehouse::write`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct WriteSummary {
    /// The id under which the load is recorded in `_etl_loads`.
    pub load_id: String,
    /// Rows written (for a merge: rows inserted or updated).
    pub rows: u64,
    /// Columns of the table after the write.
    pub columns: usize,
    /// Columns added to an existing table by this write.
    pub added_columns: Vec<String>,
}

impl WriteSummary {
    /// Assembles a summary (used by warehouse implementations).
    pub fn new(load_id: String, rows: u64, columns: usize, added_columns: Vec<String>) -> Self {
        WriteSummary {
            load_id,
            rows,
            columns,
            added_columns,
        }
    }
}

/// How a recorded load ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadStatus {
    /// Committed.
    Succeeded,
    /// Rolled back; the table is as it was before.
    Failed,
}

impl LoadStatus {
    /// The upper-case name stored in `_etl_loads`.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadStatus::Succeeded => "SUCCEEDED",
            LoadStatus::Failed => "FAILED",
        }
    }

    /// Parses a stored status.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "SUCCEEDED" => Some(LoadStatus::Succeeded),
            "FAILED" => Some(LoadStatus::Failed),
            _ => None,
        }
    }
}

impl fmt::Display for LoadStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of `_etl_loads`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadRecord {
    /// Unique id of the load.
    pub load_id: String,
    /// The table loaded.
    pub table: String,
    /// The write mode (`replace`, `append`, `merge`).
    pub mode: String,
    /// Rows written; 0 for a failed load.
    pub rows: u64,
    /// When the load started, RFC 3339 in UTC.
    pub started_at: String,
    /// When it committed or rolled back, RFC 3339 in UTC.
    pub finished_at: String,
    /// How it ended.
    pub status: LoadStatus,
    /// The error of a failed load.
    pub error: Option<String>,
}

impl LoadRecord {
    /// Assembles a record (used by warehouse implementations reading `_etl_loads`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        load_id: String,
        table: String,
        mode: String,
        rows: u64,
        started_at: String,
        finished_at: String,
        status: LoadStatus,
        error: Option<String>,
    ) -> Self {
        LoadRecord {
            load_id,
            table,
            mode,
            rows,
            started_at,
            finished_at,
            status,
            error,
        }
    }
}

/// A destination of tables.
///
/// A warehouse creates tables from Arrow schemas and evolves them (new columns
/// are added; an incompatible type change is an error before anything is
/// written), writes each stream in one transaction (a stream that fails
/// half-way leaves the table exactly as it was), and records every load, failed
/// ones included, in [`LOADS_TABLE`].
///
/// Every implementation should pass the conformance suite in
/// `etl_testing::warehouse` (`etl::conformance`, feature `conformance`).
pub trait Warehouse: Send + Sync {
    /// A short name for messages: `"sqlite"`, `"duckdb"`.
    fn kind(&self) -> &'static str;

    /// Creates the table of `spec` if it is missing, or adds the columns it
    /// lacks; returns the table's schema as the warehouse reads it back.
    fn ensure_table(&self, spec: &TableSpec) -> impl Future<Output = Result<SchemaRef>> + Send;

    /// Writes `batches` into the table of `spec` in one transaction, after
    /// creating or evolving the table, and records the load.
    fn write(
        &self,
        spec: &TableSpec,
        batches: BatchStream,
        options: &WriteOptions,
    ) -> impl Future<Output = Result<WriteSummary>> + Send;

    /// Drops a table; returns whether it existed.
    fn drop_table(&self, table: &str) -> impl Future<Output = Result<bool>> + Send;

    /// The user tables of the warehouse (its own `_etl_` tables left out), sorted.
    fn table_names(&self) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// The schema of a table as the warehouse reads it back, `None` if it does not exist.
    fn table_schema(&self, table: &str) -> impl Future<Output = Result<Option<SchemaRef>>> + Send;

    /// Reads a whole table into memory, in the warehouse's Arrow types
    /// (see each warehouse's type table). Meant for checks and small tables.
    fn read_table(&self, table: &str) -> impl Future<Output = Result<Vec<RecordBatch>>> + Send;

    /// Every recorded load, oldest first.
    fn loads(&self) -> impl Future<Output = Result<Vec<LoadRecord>>> + Send;

    /// The stored cursor of `table` of `source`: the cursor value of the
    /// last successful write that carried one; `None` when there is none.
    fn stored_cursor(
        &self,
        source: &str,
        table: &str,
    ) -> impl Future<Output = Result<Option<String>>> + Send;
}
