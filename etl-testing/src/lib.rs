//! The conformance suites of etl: what every [`Warehouse`](etl_core::Warehouse)
//! and every [`Extractor`](etl_core::Extractor) does, as checks your own can
//! run against real files and servers.
//!
//! - [`warehouse`]: one `#[tokio::test]` per check with
//!   [`warehouse_conformance!`];
//! - [`extractor`]: [`extractor::check_extractor`] over a
//!   [`extractor::Subject`].

pub mod extractor;
pub mod warehouse;
