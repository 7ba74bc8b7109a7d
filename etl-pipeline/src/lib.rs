//! Pipelines declared in a TOML file: the format, and a reader that finds
//! every problem of a file at once, each at its line and column.
//!
//! ```
//! let text = r#"
//! name = "shop"
//!
//! [schedule]
//! cron = "0 6 * * *"
//!
//! [sources.shop]
//! airtable = { base = "${AIRTABLE_BASE_ID}", token = "${AIRTABLE_TOKEN}" }
//!
//! [warehouses.dwh]
//! duckdb = { path = "shop.duckdb" }
//!
//! [[steps]]
//! name = "load"
//! source = "shop"
//! warehouse = "dwh"
//! "#;
//! let pipeline = etl_pipeline::Pipeline::parse(text, "shop.toml").unwrap();
//! assert_eq!(pipeline.steps[0].name, "load");
//! ```
//!
//! What a file holds:
//!
//! - `name`: the workflow's name;
//! - `[schedule]`: `cron`, and `zone` (an IANA name; UTC when left out);
//! - `[params.NAME]`: `type` (`string`, `int`, `bool`, `date`) and
//!   `default` (none: a run must give it); a string uses one as
//!   `${params.NAME}`;
//! - `[sources.NAME]`: one of `airtable = { base, token, tables }`,
//!   `http = { config = "api.toml" }` (today's REST config, in its own file),
//!   `files = { path }`, `postgres = { url, schema, queries, incremental,
//!   root_certificates }`. A secret (`token`) is only ever an environment
//!   reference, `"${AIRTABLE_TOKEN}"`: a literal one is refused;
//! - `[warehouses.NAME]`: `sqlite = { path }`, `duckdb = { path,
//!   memory_limit }` or `postgres = { url, schema, root_certificates }`;
//! - `[[steps]]`: a load (`source`, `warehouse`, `tables`, `mode`
//!   `replace`/`append`/`merge`, `primary_key`, `drop_tables`) or a SQL
//!   transform (`sql`, `table`, `warehouse`, `mode`), each with `name`,
//!   `depends_on`, `retries`, `backoff`, `timeout`.
//!
//! Unknown keys are refused, naming the keys that are allowed.

mod read;
#[cfg(feature = "run")]
pub mod run;
mod spec;

pub use read::{Problem, Problems};
pub use spec::{
    EnvRef, HttpSource, Kinds, Load, Param, ParamType, Pipeline, Position, Schedule, Source,
    SqlStep, Stage, Step, StepKind, Warehouse, WriteMode,
};
