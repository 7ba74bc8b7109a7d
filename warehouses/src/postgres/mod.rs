//! [`PostgresWarehouse`]: tables in a schema of a PostgreSQL database,
//! loaded through binary `COPY FROM STDIN`.
//!
//! ```no_run
//! use etl_core::arrow::array::{Int64Array, RecordBatch, StringArray};
//! use etl_core::arrow::datatypes::{DataType, Field, Schema};
//! use etl_core::{BatchStream, TableSpec, Warehouse, WriteOptions};
//! use etl_warehouses::PostgresWarehouse;
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> etl_core::Result<()> {
//! // A password left out of the URL comes from PGPASSWORD.
//! let warehouse = PostgresWarehouse::connect("postgres://etl@localhost/analytics").await?;
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
//! # Connecting
//!
//! [`PostgresWarehouse::connect`] takes a URL,
//! `postgres://user:password@host:port/database?sslmode=…`; a password left
//! out comes from `PGPASSWORD`. Messages and `Debug` show the URL without
//! its password ([`PostgresWarehouse::location`]). TLS follows `sslmode`:
//! `disable` never, `prefer` (the default) when the server offers it,
//! `require` always; the server's certificate is checked against the
//! Mozilla roots (webpki-roots) and any
//! [`PostgresOptions::root_certificates`], whenever TLS is used: unlike
//! libpq's, `prefer` and `require` do not take a certificate nobody vouches
//! for (the password would go to whoever holds it). Tables go into
//! [`PostgresOptions::schema`] (default `public`), created when missing,
//! with `_etl_loads` and `_etl_state` beside them.
//!
//! # Types
//!
//! | Arrow | PostgreSQL | reads back as |
//! | --- | --- | --- |
//! | Boolean | `boolean` | Boolean |
//! | Int8, Int16, UInt8 | `smallint` | Int16 |
//! | Int32, UInt16 | `integer` | Int32 |
//! | Int64, UInt32 | `bigint` | Int64 |
//! | UInt64 | `numeric(20,0)` | Decimal128(20,0) |
//! | Float16, Float32 | `real` | Float32 |
//! | Float64 | `double precision` | Float64 |
//! | Decimal32/64/128(p, s ≥ 0) | `numeric(p,s)` | Decimal128(p,s) |
//! | Decimal256(p ≤ 76, s ≥ 0) | `numeric(p,s)` | Utf8 (the exact digits) past 38 digits |
//! | Utf8, LargeUtf8, Utf8View | `text` | Utf8 |
//! | Binary, LargeBinary, BinaryView, FixedSizeBinary | `bytea` | Binary |
//! | Date32, Date64 | `date` | Date32 |
//! | Time32, Time64 | `time` (µs) | Time64(µs) |
//! | Timestamp(unit) | `timestamp` (µs) | Timestamp(µs) |
//! | Timestamp(unit, tz) | `timestamptz` (the instant) | Timestamp(µs, "UTC") |
//! | Duration, Interval | `interval` | Interval(MonthDayNano) |
//! | List, LargeList, FixedSizeList of a scalar above | `T[]` | List(T) |
//! | Struct, Map, lists of those | `jsonb` | Utf8 (JSON text) |
//! | Dictionary(_, v) | as v | as v |
//! | Null | `text` | Utf8 |
//!
//! Columns etl did not create read as: unconstrained `numeric` as Utf8
//! (its exact digits); `json`, `uuid`, enums, ranges, `varchar(n)`, arrays
//! of those, and every other type, as Utf8, their PostgreSQL text.
//!
//! PostgreSQL keeps microseconds: a time, timestamp or duration with a part
//! finer than that is an [`Error::Value`] naming table, column and row, not
//! rounded. So are a date or timestamp outside PostgreSQL's calendar, a NUL
//! byte in text (or `\u0000` in nested values), and a value of 1 GiB or
//! more. Union, run-end encoded and view-list types, decimals of negative
//! scale, and nested values holding one of those are refused with
//! [`Error::UnsupportedType`] naming the table and column. Reading, `NaN`
//! and infinite `numeric`s and infinite dates and timestamps have no Arrow
//! value and are an [`Error::Value`].
//!
//! Names are kept as they are (quoted), up to PostgreSQL's 63 bytes: a
//! longer table or column name is an error, not cut short. A load's
//! column that differs from the table's only in case writes that column.
//!
//! An existing column takes an incoming type that fits it without loss (a
//! narrower integer, `real` into `double precision`, a decimal with fewer
//! digits on each side of the point, an integer into a `numeric` with room
//! for it); the load is cast. A 64-bit integer goes into `double precision`
//! when each value is exact there, and a column with no value at all fits
//! any type. Any other change is [`Error::IncompatibleSchema`], before
//! anything is written.
//!
//! # Writes
//!
//! Rows go in through binary `COPY … FROM STDIN`, encoded from the Arrow
//! arrays (`copy_in`), in one transaction per write.
//! [`WriteMode::Replace`] (or [`WriteOptions::recreate`]) copies into a
//! staging table `_etl_staging_<table>` and swaps it in with `DROP` and
//! `ALTER TABLE … RENAME`; a view on the table makes the drop, and so the
//! load, fail (PostgreSQL ties views to tables). [`WriteMode::Append`]
//! copies into the table. [`WriteMode::Merge`] copies into a temporary
//! table, numbering rows in the order they came, then
//! `INSERT … SELECT DISTINCT ON (key) … ON CONFLICT (key) DO UPDATE`, the
//! last row of a key winning. A failure anywhere (the stream, the server,
//! the connection) rolls everything back, PostgreSQL's DDL included, and
//! the failed load is recorded in `_etl_loads`. A stream carrying an
//! incremental cursor has it stored in `_etl_state` by the same transaction.

mod connector;
mod copy_in;
mod copy_out;
mod extract;
mod types;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use etl_core::arrow::array::RecordBatch;
use etl_core::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use etl_core::stream::{AsyncBatches, consume_async};
use etl_core::{
    BatchStream, Error, LOADS_TABLE, LoadRecord, LoadStatus, Result, STATE_TABLE, TableSpec,
    Warehouse, WriteMode, WriteOptions, WriteSummary, names,
};
use futures::{SinkExt, StreamExt};
use tokio_postgres::config::SslMode;

pub use connector::register;
pub use extract::PostgresExtractor;
use types::{PgType, cast_target, column_type};

use crate::common::{
    BatchFitter, ColumnSource, SEQUENCE_COLUMN, check_merge_key, check_spec, new_load_id,
    now_micros, quote_ident, quote_idents, rfc3339,
};

const WAREHOUSE: &str = "postgres";
/// PostgreSQL's longest identifier, in bytes (longer ones it cuts short).
const MAX_NAME: usize = 63;
/// Bytes of encoded rows sent to the server at a time.
const SEND_BYTES: usize = 1 << 20;
/// Batches in flight between the stream and the writer.
const IN_FLIGHT: usize = 2;

/// How to reach the server, beside its URL.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// The schema tables are loaded into, created when missing (`public`).
    pub schema: String,
    /// Connections kept open at most (4).
    pub pool_size: usize,
    /// How long to wait for the server when connecting (10 s).
    pub connect_timeout: Duration,
    /// A PEM file of certificates to trust for TLS, beside the Mozilla roots.
    pub root_certificates: Option<PathBuf>,
    /// Connections one table's read uses at most, as a source (2): a large
    /// table is read in ranges of its pages, each over a connection of its
    /// own, all in one snapshot. See [`PostgresExtractor`].
    pub read_connections: usize,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            schema: "public".into(),
            pool_size: 4,
            connect_timeout: Duration::from_secs(10),
            root_certificates: None,
            read_connections: 2,
        }
    }
}

