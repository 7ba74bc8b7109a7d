//! The [`Extractor`] trait: where tables come from.

use std::future::Future;

use crate::{BatchStream, Error, Result, TableSpec};

/// The default number of rows per record batch.
pub const DEFAULT_BATCH_SIZE: usize = 8192;

/// How an extractor should shape the stream it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtractOptions {
    /// Rows per record batch, at most.
    pub batch_size: usize,
    /// For an incremental table (one whose [`TableSpec::cursor_field`] is set): the
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
/// [`TableSpec::with_cursor_field`], reads [`ExtractOptions::since`], and gives the
/// cursor to store for the next run with
/// [`ExtractNotes::set_cursor_value`](crate::ExtractNotes::set_cursor_value) before its
/// stream ends.
pub trait Extractor: Send + Sync {
    /// Who the data comes from (`airtable:app…`, `http:https://api.example.com`,
    /// `files:/data/exports`): the key under which warehouses keep this
    /// source's stored cursors, so it must stay the same across runs and
    /// versions for one source, and differ between sources. There is no
    /// default: a type's name would change with a refactoring and orphan
    /// every stored cursor.
    fn source(&self) -> String;

    /// The tables this extractor offers, with their schemas; the first table
    /// whose schema cannot be read fails the call. [`ETLWorkflow`] asks
    /// [`Extractor::discover`] instead, so that one such table does not stop
    /// the others.
    ///
    /// [`ETLWorkflow`]: crate::ETLWorkflow
    fn tables(&self) -> impl Future<Output = Result<Vec<TableSpec>>> + Send;

    /// The tables this extractor offers, each on its own: a table whose
    /// schema cannot be read (a ragged first row, a field with no name) is
    /// [`Discovered::Failed`], naming it, and the others are still offered.
    /// An error here is one of the whole source (a wrong token, a folder
    /// that is gone).
    ///
    /// The default asks [`Extractor::tables`]; extractors that read each
    /// table's schema on its own override it, and build `tables` on it with
    /// [`Discovered::all`].
    fn discover(&self) -> impl Future<Output = Result<Vec<Discovered>>> + Send {
        async {
            Ok(self
                .tables()
                .await?
                .into_iter()
                .map(Discovered::Ready)
                .collect())
        }
    }

    /// Opens a stream of the batches of `table`, one of those [`Extractor::tables`] returned.
    fn extract(
        &self,
        table: &TableSpec,
        options: &ExtractOptions,
    ) -> impl Future<Output = Result<BatchStream>> + Send;
}

/// One table [`Extractor::discover`] found: ready to extract, or failed
/// before any data moved.
#[derive(Debug)]
pub enum Discovered {
    /// Its schema was read.
    Ready(TableSpec),
    /// Its schema could not be read.
    Failed {
        /// The table, named as it would have been loaded.
        table: String,
        /// Why.
        error: Error,
    },
}

impl Discovered {
    /// The table's name.
    pub fn name(&self) -> &str {
        match self {
            Discovered::Ready(spec) => spec.name(),
            Discovered::Failed { table, .. } => table,
        }
    }

    /// Every table's spec, or the first failure: what [`Extractor::tables`]
    /// returns, from what [`Extractor::discover`] found.
    pub fn all(found: Vec<Discovered>) -> Result<Vec<TableSpec>> {
        found
            .into_iter()
            .map(|d| match d {
                Discovered::Ready(spec) => Ok(spec),
                Discovered::Failed { error, .. } => Err(error),
            })
            .collect()
    }
}
