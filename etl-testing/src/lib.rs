//! The conformance suites of etl: what every [`Warehouse`](etl_core::Warehouse)
//! and every [`Extractor`](etl_core::Extractor) does, as checks your own can
//! run against real files and servers.
//!
//! - [`warehouse`]: one `#[tokio::test]` per check with
//!   [`warehouse_conformance!`];
//! - [`extractor`]: [`extractor::check_extractor`] over a
//!   [`extractor::Subject`];
//! - `state` (feature `state`): one `#[tokio::test]` per check of a state
//!   store with `state_store_conformance!`;
//! - `postgres` (feature `postgres`): a real PostgreSQL for tests;
//! - `s3` (feature `s3`): a real S3-compatible server for tests;
//! - `browser` (feature `browser`): a real headless Chromium, through
//!   WebDriver.

#[cfg(feature = "browser")]
pub mod browser;
pub mod extractor;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "state")]
pub mod state;
pub mod warehouse;
