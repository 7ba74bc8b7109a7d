//! Warehouses for etl: [`SqliteWarehouse`] (feature `sqlite`),
//! [`DuckDbWarehouse`] (feature `duckdb`) and [`PostgresWarehouse`]
//! (feature `postgres`).
//!
//! All implement [`etl_core::Warehouse`]: tables are created and evolved from
//! Arrow schemas, each write is one transaction, and every load is recorded in
//! `_etl_loads`. Each module documents its Arrow type mapping as a table.

mod common;
#[cfg(any(feature = "sqlite", feature = "duckdb"))]
mod source;
#[cfg(any(feature = "sqlite", feature = "duckdb"))]
mod sql;

#[cfg(feature = "duckdb")]
pub mod duckdb;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(feature = "duckdb")]
pub use duckdb::{DuckDbExtractor, DuckDbWarehouse};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresExtractor, PostgresOptions, PostgresWarehouse};
#[cfg(any(feature = "sqlite", feature = "duckdb"))]
pub use source::SqlExtractor;
#[cfg(any(feature = "sqlite", feature = "duckdb"))]
pub use sql::SqlWarehouse;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteExtractor, SqliteWarehouse};
