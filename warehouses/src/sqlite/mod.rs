//! [`SqliteWarehouse`]: tables in one SQLite file.
//!
//! ```
//! use etl_core::arrow::array::{Int64Array, RecordBatch, StringArray};
//! use etl_core::arrow::datatypes::{DataType, Field, Schema};
//! use etl_core::{BatchStream, TableSpec, Warehouse, WriteOptions};
//! use etl_warehouses::SqliteWarehouse;
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> etl_core::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let warehouse = SqliteWarehouse::open(dir.path().join("dwh.sqlite"))?;
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
//! SQLite stores a few storage classes; the declared type keeps what the
//! Arrow type was, so the table reads back as close to it as SQLite allows.
//!
//! | Arrow | declared type | stored as | reads back as |
//! | --- | --- | --- | --- |
//! | Boolean | `BOOLEAN` | INTEGER 0/1 | Boolean |
//! | Int8, Int16 | `TINYINT`, `SMALLINT` | INTEGER | Int8, Int16 |
//! | Int32, Int64 | `INTEGER`, `BIGINT` | INTEGER | Int64 |
//! | UInt8, UInt16, UInt32 | `UTINYINT`, `USMALLINT`, `UINTEGER` | INTEGER | the same |
//! | UInt64 | `UBIGINT` | INTEGER; a value above 2⁶³−1 is an error naming table, column and row | UInt64 |
//! | Float16, Float32 | `FLOAT` | REAL | Float32 |
//! | Float64 | `DOUBLE` | REAL (SQLite stores NaN as NULL) | Float64 |
//! | Utf8, LargeUtf8, Utf8View | `TEXT` | TEXT | Utf8 |
//! | Binary, LargeBinary, BinaryView, FixedSizeBinary | `BLOB` | BLOB | Binary |
//! | Date32, Date64 | `DATE` | TEXT `YYYY-MM-DD` | Date32 |
//! | Time32, Time64 | `TIME` | TEXT `HH:MM:SS[.fff…]`, the unit's digits | Time64(µs) |
//! | Timestamp(unit) | `TIMESTAMP_S`, `TIMESTAMP_MS`, `TIMESTAMP`, `TIMESTAMP_NS` | TEXT `YYYY-MM-DD HH:MM:SS[.fff…]` | Timestamp(unit) |
//! | Timestamp(unit, tz) | `TIMESTAMPTZ`, with the same unit suffixes | TEXT in UTC, ending `+00:00` | Timestamp(unit, "UTC") |
//! | Decimal32/64/128(p, s) | `DECIMAL_TEXT(p,s)` | TEXT, exact (SQLite's NUMERIC affinity would round to 15 digits) | Decimal128(p, s) |
//! | List, LargeList, FixedSizeList, Struct, Map | `JSON` | TEXT, JSON with explicit nulls | Utf8 (the JSON) |
//! | Dictionary(_, v) | as v | as v | as v |
//! | Null | `TEXT` | NULL | Utf8 |
//!
//! Duration, Interval, Union, Decimal256 and negative-scale decimals are
//! refused with [`Error::UnsupportedType`] naming the table and column.
//!
//! Text formats are ISO 8601, which SQLite's date and time functions read and
//! which sorts in time order. Primary key columns are declared `NOT NULL`.
//! An existing `REAL` column takes 64-bit integers when each value is exact
//! there (SQLite itself would round past 2^53 without a word; such a value
//! is [`Error::Value`] naming the row), and a column with no value at all
//! (Arrow `Null`) fits any column.
//!
//! # Writes
//!
//! Every write is one `IMMEDIATE` transaction: rows go in through cached
//! prepared statements of many rows each (`INSERT … VALUES (…), (…)`).
//! [`WriteMode::Replace`] (or [`WriteOptions::recreate`]) writes a staging
//! table and swaps it in with `DROP` + `ALTER TABLE … RENAME` (with
//! `legacy_alter_table` on, so that views reading the table keep working);
//! [`WriteMode::Append`] and [`WriteMode::Merge`] write the table itself,
//! merge as `INSERT … ON CONFLICT (key) DO UPDATE`. A failure anywhere rolls
//! everything back, and the failed load is recorded in `_etl_loads`.
//! A stream carrying an incremental cursor (see
//! [`WriteOptions::source`](etl_core::WriteOptions::source)) has it stored in
//! `_etl_state` by the same transaction.
//!
//! The connection runs with [`SqliteWarehouse::PRAGMAS`]: WAL journal,
//! `synchronous = NORMAL` (durable at checkpoints, never corrupt), a 64 MiB page cache.
//!
//! # Writers take turns
//!
//! SQLite lets one writer at a time into a file. A load that finds another
//! process (or another warehouse handle) writing waits for it, up to
//! [`DEFAULT_BUSY_TIMEOUT`] (5 minutes), or what
//! [`SqliteWarehouse::busy_timeout`] sets; then it fails, its error naming
//! the file and how long it waited, and nothing of it is written. Readers
//! never wait (WAL).

