//! The model of a pipeline file, as [`Pipeline::parse`] reads it.

use std::collections::BTreeMap;
use std::time::Duration;

use etl_rules::Backoff;

/// A pipeline read from its file: see the [crate docs](crate).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Pipeline {
    /// The workflow's name.
    pub name: String,
    /// When it runs by itself.
    pub schedule: Option<Schedule>,
    /// The parameters a run takes, in the file's order.
    pub params: Vec<Param>,
    /// Where data comes from, by name.
    pub sources: BTreeMap<String, Source>,
    /// Where data goes, by name.
    pub warehouses: BTreeMap<String, Warehouse>,
    /// The steps, in the file's order (a stage's dependencies folded into
    /// each of its steps' `depends_on`).
    pub steps: Vec<Step>,
    /// `[[stages]]`, in the file's order.
    pub stages: Vec<Stage>,
    /// The most steps that run at once (`None`: no bound).
    pub max_parallel: Option<usize>,
    /// Every `${NAME}` reference to the environment, where it stands.
    pub env: Vec<EnvRef>,
    /// Where each part stands in the file, by path: `sources.NAME`,
    /// `warehouses.NAME`, `steps.NAME`, `steps.NAME.sql`,
    /// `steps.NAME.tables`.
    pub at: BTreeMap<String, Position>,
}

/// A place in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Position {
    /// Its line, from 1.
    pub line: usize,
    /// Its column, from 1, in characters.
    pub column: usize,
}

impl Position {
    /// Line `line`, column `column`.
    pub fn new(line: usize, column: usize) -> Self {
        Position { line, column }
    }
}

/// A `${NAME}` (or `${NAME:-default}`) reference to the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvRef {
    /// The variable's name.
    pub name: String,
    /// What it stands for when the variable is not set (`None`: it must be).
    pub default: Option<String>,
    /// The key it is in (`sources.shop.airtable.token`).
    pub path: String,
    /// Where.
    pub at: Position,
}

/// `[[stages]]`: steps that run together, after the stages they depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stage {
    /// Its name.
    pub name: String,
    /// Its steps.
    pub steps: Vec<String>,
    /// The stages it runs after.
    pub depends_on: Vec<String>,
    /// Whether its steps run at the same time (`false`: one after another,
    /// in the order listed).
    pub parallel: bool,
}

impl Pipeline {
    /// Where `path` stands in the file (see [`Pipeline::at`]), else line 1.
    pub fn position(&self, path: &str) -> Position {
        // The place itself, else the nearest enclosing one it is under
        // (`sources.x.kind.tables[3]` under `sources.x.kind.tables`).
        let mut path = path;
        loop {
            if let Some(at) = self.at.get(path) {
                return *at;
            }
            match path.rfind(['.', '[']) {
                Some(cut) if cut > 0 => path = &path[..cut],
                _ => return Position::new(1, 1),
            }
        }
    }
}

/// What an `http` source reads its REST config from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HttpSource {
    /// A file of its own (the HTTP extractor's format), relative to the
    /// pipeline file.
    File(String),
    /// Inline: the same keys, in the pipeline file.
    Inline(toml::Table),
}

/// `[schedule]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Schedule {
    /// The cron expression (checked).
    pub cron: String,
    /// The time zone (`None`: UTC).
    pub zone: Option<String>,
}

/// The type of a parameter: the one check every way a run starts applies.
pub use etl_rules::ParamType;

/// `[params.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Its type.
    pub kind: ParamType,
    /// Its value when a run gives none (`None`: required), as text.
    pub default: Option<String>,
}

