//! What the SQL warehouses share, written once over a small dialect layer:
//! [`SqlWarehouse`] implements [`Warehouse`] for any database connection
//! that implements [`Dialect`] (SQLite's and DuckDB's do). A dialect says how
//! its database lists tables, runs a statement with parameters, reads rows
//! as text, prepares a table for a load and writes one; table listing,
//! `_etl_loads`, stored cursors, dropping and the DDL preamble are here, so
//! a third SQL warehouse is a dialect, not a copy.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use etl_core::arrow::array::RecordBatch;
use etl_core::arrow::datatypes::SchemaRef;
use etl_core::stream::BlockingBatches;
use etl_core::{
    BatchStream, Error, LOADS_TABLE, LoadRecord, LoadStatus, Result, TableSpec, Warehouse,
    WriteOptions, WriteSummary,
};

use crate::common::{
    Load, check_spec, create_state_table_sql, lock, now_micros, quote_ident, read_cursor_sql,
    rfc3339, write_recorded,
};

/// A parameter of a statement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
}

/// Statements and text rows: what rusqlite and duckdb-rs (whose API follows
/// rusqlite's) do alike, implemented for both by [`driver!`].
pub(crate) trait Driver {
    /// Runs `sql` (one statement) with `params`; the rows it changed.
    fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<usize>;
    /// Runs statements without parameters.
    fn execute_batch(&self, sql: &str) -> Result<()>;
    /// The rows of a query whose `columns` columns are all text (or null).
    fn query_text(
        &self,
        sql: &str,
        params: &[Param<'_>],
        columns: usize,
    ) -> Result<Vec<Vec<Option<String>>>>;
}

/// Implements [`Driver`] for a driver crate's `Connection`: the crate's
/// path, the variant of its `Value` for 64-bit integers, and the function
/// that makes its errors etl's.
macro_rules! driver {
    ($krate:path, $int:ident, $db_error:path) => {
        const _: () = {
            use $crate::sql::Param;
            use $krate as driver;

            fn values<'a>(
                params: &'a [Param<'a>],
            ) -> impl Iterator<Item = driver::types::Value> + 'a {
                params.iter().map(|p| match *p {
                    Param::Text(t) | Param::OptText(Some(t)) => {
                        driver::types::Value::Text(t.to_owned())
                    }
                    Param::OptText(None) => driver::types::Value::Null,
                    Param::Int(n) => driver::types::Value::$int(n),
                })
            }

            impl $crate::sql::Driver for driver::Connection {
                fn execute(&self, sql: &str, params: &[Param<'_>]) -> etl_core::Result<usize> {
                    driver::Connection::execute(self, sql, driver::params_from_iter(values(params)))
                        .map_err($db_error)
                }

                fn execute_batch(&self, sql: &str) -> etl_core::Result<()> {
                    driver::Connection::execute_batch(self, sql).map_err($db_error)
                }

                fn query_text(
                    &self,
                    sql: &str,
                    params: &[Param<'_>],
                    columns: usize,
                ) -> etl_core::Result<Vec<Vec<Option<String>>>> {
                    let mut stmt = self.prepare_cached(sql).map_err($db_error)?;
                    stmt.query_map(driver::params_from_iter(values(params)), |row| {
                        (0..columns)
                            .map(|i| row.get::<_, Option<String>>(i))
                            .collect()
                    })
                    .and_then(|rows| rows.collect::<driver::Result<Vec<_>>>())
                    .map_err($db_error)
                }
            }
        };
    };
}
pub(crate) use driver;

/// The error of a database file that cannot be opened, naming it.
pub(crate) fn open_error(warehouse: &'static str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Database {
        warehouse,
        table: None,
        retryable: false,
        source: format!("opening {}: {e}", path.display()).into(),
    }
}

