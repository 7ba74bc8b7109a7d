//! The one error type of etl.
//!
//! Every variant says what failed and on what (table, column, file, step),
//! never a secret, and [`Error::is_retryable`] tells whether trying again can help.

use std::path::PathBuf;

use arrow::datatypes::DataType;
use arrow::error::ArrowError;

/// A boxed error from a library etl calls (a database driver, a parser).
pub use etl_dag::BoxError;

/// `Result` with etl's [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in etl.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration or argument was wrong before any data moved.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A name etl cannot use, found before any data moved: an empty table
    /// name, one reserved for etl's own tables (`_etl_…` in any case), two
    /// tables of one source under one name. Column names at fault are
    /// [`Error::Schema`], which names their table.
    #[error("{what}: {message}")]
    InvalidName {
        /// The name at fault, and where it came from: `table "_etl_x"`,
        /// `Airtable base "app…", table "_etl_x"`.
        what: String,
        /// Why it cannot be used.
        message: String,
    },

    /// A table was asked for that the extractor does not offer.
    #[error("table {table:?} is not offered by the extractor; it offers: {}", offered.join(", "))]
    UnknownTable {
        /// The table asked for.
        table: String,
        /// The tables the extractor offers.
        offered: Vec<String>,
    },

    /// A column has an Arrow type the warehouse cannot store.
    #[error(
        "table {table:?}, column {column:?}: the {warehouse} warehouse cannot store Arrow type {data_type}"
    )]
    UnsupportedType {
        /// The table being written.
        table: String,
        /// The offending column.
        column: String,
        /// Its Arrow type.
        data_type: DataType,
        /// Which warehouse refused it.
        warehouse: &'static str,
    },

    /// The incoming schema cannot be written into the existing table.
    #[error(
        "table {table:?}, column {column:?}: incompatible type change, the table has {existing} but the load brings {incoming}; nothing was written"
    )]
    IncompatibleSchema {
        /// The table being written.
        table: String,
        /// The column whose type changed.
        column: String,
        /// The column's type in the warehouse.
        existing: String,
        /// The column's type in the load.
        incoming: String,
    },

    /// The table and the load disagree on the table's shape (primary key, columns).
    #[error("table {table:?}: {message}")]
    Schema {
        /// The table being written.
        table: String,
        /// What disagrees.
        message: String,
    },

    /// Data that must share one schema does not: a batch of other columns
    /// than its table's, parts of one table that disagree.
    #[error("{context}: {message}")]
    SchemaMismatch {
        /// What was being put together: `batches`, a table, a file.
        context: String,
        /// What differs.
        message: String,
    },

    /// A value could not be written (overflow, null in a key column).
    #[error("table {table:?}, column {column:?}, row {row}: {message}")]
    Value {
        /// The table being written.
        table: String,
        /// The column of the value.
        column: String,
        /// The row of the value within the load, from 0.
        row: u64,
        /// What is wrong with it.
        message: String,
    },

    /// A file or stream held data that could not be parsed.
    #[error("{}{}{}: {message}", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default(), column.as_ref().map(|c| format!(", column {c:?}")).unwrap_or_default())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the bad record, where known.
        line: Option<u64>,
        /// The column, where known.
        column: Option<String>,
        /// What is wrong.
        message: String,
    },

    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An Arrow computation failed.
    #[error("{context}: {source}")]
    Arrow {
        /// What was being done, and on what.
        context: String,
        /// The underlying error.
        #[source]
        source: ArrowError,
    },

    /// The warehouse's database returned an error.
    #[error("{warehouse}{}: {source}", table.as_ref().map(|t| format!(", table {t:?}")).unwrap_or_default())]
    Database {
        /// Which warehouse.
        warehouse: &'static str,
        /// The table involved, if any.
        table: Option<String>,
        /// The driver's error.
        #[source]
        source: BoxError,
        /// Whether trying again may succeed (a busy or locked database).
        retryable: bool,
    },

    /// The extractor failed to produce a table's data.
    #[error("extracting table {table:?}: {source}")]
    Extract {
        /// The table being extracted.
        table: String,
        /// The underlying error.
        #[source]
        source: BoxError,
        /// Whether trying again may succeed.
        retryable: bool,
    },

    /// A remote source (a web API) refused or failed a request. `what` names
    /// the source and the table (`Airtable base "app…", table "Orders"`),
    /// never a credential.
    #[error("{what}: {}{message}", status.map(|s| format!("HTTP {s}: ")).unwrap_or_default())]
    Remote {
        /// The source and table concerned.
        what: String,
        /// The HTTP status, when the source answered.
        status: Option<u16>,
        /// What went wrong, with the source's own error type and message.
        message: String,
        /// Whether trying again may succeed (rate limited, a server error, a network error).
        retryable: bool,
    },

    /// A write was abandoned before its stream ended (the caller was dropped or
    /// cancelled); the transaction was rolled back.
    #[error(
        "table {table:?}: the write was cancelled before its stream ended; nothing was written"
    )]
    Cancelled {
        /// The table being written.
        table: String,
    },

    /// One or more tables of a workflow failed; the others were loaded.
    #[error("{} of {} tables failed: {}", failed.len(), total, failed.iter().map(|(t, e)| format!("{t:?}: {e}")).collect::<Vec<_>>().join("; "))]
    TablesFailed {
        /// Each failed table with its error message.
        failed: Vec<(String, String)>,
        /// How many tables the run attempted.
        total: usize,
        /// The whole run's report, the successes included.
        report: Box<crate::LoadReport>,
    },

    /// The step runtime failed: a workflow that cannot be built, a step
    /// asking for the wrong input, a run whose steps did not all succeed.
    #[error(transparent)]
    Workflow(#[from] etl_dag::Error),

    /// A table's transform between extract and load failed.
    #[error("table {table:?}: the transform failed: {message}")]
    Transform {
        /// The table.
        table: String,
        /// The transform's error.
        message: String,
    },

    /// A table could not cross between Arrow and Polars: a column of a type
    /// Polars cannot hold (an interval, a union), or a conversion that failed.
    #[error("Polars{}: {message}", column.as_ref().map(|c| format!(", column {c:?}")).unwrap_or_default())]
    Polars {
        /// The column at fault, where one is.
        column: Option<String>,
        /// What is wrong.
        message: String,
    },

    /// A SQL query failed: a syntax error, an unknown table or column (each
    /// with its line and column in the query), a type mismatch, or a failure
    /// as it ran.
    #[error("{context}: SQL: {message}")]
    Sql {
        /// Where it ran: `step "revenue"`, `table "orders"`.
        context: String,
        /// DataFusion's message for each problem, with its place in the query.
        message: String,
    },

    /// A bug or broken invariant inside etl (a panicked worker thread).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Whether trying the same operation again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Database { retryable, .. }
            | Error::Extract { retryable, .. }
            | Error::Remote { retryable, .. } => *retryable,
            Error::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::WouldBlock
            ),
            _ => false,
        }
    }

    /// The report of a run in which some tables failed, if this is that error.
    pub fn report(&self) -> Option<&crate::LoadReport> {
        match self {
            Error::TablesFailed { report, .. } => Some(report),
            _ => None,
        }
    }

    /// Wraps an [`ArrowError`] with what was being done.
    pub fn arrow(context: impl Into<String>, source: ArrowError) -> Self {
        Error::Arrow {
            context: context.into(),
            source,
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Gives a table-less error (such as a database error) the table it concerns.
    pub fn in_table(self, name: &str) -> Self {
        match self {
            Error::Database {
                warehouse,
                table: None,
                source,
                retryable,
            } => Error::Database {
                warehouse,
                table: Some(name.to_owned()),
                source,
                retryable,
            },
            Error::Arrow { context, source } if !context.contains(name) => Error::Arrow {
                context: format!("table {name:?}: {context}"),
                source,
            },
            other => other,
        }
    }
}