mod connector;
mod types;

pub use connector::register;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use etl_core::arrow::array::RecordBatch;
use etl_core::arrow::datatypes::{DataType, Schema, SchemaRef};
use etl_core::stream::BlockingBatches;
use etl_core::{
    Error, LoadStatus, Result, TableSpec, WriteMode, WriteOptions, WriteSummary, names,
};
use rusqlite::{Connection, TransactionBehavior, params};

use crate::common::{
    Load, check_batch_schema, check_exact_in_double, check_merge_key, check_nulls_only, check_spec,
    needs_exact_float_check, now_micros, quote_ident, quote_idents, rfc3339, save_cursor_sql,
    staging_name,
};
use crate::source::SqlExtractor;
use crate::sql::{Dialect, SqlWarehouse, open_error, record_load};
use types::{ColumnReader, Family, SqlColumn, declared_type, family, to_sql_column};

const WAREHOUSE: &str = "sqlite";

/// How long a write waits for another writer of the same file by default:
/// loads take minutes, and a second one should wait its turn, not fail.
pub const DEFAULT_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Most rows one `INSERT` statement carries (fewer when columns are many).
const MAX_ROWS_PER_STATEMENT: usize = 256;

/// The tables of a SQLite file, as a source ([`SqlExtractor`]).
pub type SqliteExtractor = SqlExtractor<Connection>;

impl SqlExtractor<Connection> {
    /// The tables of the SQLite file at `path`, opened read-only: it must
    /// exist, and nothing is written to it (not even etl's own tables).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| open_error(WAREHOUSE, path, e))?;
        // A file another process is writing: wait for its commit.
        conn.pragma_update(None, "busy_timeout", "300000")
            .map_err(|e| open_error(WAREHOUSE, path, e))?;
        Ok(Self::from_connection(
            Arc::new(std::sync::Mutex::new(conn)),
            path.to_owned(),
        ))
    }
}

/// A warehouse in one SQLite file.
///
/// Cheap to clone: clones share one connection, used from tokio's blocking
/// pool, never from the async worker threads.
pub type SqliteWarehouse = SqlWarehouse<Connection>;

impl SqlWarehouse<Connection> {
    /// The PRAGMAs every connection runs with, in order.
    pub const PRAGMAS: &'static [(&'static str, &'static str)] = &[
        ("journal_mode", "WAL"),
        ("synchronous", "NORMAL"),
        // DEFAULT_BUSY_TIMEOUT, in milliseconds.
        ("busy_timeout", "300000"),
        ("cache_size", "-65536"),
        ("temp_store", "MEMORY"),
    ];

    /// Opens (or creates) the SQLite file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let conn = Connection::open(path).map_err(|e| open_error(WAREHOUSE, path, e))?;
        Self::configured(conn, Some(path.to_owned()))
    }

    /// A warehouse in memory, gone when the last clone is dropped.
    pub fn open_in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory().map_err(db_error)?;
        Self::configured(conn, None)
    }

    fn configured(conn: Connection, path: Option<PathBuf>) -> Result<Self> {
        for (name, value) in Self::PRAGMAS {
            // journal_mode answers with a row; pragma_update_and_check reads it.
            // The first statement is where a file that is not a database
            // shows it: the error names the file.
            conn.pragma_update_and_check(None, name, value, |_| Ok(()))
                .or_else(|_| conn.pragma_update(None, name, value))
                .map_err(|e| match &path {
                    Some(path) => open_error(WAREHOUSE, path, e),
                    None => db_error(e),
                })?;
        }
        conn.set_prepared_statement_cache_capacity(64);
        Self::from_connection(conn, path)
    }

    /// How long a write waits for another writer of the same file before it
    /// fails ([`DEFAULT_BUSY_TIMEOUT`] unless set), for every clone. Set it
    /// before loading: it waits for a load of this handle under way.
    pub fn busy_timeout(self, wait: std::time::Duration) -> Result<Self> {
        crate::common::lock(&self.conn)
            .busy_timeout(wait)
            .map_err(db_error)?;
        Ok(self)
    }

    /// Runs `f` with the connection on tokio's blocking pool, for queries of your own.
    pub async fn with_connection<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        self.blocking(f).await
    }
}

