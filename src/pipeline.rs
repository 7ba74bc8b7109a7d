//! Pipelines declared in a TOML file, run on the same engine as
//! `#[workflow]` (feature `pipeline`): the format and its reader are
//! [`etl_pipeline`], the runner is [`etl_pipeline::run`], and this module
//! gives both with this build's connectors ([`crate::registry`]).
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let file = etl::pipeline::read("examples/pipelines/files_to_duckdb.toml")?;
//! let dag = file.dag()?;
//! let report = dag.run().await.into_result()?;
//! println!("{report}");
//! # Ok(()) }
//! ```
//!
//! The `etl` binary (`cargo run --bin etl -- run FILE`) is its command line;
//! the format is in `docs/pipelines.md`, its JSON Schema in
//! `etl-pipeline/pipeline.schema.json`.

use std::path::Path;
use std::sync::{Arc, OnceLock};

pub use etl_pipeline::run::*;
pub use etl_pipeline::*;

use crate::connectors::Connectors;

/// This build's connectors, made once.
fn connectors() -> Arc<Connectors> {
    static CONNECTORS: OnceLock<Arc<Connectors>> = OnceLock::new();
    CONNECTORS
        .get_or_init(|| Arc::new(crate::registry()))
        .clone()
}

/// Reads and checks the pipeline file at `path`, its sources and warehouses
/// opened with this build's connectors: [`File::read`] with
/// [`crate::registry`].
pub fn read(path: impl AsRef<Path>) -> Result<File, FileError> {
    File::read(path, connectors())
}

/// Reads `text`, the content of the pipeline file at `path`, as [`read`] does.
pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<File, FileError> {
    File::parse(text, path, connectors())
}