/// One database's way of doing what [`SqlWarehouse`] needs.
pub(crate) trait Dialect: Driver + Send + 'static {
    /// The warehouse's name in errors and `Warehouse::kind`.
    const WAREHOUSE: &'static str;
    /// The type name of the warehouse, for `Debug`.
    const NAME: &'static str;
    /// The names of the user's tables (not `_etl_…`, not the database's
    /// own), sorted, in one text column.
    const LIST_TABLES: &'static str;
    /// The text and integer column types of `_etl_loads`.
    const TEXT: &'static str;
    /// The type of `_etl_loads.rows`.
    const ROWS: &'static str;
    /// What orders loads started in one microsecond.
    const LOADS_TIEBREAK: &'static str;
    /// A query of one text column with a row when the table named by its
    /// one parameter exists.
    const TABLE_EXISTS: &'static str;

    /// Whether `table` exists.
    fn table_exists(&self, table: &str) -> Result<bool> {
        Ok(!self
            .query_text(Self::TABLE_EXISTS, &[Param::Text(table)], 1)?
            .is_empty())
    }
    /// The table's schema as the warehouse reads it back, `None` when absent.
    fn read_schema(&self, table: &str) -> Result<Option<SchemaRef>>;
    /// The whole table.
    fn read_table(&self, table: &str) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        self.scan(table, usize::MAX, &mut |batch| {
            batches.push(batch);
            true
        })?;
        Ok(batches)
    }
    /// The table's rows in batches of `rows` rows at most, handed to `each`
    /// as they are read; `each` returns `false` to stop.
    fn scan(
        &self,
        table: &str,
        rows: usize,
        each: &mut dyn FnMut(RecordBatch) -> bool,
    ) -> Result<()>;
    /// The table's primary key, in key order (empty when it has none).
    fn primary_key_of(&self, table: &str) -> Result<Vec<String>>;
    /// Creates or evolves the table for `spec` in a transaction of its own.
    fn prepare_table(&mut self, spec: &TableSpec) -> Result<()>;
    /// Writes a load in one transaction, recording it in `_etl_loads`.
    fn write_load(
        &mut self,
        load: &Load,
        options: &WriteOptions,
        batches: &mut BlockingBatches,
    ) -> Result<WriteSummary>;
}

/// The DDL every SQL warehouse runs when it opens: `_etl_loads` and
/// `_etl_state`.
pub(crate) fn preamble<C: Dialect>(conn: &C) -> Result<()> {
    let (text, rows) = (C::TEXT, C::ROWS);
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {LOADS_TABLE} (
            load_id {text} PRIMARY KEY,
            table_name {text} NOT NULL,
            mode {text} NOT NULL,
            rows {rows} NOT NULL,
            started_at {text} NOT NULL,
            finished_at {text} NOT NULL,
            status {text} NOT NULL,
            error {text}
        );
        {}",
        create_state_table_sql()
    ))
}

/// Records `load` in `_etl_loads`.
pub(crate) fn record_load<C: Dialect>(
    conn: &C,
    load: &Load,
    rows: u64,
    status: LoadStatus,
    error: Option<&str>,
) -> Result<()> {
    let (started, finished) = (rfc3339(load.started), rfc3339(now_micros()));
    conn.execute(
        &format!(
            "INSERT INTO {LOADS_TABLE} (load_id, table_name, mode, rows, started_at, finished_at, status, error) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        &[
            Param::Text(&load.id),
            Param::Text(load.spec.name()),
            Param::Text(load.spec.mode().as_str()),
            Param::Int(i64::try_from(rows).unwrap_or(i64::MAX)),
            Param::Text(&started),
            Param::Text(&finished),
            Param::Text(status.as_str()),
            Param::OptText(error),
        ],
    )?;
    Ok(())
}

/// A warehouse in one database file (or in memory) of dialect `C`.
///
/// Cheap to clone: clones share one connection, used from tokio's blocking
/// pool, never from the async worker threads.
pub struct SqlWarehouse<C> {
    pub(crate) conn: Arc<Mutex<C>>,
    pub(crate) path: Option<PathBuf>,
}

impl<C> Clone for SqlWarehouse<C> {
    fn clone(&self) -> Self {
        SqlWarehouse {
            conn: self.conn.clone(),
            path: self.path.clone(),
        }
    }
}