crate::sql::driver!(rusqlite, Integer, db_error);

impl Dialect for Connection {
    const WAREHOUSE: &'static str = WAREHOUSE;
    const NAME: &'static str = "SqliteWarehouse";
    const LIST_TABLES: &'static str = "SELECT name FROM sqlite_schema WHERE type = 'table' \
         AND name NOT LIKE '\\_etl\\_%' ESCAPE '\\' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";
    const TEXT: &'static str = "TEXT";
    const ROWS: &'static str = "BIGINT";
    const LOADS_TIEBREAK: &'static str = "rowid";
    const TABLE_EXISTS: &'static str =
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = ?1";

    fn read_schema(&self, table: &str) -> Result<Option<SchemaRef>> {
        read_schema(self, table)
    }

    fn scan(
        &self,
        table: &str,
        rows: usize,
        each: &mut dyn FnMut(RecordBatch) -> bool,
    ) -> Result<()> {
        scan(self, table, rows, each)
    }

    fn primary_key_of(&self, table: &str) -> Result<Vec<String>> {
        let mut key: Vec<(i64, String)> = table_columns(self, table)?
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.pk > 0)
            .map(|c| (c.pk, c.name))
            .collect();
        key.sort();
        Ok(key.into_iter().map(|(_, name)| name).collect())
    }

    fn prepare_table(&mut self, spec: &TableSpec) -> Result<()> {
        let tx = begin_write(self)?;
        prepare_table(&tx, spec, spec.name())?;
        tx.commit().map_err(db_error)
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

fn db_error(e: rusqlite::Error) -> Error {
    let retryable = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    Error::Database {
        warehouse: WAREHOUSE,
        table: None,
        source: Box::new(e),
        retryable,
    }
}

/// A write transaction, begun when no other writer holds the file (waiting
/// for the busy timeout at most). A file still locked then is an error
/// naming it and the wait.
fn begin_write(conn: &mut Connection) -> Result<rusqlite::Transaction<'_>> {
    // Read before the transaction borrows the connection.
    let file = conn.path().unwrap_or(":memory:").to_owned();
    let waited: i64 = conn
        .pragma_query_value(None, "busy_timeout", |row| row.get(0))
        .unwrap_or(0);
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                Error::Database {
                    warehouse: WAREHOUSE,
                    table: None,
                    source: format!(
                        "the file {file} is being written by another process or handle; waited \
                         {:.1} s for it (the busy timeout: SqliteWarehouse::busy_timeout): {e}",
                        waited as f64 / 1000.0
                    )
                    .into(),
                    retryable: true,
                }
            }
            _ => db_error(e),
        })
}

