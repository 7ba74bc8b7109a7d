//! The core of etl: the [`Extractor`] and [`Warehouse`] traits, the table
//! description [`TableSpec`], streams of Arrow batches ([`BatchStream`]), the
//! one [`Error`] type, and [`ETLWorkflow`], which moves every table of an
//! extractor into a warehouse.
//!
//! Data moves as Arrow [`RecordBatch`](arrow::array::RecordBatch)es of the one
//! arrow version re-exported here as [`arrow`]; use it, not your own, so the
//! types match.
//!
//! ```
//! use etl_core::arrow::array::{Int64Array, RecordBatch, StringArray};
//! use etl_core::arrow::datatypes::{DataType, Field, Schema};
//! use etl_core::{BatchStream, TableSpec, WriteMode};
//! use std::sync::Arc;
//!
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("id", DataType::Int64, false),
//!     Field::new("name", DataType::Utf8, true),
//! ]));
//! let batch = RecordBatch::try_new(
//!     schema.clone(),
//!     vec![
//!         Arc::new(Int64Array::from(vec![1, 2])),
//!         Arc::new(StringArray::from(vec![Some("ada"), None])),
//!     ],
//! )
//! .unwrap();
//! let spec = TableSpec::new("users", schema.clone())
//!     .with_primary_key(["id"])
//!     .with_mode(WriteMode::Merge);
//! let stream = BatchStream::from_batches(schema, vec![batch]);
//! // `warehouse.write(&spec, stream, &WriteOptions::default()).await?` loads it.
//! # let _ = (spec, stream);
//! ```

pub use arrow;

mod error;
mod extract;
mod spec;
pub mod stream;
mod warehouse;
mod workflow;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{BoxError, Error, Result};
pub use extract::{DEFAULT_BATCH_SIZE, ExtractOptions, Extractor};
pub use spec::{TableSpec, WriteMode};
pub use stream::{AsyncBatchSender, BatchStream, ExtractNotes};
pub use warehouse::{
    LOADS_TABLE, LoadRecord, LoadStatus, STATE_TABLE, Warehouse, WriteOptions, WriteSummary,
};
pub use workflow::{ETLWorkflow, LoadReport, Progress, TableReport};