impl PostgresOptions {
    /// Loads into `schema`.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Trusts the certificates of this PEM file for TLS.
    pub fn root_certificates(mut self, path: impl Into<PathBuf>) -> Self {
        self.root_certificates = Some(path.into());
        self
    }

    /// Waits this long for the server when connecting.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Reads one table over `connections` at most (1: never in ranges).
    pub fn read_connections(mut self, connections: usize) -> Self {
        self.read_connections = connections.max(1);
        self
    }
}

/// A warehouse in a schema of a PostgreSQL database; see the [module docs](self).
///
/// Cheap to clone: clones share one pool of connections.
#[derive(Clone)]
pub struct PostgresWarehouse {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    schema: String,
    location: String,
    /// [`PostgresOptions::read_connections`].
    read_connections: usize,
    /// Set once the schema and etl's tables exist.
    ready: tokio::sync::OnceCell<()>,
}

impl std::fmt::Debug for PostgresWarehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresWarehouse")
            .field("location", &self.inner.location)
            .field("schema", &self.inner.schema)
            .finish_non_exhaustive()
    }
}

/// `config` as a URL without its password: `postgres://user@host:port/db`.
pub(crate) fn redacted(config: &tokio_postgres::Config) -> String {
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

impl PostgresWarehouse {
    /// Connects to the database at `url`, loading into schema `public`:
    /// see [`PostgresWarehouse::connect_with`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// Connects to the database at `url` and makes sure the schema and
    /// etl's tables exist. A URL that does not parse, a server that cannot
    /// be reached, a wrong password, a missing database or a schema the
    /// user may not create is an error naming the URL without its password.
    pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<Self> {
        let warehouse = Self::new(url, options)?;
        warehouse.ready().await?;
        Ok(warehouse)
    }

    /// The warehouse at `url`, not connected yet: the first call connects
    /// (what a registry opening many connectors at once wants). The URL and
    /// options are checked here.
    pub fn new(url: &str, options: PostgresOptions) -> Result<Self> {
        Ok(PostgresWarehouse {
            inner: Arc::new(Inner::open(url, options)?),
        })
    }

    /// The server's URL, without its password.
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// The schema tables are loaded into.
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// Connects, and makes sure the schema and etl's tables exist, before
    /// any load (`connect` does this; `new` leaves it to the first call).
    pub async fn check(&self) -> Result<()> {
        self.ready().await
    }

    /// A pooled connection, for queries of your own.
    pub async fn client(&self) -> Result<Object> {
        self.ready().await?;
        self.inner.client().await
    }

    async fn ready(&self) -> Result<()> {
        let inner = &self.inner;
        inner
            .ready
            .get_or_try_init(|| async {
                let client = inner.client().await?;
                let schema = quote_ident(&inner.schema);
                let exists = client
                    .query_opt(
                        "SELECT 1 FROM pg_namespace WHERE nspname = $1",
                        &[&inner.schema],
                    )
                    .await
                    .map_err(|e| inner.db(e, None))?
                    .is_some();
                if !exists {
                    client
                        .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                        .await
                        .map_err(|e| inner.db(e, None))?;
                }
                client
                    .batch_execute(&format!(
                        "CREATE TABLE IF NOT EXISTS {loads} (
                            load_id text PRIMARY KEY,
                            table_name text NOT NULL,
                            mode text NOT NULL,
                            rows bigint NOT NULL,
                            started_at text NOT NULL,
                            finished_at text NOT NULL,
                            status text NOT NULL,
                            error text
                        );
                        CREATE TABLE IF NOT EXISTS {state} (
                            source text NOT NULL,
                            table_name text NOT NULL,
                            cursor text NOT NULL,
                            load_id text NOT NULL,
                            updated_at text NOT NULL,
                            PRIMARY KEY (source, table_name)
                        );",
                        loads = inner.qualified(LOADS_TABLE),
                        state = inner.qualified(STATE_TABLE),
                    ))
                    .await
                    .map_err(|e| inner.db(e, None))
            })
            .await
            .map(|_| ())
    }
}