fn write_in_transaction(
    conn: &mut Connection,
    load: &Load,
    options: &WriteOptions,
    batches: &mut BlockingBatches,
) -> Result<WriteSummary> {
    let spec = &load.spec;
    check_spec(spec)?;
    let table = spec.name();
    let tx = begin_write(conn)?;
    let fresh = options.recreate || spec.mode() == WriteMode::Replace;
    let (target, prepared) = if fresh {
        let staging = staging_name(table);
        tx.execute_batch(&format!("DROP TABLE IF EXISTS {}", quote_ident(&staging)))
            .map_err(db_error)?;
        create_table(&tx, spec, &staging)?;
        (staging, Prepared::default())
    } else {
        (table.to_owned(), prepare_table(&tx, spec, table)?)
    };
    let upsert = spec.mode() == WriteMode::Merge;
    let rows = insert_batches(&tx, spec, &target, upsert, &prepared, batches)?;
    if fresh {
        swap_in(&tx, table, &target)?;
    }
    let columns = table_columns(&tx, table)?.map_or(0, |c| c.len());
    if let Some((source, cursor)) = load.cursor() {
        tx.execute(
            &save_cursor_sql(),
            params![source, table, cursor, load.id, rfc3339(now_micros())],
        )
        .map_err(db_error)?;
    }
    record_load::<Connection>(&tx, load, rows, LoadStatus::Succeeded, None)?;
    tx.commit().map_err(db_error)?;
    Ok(WriteSummary::new(
        load.id.clone(),
        rows,
        columns,
        prepared.added,
    ))
}

/// Replaces `table` with `staging`: `DROP` + `RENAME`, in the caller's
/// transaction. Views that read the table keep working: SQLite's rename
/// checks every view and fails on one whose table was just dropped (`error
/// in view v: no such table`), so the rename runs with
/// `legacy_alter_table`, which renames without rewriting views; they name
/// the table, which exists again once renamed.
fn swap_in(conn: &Connection, table: &str, staging: &str) -> Result<()> {
    conn.pragma_update(None, "legacy_alter_table", true)
        .map_err(db_error)?;
    let swapped = conn
        .execute_batch(&format!(
            "DROP TABLE IF EXISTS {table_q}; ALTER TABLE {staging_q} RENAME TO {table_q};",
            table_q = quote_ident(table),
            staging_q = quote_ident(staging),
        ))
        .map_err(db_error);
    let reset = conn
        .pragma_update(None, "legacy_alter_table", false)
        .map_err(db_error);
    swapped.and(reset)
}

struct ColumnInfo {
    name: String,
    declared: String,
    /// Position in the primary key, from 1; 0 when not part of it.
    pk: i64,
}

