//! [`DuckDbWarehouse`]: tables in one DuckDB file, loaded in parallel through an Arrow scan.
//!
//! ```
//! use etl_core::arrow::array::{Int64Array, RecordBatch, StringArray};
//! use etl_core::arrow::datatypes::{DataType, Field, Schema};
//! use etl_core::{BatchStream, TableSpec, Warehouse, WriteOptions};
//! use etl_warehouses::DuckDbWarehouse;
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> etl_core::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let warehouse = DuckDbWarehouse::open(dir.path().join("dwh.duckdb"))?;
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("id", DataType::Int64, false),
//!     Field::new("name", DataType::Utf8, true),
//! ]));
//! let batch = RecordBatch::try_new(
//!     schema.clone(),
//!     vec![Arc::new(Int64Array::from(vec![1, 2])), Arc::new(StringArray::from(vec!["ada", "bob"]))],
//! )
//! .unwrap();
//! let spec = TableSpec::new("users", schema.clone()).with_primary_key(["id"]);
//! let summary = warehouse
//!     .write(&spec, BatchStream::from_batches(schema, vec![batch]), &WriteOptions::default())
//!     .await?;
//! assert_eq!(summary.rows, 2);
//! # Ok(()) }
//! ```
//!
//! # Types
//!
//! | Arrow | DuckDB | reads back as |
//! | --- | --- | --- |
//! | Boolean | `BOOLEAN` | Boolean |
//! | Int8 … Int64 | `TINYINT`, `SMALLINT`, `INTEGER`, `BIGINT` | the same |
//! | UInt8 … UInt64 | `UTINYINT`, `USMALLINT`, `UINTEGER`, `UBIGINT` | the same |
//! | Float16, Float32 | `FLOAT` | Float32 |
//! | Float64 | `DOUBLE` | Float64 |
//! | Utf8, LargeUtf8, Utf8View | `VARCHAR` | Utf8 |
//! | Binary, LargeBinary, BinaryView, FixedSizeBinary | `BLOB` | Binary |
//! | Date32, Date64 | `DATE` | Date32 |
//! | Time32, Time64 | `TIME` (µs) | Time64(µs) |
//! | Timestamp(s / ms / µs / ns) | `TIMESTAMP_S`, `TIMESTAMP_MS`, `TIMESTAMP`, `TIMESTAMP_NS` | the same unit |
//! | Timestamp(unit, tz) | `TIMESTAMPTZ` (µs, the instant in UTC) | Timestamp(µs, tz) |
//! | Duration, Interval | `INTERVAL` | Interval(MonthDayNano) |
//! | Decimal32/64/128(p ≤ 38, s ≥ 0) | `DECIMAL(p,s)` | Decimal128(p,s) |
//! | List, LargeList | `T[]` (LIST) | List |
//! | FixedSizeList(n) | `T[n]` (ARRAY) | FixedSizeList |
//! | Struct | `STRUCT(…)` | Struct |
//! | Map | `MAP(K, V)` | Map |
//! | Dictionary(_, v) | as v | as v |
//! | Null | `VARCHAR` | Utf8 |
//!
//! Union, Decimal256, run-end encoded and view-list types are refused with
//! [`Error::UnsupportedType`] naming the table and column. Primary key
//! columns are declared `NOT NULL`.
//!
//! An existing column takes an incoming type that fits it without loss (a
//! narrower integer, `FLOAT` into `DOUBLE`, a coarser timestamp unit, a
//! decimal with fewer digits on each side of the point); the load is cast.
//! A 64-bit integer goes into a `DOUBLE` column when each value is exact
//! there (one that is not, past 2^53, is [`Error::Value`] naming the row),
//! and a column with no value at all (Arrow `Null`) fits any type.
//! Any other change is [`Error::IncompatibleSchema`], before anything is written.
//!
//! # Writes
//!
//! Rows go in as Arrow, never row-by-row SQL, in one transaction per write:
//! `INSERT INTO t SELECT * FROM etl_scan(id)`, where `etl_scan` is a table
//! function that hands the load's batches to DuckDB's threads in 2,048-row
//! slices (zero-copy), each thread converting its own (duckdb-rs's
//! `record_batch_to_duckdb_data_chunk`). The load's batches are registered
//! under `id` only while its `INSERT` runs. Row order within one load is not
//! kept (`preserve_insertion_order` is off for the insert). [`WriteMode::Replace`] (or
//! [`WriteOptions::recreate`]) appends to a staging table and swaps it in with
//! `DROP` + `ALTER TABLE … RENAME`; [`WriteMode::Append`] appends to the table;
//! [`WriteMode::Merge`] appends to a staging table, then
//! `INSERT … SELECT … ON CONFLICT (key) DO UPDATE`, the last row of a key
//! winning: the staging table numbers the load's rows in the order they
//! came (a column `_etl_seq`), since the parallel insert does not keep it.
//! An insert's own error (a duplicate key, a full disk) is the one
//! returned and recorded.
//!
//! DuckDB does not tie a view to the tables it reads: a view of a table
//! that a replace drops and renames reads the new table (tested).
//! A failure anywhere rolls everything back, and the failed load is recorded
//! in `_etl_loads`.
//! A stream carrying an incremental cursor (see
//! [`WriteOptions::source`](etl_core::WriteOptions::source)) has it stored in
//! `_etl_state` by the same transaction.
//!
//! # Memory
//!
//! etl holds a few batches of a load at a time. DuckDB keeps the blocks it
//! writes in its buffer cache up to its memory limit, by default 80 % of the
//! machine's RAM, so a large load into a warehouse opened with
//! [`DuckDbWarehouse::open`] grows the process by roughly the size of the
//! compressed table. To keep the peak flat, set a limit (`benches/memory.rs`
//! measures 125 MiB at 1M rows and 136 MiB at 10M with `64MB`, no slower):
//!
//! ```
//! # fn main() -> etl_core::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! use etl_warehouses::DuckDbWarehouse;
//! use etl_warehouses::duckdb::driver::Config;
//!
//! let config = Config::default()
//!     .max_memory("256MB")
//!     .map_err(|e| etl_core::Error::Config(e.to_string()))?;
//! let warehouse = DuckDbWarehouse::open_with_config(dir.path().join("dwh.duckdb"), config)?;
//! # drop(warehouse);
//! # Ok(()) }
//! ```