/// The rustls configuration: the Mozilla roots, and `extra`'s certificates.
fn tls_config(location: &str, extra: Option<&std::path::Path>) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra {
        let certificates = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| {
                Error::Config(format!(
                    "{location}: reading root certificates {}: {e}",
                    path.display()
                ))
            })?;
        for certificate in certificates {
            roots.add(certificate).map_err(|e| {
                Error::Config(format!(
                    "{location}: a root certificate of {}: {e}",
                    path.display()
                ))
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("{location}: TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A name PostgreSQL would cut short, or that holds a NUL byte, is refused.
fn check_name(table: &str, what: &str, name: &str) -> Result<()> {
    if name.len() > MAX_NAME || name.contains('\0') || name.is_empty() {
        return Err(Error::Schema {
            table: table.to_owned(),
            message: format!(
                "the {what} name {name:?} is empty, holds a NUL byte, or is longer than \
                 PostgreSQL's {MAX_NAME} bytes (it would be cut short)"
            ),
        });
    }
    Ok(())
}

/// The checks of every warehouse, and PostgreSQL's own on names.
fn check_pg_spec(spec: &TableSpec) -> Result<()> {
    check_spec(spec)?;
    check_name(spec.name(), "table", spec.name())?;
    for field in spec.schema().fields() {
        check_name(spec.name(), "column", field.name())?;
    }
    if spec.schema().fields().len() > 1_600 {
        return Err(Error::Schema {
            table: spec.name().to_owned(),
            message: format!(
                "{} columns; a PostgreSQL table holds 1,600 at most",
                spec.schema().fields().len()
            ),
        });
    }
    Ok(())
}

/// The staging table of a replace of `table`, within PostgreSQL's 63 bytes.
fn staging_name(table: &str) -> String {
    let name = crate::common::staging_name(table);
    if name.len() <= MAX_NAME {
        return name;
    }
    // FNV-1a: stable, and a staging table lives inside one transaction.
    let hash = table.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("_etl_staging_{hash:016x}")
}

impl Inner {
    /// The pool of connections to `url` (none opened yet), the URL and
    /// options checked.
    fn open(url: &str, options: PostgresOptions) -> Result<Inner> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            // The text did not parse: never repeat it, it may hold a password.
            Error::Config(format!(
                "not a PostgreSQL URL (postgres://user@host/db): {e}"
            ))
        })?;
        if config.get_password().is_none()
            && let Some(password) = std::env::var_os("PGPASSWORD")
        {
            config.password(password.to_string_lossy().as_bytes());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("etl");
        }
        // Quotes are the only escape in a string literal, whatever the
        // server's default: a literal etl writes (a cursor, a pipeline
        // parameter) stays a value.
        let strict = "-c standard_conforming_strings=on";
        let options_text = match config.get_options() {
            Some(given) => format!("{given} {strict}"),
            None => strict.to_owned(),
        };
        config.options(&options_text);
        let location = redacted(&config);
        check_name(&location, "schema", &options.schema).map_err(|e| match e {
            Error::Schema { message, .. } => Error::Config(format!("{location}: {message}")),
            other => other,
        })?;
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = if config.get_ssl_mode() == SslMode::Disable {
            Manager::from_config(config, tokio_postgres::NoTls, manager_config)
        } else {
            let tls = tls_config(&location, options.root_certificates.as_deref())?;
            Manager::from_config(
                config,
                tokio_postgres_rustls::MakeRustlsConnect::new(tls),
                manager_config,
            )
        };
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| Error::Config(format!("{location}: building the connection pool: {e}")))?;
        Ok(Inner {
            pool,
            schema: options.schema,
            location,
            read_connections: options.read_connections.max(1),
            ready: tokio::sync::OnceCell::new(),
        })
    }

    fn qualified(&self, table: &str) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(table))
    }

    async fn client(&self) -> Result<Object> {
        self.pool.get().await.map_err(|e| {
            let message = match e {
                deadpool_postgres::PoolError::Backend(e) => describe(&e),
                other => other.to_string(),
            };
            Error::Database {
                warehouse: WAREHOUSE,
                table: None,
                retryable: true,
                source: format!("connecting to {}: {message}", self.location).into(),
            }
        })
    }

    /// A connection if one is idle or may be opened now: never waits for
    /// another reader to give one back.
    async fn spare_client(&self) -> Option<Object> {
        let timeouts = deadpool_postgres::Timeouts {
            wait: Some(Duration::ZERO),
            ..self.pool.timeouts()
        };
        self.pool.timeout_get(&timeouts).await.ok()
    }

    /// A driver error as etl's, naming the server and the table.
    fn db(&self, e: tokio_postgres::Error, table: Option<&str>) -> Error {
        let retryable = e.is_closed()
            || e.code().is_some_and(|code| {
                let code = code.code();
                code.starts_with("40")
                    || code.starts_with("08")
                    || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
            });
        Error::Database {
            warehouse: WAREHOUSE,
            table: table.map(str::to_owned),
            retryable,
            source: format!("{}: {}", self.location, describe(&e)).into(),
        }
    }
}

