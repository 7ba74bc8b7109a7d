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
//! ## Features
//!
//! | feature | gives | default |
//! | --- | --- | --- |
//! | `airtable` | [`AirtableExtractor`]: every table of an Airtable base | yes |
//! | `http` | [`HttpExtractor`]: REST/JSON APIs, configured in Rust or TOML | yes |
//! | `files` | [`FilesExtractor`]: CSV, TSV, Parquet, JSON Lines | yes |
//! | `sqlite` | [`SqliteWarehouse`], SQLite compiled in | yes |
//! | `duckdb` | [`DuckDbWarehouse`], DuckDB compiled in | yes |
//! | `conformance` | [`conformance`]: the suite every warehouse passes, for yours | no |
//!
//! The Arrow version every part uses is re-exported as [`arrow`]; build your
//! batches with it.

pub use etl_core::*;

/// Extractors: where tables come from.
pub mod extractors {
    pub use etl_extractors::*;
}

/// Warehouses: where tables land.
pub mod warehouses {
    pub use etl_warehouses::*;
}

#[cfg(feature = "files")]
pub use etl_extractors::FilesExtractor;
#[cfg(feature = "airtable")]
pub use etl_extractors::{AirtableConfig, AirtableExtractor};
#[cfg(feature = "http")]
pub use etl_extractors::{HttpConfig, HttpExtractor};
#[cfg(feature = "duckdb")]
pub use etl_warehouses::DuckDbWarehouse;
#[cfg(feature = "sqlite")]
pub use etl_warehouses::SqliteWarehouse;

pub use etl_macros::{step, workflow};

#[doc(hidden)]
pub mod __private {
    pub use etl_core::__private::*;
}