mod connector;
mod scan;
mod types;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub use ::duckdb as driver;
use ::duckdb::{Config, Connection, params};
pub use connector::register;
use etl_core::arrow::array::RecordBatch;
use etl_core::arrow::datatypes::{DataType, Field, SchemaRef};
use etl_core::stream::BlockingBatches;
use etl_core::{
    Error, LoadStatus, Result, TableSpec, WriteMode, WriteOptions, WriteSummary, names,
};

use crate::common::{
    BatchFitter, ColumnSource, Load, SEQUENCE_COLUMN, check_merge_key, check_spec, lock,
    now_micros, quote_ident, quote_idents, rfc3339, save_cursor_sql, staging_name,
};
use crate::source::SqlExtractor;
use crate::sql::{Dialect, SqlWarehouse, open_error, record_load};
use types::{appendable, column_type, interval_text, is_interval, widens};

const WAREHOUSE: &str = "duckdb";

/// The DuckDB files this process has open, each with its connection.
type OpenFiles = Vec<(PathBuf, std::sync::Weak<std::sync::Mutex<Connection>>)>;
static OPEN: std::sync::Mutex<OpenFiles> = std::sync::Mutex::new(Vec::new());

/// What names one file, however it was spelled: its canonical path once it
/// exists, else its absolute path.
fn same_file_key(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_owned())
}

/// The tables of a DuckDB file, as a source ([`SqlExtractor`]).
pub type DuckDbExtractor = SqlExtractor<Connection>;