/// The server's message, with its detail, hint and where (a COPY's line
/// and column), or the driver's.
fn describe(e: &tokio_postgres::Error) -> String {
    let Some(db) = e.as_db_error() else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            let cause = cause.to_string();
            if !text.contains(&cause) {
                text = format!("{text}: {cause}");
            }
            source = cause_of(source);
        }
        if text.contains("invalid peer certificate") {
            text.push_str(
                " (the server's certificate is checked whenever TLS is used, sslmode=prefer \
                 included: trust its CA with root_certificates, or connect with sslmode=disable)",
            );
        }
        return text;
    };
    let mut text = format!("{} ({})", db.message(), db.code().code());
    if let Some(detail) = db.detail() {
        text.push_str(&format!("; {detail}"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!("; hint: {hint}"));
    }
    if let Some(place) = db.where_() {
        text.push_str(&format!("; at {place}"));
    }
    text
}

fn cause_of<'a>(
    e: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    e.and_then(std::error::Error::source)
}

/// The driver's client of a pooled connection.
fn pg(client: &Object) -> &tokio_postgres::Client {
    client
}

/// A column of an existing table.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    name: String,
    pg: PgType,
    not_null: bool,
}

/// The columns of `table` in `schema`, in order; `None` when there is no
/// such table (or view, when `views`).
async fn table_columns(
    client: &impl tokio_postgres::GenericClient,
    schema: &str,
    table: &str,
) -> std::result::Result<Option<Vec<Column>>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
             ORDER BY a.attnum",
            &[&schema, &table],
        )
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.iter()
            .filter_map(|row| {
                let name: Option<String> = row.get(0);
                Some(Column {
                    name: name?,
                    pg: PgType::parse(&row.get::<_, String>(1)),
                    not_null: row.get(2),
                })
            })
            .collect(),
    ))
}

/// The primary key of `table`, in key order.
async fn primary_key(
    client: &impl tokio_postgres::GenericClient,
    schema: &str,
    table: &str,
) -> std::result::Result<Vec<String>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT a.attname::text FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) \
             WHERE n.nspname = $1 AND c.relname = $2 AND i.indisprimary \
             ORDER BY array_position(i.indkey::int2[], a.attnum)",
            &[&schema, &table],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The Arrow schema of `columns`, as they read back.
fn arrow_schema(columns: &[Column]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(&c.name, c.pg.arrow(), !c.not_null))
            .collect::<Vec<_>>(),
    ))
}

