//! The [`Extractor`] trait: where tables come from.

use std::future::Future;

use crate::{BatchStream, Result, TableSpec};

/// The default number of rows per record batch.
pub const DEFAULT_BATCH_SIZE: usize = 8192;

/// How an extractor should shape the stream it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtractOptions {
    /// Rows per record batch, at most.
    pub batch_size: usize,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

impl ExtractOptions {
    /// Options with `batch_size` rows per batch (at least 1).
    pub fn with_batch_size(batch_size: usize) -> Self {
        ExtractOptions {
            batch_size: batch_size.max(1),
        }
    }
}

/// A source of tables: lists what it offers and streams one table's batches.
///
/// Implementations check their configuration when built, so that `tables`
/// fails fast and before any data moves. Every batch of a stream opened by
/// [`Extractor::extract`] has the schema of the [`TableSpec`] it was opened
/// for, and memory should stay bounded by a few batches whatever the table's size.
pub trait Extractor: Send + Sync {
    /// The tables this extractor offers, with their schemas.
    fn tables(&self) -> impl Future<Output = Result<Vec<TableSpec>>> + Send;

    /// Opens a stream of the batches of `table`, one of those [`Extractor::tables`] returned.
    fn extract(
        &self,
        table: &TableSpec,
        options: &ExtractOptions,
    ) -> impl Future<Output = Result<BatchStream>> + Send;
}
