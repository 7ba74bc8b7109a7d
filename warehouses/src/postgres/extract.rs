//! [`PostgresExtractor`]: the tables and views of a PostgreSQL schema, or
//! named queries, read as Arrow batches through binary `COPY … TO STDOUT`.

use std::collections::BTreeMap;
use std::sync::Arc;

use etl_core::arrow::datatypes::SchemaRef;
use etl_core::{
    AsyncBatchSender, BatchStream, Discovered, Error, ExtractNotes, ExtractOptions, Extractor,
    Result, TableSpec,
};
use futures::StreamExt;

use super::copy_out::Decoder;
use super::types::PgType;
use super::{
    Column, Inner, PostgresOptions, arrow_schema, pg, primary_key, quote_ident, select_list,
    table_columns,
};

/// Batches in flight between the reader and the load, at most.
const IN_FLIGHT: usize = 2;

/// Pages (8 kB by default) each connection of a read in ranges reads at
/// least: a table under twice this (16 MB) is read over one connection.
const PAGES_PER_READER: i64 = 2048;

/// Whether a table can be read in ranges of its pages (a plain table, on a
/// server with TID range scans, PostgreSQL 14 on, that can export its
/// snapshot), and its pages now.
const RANGEABLE: &str = "SELECT c.relkind = 'r' AND current_setting('server_version_num')::int >= 140000 \
     AND NOT pg_is_in_recovery(), pg_relation_size(c.oid) / current_setting('block_size')::int8 \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = $1 AND c.relname = $2";

/// The tables and views of a schema of a PostgreSQL database, a chosen list
/// of them, or named queries, as a source.
///
/// ```no_run
/// use etl_core::{ETLWorkflow, Extractor};
/// use etl_warehouses::{DuckDbWarehouse, PostgresExtractor, PostgresOptions};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> etl_core::Result<()> {
/// let shop = PostgresExtractor::new("postgres://etl@localhost/shop", PostgresOptions::default())?
///     .with_tables(["customers", "orders"])
///     .with_query("big_orders", "SELECT id, total FROM orders WHERE total > 100")
///     .with_incremental("orders", "updated_at");
/// ETLWorkflow::new(shop, DuckDbWarehouse::open("shop.duckdb")?).run().await?;
/// # Ok(()) }
/// ```
///
/// Each table reads with the types of the [module's table](super), its
/// primary key from the catalog (none for a view, a query or a table
/// without one). Rows stream: the server's `COPY` is read as the load takes
/// batches, so memory holds a few batches whatever the table's size.
///
/// A table of more than 16 MB is read over
/// [`read_connections`](PostgresOptions::read_connections) connections at
/// once (2), each a range of its pages, all in the first one's exported
/// snapshot and each holding the table's `ACCESS SHARE` lock before any
/// range is read: every row once, as it was when the read began. A
/// connection the pool cannot give at once is not waited for. Views,
/// queries, partitioned and foreign tables, servers before PostgreSQL 14 and
/// hot standbys read over one.
///
/// An incremental table reads, in one `REPEATABLE READ` snapshot, the
/// largest value of its cursor column and then the rows past the stored
/// cursor up to it; that value, in PostgreSQL's text, is the next cursor.
/// Rows whose cursor is null are not read incrementally. A read that finds
/// nothing new keeps the stored cursor.
#[derive(Clone)]
pub struct PostgresExtractor {
    inner: Arc<Inner>,
    tables: Option<Vec<String>>,
    queries: Vec<(String, String)>,
    cursors: BTreeMap<String, String>,
    /// The tables the last listing offered.
    offered: Arc<std::sync::Mutex<Option<Vec<String>>>>,
}