impl SqlExtractor<Connection> {
    /// The tables of the DuckDB file at `path`: through the connection of
    /// the warehouse this process has open on it, if any, else opened
    /// read-only (it must exist, and nothing is written to it). A file
    /// opened read-only here cannot be opened for writing by this process
    /// until the extractor is dropped: DuckDB holds one mode per file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let key = same_file_key(path);
        let shared = lock(&OPEN)
            .iter()
            .find(|(at, _)| *at == key)
            .and_then(|(_, conn)| conn.upgrade());
        let conn = match shared {
            Some(conn) => conn,
            None => {
                if !path.is_file() {
                    return Err(open_error(WAREHOUSE, path, "no such file"));
                }
                let config = Config::default()
                    .access_mode(::duckdb::AccessMode::ReadOnly)
                    .map_err(db_error)?;
                let conn = Connection::open_with_flags(path, config)
                    .map_err(|e| open_error(WAREHOUSE, path, e))?;
                std::sync::Arc::new(std::sync::Mutex::new(conn))
            }
        };
        Ok(Self::from_connection(conn, path.to_owned()))
    }
}

/// A warehouse in one DuckDB file.
///
/// Cheap to clone: clones share one connection, used from tokio's blocking
/// pool, never from the async worker threads.
pub type DuckDbWarehouse = SqlWarehouse<Connection>;

impl SqlWarehouse<Connection> {
    /// Opens (or creates) the DuckDB file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_config(path, Config::default())
    }

    /// Opens the file with DuckDB settings of your own (memory limit, threads),
    /// see [`driver::Config`].
    ///
    /// A file this process has open already is not opened again: the
    /// warehouse shares that connection (and its settings), since two
    /// DuckDB instances on one file in one process each keep their own
    /// catalog, and the last to write it would drop the other's tables (two
    /// steps of a pipeline loading one warehouse at once did).
    pub fn open_with_config(path: impl AsRef<Path>, config: Config) -> Result<Self> {
        let path = path.as_ref();
        let key = same_file_key(path);
        let mut open = lock(&OPEN);
        open.retain(|(_, conn)| conn.strong_count() > 0);
        if let Some(conn) = open
            .iter()
            .find(|(at, _)| *at == key)
            .and_then(|(_, conn)| conn.upgrade())
        {
            return Ok(SqlWarehouse {
                conn,
                path: Some(path.to_owned()),
            });
        }
        let conn = Connection::open_with_flags(path, config)
            .map_err(|e| open_error(WAREHOUSE, path, e))?;
        let warehouse = Self::configured(conn, Some(path.to_owned()))?;
        open.push((key, std::sync::Arc::downgrade(&warehouse.conn)));
        Ok(warehouse)
    }

    /// A warehouse in memory, gone when the last clone is dropped.
    pub fn open_in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory().map_err(db_error)?;
        Self::configured(conn, None)
    }

    fn configured(conn: Connection, path: Option<PathBuf>) -> Result<Self> {
        conn.register_table_function::<scan::EtlScan>(scan::SCAN_FUNCTION)
            .map_err(db_error)?;
        Self::from_connection(conn, path)
    }

    /// Runs `f` with the connection on tokio's blocking pool, for queries of your own.
    pub async fn with_connection<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.blocking(move |conn| f(conn)).await
    }
}

crate::sql::driver!(::duckdb, BigInt, db_error);

impl Dialect for Connection {
    const WAREHOUSE: &'static str = WAREHOUSE;
    const NAME: &'static str = "DuckDbWarehouse";
    const LIST_TABLES: &'static str = "SELECT table_name FROM duckdb_tables() \
         WHERE database_name = current_database() AND schema_name = current_schema() \
         AND NOT starts_with(lower(table_name), '_etl_') ORDER BY table_name";
    const TEXT: &'static str = "VARCHAR";
    const ROWS: &'static str = "UBIGINT";
    const LOADS_TIEBREAK: &'static str = "load_id";
    const TABLE_EXISTS: &'static str = "SELECT table_name FROM duckdb_tables() \
         WHERE database_name = current_database() AND schema_name = current_schema() \
         AND table_name = ?";

    fn read_schema(&self, table: &str) -> Result<Option<SchemaRef>> {
        read_schema(self, table)
    }