/// `SELECT` of `columns`, each as itself when read in binary, else as text.
fn select_list(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| {
            let name = quote_ident(&c.name);
            if c.pg.reads_binary() {
                name
            } else {
                format!("{name}::text")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads `select` (a query over `columns`) through binary COPY, into batches.
pub(crate) async fn copy_out(
    client: &tokio_postgres::Client,
    table: &str,
    select: &str,
    columns: &[Column],
) -> std::result::Result<Vec<RecordBatch>, CopyOutError> {
    let schema = arrow_schema(columns);
    let types: Vec<PgType> = columns.iter().map(|c| c.pg.clone()).collect();
    let mut decoder = copy_out::Decoder::new(table, schema, &types);
    let stream = client
        .copy_out(&format!("COPY ({select}) TO STDOUT (FORMAT binary)"))
        .await
        .map_err(CopyOutError::Db)?;
    futures::pin_mut!(stream);
    let mut batches = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(CopyOutError::Db)?;
        batches.extend(decoder.push(&chunk).map_err(CopyOutError::Etl)?);
    }
    batches.extend(decoder.finish().map_err(CopyOutError::Etl)?);
    Ok(batches)
}

/// Why a COPY out failed: the server, or a value.
pub(crate) enum CopyOutError {
    Db(tokio_postgres::Error),
    Etl(Error),
}

impl Warehouse for PostgresWarehouse {
    fn kind(&self) -> &'static str {
        WAREHOUSE
    }

    async fn ensure_table(&self, spec: &TableSpec) -> Result<SchemaRef> {
        check_pg_spec(spec)?;
        let mut client = self.client().await?;
        let inner = &self.inner;
        let table = spec.name();
        let tx = tokio_postgres::Client::transaction(&mut client)
            .await
            .map_err(|e| inner.db(e, Some(table)))?;
        let plan = prepare_table(inner, &tx, spec, false).await?;
        plan.apply(inner, &tx).await?;
        tx.commit().await.map_err(|e| inner.db(e, Some(table)))?;
        drop(client);
        self.table_schema(table)
            .await?
            .ok_or_else(|| Error::Internal(format!("table {table:?} vanished")))
    }

    async fn write(
        &self,
        spec: &TableSpec,
        batches: BatchStream,
        options: &WriteOptions,
    ) -> Result<WriteSummary> {
        self.ready().await.map_err(|e| e.in_table(spec.name()))?;
        let inner = self.inner.clone();
        let table = spec.name().to_owned();
        let source = options.source.clone();
        let notes = batches.notes().clone();
        let load = Load {
            id: new_load_id(),
            started: now_micros(),
            spec: spec.clone(),
            recreate: options.recreate,
        };
        // The load runs in a task of its own: if this future is dropped, the
        // task sees the stream cut short, rolls back and records why.
        consume_async(&table, batches, IN_FLIGHT, |mut incoming| async move {
            let mut client = match inner.client().await {
                Ok(client) => client,
                Err(e) => {
                    record_failure(&inner, None, &load, &e).await;
                    return Err(e);
                }
            };
            let cursor = || Some((source?, notes.cursor_value()?));
            let written = write_load(&inner, &mut client, &load, &mut incoming, cursor).await;
            if let Err(e) = &written {
                record_failure(&inner, Some(client), &load, e).await;
            }
            written
        })
        .await
        .map_err(|e| e.in_table(&table))
    }

    async fn drop_table(&self, table: &str) -> Result<bool> {
        let client = self.client().await?;
        let inner = &self.inner;
        let existed = table_columns(pg(&client), &inner.schema, table)
            .await
            .map_err(|e| inner.db(e, Some(table)))?
            .is_some();
        client
            .batch_execute(&format!("DROP TABLE IF EXISTS {}", inner.qualified(table)))
            .await
            .map_err(|e| inner.db(e, Some(table)))?;
        Ok(existed)
    }

    async fn table_names(&self) -> Result<Vec<String>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') \
                 AND lower(c.relname) NOT LIKE '\\_etl\\_%' ORDER BY 1",
                &[&self.inner.schema],
            )
            .await
            .map_err(|e| self.inner.db(e, None))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn table_schema(&self, table: &str) -> Result<Option<SchemaRef>> {
        let client = self.client().await?;
        let columns = table_columns(pg(&client), &self.inner.schema, table)
            .await
            .map_err(|e| self.inner.db(e, Some(table)))?;
        Ok(columns.map(|c| arrow_schema(&c)))
    }

    async fn read_table(&self, table: &str) -> Result<Vec<RecordBatch>> {
        let client = self.client().await?;
        let inner = &self.inner;
        let columns = table_columns(pg(&client), &inner.schema, table)
            .await
            .map_err(|e| inner.db(e, Some(table)))?
            .ok_or_else(|| Error::Database {
                warehouse: WAREHOUSE,
                table: Some(table.to_owned()),
                retryable: false,
                source: format!(
                    "{}: no table {table:?} in schema {:?}",
                    inner.location, inner.schema
                )
                .into(),
            })?;
        let select = format!(
            "SELECT {} FROM {}",
            select_list(&columns),
            inner.qualified(table)
        );
        copy_out(pg(&client), table, &select, &columns)
            .await
            .map_err(|e| match e {
                CopyOutError::Db(e) => inner.db(e, Some(table)),
                CopyOutError::Etl(e) => e,
            })
    }

    async fn loads(&self) -> Result<Vec<LoadRecord>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT load_id, table_name, mode, rows, started_at, finished_at, status, error \
                     FROM {} ORDER BY started_at, load_id",
                    self.inner.qualified(LOADS_TABLE)
                ),
                &[],
            )
            .await
            .map_err(|e| self.inner.db(e, None))?;
        Ok(rows
            .iter()
            .map(|row| {
                LoadRecord::new(
                    row.get(0),
                    row.get(1),
                    row.get(2),
                    u64::try_from(row.get::<_, i64>(3)).unwrap_or(0),
                    row.get(4),
                    row.get(5),
                    LoadStatus::parse(row.get(6)).unwrap_or(LoadStatus::Failed),
                    row.get(7),
                )
            })
            .collect())
    }

    async fn stored_cursor(&self, source: &str, table: &str) -> Result<Option<String>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT cursor FROM {} WHERE source = $1 AND table_name = $2",
                    self.inner.qualified(STATE_TABLE)
                ),
                &[&source, &table],
            )
            .await
            .map_err(|e| self.inner.db(e, Some(table)))?;
        Ok(row.map(|r| r.get(0)))
    }
}

