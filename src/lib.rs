//! # etl
//!
//! Declarative ETL in Rust: Arrow record batches stream from extractors into
//! SQLite or DuckDB warehouses, atomically per table.
//!
//! ```no_run
//! use etl::{DuckDbWarehouse, ETLWorkflow, FilesExtractor};
//!
//! # #[tokio::main] async fn main() -> etl::Result<()> {
//! let report = ETLWorkflow::new(FilesExtractor::open("data/")?, DuckDbWarehouse::open("dwh.duckdb")?)
//!     .drop_tables(true)
//!     .run()
//!     .await?;
//! println!("{report}");
//! # Ok(()) }
//! ```
//!
//! ## Workflows of typed steps
//!
//! [`macro@workflow`] and [`macro@step`] turn the async methods of an `impl`
//! block into a [`Dag`] whose order, dependencies and data types rustc checks:
//! a parameter named after a step receives that step's output, typed.
//!
//! ```
//! use etl::arrow::array::{Float64Array, RecordBatch};
//! use etl::arrow::error::ArrowError;
//! use etl::{Batches, StepContext, Workflow, workflow};
//! use std::sync::Arc;
//!
//! struct Prices;
//!
//! #[workflow(name = "prices")]
//! impl Prices {
//!     #[step]
//!     async fn euros(&self) -> Result<Batches, ArrowError> {
//!         let prices = Float64Array::from(vec![9.5, 12.0]);
//!         Ok(RecordBatch::try_from_iter([("eur", Arc::new(prices) as _)])?.into())
//!     }
//!
//!     #[step(retries = 2, timeout = "10s")]
//!     async fn rate(&self, cx: &StepContext) -> etl::Result<f64> {
//!         eprintln!("run {}: {} attempt {}", cx.run_id(), cx.step(), cx.attempt());
//!         Ok(1.25)
//!     }
//!
//!     #[step]
//!     async fn total(&self, euros: &Batches, rate: &f64) -> etl::Result<f64> {
//!         let column = euros.concat()?.column(0).clone();
//!         let eur = column.as_any().downcast_ref::<Float64Array>().expect("Float64");
//!         Ok(eur.values().iter().sum::<f64>() * rate)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> etl::Result<()> {
//! let report = Prices.dag().run().await.into_result()?;
//! assert_eq!(report.output::<f64>("total"), Some(&26.875));
//! println!("{report}"); // step, status, attempts, started, seconds, rows, error
//! # Ok(()) }
//! ```
//!
//! `euros` and `rate` run at the same time; `total` starts when both have
//! succeeded. Workflows known only at run time are built with
//! [`Dag::builder`], which makes the same checks. `cargo run --example
//! daily_metrics --features polars,datafusion` runs a whole one: two
//! extracts in parallel, transforms in Arrow, Polars and SQL, a load into
//! DuckDB.
//!
//! ## Transforms
//!
//! With feature `polars` (the `etl-polars` crate), batches cross into a
//! Polars `DataFrame` and back without copying (`etl::frames`,
//! `batches.to_polars()`), steps take and return `DataFrame`, and warehouses
//! load frames (`warehouse.write_frame(…)`). With feature `datafusion`
//! (`etl-datafusion`), a step runs SQL over its inputs, each a table named
//! after its step (`cx.sql(...)`, `etl::sql`). Between extract and load,
//! `.transform(table, |df| ...)` and `.transform_sql(table, "SELECT ...")`
//! reshape a table; row-wise SQL streams. The engines' methods are extension
//! traits: `use etl::prelude::*;` brings them all into scope.
//!
//! ## Scheduled binaries
//!
//! `etl::main!(MyWorkflow::from_env()?);` makes a program of a workflow:
//! `run`, `run --step`, `resume`, `list`, `graph`, `history`, `show`,
//! `schedule`, `export airflow`, every run recorded in a state store. See
//! [`cli`], and `cargo run --example scheduled_sync -- --help`.
//!
//! ## Features
//!
//! | feature | gives | default |
//! | --- | --- | --- |
//! | `airtable` | [`AirtableExtractor`]: every table of an Airtable base | yes |
//! | `http` | [`HttpExtractor`]: REST/JSON APIs, configured in Rust or TOML | yes |
//! | `files` | [`FilesExtractor`]: CSV, TSV, Parquet, JSON Lines | yes |
//! | `sqlite` | [`SqliteWarehouse`], SQLite compiled in | yes |
//! | `duckdb` | [`DuckDbWarehouse`], DuckDB compiled in | yes |
//! | `postgres` | [`PostgresWarehouse`], PostgreSQL over the network (binary COPY) | yes |
//! | `cli` | [`main!`]: a command line for a workflow (run, resume, history, schedule, export to Airflow); brings `state` | yes |
//! | `state` | [`state`], [`runs`]: every run and step recorded in a state store (SQLite), partial runs, resume, the Airflow export, as a library | with `cli` |
//! | `state-postgres` | `runs::postgres::PgStore`: the state store in PostgreSQL, shared by many machines (`--state postgres://…`); brings `state` | yes |
//! | `object-store` | `runs::outputs`: step outputs in a bucket (`--outputs s3://…`, `gs://…`, `az://…`) through `object_store`, for steps on machines with no disk in common; brings `state` | yes |
//! | `server` | `serve` on a workflow's command line, [`server`]: the REST API over the state store (workflows, runs, triggers, an OpenAPI document); brings `cli` | yes |
//! | `pipeline` | [`pipeline`] and the `etl` binary: pipelines declared in a TOML file, run, checked, planned, scheduled and exported with no Rust to write (SQL steps with `datafusion`); brings `cli` and every connector | yes |
//! | `polars` | `etl::frames`, `etl::polars` (`etl-polars`): batches to frames and back without copying; steps speaking Polars; `FrameTransform::transform` | no |
//! | `datafusion` | `etl::sql`, `etl::datafusion` (`etl-datafusion`), `StepSql` (`cx.sql`): SQL over steps' outputs; `SqlTransform::transform_sql` | no |
//! | `conformance` | [`conformance`]: the suites every warehouse and extractor passes, for yours | no |
//!
//! The Arrow version every part uses is re-exported as [`arrow`]; build your
//! batches with it.