impl std::fmt::Debug for PostgresExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresExtractor")
            .field("location", &self.inner.location)
            .field("schema", &self.inner.schema)
            .field("tables", &self.tables)
            .field(
                "queries",
                &self.queries.iter().map(|q| &q.0).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl PostgresExtractor {
    /// Every table and view of [`PostgresOptions::schema`] of the database
    /// at `url` (etl's own `_etl_` tables left out). Nothing connects until
    /// the first call; the URL is checked here, and never repeated with its
    /// password.
    pub fn new(url: &str, options: PostgresOptions) -> Result<Self> {
        Ok(PostgresExtractor {
            inner: Arc::new(Inner::open(url, options)?),
            tables: None,
            queries: Vec::new(),
            cursors: BTreeMap::new(),
            offered: Arc::default(),
        })
    }

    /// Only these tables or views.
    pub fn with_tables<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tables = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// A table named `name` whose rows are those of `sql`, a `SELECT`,
    /// offered beside the tables.
    pub fn with_query(mut self, name: impl Into<String>, sql: impl Into<String>) -> Self {
        self.queries.push((name.into(), sql.into()));
        self
    }

    /// Reads `table` incrementally on `column` (a timestamp, a number, any
    /// ordered type): only rows past the cursor the last load stored.
    pub fn with_incremental(mut self, table: impl Into<String>, column: impl Into<String>) -> Self {
        self.cursors.insert(table.into(), column.into());
        self
    }

    /// The server's URL, without its password.
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    fn no_such(&self, table: &str, message: String) -> Error {
        Error::Extract {
            table: table.to_owned(),
            source: format!("{}: {message}", self.inner.location).into(),
            retryable: false,
        }
    }

    /// The relation or query `table` reads, as SQL after `FROM`.
    fn relation(&self, table: &str) -> String {
        match self.queries.iter().find(|(name, _)| name == table) {
            Some((_, sql)) => format!("({sql}) AS q"),
            None => self.inner.qualified(table),
        }
    }

    /// The columns of `table` as they are now: the catalog's for a table or
    /// view, the described statement's for a query.
    async fn columns(
        &self,
        client: &tokio_postgres::Client,
        table: &str,
    ) -> Result<Option<Vec<Column>>> {
        let inner = &self.inner;
        let db = |e| {
            let mut e = inner.db(e, Some(table));
            if let Error::Database { retryable, .. } = &mut e {
                *retryable = false;
            }
            e
        };
        let Some((_, sql)) = self.queries.iter().find(|(name, _)| name == table) else {
            return table_columns(client, &inner.schema, table)
                .await
                .map_err(|e| inner.db(e, Some(table)));
        };
        let statement = client.prepare(sql).await.map_err(db)?;
        let oids: Vec<u32> = statement
            .columns()
            .iter()
            .map(|c| c.type_().oid())
            .collect();
        let mods: Vec<i32> = statement
            .columns()
            .iter()
            .map(|c| c.type_modifier())
            .collect();
        let names = client
            .query(
                "SELECT format_type(t, m) FROM unnest($1::oid[], $2::int4[]) WITH ORDINALITY AS x(t, m, i) ORDER BY i",
                &[&oids, &mods],
            )
            .await
            .map_err(db)?;
        Ok(Some(
            statement
                .columns()
                .iter()
                .zip(names)
                .map(|(c, row)| Column {
                    name: c.name().to_owned(),
                    pg: PgType::parse(&row.get::<_, String>(0)),
                    not_null: false,
                })
                .collect(),
        ))
    }

    async fn discover_one(&self, client: &tokio_postgres::Client, table: &str) -> Discovered {
        let failed = |error| Discovered::Failed {
            table: table.to_owned(),
            error,
        };
        let columns = match self.columns(client, table).await {
            Ok(Some(columns)) => columns,
            Ok(None) => {
                return failed(self.no_such(
                    table,
                    format!(
                        "no table or view {table:?} in schema {:?}",
                        self.inner.schema
                    ),
                ));
            }
            Err(e) => return failed(e),
        };
        if columns.is_empty() {
            return failed(self.no_such(table, format!("{table:?} has no columns")));
        }
        let mut spec = TableSpec::new(table, arrow_schema(&columns));
        if !self.queries.iter().any(|(name, _)| name == table) {
            match primary_key(client, &self.inner.schema, table).await {
                Ok(key) if !key.is_empty() => spec = spec.with_primary_key(key),
                Ok(_) => {}
                Err(e) => return failed(self.inner.db(e, Some(table))),
            }
        }
        if let Some(cursor) = self.cursors.get(table) {
            if !columns.iter().any(|c| &c.name == cursor) {
                return failed(self.no_such(
                    table,
                    format!("its cursor column {cursor:?} is not one of its columns"),
                ));
            }
            spec = spec.with_cursor_field(cursor.clone());
        }
        Discovered::Ready(spec)
    }
}

/// `text` as a SQL string literal, whatever `standard_conforming_strings`
/// says: an escape string, its quotes and backslashes doubled.
fn literal(table: &str, text: &str) -> Result<String> {
    if text.contains('\0') {
        return Err(Error::Extract {
            table: table.to_owned(),
            source: "the stored cursor holds a NUL byte".into(),
            retryable: false,
        });
    }
    Ok(format!(
        "E'{}'",
        text.replace('\\', "\\\\").replace('\'', "''")
    ))
}

/// `pages` split in `parts` ranges of whole pages, each as the conditions on
/// `ctid` that select its rows: the first open below, the last open above,
/// so a row on a page added since the count is still read once.
fn ranges(pages: i64, parts: usize) -> Vec<Vec<String>> {
    let parts = parts.max(1) as i64;
    let bound = |i: i64| format!("'({},0)'::tid", pages * i / parts);
    (0..parts)
        .map(|i| {
            let mut range = Vec::new();
            if i > 0 {
                range.push(format!("ctid >= {}", bound(i)));
            }
            if i + 1 < parts {
                range.push(format!("ctid < {}", bound(i + 1)));
            }
            range
        })
        .collect()
}

/// The `SELECT` of `columns` from `from` where every one of `conditions` holds.
fn select(columns: &[Column], from: &str, conditions: &[String]) -> String {
    let mut sql = format!("SELECT {} FROM {from}", select_list(columns));
    for (i, condition) in conditions.iter().enumerate() {
        sql.push_str(if i == 0 { " WHERE " } else { " AND " });
        sql.push_str(condition);
    }
    sql
}

/// Reads `select` through binary `COPY TO STDOUT` on `reader`, decoding
/// batches into `tx` as rows arrive; stops early when the load stops
/// reading.
async fn copy_into(
    reader: &tokio_postgres::Transaction<'_>,
    select: String,
    mut decoder: Decoder,
    tx: &AsyncBatchSender,
    db: &impl Fn(tokio_postgres::Error) -> Error,
) -> Result<()> {
    let copy = reader
        .copy_out(&format!("COPY ({select}) TO STDOUT (FORMAT binary)"))
        .await
        .map_err(db)?;
    futures::pin_mut!(copy);
    while let Some(chunk) = copy.next().await {
        for batch in decoder.push(&chunk.map_err(db)?)? {
            if !tx.send(batch).await {
                return Ok(()); // the load stopped reading
            }
        }
    }
    if let Some(batch) = decoder.finish()? {
        tx.send(batch).await;
    }
    Ok(())
}

impl Extractor for PostgresExtractor {
    fn source(&self) -> String {
        format!("postgres:{}/{}", self.inner.location, self.inner.schema)
    }

    async fn tables(&self) -> Result<Vec<TableSpec>> {
        Discovered::all(self.discover().await?)
    }

    async fn discover(&self) -> Result<Vec<Discovered>> {
        let client = self.inner.client().await?;
        let client = pg(&client);
        let mut names: Vec<String> = match &self.tables {
            Some(names) => names.clone(),
            None => client
                .query(
                    "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
                     AND lower(c.relname) NOT LIKE '\\_etl\\_%' ORDER BY 1",
                    &[&self.inner.schema],
                )
                .await
                .map_err(|e| self.inner.db(e, None))?
                .iter()
                .map(|r| r.get(0))
                .collect(),
        };
        names.extend(self.queries.iter().map(|(name, _)| name.clone()));
        let mut found = Vec::with_capacity(names.len());
        for name in &names {
            found.push(self.discover_one(client, name).await);
        }
        *self.offered.lock().unwrap_or_else(|p| p.into_inner()) = Some(names);
        Ok(found)
    }

    async fn extract(&self, table: &TableSpec, options: &ExtractOptions) -> Result<BatchStream> {
        let name = table.name().to_owned();
        crate::common::check_offered(self, &self.offered, &name).await?;
        let schema: SchemaRef = table.schema().clone();
        let client = self.inner.client().await?;
        // The columns the spec names, with the types they have now.
        let now = self
            .columns(pg(&client), &name)
            .await?
            .ok_or_else(|| self.no_such(&name, format!("{name:?} is gone")))?;
        let columns = schema
            .fields()
            .iter()
            .map(|field| {
                let column = now
                    .iter()
                    .find(|c| &c.name == field.name())
                    .ok_or_else(|| {
                        self.no_such(
                            &name,
                            format!("its column {:?} is gone", field.name()),
                        )
                    })?;
                if column.pg.arrow() != *field.data_type() {
                    return Err(Error::Schema {
                        table: name.clone(),
                        message: format!(
                            "column {:?} is {} now, read as {}; it was {} when the tables were listed",
                            field.name(),
                            column.pg,
                            column.pg.arrow(),
                            field.data_type()
                        ),
                    });
                }
                Ok(column.clone())
            })
            .collect::<Result<Vec<_>>>()?;
        let from = self.relation(&name);
        let cursor = match table.cursor_field() {
            Some(field) => {
                let column = columns
                    .iter()
                    .find(|c| c.name == field)
                    .ok_or_else(|| {
                        self.no_such(&name, format!("its cursor column {field:?} is not read"))
                    })?
                    .clone();
                let since = options
                    .since
                    .as_deref()
                    .map(|s| literal(&name, s))
                    .transpose()?;
                Some((column, since))
            }
            None => None,
        };
        let since_text = options.since.clone();
        let is_query = self.queries.iter().any(|(q, _)| *q == name);
        let inner = self.inner.clone();
        let batch_rows = options.batch_size;
        let notes = ExtractNotes::default();
        let producer_notes = notes.clone();
        let stream_schema = schema.clone();
        let stream = BatchStream::from_async(schema, IN_FLIGHT, move |tx| async move {
            let mut client = client;
            let db = |e| inner.db(e, Some(&name));
            // A table may be read in ranges over several connections.
            let ranged = !is_query && inner.read_connections > 1;
            let transaction = tokio_postgres::Client::transaction(&mut client)
                .await
                .map_err(db)?;
            if cursor.is_some() || ranged {
                // One snapshot for every statement (and every connection).
                transaction
                    .batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await
                    .map_err(db)?;
            }
            let mut pages = None;
            if ranged {
                // Locked before the snapshot is taken: nothing rewrites the
                // table (and moves its rows) until the read ends.
                transaction
                    .batch_execute(&format!("LOCK TABLE {from} IN ACCESS SHARE MODE"))
                    .await
                    .map_err(db)?;
                let row = transaction
                    .query_one(RANGEABLE, &[&inner.schema, &name])
                    .await
                    .map_err(db)?;
                if row.get::<_, bool>(0) {
                    pages = Some(row.get::<_, i64>(1));
                }
            }
            let mut filter = Vec::new();
            if let Some((column, since)) = &cursor {
                // The largest cursor, then the rows up to it.
                let c = quote_ident(&column.name);
                let past = since
                    .as_ref()
                    .map(|s| format!(" WHERE {c} > {s}::{}", column.pg))
                    .unwrap_or_default();
                let largest: Option<String> = transaction
                    .query_one(&format!("SELECT max({c})::text FROM {from}{past}"), &[])
                    .await
                    .map_err(db)?
                    .get(0);
                let Some(largest) = largest else {
                    // Nothing new: the stored cursor stays what it was.
                    if let Some(since) = since_text {
                        producer_notes.set_cursor_value(since);
                    }
                    return Ok(());
                };
                let upto = literal(&name, &largest)?;
                if let Some(s) = since {
                    filter.push(format!("{c} > {s}::{}", column.pg));
                }
                filter.push(format!("{c} <= {upto}::{}", column.pg));
                producer_notes.set_cursor_value(largest);
            }
            // The other connections, each in the first's snapshot and
            // holding its own lock before any range is read.
            let mut spares = Vec::new();
            let mut readers = Vec::new();
            let wanted = pages.map_or(0, |pages| {
                (pages / PAGES_PER_READER).min(inner.read_connections as i64) - 1
            });
            if wanted > 0 {
                let snapshot: String = transaction
                    .query_one("SELECT pg_export_snapshot()", &[])
                    .await
                    .map_err(db)?
                    .get(0);
                for _ in 0..wanted {
                    match inner.spare_client().await {
                        Some(spare) => spares.push(spare),
                        None => break,
                    }
                }
                let join = format!(
                    "SET TRANSACTION SNAPSHOT {}; LOCK TABLE {from} IN ACCESS SHARE MODE NOWAIT",
                    literal(&name, &snapshot)?
                );
                for spare in spares.iter_mut() {
                    let reader = tokio_postgres::Client::build_transaction(spare)
                        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                        .read_only(true)
                        .start()
                        .await;
                    // A connection that cannot join (someone waits to
                    // rewrite the table: NOWAIT) is left out, never waited
                    // on while the others hold the table.
                    if let Ok(reader) = reader
                        && reader.batch_execute(&join).await.is_ok()
                    {
                        readers.push(reader);
                    }
                }
            }
            // One range per connection: with none to spare, one COPY of
            // the whole table (its only range has no bounds).
            let ranges = ranges(pages.unwrap_or(0), readers.len() + 1);
            let types: Vec<PgType> = columns.iter().map(|c| c.pg.clone()).collect();
            let reads = std::iter::once(&transaction)
                .chain(readers.iter())
                .zip(ranges)
                .map(|(reader, range)| {
                    let mut conditions = filter.clone();
                    conditions.extend(range);
                    let select = select(&columns, &from, &conditions);
                    let decoder =
                        Decoder::new(&name, stream_schema.clone(), &types).batch_rows(batch_rows);
                    copy_into(reader, select, decoder, &tx, &db)
                });
            futures::future::try_join_all(reads).await?;
            for reader in readers {
                reader.commit().await.map_err(db)?;
            }
            transaction.commit().await.map_err(db)?;
            Ok(())
        });
        Ok(stream.with_notes(notes))
    }
}
