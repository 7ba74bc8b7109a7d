//! `etl._etl`, the native module of the `etl` Python package: extractors
//! and warehouses opened through the connector registry, loads run by the
//! Rust runtime with the GIL released, their reports, and the exceptions
//! they raise. The package (`python/etl`) re-exports it with its stubs.

use pyo3::prelude::*;

mod arrow;
mod connectors;
mod errors;
mod pipeline;
mod runtime;
mod sample;
mod workflow;

/// The module `etl._etl`.
#[pymodule]
fn _etl(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    connectors::register(m)?;
    m.add_class::<arrow::Stream>()?;
    workflow::register(m)?;
    sample::register(m)?;
    pipeline::register(m)?;
    Ok(())
}