pub use etl_core::*;

/// Workflows of steps: the runtime (`etl-dag`) and the table hooks of
/// `etl-core`.
pub mod dag {
    pub use etl_core::{ArrowData, ArrowIpc, arrow_codec, table_output};
    pub use etl_dag::*;
}

pub use etl_dag::{
    Backoff, CancellationToken, Dag, DagBuilder, NoObserver, Observer, RowCount, RunReport, Step,
    StepContext, StepEvent, StepInputs, StepOptions, StepReport, StepStatus, Workflow,
};

/// Run orchestration: the state store, partial runs, resume, one step of a
/// shared run, schedule ticks, the Airflow export (`etl-runs`).
#[cfg(feature = "state")]
pub mod runs {
    pub use etl_runs::*;
}

/// The state store: every run and step recorded (`etl_runs::state`), and
/// the trait a backend implements.
#[cfg(feature = "state")]
pub mod state {
    pub use etl_runs::state::*;
    pub use etl_runs::{EventRecorder, StateStore, StoreFuture};
}

/// The command line of a workflow (`etl-cli`): see [`main!`].
#[cfg(feature = "cli")]
pub mod cli {
    pub use etl_cli::*;
}

#[cfg(feature = "cli")]
pub use etl_cli::main;

#[cfg(feature = "pipeline")]
pub mod pipeline;

/// The control plane as a service (`etl-server`): the REST API over a state
/// store.
#[cfg(feature = "server")]
pub mod server {
    pub use etl_server::*;
}