/// One load being written.
struct Load {
    id: String,
    started: i64,
    spec: TableSpec,
    recreate: bool,
}

/// Records a failed load, on `client` when it still works, else on a new
/// connection (a connection killed mid-load may not know it yet).
async fn record_failure(inner: &Inner, client: Option<Object>, load: &Load, error: &Error) {
    let error = error.to_string();
    if let Some(client) = client.filter(|c| !c.is_closed()) {
        let recorded = record_load(
            inner,
            pg(&client),
            load,
            0,
            LoadStatus::Failed,
            Some(&error),
        )
        .await;
        if recorded.is_ok() {
            return;
        }
    }
    if let Ok(client) = inner.client().await {
        let _ = record_load(
            inner,
            pg(&client),
            load,
            0,
            LoadStatus::Failed,
            Some(&error),
        )
        .await;
    }
}

async fn record_load(
    inner: &Inner,
    client: &impl tokio_postgres::GenericClient,
    load: &Load,
    rows: u64,
    status: LoadStatus,
    error: Option<&str>,
) -> std::result::Result<u64, tokio_postgres::Error> {
    client
        .execute(
            &format!(
                "INSERT INTO {} (load_id, table_name, mode, rows, started_at, finished_at, status, error) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                inner.qualified(LOADS_TABLE)
            ),
            &[
                &load.id,
                &load.spec.name(),
                &load.spec.mode().as_str(),
                &i64::try_from(rows).unwrap_or(i64::MAX),
                &rfc3339(load.started),
                &rfc3339(now_micros()),
                &status.as_str(),
                &error,
            ],
        )
        .await
}

/// How a load's columns land in a table.
struct Plan {
    table: String,
    /// Whether the table must be created (with `create_key` as its key).
    create: bool,
    create_key: Vec<String>,
    /// Columns of the table for the load's columns, in the load's order:
    /// the table's name for each, and its type.
    targets: Vec<(String, PgType)>,
    /// Columns to add to the existing table.
    added: Vec<String>,
    /// How to fit the load's batches to `targets`.
    fitter: BatchFitter,
}

impl Plan {
    /// Creates the table or adds the missing columns.
    async fn apply(&self, inner: &Inner, tx: &tokio_postgres::Transaction<'_>) -> Result<()> {
        let db = |e| inner.db(e, Some(&self.table));
        if self.create {
            create_table(inner, tx, &self.table, &self.targets, &self.create_key)
                .await
                .map_err(db)?;
            return Ok(());
        }
        for name in &self.added {
            let (_, pg) = self
                .targets
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| Error::Internal(format!("column {name:?} has no type")))?;
            tx.batch_execute(&format!(
                "ALTER TABLE {} ADD COLUMN {} {pg}",
                inner.qualified(&self.table),
                quote_ident(name)
            ))
            .await
            .map_err(db)?;
        }
        Ok(())
    }
}

async fn create_table(
    inner: &Inner,
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    columns: &[(String, PgType)],
    key: &[String],
) -> std::result::Result<(), tokio_postgres::Error> {
    let key_set: HashSet<&str> = key.iter().map(String::as_str).collect();
    let mut ddl: Vec<String> = columns
        .iter()
        .map(|(name, pg)| {
            let not_null = if key_set.contains(name.as_str()) {
                " NOT NULL"
            } else {
                ""
            };
            format!("{} {pg}{not_null}", quote_ident(name))
        })
        .collect();
    if !key.is_empty() {
        ddl.push(format!(
            "PRIMARY KEY ({})",
            quote_idents(key.iter().map(String::as_str))
        ));
    }
    tx.batch_execute(&format!(
        "CREATE TABLE {} ({})",
        inner.qualified(table),
        ddl.join(", ")
    ))
    .await
}