fn table_columns(conn: &Connection, table: &str) -> Result<Option<Vec<ColumnInfo>>> {
    if !Dialect::table_exists(conn, table)? {
        return Ok(None);
    }
    let mut stmt = conn
        .prepare_cached("SELECT name, type, pk FROM pragma_table_info(?1) ORDER BY cid")
        .map_err(db_error)?;
    let columns = stmt
        .query_map([table], |row| {
            Ok(ColumnInfo {
                name: row.get(0)?,
                declared: row.get(1)?,
                pk: row.get(2)?,
            })
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(db_error)?;
    Ok(Some(columns))
}

fn create_table(conn: &Connection, spec: &TableSpec, name: &str) -> Result<()> {
    let key: HashSet<&str> = spec.primary_key().iter().map(String::as_str).collect();
    let mut columns = Vec::with_capacity(spec.schema().fields().len() + 1);
    for field in spec.schema().fields() {
        let not_null = if key.contains(field.name().as_str()) {
            " NOT NULL"
        } else {
            ""
        };
        columns.push(format!(
            "{} {}{not_null}",
            quote_ident(field.name()),
            declared_type(spec.name(), field)?
        ));
    }
    if !spec.primary_key().is_empty() {
        columns.push(format!(
            "PRIMARY KEY ({})",
            quote_idents(spec.primary_key().iter().map(String::as_str))
        ));
    }
    conn.execute_batch(&format!(
        "CREATE TABLE {} ({})",
        quote_ident(name),
        columns.join(", ")
    ))
    .map_err(db_error)
}

/// What [`prepare_table`] did and found.
#[derive(Default)]
struct Prepared {
    /// Columns added to the table.
    added: Vec<String>,
    /// Positions in the load of 64-bit integer columns going into a `REAL`
    /// column: SQLite would round their values past 2^53 without a word, so
    /// each is checked.
    exact_double: Vec<usize>,
    /// Positions of columns whose type was a guess from nulls, going into a
    /// column of another type: each must hold only nulls.
    nulls_only: Vec<usize>,
}

/// Creates the table, or checks the load against it and adds missing
/// columns.
fn prepare_table(conn: &Connection, spec: &TableSpec, name: &str) -> Result<Prepared> {
    let table = spec.name();
    let Some(existing) = table_columns(conn, name)? else {
        create_table(conn, spec, name)?;
        return Ok(Prepared::default());
    };
    let mut to_add = Vec::new();
    let mut exact_double = Vec::new();
    let mut nulls_only = Vec::new();
    for (i, field) in spec.schema().fields().iter().enumerate() {
        let declared = declared_type(table, field)?;
        // SQLite compares column names without ASCII case, as `fold` does.
        let column = existing
            .iter()
            .find(|c| names::fold(&c.name) == names::fold(field.name()));
        match column {
            // A column with no value (empty in every row today) fits any type.
            Some(_) if field.data_type() == &DataType::Null => {}
            // A type guessed from nulls: the table's, while values are null.
            Some(column)
                if etl_core::sampled_nulls_only(field)
                    && !family(&column.declared).accepts(family(&declared)) =>
            {
                nulls_only.push(i);
            }
            Some(column)
                if family(&column.declared) == Family::Real
                    && needs_exact_float_check(field.data_type()) =>
            {
                exact_double.push(i);
            }
            Some(column) if !family(&column.declared).accepts(family(&declared)) => {
                return Err(Error::IncompatibleSchema {
                    table: table.to_owned(),
                    column: field.name().clone(),
                    existing: column.declared.clone(),
                    incoming: format!("{} (declared {declared})", field.data_type()),
                });
            }
            Some(_) => {}
            None => to_add.push((field.name().clone(), declared)),
        }
    }
    if spec.mode() == WriteMode::Merge {
        let mut key: Vec<(i64, &str)> = existing
            .iter()
            .filter(|c| c.pk > 0)
            .map(|c| (c.pk, c.name.as_str()))
            .collect();
        key.sort();
        let existing_key: Vec<&str> = key.into_iter().map(|(_, n)| n).collect();
        check_merge_key(table, &existing_key, spec.primary_key())?;
    }
    for (column, declared) in &to_add {
        conn.execute_batch(&format!(
            "ALTER TABLE {} ADD COLUMN {} {declared}",
            quote_ident(name),
            quote_ident(column)
        ))
        .map_err(db_error)?;
    }
    Ok(Prepared {
        added: to_add.into_iter().map(|(c, _)| c).collect(),
        exact_double,
        nulls_only,
    })
}

fn insert_sql(spec: &TableSpec, target: &str, rows: usize, upsert: bool) -> String {
    let fields = spec.schema().fields();
    let names = quote_idents(fields.iter().map(|f| f.name().as_str()));
    let one_row = format!("({})", vec!["?"; fields.len()].join(","));
    let mut sql = format!(
        "INSERT INTO {} ({names}) VALUES {}",
        quote_ident(target),
        vec![one_row.as_str(); rows].join(",")
    );
    if upsert {
        let key: HashSet<&str> = spec.primary_key().iter().map(String::as_str).collect();
        let updates: Vec<String> = fields
            .iter()
            .filter(|f| !key.contains(f.name().as_str()))
            .map(|f| format!("{0} = excluded.{0}", quote_ident(f.name())))
            .collect();
        let conflict = quote_idents(spec.primary_key().iter().map(String::as_str));
        if updates.is_empty() {
            sql.push_str(&format!(" ON CONFLICT ({conflict}) DO NOTHING"));
        } else {
            sql.push_str(&format!(
                " ON CONFLICT ({conflict}) DO UPDATE SET {}",
                updates.join(", ")
            ));
        }
    }
    sql
}

fn insert_batches(
    conn: &Connection,
    spec: &TableSpec,
    target: &str,
    upsert: bool,
    prepared: &Prepared,
    batches: &mut BlockingBatches,
) -> Result<u64> {
    let table = spec.name();
    let width = spec.schema().fields().len();
    let max_params = conn
        .limit(rusqlite::limits::Limit::SQLITE_LIMIT_VARIABLE_NUMBER)
        .map_err(db_error)?;
    let per_statement = (max_params.max(1) as usize / width).clamp(1, MAX_ROWS_PER_STATEMENT);
    let full_sql = insert_sql(spec, target, per_statement, upsert);
    let mut rows: u64 = 0;
    for batch in batches {
        let batch = batch?;
        check_batch_schema(table, spec.schema(), &batch)?;
        for &i in &prepared.exact_double {
            let name = spec.schema().field(i).name();
            check_exact_in_double(table, name, batch.column(i), rows)?;
        }
        for &i in &prepared.nulls_only {
            let name = spec.schema().field(i).name();
            check_nulls_only(table, name, batch.column(i), rows)?;
        }
        let columns = batch
            .columns()
            .iter()
            .zip(batch.schema().fields())
            .map(|(array, field)| to_sql_column(table, field, array, rows))
            .collect::<Result<Vec<SqlColumn>>>()?;
        let n = batch.num_rows();
        let mut start = 0;
        while start < n {
            let count = per_statement.min(n - start);
            let mut stmt = if count == per_statement {
                conn.prepare_cached(&full_sql)
            } else {
                conn.prepare_cached(&insert_sql(spec, target, count, upsert))
            }
            .map_err(db_error)?;
            let mut index = 1;
            for row in start..start + count {
                for column in &columns {
                    column.bind(&mut stmt, index, row).map_err(db_error)?;
                    index += 1;
                }
            }
            stmt.raw_execute().map_err(db_error)?;
            start += count;
        }
        rows += n as u64;
    }
    Ok(rows)
}

fn read_schema(conn: &Connection, table: &str) -> Result<Option<SchemaRef>> {
    Ok(table_columns(conn, table)?.map(|columns| {
        Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| ColumnReader::new(&c.name, &c.declared).field())
                .collect::<Vec<_>>(),
        ))
    }))
}