    fn scan(
        &self,
        table: &str,
        rows: usize,
        each: &mut dyn FnMut(RecordBatch) -> bool,
    ) -> Result<()> {
        let mut stmt = self
            .prepare(&format!("SELECT * FROM {}", quote_ident(table)))
            .map_err(|e| db_error(e).in_table(table))?;
        let arrow = stmt.query_arrow([]).map_err(db_error)?;
        let schema = arrow.get_schema();
        let mut sent_any = false;
        for batch in arrow {
            // DuckDB's chunks, cut to `rows` when they are longer.
            let mut start = 0;
            while start < batch.num_rows() {
                let len = rows.min(batch.num_rows() - start);
                sent_any = true;
                if !each(batch.slice(start, len)) {
                    return Ok(());
                }
                start += len;
            }
        }
        if !sent_any {
            each(RecordBatch::new_empty(schema));
        }
        Ok(())
    }

    fn primary_key_of(&self, table: &str) -> Result<Vec<String>> {
        primary_key(self, table)
    }

    fn prepare_table(&mut self, spec: &TableSpec) -> Result<()> {
        let tx = Tx::begin(self)?;
        prepare_table(self, spec)?;
        tx.commit()
    }

    fn write_load(
        &mut self,
        load: &Load,
        options: &WriteOptions,
        batches: &mut BlockingBatches,
    ) -> Result<WriteSummary> {
        write_in_transaction(self, load, options, batches)
    }
}

fn db_error(e: ::duckdb::Error) -> Error {
    let message = e.to_string();
    // Two transactions touching the same rows or catalog entry: the later one may succeed.
    let retryable = message.contains("Conflict") || message.contains("conflict");
    Error::Database {
        warehouse: WAREHOUSE,
        table: None,
        source: Box::new(e),
        retryable,
    }
}

/// An open transaction, rolled back when dropped uncommitted.
struct Tx<'c> {
    conn: &'c Connection,
    open: bool,
}

impl<'c> Tx<'c> {
    fn begin(conn: &'c Connection) -> Result<Self> {
        conn.execute_batch("BEGIN TRANSACTION").map_err(db_error)?;
        Ok(Tx { conn, open: true })
    }

    fn commit(mut self) -> Result<()> {
        self.open = false;
        self.conn.execute_batch("COMMIT").map_err(db_error)
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.execute_batch("ROLLBACK");
            // An insert that failed left the transaction aborted before
            // `append` could reset this; the connection is for users too.
            let _ = self.conn.execute_batch("RESET preserve_insertion_order");
        }
    }
}

fn write_in_transaction(
    conn: &Connection,
    load: &Load,
    options: &WriteOptions,
    batches: &mut BlockingBatches,
) -> Result<WriteSummary> {
    let spec = &load.spec;
    check_spec(spec)?;
    let table = spec.name();
    let incoming = incoming_columns(spec)?;
    let tx = Tx::begin(conn)?;
    let fresh = options.recreate || spec.mode() == WriteMode::Replace;
    let staging = staging_name(table);
    let (rows, added_columns) = match spec.mode() {
        WriteMode::Merge => {
            let (fitter, added) = if fresh {
                execute(
                    conn,
                    &format!("DROP TABLE IF EXISTS {}", quote_ident(table)),
                )?;
                create_table(conn, table, &incoming, spec.primary_key())?;
                (incoming.fitter(spec, None), Vec::new())
            } else {
                prepare_table(conn, spec)?
            };
            execute(
                conn,
                &format!("DROP TABLE IF EXISTS {}", quote_ident(&staging)),
            )?;
            // The staging table has the types the rows are fitted to (the
            // table's, where it has the column), so that the merge casts
            // nothing the fitter did not check.
            create_table(conn, &staging, &columns_of(table, fitter.schema())?, &[])?;
            // The load's order, which the insert does not keep: the last row
            // of a key is the one with the highest number.
            execute(
                conn,
                &format!(
                    "ALTER TABLE {} ADD COLUMN {} UBIGINT",
                    quote_ident(&staging),
                    quote_ident(SEQUENCE_COLUMN)
                ),
            )?;
            let rows = append(conn, spec, &staging, &fitter.numbered(), batches)?;
            merge_from_staging(conn, spec, &staging)?;
            execute(conn, &format!("DROP TABLE {}", quote_ident(&staging)))?;
            (rows, added)
        }
        _ if fresh => {
            execute(
                conn,
                &format!("DROP TABLE IF EXISTS {}", quote_ident(&staging)),
            )?;
            create_table(conn, &staging, &incoming, spec.primary_key())?;
            let rows = append(conn, spec, &staging, &incoming.fitter(spec, None), batches)?;
            execute(
                conn,
                &format!(
                    "DROP TABLE IF EXISTS {table_q}; ALTER TABLE {staging_q} RENAME TO {table_q};",
                    table_q = quote_ident(table),
                    staging_q = quote_ident(&staging),
                ),
            )?;
            (rows, Vec::new())
        }
        _ => {
            let (fitter, added) = prepare_table(conn, spec)?;
            let rows = append(conn, spec, table, &fitter, batches)?;
            (rows, added)
        }
    };
    let columns = read_schema(conn, table)?.map_or(0, |s| s.fields().len());
    if let Some((source, cursor)) = load.cursor() {
        conn.execute(
            &save_cursor_sql(),
            params![source, table, cursor, load.id, rfc3339(now_micros())],
        )
        .map_err(db_error)?;
    }
    record_load(conn, load, rows, LoadStatus::Succeeded, None)?;
    tx.commit()?;
    Ok(WriteSummary::new(
        load.id.clone(),
        rows,
        columns,
        added_columns,
    ))
}