/// The conformance suites every warehouse and extractor passes, for yours
/// (`etl-testing`).
#[cfg(feature = "conformance")]
pub mod conformance {
    pub use etl_testing::*;
}

#[cfg(feature = "conformance")]
pub use etl_testing::warehouse_conformance;

/// Polars frames and Arrow batches, one into the other without copying
/// (`etl-polars`).
#[cfg(feature = "polars")]
pub mod frames {
    pub use etl_polars::*;
}

/// The Polars every part uses: build your frames with it.
#[cfg(feature = "polars")]
pub use etl_polars::polars;

/// Polars' extension traits: `batches.to_polars()`, `warehouse.write_frame(…)`,
/// `ETLWorkflow::transform(table, |df| …)`.
#[cfg(feature = "polars")]
pub use etl_polars::{BatchesPolars, FrameTransform, WriteFrame};

/// SQL over tables and streams with DataFusion (`etl-datafusion`).
#[cfg(feature = "datafusion")]
pub mod sql {
    pub use etl_datafusion::*;
}

/// The DataFusion every part uses.
#[cfg(feature = "datafusion")]
pub use etl_datafusion::datafusion;

/// SQL over a step's inputs (`cx.sql(…)`) and SQL transforms of a load
/// (`ETLWorkflow::transform_sql`).
#[cfg(feature = "datafusion")]
pub use etl_datafusion::{SqlTransform, StepSql};

/// Every extension trait of the features on, to bring their methods into
/// scope at once: `use etl::prelude::*;`.
pub mod prelude {
    pub use etl_dag::Workflow as _;
    #[cfg(feature = "datafusion")]
    pub use etl_datafusion::{SqlTransform as _, StepSql as _};
    #[cfg(feature = "polars")]
    pub use etl_polars::{BatchesPolars as _, FrameTransform as _, WriteFrame as _};
}

/// Extractors: where tables come from.
pub mod extractors {
    pub use etl_extractors::*;
}

/// Warehouses: where tables land.
pub mod warehouses {
    pub use etl_warehouses::*;
}

/// Every connector this build has, by its features, in a
/// [`Connectors`](connectors::Connectors) registry: the sources `airtable`,
/// `http`, `files`, `sqlite`, `duckdb` and `postgres`, the warehouses
/// `sqlite`, `duckdb` and `postgres`. Pipeline files,
/// the `etl` binary and the server open theirs through it; add your own
/// with [`Connectors::source`](connectors::Connectors::source) and
/// [`Connectors::warehouse`](connectors::Connectors::warehouse).
pub fn registry() -> connectors::Connectors {
    let connectors = connectors::Connectors::new();
    // One line a connector.
    #[cfg(feature = "airtable")]
    let connectors = etl_extractors::airtable::register(connectors);
    #[cfg(feature = "http")]
    let connectors = etl_extractors::http::register(connectors);
    #[cfg(feature = "files")]
    let connectors = etl_extractors::files::register(connectors);
    #[cfg(feature = "sqlite")]
    let connectors = etl_warehouses::sqlite::register(connectors);
    #[cfg(feature = "duckdb")]
    let connectors = etl_warehouses::duckdb::register(connectors);
    #[cfg(feature = "postgres")]
    let connectors = etl_warehouses::postgres::register(connectors);
    connectors
}

#[cfg(feature = "airtable")]
pub use etl_extractors::{AirtableConfig, AirtableExtractor};
#[cfg(feature = "files")]
pub use etl_extractors::{FilesConfig, FilesExtractor};
#[cfg(feature = "http")]
pub use etl_extractors::{HttpConfig, HttpExtractor};
#[cfg(feature = "duckdb")]
pub use etl_warehouses::{DuckDbExtractor, DuckDbWarehouse};
#[cfg(feature = "postgres")]
pub use etl_warehouses::{PostgresExtractor, PostgresOptions, PostgresWarehouse};
#[cfg(feature = "sqlite")]
pub use etl_warehouses::{SqliteExtractor, SqliteWarehouse};