/// Compares the load with the table (when it exists and `fresh` is not
/// set): which columns it writes, which it adds, how its batches are cast.
async fn prepare_table(
    inner: &Inner,
    tx: &tokio_postgres::Transaction<'_>,
    spec: &TableSpec,
    fresh: bool,
) -> Result<Plan> {
    let table = spec.name();
    let incoming: Vec<PgType> = spec
        .schema()
        .fields()
        .iter()
        .map(|f| column_type(table, f))
        .collect::<Result<_>>()?;
    let existing = if fresh {
        None
    } else {
        table_columns(tx, &inner.schema, table)
            .await
            .map_err(|e| inner.db(e, Some(table)))?
    };
    let mut targets = Vec::with_capacity(incoming.len());
    let mut added = Vec::new();
    let mut sources = Vec::with_capacity(incoming.len());
    let mut fields = Vec::with_capacity(incoming.len());
    let by_fold: HashMap<String, &Column> = existing
        .iter()
        .flatten()
        .map(|c| (names::fold(&c.name), c))
        .collect();
    for (i, (field, pg)) in spec.schema().fields().iter().zip(&incoming).enumerate() {
        let (name, target) = match by_fold.get(&names::fold(field.name())) {
            None => {
                if existing.is_some() {
                    added.push(field.name().clone());
                }
                (field.name().clone(), pg.clone())
            }
            Some(column) => {
                let fits = column.pg.accepts(pg)
                    || field.data_type() == &DataType::Null
                    || etl_core::sampled_nulls_only(field);
                if !fits {
                    return Err(Error::IncompatibleSchema {
                        table: table.to_owned(),
                        column: field.name().clone(),
                        existing: column.pg.to_string(),
                        incoming: format!("{pg} ({})", field.data_type()),
                    });
                }
                (column.name.clone(), column.pg.clone())
            }
        };
        if field.data_type() != &DataType::Null
            && etl_core::sampled_nulls_only(field)
            && target != *pg
        {
            fields.push(field.as_ref().clone().with_data_type(DataType::Null));
            sources.push(ColumnSource::NullsOnly(i, DataType::Null));
        } else {
            let to = cast_target(field.data_type(), &target);
            fields.push(
                field
                    .as_ref()
                    .clone()
                    .with_data_type(to.clone().unwrap_or_else(|| field.data_type().clone())),
            );
            sources.push(ColumnSource::Batch(i, to));
        }
        targets.push((name, target));
    }
    if spec.mode() == WriteMode::Merge && existing.is_some() {
        let key = primary_key(tx, &inner.schema, table)
            .await
            .map_err(|e| inner.db(e, Some(table)))?;
        let key: Vec<&str> = key.iter().map(String::as_str).collect();
        check_merge_key(table, &key, spec.primary_key())?;
    }
    let fitter = BatchFitter::new(table, spec.schema().clone(), fields, sources);
    Ok(Plan {
        table: table.to_owned(),
        create: existing.is_none(),
        create_key: spec.primary_key().to_vec(),
        targets,
        added,
        fitter,
    })
}

/// Writes one load in one transaction; the caller records a failure.
async fn write_load(
    inner: &Inner,
    client: &mut Object,
    load: &Load,
    batches: &mut AsyncBatches,
    cursor: impl FnOnce() -> Option<(String, String)>,
) -> Result<WriteSummary> {
    let spec = &load.spec;
    check_pg_spec(spec)?;
    let table = spec.name();
    let db = |e| inner.db(e, Some(table));
    let tx = tokio_postgres::Client::transaction(client)
        .await
        .map_err(db)?;
    let fresh = load.recreate || spec.mode() == WriteMode::Replace;
    let (rows, added) = match spec.mode() {
        WriteMode::Merge => {
            if fresh {
                tx.batch_execute(&format!("DROP TABLE IF EXISTS {}", inner.qualified(table)))
                    .await
                    .map_err(db)?;
            }
            let plan = prepare_table(inner, &tx, spec, fresh).await?;
            plan.apply(inner, &tx).await?;
            // The load's rows, numbered in the order they came.
            let staging = "_etl_merge";
            let mut columns = plan.targets.clone();
            columns.push((SEQUENCE_COLUMN.to_owned(), PgType::Int8));
            let ddl: Vec<String> = columns
                .iter()
                .map(|(n, pg)| format!("{} {pg}", quote_ident(n)))
                .collect();
            tx.batch_execute(&format!(
                "DROP TABLE IF EXISTS pg_temp.{staging}; \
                 CREATE TEMPORARY TABLE {staging} ({}) ON COMMIT DROP",
                ddl.join(", ")
            ))
            .await
            .map_err(db)?;
            let fitter = plan.fitter.clone().numbered();
            let rows = copy_in(
                inner,
                &tx,
                &format!("pg_temp.{staging}"),
                &columns,
                &fitter,
                table,
                batches,
            )
            .await?;
            merge(inner, &tx, spec, &plan, &format!("pg_temp.{staging}"))
                .await
                .map_err(db)?;
            (rows, plan.added)
        }
        _ if fresh => {
            let staging = staging_name(table);
            tx.batch_execute(&format!(
                "DROP TABLE IF EXISTS {}",
                inner.qualified(&staging)
            ))
            .await
            .map_err(db)?;
            let plan = prepare_table(inner, &tx, spec, true).await?;
            let columns = plan.targets.clone();
            create_table(inner, &tx, &staging, &columns, spec.primary_key())
                .await
                .map_err(db)?;
            let rows = copy_in(
                inner,
                &tx,
                &inner.qualified(&staging),
                &columns,
                &plan.fitter,
                table,
                batches,
            )
            .await?;
            tx.batch_execute(&format!(
                "DROP TABLE IF EXISTS {}; ALTER TABLE {} RENAME TO {}",
                inner.qualified(table),
                inner.qualified(&staging),
                quote_ident(table)
            ))
            .await
            .map_err(db)?;
            (rows, Vec::new())
        }
        _ => {
            let plan = prepare_table(inner, &tx, spec, false).await?;
            plan.apply(inner, &tx).await?;
            let rows = copy_in(
                inner,
                &tx,
                &inner.qualified(table),
                &plan.targets,
                &plan.fitter,
                table,
                batches,
            )
            .await?;
            (rows, plan.added)
        }
    };
    let columns = table_columns(&tx, &inner.schema, table)
        .await
        .map_err(db)?
        .map_or(0, |c| c.len());
    if let Some((source, cursor)) = cursor() {
        tx.execute(
            &format!(
                "INSERT INTO {} (source, table_name, cursor, load_id, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source, table_name) DO UPDATE SET \
                 cursor = excluded.cursor, load_id = excluded.load_id, updated_at = excluded.updated_at",
                inner.qualified(STATE_TABLE)
            ),
            &[&source, &table, &cursor, &load.id, &rfc3339(now_micros())],
        )
        .await
        .map_err(db)?;
    }
    record_load(inner, &tx, load, rows, LoadStatus::Succeeded, None)
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(WriteSummary::new(load.id.clone(), rows, columns, added))
}