fn execute(conn: &Connection, sql: &str) -> Result<()> {
    conn.execute_batch(sql).map_err(db_error)
}

/// The load's columns with their DuckDB types.
struct Incoming {
    /// (field, DuckDB type as written in DDL)
    columns: Vec<(Field, String)>,
}

fn incoming_columns(spec: &TableSpec) -> Result<Incoming> {
    columns_of(spec.name(), spec.schema())
}

/// The columns of `schema` with their DuckDB types.
fn columns_of(table: &str, schema: &SchemaRef) -> Result<Incoming> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| Ok((f.as_ref().clone(), column_type(table, f)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Incoming { columns })
}

impl Incoming {
    /// A fitter that keeps the load's columns, casting each to `targets[i]`
    /// when given, else to what the Arrow scan takes.
    fn fitter(&self, spec: &TableSpec, targets: Option<&[Option<Field>]>) -> BatchFitter {
        let mut fields = Vec::with_capacity(self.columns.len());
        let mut sources = Vec::with_capacity(self.columns.len());
        for (i, (field, _)) in self.columns.iter().enumerate() {
            if is_interval(field.data_type()) {
                fields.push(field.clone().with_data_type(DataType::Utf8));
                sources.push(ColumnSource::Convert(i, interval_text));
                continue;
            }
            let target = targets.and_then(|t| t[i].as_ref().map(|f| f.data_type().clone()));
            if let Some(to) = target
                .clone()
                .filter(|_| etl_core::sampled_nulls_only(field))
            {
                fields.push(field.clone().with_data_type(to.clone()));
                sources.push(ColumnSource::NullsOnly(i, to));
                continue;
            }
            let to = target.or_else(|| appendable(field.data_type()));
            fields.push(
                field
                    .clone()
                    .with_data_type(to.clone().unwrap_or(field.data_type().clone())),
            );
            sources.push(ColumnSource::Batch(i, to));
        }
        BatchFitter::new(spec.name(), spec.schema().clone(), fields, sources)
    }
}

/// The table's columns and their canonical DuckDB types, `None` when it does not exist.
fn table_columns(conn: &Connection, table: &str) -> Result<Option<Vec<(String, String)>>> {
    if !Dialect::table_exists(conn, table)? {
        return Ok(None);
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() \
             AND schema_name = current_schema() AND table_name = ? ORDER BY column_index",
        )
        .map_err(db_error)?;
    let columns = stmt
        .query_map([table], |row| Ok((row.get(0)?, row.get(1)?)))
        .and_then(|rows| rows.collect::<::duckdb::Result<Vec<_>>>())
        .map_err(db_error)?;
    Ok(Some(columns))
}

fn primary_key(conn: &Connection, table: &str) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT unnest(constraint_column_names) FROM duckdb_constraints() \
             WHERE database_name = current_database() AND schema_name = current_schema() \
             AND table_name = ? AND constraint_type = 'PRIMARY KEY'",
        )
        .map_err(db_error)?;
    let key = stmt
        .query_map([table], |row| row.get(0))
        .and_then(|rows| rows.collect::<::duckdb::Result<Vec<String>>>())
        .map_err(db_error)?;
    Ok(key)
}

