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
    /// For an incremental table (one whose [`TableSpec::cursor`] is set): the
    /// cursor the last successful load left, so that only what changed since
    /// is read. `None` reads everything.
    pub since: Option<String>,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            batch_size: DEFAULT_BATCH_SIZE,
            since: None,
        }
    }
}

impl ExtractOptions {
    /// Options with `batch_size` rows per batch (at least 1).
    pub fn with_batch_size(batch_size: usize) -> Self {
        ExtractOptions {
            batch_size: batch_size.max(1),
            since: None,
        }
    }

    /// Reads only what changed since `cursor` (for incremental tables).
    pub fn with_since(mut self, cursor: Option<String>) -> Self {
        self.since = cursor;
        self
    }
}

/// A source of tables: lists what it offers and streams one table's batches.
///
/// Implementations check their configuration when built, so that `tables`
/// fails fast and before any data moves. Every batch of a stream opened by
/// [`Extractor::extract`] has the schema of the [`TableSpec`] it was opened
/// for, and memory should stay bounded by a few batches whatever the table's size.
///
/// An extractor whose tables are incremental declares it with
/// [`TableSpec::with_cursor`], reads [`ExtractOptions::since`], and gives the
/// cursor to store for the next run with
/// [`ExtractNotes::set_cursor`](crate::ExtractNotes::set_cursor) before its
/// stream ends.
pub trait Extractor: Send + Sync {
    /// Who the data comes from, stable across runs (`airtable:app…`,
    /// `http:https://api.example.com`): the key under which warehouses keep
    /// this source's incremental cursors.
    fn source(&self) -> String {
        std::any::type_name::<Self>().to_owned()
    }

    /// The tables this extractor offers, with their schemas.
    fn tables(&self) -> impl Future<Output = Result<Vec<TableSpec>>> + Send;

    /// Opens a stream of the batches of `table`, one of those [`Extractor::tables`] returned.
    fn extract(
        &self,
        table: &TableSpec,
        options: &ExtractOptions,
    ) -> impl Future<Output = Result<BatchStream>> + Send;
}