fn scan(
    conn: &Connection,
    table: &str,
    batch_rows: usize,
    each: &mut dyn FnMut(RecordBatch) -> bool,
) -> Result<()> {
    let Some(columns) = table_columns(conn, table)? else {
        return Err(Error::Schema {
            table: table.to_owned(),
            message: "no such table".into(),
        });
    };
    let new_readers = || -> Vec<ColumnReader> {
        columns
            .iter()
            .map(|c| ColumnReader::new(&c.name, &c.declared))
            .collect()
    };
    let mut readers = new_readers();
    let schema = Arc::new(Schema::new(
        readers.iter().map(ColumnReader::field).collect::<Vec<_>>(),
    ));
    let finish = |readers: &mut Vec<ColumnReader>| -> Result<RecordBatch> {
        let arrays = readers
            .iter_mut()
            .map(|r| r.finish(table))
            .collect::<Result<Vec<_>>>()?;
        RecordBatch::try_new(schema.clone(), arrays)
            .map_err(|e| Error::arrow(format!("table {table:?}: assembling what was read"), e))
    };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {} FROM {}",
            quote_idents(columns.iter().map(|c| c.name.as_str())),
            quote_ident(table)
        ))
        .map_err(|e| db_error(e).in_table(table))?;
    let mut rows = stmt.query([]).map_err(db_error)?;
    let (mut n, mut in_batch): (u64, usize) = (0, 0);
    let mut sent_any = false;
    while let Some(row) = rows.next().map_err(db_error)? {
        for (i, reader) in readers.iter_mut().enumerate() {
            reader.push(table, n, row.get_ref(i).map_err(db_error)?)?;
        }
        n += 1;
        in_batch += 1;
        if in_batch >= batch_rows {
            let batch = finish(&mut readers)?;
            readers = new_readers();
            in_batch = 0;
            sent_any = true;
            if !each(batch) {
                return Ok(());
            }
        }
    }
    if in_batch > 0 || !sent_any {
        each(finish(&mut readers)?);
    }
    Ok(())
}