/// DuckDB's own spelling of each DDL type, as its catalog reports it.
fn canonical_types(conn: &Connection, types: &[&str]) -> Result<Vec<String>> {
    let select = types
        .iter()
        .map(|t| format!("typeof(CAST(NULL AS {t}))"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut stmt = conn
        .prepare(&format!("SELECT {select}"))
        .map_err(db_error)?;
    stmt.query_row([], |row| (0..types.len()).map(|i| row.get(i)).collect())
        .map_err(db_error)
}

fn create_table(
    conn: &Connection,
    name: &str,
    incoming: &Incoming,
    primary_key: &[String],
) -> Result<()> {
    let key: HashSet<&str> = primary_key.iter().map(String::as_str).collect();
    let mut columns: Vec<String> = incoming
        .columns
        .iter()
        .map(|(field, ty)| {
            let not_null = if key.contains(field.name().as_str()) {
                " NOT NULL"
            } else {
                ""
            };
            format!("{} {ty}{not_null}", quote_ident(field.name()))
        })
        .collect();
    if !primary_key.is_empty() {
        columns.push(format!(
            "PRIMARY KEY ({})",
            quote_idents(primary_key.iter().map(String::as_str))
        ));
    }
    execute(
        conn,
        &format!(
            "CREATE TABLE {} ({})",
            quote_ident(name),
            columns.join(", ")
        ),
    )
}

/// Creates the table, or checks the load against it and adds the columns it
/// lacks. Returns how to fit the load's batches, and the added columns.
fn prepare_table(conn: &Connection, spec: &TableSpec) -> Result<(BatchFitter, Vec<String>)> {
    let table = spec.name();
    let incoming = incoming_columns(spec)?;
    let Some(existing) = table_columns(conn, table)? else {
        create_table(conn, table, &incoming, spec.primary_key())?;
        return Ok((incoming.fitter(spec, None), Vec::new()));
    };
    let ddl: Vec<&str> = incoming.columns.iter().map(|(_, t)| t.as_str()).collect();
    let canonical = canonical_types(conn, &ddl)?;
    let existing_schema = read_schema(conn, table)?
        .ok_or_else(|| Error::Internal(format!("table {table:?} vanished")))?;
    let mut targets = Vec::with_capacity(incoming.columns.len());
    let mut to_add = Vec::new();
    for (i, (field, ddl_type)) in incoming.columns.iter().enumerate() {
        // DuckDB compares column names without ASCII case, as `fold` does.
        let at = existing
            .iter()
            .position(|(name, _)| names::fold(name) == names::fold(field.name()));
        match at {
            None => {
                to_add.push((field.name().clone(), ddl_type.clone()));
                targets.push(None);
            }
            Some(at) if existing[at].1 == canonical[i] => targets.push(None),
            // A column with no value (empty in every row today) fits any type.
            Some(at) if field.data_type() == &DataType::Null => {
                targets.push(Some(existing_schema.field(at).clone()));
            }
            // A type guessed from nulls: the table's, while values are null.
            Some(at) if etl_core::sampled_nulls_only(field) => {
                targets.push(Some(existing_schema.field(at).clone()));
            }
            Some(at) if widens(&existing[at].1, &canonical[i]) => {
                targets.push(Some(existing_schema.field(at).clone()));
            }
            Some(at) => {
                return Err(Error::IncompatibleSchema {
                    table: table.to_owned(),
                    column: field.name().clone(),
                    existing: existing[at].1.clone(),
                    incoming: format!("{} ({})", canonical[i], field.data_type()),
                });
            }
        }
    }
    if spec.mode() == WriteMode::Merge {
        let existing_key = primary_key(conn, table)?;
        let existing: Vec<&str> = existing_key.iter().map(String::as_str).collect();
        check_merge_key(table, &existing, spec.primary_key())?;
    }
    for (column, ty) in &to_add {
        execute(
            conn,
            &format!(
                "ALTER TABLE {} ADD COLUMN {} {ty}",
                quote_ident(table),
                quote_ident(column)
            ),
        )?;
    }
    let fitter = incoming.fitter(spec, Some(&targets));
    Ok((fitter, to_add.into_iter().map(|(c, _)| c).collect()))
}

/// Writes every batch into `target` with `INSERT … SELECT * FROM etl_scan(id)`:
/// a thread of ours fits the stream's batches to the table and feeds them to
/// the scan, which DuckDB runs on all its threads. Returns the rows written.
/// A stream that fails half-way fails the write (the caller rolls back).
fn append(
    conn: &Connection,
    spec: &TableSpec,
    target: &str,
    fitter: &BatchFitter,
    batches: &mut BlockingBatches,
) -> Result<u64> {
    let columns = quote_idents(fitter.schema().fields().iter().map(|f| f.name().as_str()));
    let (tx, rx) = std::sync::mpsc::sync_channel(4);
    let feed = scan::Registration::new(fitter.schema().clone(), rx);
    let sql = format!(
        "INSERT INTO {} ({columns}) SELECT * FROM {}({}::UBIGINT)",
        quote_ident(target),
        scan::SCAN_FUNCTION,
        feed.id
    );
    // Row order within a load is not kept: DuckDB inserts from all threads.
    execute(conn, "SET preserve_insertion_order = false")?;
    let (inserted, fed) = std::thread::scope(|scope| {
        let feeder = scope.spawn(move || -> Result<u64> {
            let mut rows = 0;
            for batch in batches {
                let batch = fitter.fit(&batch?, rows)?;
                if batch.num_rows() == 0 {
                    continue;
                }
                rows += batch.num_rows() as u64;
                if tx.send(batch).is_err() {
                    break; // the insert ended early; its error says why
                }
            }
            Ok(rows)
        });
        let inserted = conn.execute(&sql, params![]).map_err(db_error);
        // Closes the channel: a feeder still sending stops.
        drop(feed);
        let fed = feeder
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("the batch feeder panicked".into())));
        (inserted, fed)
    });
    // The stream's error first: it is why the insert saw fewer rows. Then
    // the insert's own (a duplicate key, a full disk): the reset below fails
    // in the transaction it aborted, and must not hide it (`Tx` resets after
    // its rollback).
    let rows = fed?;
    let inserted = inserted? as u64;
    execute(conn, "RESET preserve_insertion_order")?;
    if inserted != rows {
        return Err(Error::Internal(format!(
            "table {:?}: {rows} rows streamed but {inserted} inserted",
            spec.name()
        )));
    }
    Ok(rows)
}