/// `[sources.NAME]`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Source {
    /// An Airtable base.
    Airtable {
        /// The base id, or a `${ENV}` reference to it.
        base: String,
        /// The `${ENV}` reference to the token.
        token: String,
        /// Only these tables (all when empty).
        tables: Vec<String>,
        /// The API's address (`None`: Airtable's own).
        api_url: Option<String>,
    },
    /// A REST/JSON API, configured as the HTTP extractor's TOML is, in its
    /// own file or inline.
    Http {
        /// Where the config is.
        config: HttpSource,
    },
    /// A folder of CSV, Parquet or JSON Lines files.
    Files {
        /// The folder, relative to the pipeline file.
        path: String,
    },
    /// The tables and views of a schema of a PostgreSQL database, and
    /// named queries.
    Postgres {
        /// `postgres://user@host:port/db`, its secrets from `${ENV}`
        /// references.
        url: String,
        /// The schema to read (`public`).
        schema: Option<String>,
        /// Named queries, each read as a table of that name.
        queries: BTreeMap<String, String>,
        /// Tables read incrementally, each with its cursor column.
        incremental: BTreeMap<String, String>,
        /// A PEM file of certificates to trust for TLS, relative to the
        /// pipeline file.
        root_certificates: Option<String>,
        /// Connections one table's read uses at most (2).
        read_connections: Option<usize>,
    },
    /// A kind the reader does not know itself but the build registered
    /// (`etl::registry()`): `sqlite = { path }`, your own. Its table goes
    /// to the kind's constructor as it is, `${ENV}` references expanded;
    /// a run's parameter is refused anywhere in it.
    Registered {
        /// The kind, as registered.
        kind: String,
        /// Its table.
        config: toml::Table,
    },
}

/// The kinds of source and warehouse the build registered beyond those the
/// reader knows itself (`etl::registry()`'s): each is read as
/// [`Source::Registered`] or [`Warehouse::Registered`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Kinds {
    /// Source kinds.
    pub sources: Vec<String>,
    /// Warehouse kinds.
    pub warehouses: Vec<String>,
}

impl Kinds {
    /// These source and warehouse kinds.
    pub fn new<S: Into<String>>(
        sources: impl IntoIterator<Item = S>,
        warehouses: impl IntoIterator<Item = S>,
    ) -> Kinds {
        Kinds {
            sources: sources.into_iter().map(Into::into).collect(),
            warehouses: warehouses.into_iter().map(Into::into).collect(),
        }
    }
}

/// `[warehouses.NAME]`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Warehouse {
    /// A SQLite file.
    Sqlite {
        /// Its path, relative to the pipeline file.
        path: String,
    },
    /// A DuckDB file.
    Duckdb {
        /// Its path, relative to the pipeline file.
        path: String,
        /// DuckDB's memory limit (`"256MB"`).
        memory_limit: Option<String>,
    },
    /// A schema of a PostgreSQL database.
    Postgres {
        /// `postgres://user:password@host:port/db`, its secrets from
        /// `${ENV}` references.
        url: String,
        /// The schema to load into (`public`).
        schema: Option<String>,
        /// A PEM file of certificates to trust for TLS, relative to the
        /// pipeline file.
        root_certificates: Option<String>,
    },
    /// A kind the build registered; see [`Source::Registered`].
    Registered {
        /// The kind, as registered.
        kind: String,
        /// Its table.
        config: toml::Table,
    },
}

/// How a step writes a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteMode {
    /// The table's rows replaced.
    Replace,
    /// Rows added.
    Append,
    /// Rows upserted on the primary key.
    Merge,
}

/// `[[steps]]`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Step {
    /// Its name.
    pub name: String,
    /// What it does.
    pub kind: StepKind,
    /// The steps it runs after.
    pub depends_on: Vec<String>,
    /// Attempts after the first.
    pub retries: u32,
    /// The wait between attempts.
    pub backoff: Option<Backoff>,
    /// How long one attempt may take.
    pub timeout: Option<Duration>,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StepKind {
    /// Tables of a source into a warehouse.
    Load(Load),
    /// A SQL query over earlier steps' tables, into a warehouse table.
    Sql(SqlStep),
}

/// A load step.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Load {
    /// The source.
    pub source: String,
    /// The warehouse.
    pub warehouse: String,
    /// Only these tables (all when empty).
    pub tables: Vec<String>,
    /// How each is written; `None` leaves it to the source: replace, or
    /// what each resource of an HTTP config says (merge when incremental).
    pub mode: Option<WriteMode>,
    /// The key a merge upserts on (an HTTP source's resources name their
    /// own).
    pub primary_key: Vec<String>,
    /// Drop and recreate each table from the source's schema.
    pub drop_tables: bool,
    /// Read only what changed since the last load (Airtable sources; an
    /// HTTP source sets it per resource in its config).
    pub incremental: bool,
}

/// A SQL transform step.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqlStep {
    /// The query.
    pub sql: String,
    /// The table it is written to.
    pub table: String,
    /// The warehouse.
    pub warehouse: String,
    /// How it is written.
    pub mode: WriteMode,
}