/// Turns an `impl` block into a workflow: its `#[step]` async methods become
/// the steps of a [`Dag`], checked at compile time.
///
/// ```
/// use etl::{Batches, StepContext, Workflow, workflow};
/// use etl::arrow::array::{Int64Array, RecordBatch};
/// use etl::arrow::error::ArrowError;
/// use std::sync::Arc;
///
/// struct Daily {
///     factor: i64,
/// }
///
/// #[workflow(name = "daily", schedule = "0 6 * * *", max_parallel = 4)]
/// impl Daily {
///     // Any error type will do: this step's is Arrow's.
///     #[step]
///     async fn users(&self) -> Result<Batches, ArrowError> {
///         let ids = Int64Array::from(vec![1, 2, 3]);
///         Ok(RecordBatch::try_from_iter([("id", Arc::new(ids) as _)])?.into())
///     }
///
///     #[step(retries = 3, backoff = "exponential 200ms", timeout = "2m")]
///     async fn orders(&self, cx: &StepContext) -> Result<Vec<i64>, String> {
///         Ok(vec![10, 20 * cx.attempt() as i64])
///     }
///
///     // Takes both outputs by reference: runs once `users` and `orders` succeed.
///     #[step]
///     async fn revenue(&self, users: &Batches, orders: &Vec<i64>) -> etl::Result<i64> {
///         Ok(users.num_rows() as i64 * orders.iter().sum::<i64>() * self.factor)
///     }
///
///     #[step(after = [revenue], name = "notify")]
///     async fn send_mail(&self) -> etl::Result<()> {
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> etl::Result<()> {
/// let dag = Daily { factor: 2 }.dag();
/// assert_eq!(dag.order(), ["users", "orders", "revenue", "notify"]);
/// assert_eq!(dag.step("revenue").unwrap().inputs, ["users", "orders"]);
///
/// let report = dag.run().await.into_result()?;
/// assert_eq!(report.output::<i64>("revenue"), Some(&180));
/// println!("{report}");
/// # Ok(()) }
/// ```
///
/// # Workflow options
///
/// | option | meaning |
/// | --- | --- |
/// | `name = "daily"` | the workflow's name (default: the type's name in snake case, `Daily` → `daily`) |
/// | `schedule = "0 6 * * *"` | a cron expression, five fields or six with seconds first, or `@daily`, `@hourly`, …, checked at compile time |
/// | `max_parallel = 4` | the most steps running at once (default: no limit) |
/// | `fail_fast = true` | a step failing for good cancels the rest of the run (default: independent branches finish) |
/// | `crate = "my::etl"` | where the runtime is, when `etl` is not a direct dependency under that name |
///
/// # Steps
///
/// A step is an `async fn` taking `&self`, then any of:
///
/// - a parameter named after another step, of type `&T` where that step
///   returns `Result<T, _>`: it receives that step's output, and the step
///   runs after it. The type is checked by rustc at the parameter: a step
///   declaring `users: &Vec<u8>` where `users` returns `Batches` does not compile.
///   A leading underscore (`_users: &Batches`) names the same step, for an
///   input the body does not use by name, as in a step that queries its
///   inputs with SQL (`cx.sql("SELECT … FROM users")`, feature `datafusion`).
/// - `&StepContext`: the run id, the attempt, a tracing span, the cancellation
///   token, and (feature `datafusion`) SQL over the step's inputs.
///
/// It returns a `Result` whose error is anything that converts into a boxed
/// error (`etl::Error`, `anyhow::Error`, `String`). Other methods of the block
/// stay as they are. See [`macro@step`] for the options of each step; inside
/// a `#[workflow]` block, `#[step]` needs no import.
///
/// # Compile errors
///
/// Every mistake is reported at once, each at its token: a parameter or
/// `after` naming no step, a dependency cycle (the whole cycle is named), two
/// steps of one name, an unknown or repeated option, a malformed cron
/// expression or duration, a step that is not `async`, takes no `&self`,
/// takes an input by value, or returns no `Result`. The impl block is still
/// emitted, so the IDE keeps working.
///
/// # What it generates
///
/// An implementation of `etl::Workflow`: `.dag()` (or `Arc::new(w).into_dag()`)
/// gives the [`Dag`], whose steps, dependencies,
/// options and topological order are data for command-line tools and
/// exporters, and which runs with `.run()` or `.runner()`.
#[doc(inline)]
pub use etl_macros::workflow;

/// Marks an `async fn` of a [`macro@workflow`] impl block as a step.
///
/// `#[step]` alone, or with options:
///
/// | option | meaning |
/// | --- | --- |
/// | `after = [load, check]` | steps that must succeed first, passing no data |
/// | `retries = 3` | attempts after the first fails (default 0) |
/// | `backoff = "exponential 500ms"` | the wait before a retry: `none`, `fixed 5s`, `exponential` (from 1 s, or the delay given, doubling up to 1 min); jittered |
/// | `timeout = "2m"` | the longest one attempt may take: `500ms`, `90s`, `1h30m`, `1d` |
/// | `name = "load_users"` | the step's name in the graph and reports (default: the method's) |
///
/// Outside a `#[workflow]` impl block, `#[step]` is an error.
#[doc(inline)]
pub use etl_macros::step;

/// What code generated by `#[workflow]` names; not a public API.
/// The [`OutputHooks`](dag::OutputHooks) `#[workflow]` picks for a step
/// whose output is `T`, for a step built at run time with
/// [`Step::new`](dag::Step::new): a table type (`Batches`, `RecordBatch`, a
/// type of your own implementing [`ArrowData`]) is counted, saved as Arrow
/// IPC and readable by `cx.sql`; a Polars `DataFrame` likewise (with
/// `polars`); a serde type is saved as JSON (and counted when it implements
/// [`RowCount`]); anything else has no hooks.
///
/// ```
/// use etl::dag::{Dag, Step, StepContext, StepInputs};
/// use etl::arrow::array::{Int64Array, RecordBatch};
/// use std::sync::Arc;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let dag = Dag::builder("numbers")
///     .step(
///         Step::new("numbers", |_: StepContext, _: StepInputs| async {
///             RecordBatch::try_from_iter([("n", Arc::new(Int64Array::from(vec![1, 2])) as _)])
///         })
///         .output(etl::output_hooks!(RecordBatch)),
///     )
///     .build()
///     .unwrap();
/// let report = dag.runner().run().await;
/// assert_eq!(report.step("numbers").unwrap().rows, Some(2));
/// # }
/// ```
#[macro_export]
macro_rules! output_hooks {
    ($output:ty) => {{
        #[allow(unused_imports)]
        use $crate::__private::{
            ProbeArrow as _, ProbeFrame as _, ProbeJson as _, ProbeNone as _, ProbeRows as _,
        };
        let probe = &&&&$crate::__private::Probe::<$output>::new();
        $crate::__private::OutputHooks::__probed(probe.codec(), probe.rows(), probe.table())
    }};
}

#[doc(hidden)]
pub mod __private {
    pub use etl_core::__private::ProbeArrow;
    #[cfg(feature = "polars")]
    pub use etl_polars::ProbeFrame;
    /// Without Polars, no output is a frame: a probe level nothing reaches.
    #[cfg(not(feature = "polars"))]
    pub trait ProbeFrame {}
    pub use etl_dag::output::{Probe, ProbeJson, ProbeNone, ProbeRows};
    pub use etl_dag::{
        Backoff, Dag, OutputHooks, Step, StepContext, StepInputs, StepResult, Workflow,
    };
    pub use std::sync::Arc;
    pub use std::time::Duration;
}