fn merge_from_staging(conn: &Connection, spec: &TableSpec, staging: &str) -> Result<()> {
    let names = quote_idents(spec.schema().fields().iter().map(|f| f.name().as_str()));
    let key = quote_idents(spec.primary_key().iter().map(String::as_str));
    let key_set: HashSet<&str> = spec.primary_key().iter().map(String::as_str).collect();
    let updates: Vec<String> = spec
        .schema()
        .fields()
        .iter()
        .filter(|f| !key_set.contains(f.name().as_str()))
        .map(|f| format!("{0} = EXCLUDED.{0}", quote_ident(f.name())))
        .collect();
    let action = if updates.is_empty() {
        "DO NOTHING".to_owned()
    } else {
        format!("DO UPDATE SET {}", updates.join(", "))
    };
    // The last row of each key wins; DuckDB refuses to update one row twice in one statement.
    execute(
        conn,
        &format!(
            "INSERT INTO {table} ({names}) SELECT {names} FROM {staging} \
             QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {seq} DESC) = 1 \
             ON CONFLICT ({key}) {action}",
            table = quote_ident(spec.name()),
            staging = quote_ident(staging),
            seq = quote_ident(SEQUENCE_COLUMN),
        ),
    )
}

fn read_schema(conn: &Connection, table: &str) -> Result<Option<SchemaRef>> {
    if !Dialect::table_exists(conn, table)? {
        return Ok(None);
    }
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM {} LIMIT 0", quote_ident(table)))
        .map_err(db_error)?;
    let arrow = stmt.query_arrow([]).map_err(db_error)?;
    Ok(Some(arrow.get_schema()))
}