#[allow(private_bounds)]
impl<C: Dialect> std::fmt::Debug for SqlWarehouse<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(C::NAME)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[allow(private_bounds)]
impl<C: Dialect> SqlWarehouse<C> {
    pub(crate) fn from_connection(conn: C, path: Option<PathBuf>) -> Result<Self> {
        preamble(&conn)?;
        Ok(SqlWarehouse {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    /// The file, `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Runs `f` with the connection on tokio's blocking pool.
    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut C) -> Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&conn)))
            .await
            .map_err(|e| Error::Internal(format!("a {} task panicked: {e}", C::WAREHOUSE)))?
    }
}

#[allow(private_bounds)]
impl<C: Dialect> Warehouse for SqlWarehouse<C> {
    fn kind(&self) -> &'static str {
        C::WAREHOUSE
    }

    async fn ensure_table(&self, spec: &TableSpec) -> Result<SchemaRef> {
        let table = spec.name().to_owned();
        let spec = spec.clone();
        self.blocking(move |conn| {
            check_spec(&spec)?;
            conn.prepare_table(&spec)?;
            conn.read_schema(spec.name())?
                .ok_or_else(|| Error::Internal(format!("table {:?} vanished", spec.name())))
        })
        .await
        .map_err(|e| e.in_table(&table))
    }

    async fn write(
        &self,
        spec: &TableSpec,
        batches: BatchStream,
        options: &WriteOptions,
    ) -> Result<WriteSummary> {
        let owned = options.clone();
        write_recorded(
            self.conn.clone(),
            spec,
            batches,
            options,
            move |conn: &mut C, load, batches| conn.write_load(load, &owned, batches),
            |conn: &C, load, error| {
                record_load(conn, load, 0, LoadStatus::Failed, Some(&error.to_string()))
            },
        )
        .await
    }

    async fn drop_table(&self, table: &str) -> Result<bool> {
        let table = table.to_owned();
        self.blocking(move |conn| {
            let existed = conn.table_exists(&table)?;
            conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", quote_ident(&table)))
                .map_err(|e| e.in_table(&table))?;
            Ok(existed)
        })
        .await
    }

    async fn table_names(&self) -> Result<Vec<String>> {
        self.blocking(|conn| {
            Ok(conn
                .query_text(C::LIST_TABLES, &[], 1)?
                .into_iter()
                .filter_map(|mut row| row.pop().flatten())
                .collect())
        })
        .await
    }

    async fn table_schema(&self, table: &str) -> Result<Option<SchemaRef>> {
        let table = table.to_owned();
        self.blocking(move |conn| conn.read_schema(&table)).await
    }

    async fn read_table(&self, table: &str) -> Result<Vec<RecordBatch>> {
        let table = table.to_owned();
        self.blocking(move |conn| conn.read_table(&table)).await
    }

    async fn stored_cursor(&self, source: &str, table: &str) -> Result<Option<String>> {
        let (source, table) = (source.to_owned(), table.to_owned());
        self.blocking(move |conn| {
            let rows = conn.query_text(
                &read_cursor_sql(),
                &[Param::Text(&source), Param::Text(&table)],
                1,
            )?;
            Ok(rows
                .into_iter()
                .next()
                .and_then(|mut row| row.pop().flatten()))
        })
        .await
    }

    async fn loads(&self) -> Result<Vec<LoadRecord>> {
        self.blocking(|conn| {
            let rows = conn.query_text(
                &format!(
                    "SELECT load_id, table_name, mode, CAST(rows AS TEXT), started_at, finished_at, status, error \
                     FROM {LOADS_TABLE} ORDER BY started_at, {}",
                    C::LOADS_TIEBREAK
                ),
                &[],
                8,
            )?;
            rows.into_iter()
                .map(|row| {
                    let text = |i: usize| row[i].clone().unwrap_or_default();
                    let count = text(3).parse::<u64>().map_err(|e| {
                        Error::Internal(format!("{LOADS_TABLE}.rows {:?}: {e}", text(3)))
                    })?;
                    Ok(LoadRecord::new(
                        text(0),
                        text(1),
                        text(2),
                        count,
                        text(4),
                        text(5),
                        LoadStatus::parse(&text(6)).unwrap_or(LoadStatus::Failed),
                        row[7].clone(),
                    ))
                })
                .collect()
        })
        .await
    }
}