/// Copies the stream into `target` (a qualified name) through binary COPY;
/// returns the rows written.
#[allow(clippy::too_many_arguments)]
async fn copy_in(
    inner: &Inner,
    tx: &tokio_postgres::Transaction<'_>,
    target: &str,
    columns: &[(String, PgType)],
    fitter: &BatchFitter,
    table: &str,
    batches: &mut AsyncBatches,
) -> Result<u64> {
    let db = |e| inner.db(e, Some(table));
    let names = quote_idents(columns.iter().map(|(n, _)| n.as_str()));
    let sink = tx
        .copy_in::<_, bytes::Bytes>(&format!(
            "COPY {target} ({names}) FROM STDIN (FORMAT binary)"
        ))
        .await
        .map_err(db)?;
    futures::pin_mut!(sink);
    let types: Vec<PgType> = columns.iter().map(|(_, pg)| pg.clone()).collect();
    let mut buffer = Vec::with_capacity(SEND_BYTES + (SEND_BYTES >> 2));
    buffer.extend_from_slice(copy_in::HEADER);
    let mut rows = 0_u64;
    while let Some(batch) = batches.next().await {
        let batch = fitter.fit(&batch?, rows)?;
        copy_in::encode_batch(table, &batch, &types, rows, &mut buffer)?;
        rows += batch.num_rows() as u64;
        if buffer.len() >= SEND_BYTES {
            let chunk = bytes::Bytes::from(std::mem::replace(
                &mut buffer,
                Vec::with_capacity(SEND_BYTES + (SEND_BYTES >> 2)),
            ));
            sink.send(chunk).await.map_err(db)?;
        }
    }
    buffer.extend_from_slice(copy_in::TRAILER);
    sink.send(bytes::Bytes::from(buffer)).await.map_err(db)?;
    let copied = sink.finish().await.map_err(db)?;
    if copied != rows {
        return Err(Error::Internal(format!(
            "table {table:?}: {rows} rows streamed but {copied} copied"
        )));
    }
    Ok(rows)
}

/// `INSERT … SELECT DISTINCT ON (key) … ON CONFLICT (key) DO UPDATE` from
/// the staging table, the last row of each key winning.
async fn merge(
    inner: &Inner,
    tx: &tokio_postgres::Transaction<'_>,
    spec: &TableSpec,
    plan: &Plan,
    staging: &str,
) -> std::result::Result<u64, tokio_postgres::Error> {
    // The key's columns by the table's names.
    let key: Vec<&str> = spec
        .primary_key()
        .iter()
        .map(|k| {
            plan.targets
                .iter()
                .find(|(n, _)| names::fold(n) == names::fold(k))
                .map_or(k.as_str(), |(n, _)| n.as_str())
        })
        .collect();
    let key_set: HashSet<&str> = key.iter().copied().collect();
    let names = quote_idents(plan.targets.iter().map(|(n, _)| n.as_str()));
    let key_list = quote_idents(key.iter().copied());
    let updates: Vec<String> = plan
        .targets
        .iter()
        .filter(|(n, _)| !key_set.contains(n.as_str()))
        .map(|(n, _)| format!("{0} = EXCLUDED.{0}", quote_ident(n)))
        .collect();
    let action = if updates.is_empty() {
        "DO NOTHING".to_owned()
    } else {
        format!("DO UPDATE SET {}", updates.join(", "))
    };
    tx.execute(
        &format!(
            "INSERT INTO {table} ({names}) SELECT DISTINCT ON ({key_list}) {names} FROM {staging} \
             ORDER BY {key_list}, {seq} DESC ON CONFLICT ({key_list}) {action}",
            table = inner.qualified(spec.name()),
            seq = quote_ident(SEQUENCE_COLUMN),
        ),
        &[],
    )
    .await
}
