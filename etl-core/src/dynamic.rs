//! Extractors and warehouses chosen at run time: [`DynExtractor`] and
//! [`DynWarehouse`] are [`Extractor`] and [`Warehouse`] with boxed futures,
//! so that they can be trait objects (`Box<dyn DynWarehouse>`,
//! `Arc<dyn DynExtractor>`). Every extractor and warehouse is one already
//! (a blanket impl), and the boxes are extractors and warehouses again, so
//! [`ETLWorkflow`](crate::ETLWorkflow) takes either: a typed pair
//! (`ETLWorkflow<AirtableExtractor, SqliteWarehouse>`) costs nothing, a pair
//! read from a pipeline file at run time is one box each, with no match over
//! every source and every warehouse.
//!
//! ```
//! use etl_core::{BoxedWarehouse, DynWarehouse, Warehouse};
//!
//! /// Whichever warehouse the configuration names.
//! fn chosen(w: impl Warehouse + 'static) -> BoxedWarehouse {
//!     Box::new(w)
//! }
//! # fn is_warehouse<W: Warehouse>(_: &W) {}
//! # fn check(w: BoxedWarehouse) { is_warehouse(&w); let _: &dyn DynWarehouse = &*w; }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use crate::{
    BatchStream, Discovered, ExtractOptions, Extractor, LoadRecord, Result, TableSpec, Warehouse,
    WriteOptions, WriteSummary,
};

/// A boxed future, as the dyn-compatible traits return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An extractor chosen at run time.
pub type BoxedExtractor = Box<dyn DynExtractor>;
/// A warehouse chosen at run time.
pub type BoxedWarehouse = Box<dyn DynWarehouse>;

/// [`Extractor`] as a trait object: the same methods, their futures boxed.
/// Implemented for every extractor; implement [`Extractor`], not this.
pub trait DynExtractor: Send + Sync {
    /// [`Extractor::source`].
    fn source(&self) -> String;
    /// [`Extractor::tables`].
    fn tables(&self) -> BoxFuture<'_, Result<Vec<TableSpec>>>;
    /// [`Extractor::discover`].
    fn discover(&self) -> BoxFuture<'_, Result<Vec<Discovered>>>;
    /// [`Extractor::extract`].
    fn extract<'a>(
        &'a self,
        table: &'a TableSpec,
        options: &'a ExtractOptions,
    ) -> BoxFuture<'a, Result<BatchStream>>;
}

impl<E: Extractor> DynExtractor for E {
    fn source(&self) -> String {
        Extractor::source(self)
    }
    fn tables(&self) -> BoxFuture<'_, Result<Vec<TableSpec>>> {
        Box::pin(Extractor::tables(self))
    }
    fn discover(&self) -> BoxFuture<'_, Result<Vec<Discovered>>> {
        Box::pin(Extractor::discover(self))
    }
    fn extract<'a>(
        &'a self,
        table: &'a TableSpec,
        options: &'a ExtractOptions,
    ) -> BoxFuture<'a, Result<BatchStream>> {
        Box::pin(Extractor::extract(self, table, options))
    }
}

/// An extractor behind a pointer to a [`DynExtractor`] (a `Box`, an `Arc`).
macro_rules! extractor_behind {
    ($($pointer:ty),*) => {$(
        impl<'d> Extractor for $pointer {
            fn source(&self) -> String {
                DynExtractor::source(&**self)
            }
            async fn tables(&self) -> Result<Vec<TableSpec>> {
                DynExtractor::tables(&**self).await
            }
            async fn discover(&self) -> Result<Vec<Discovered>> {
                DynExtractor::discover(&**self).await
            }
            async fn extract(&self, table: &TableSpec, options: &ExtractOptions) -> Result<BatchStream> {
                DynExtractor::extract(&**self, table, options).await
            }
        }
    )*};
}

extractor_behind!(Box<dyn DynExtractor + 'd>, Arc<dyn DynExtractor + 'd>);

/// [`Warehouse`] as a trait object: the same methods, their futures boxed.
/// Implemented for every warehouse; implement [`Warehouse`], not this.
pub trait DynWarehouse: Send + Sync {
    /// [`Warehouse::kind`].
    fn kind(&self) -> &'static str;
    /// [`Warehouse::ensure_table`].
    fn ensure_table<'a>(&'a self, spec: &'a TableSpec) -> BoxFuture<'a, Result<SchemaRef>>;
    /// [`Warehouse::write`].
    fn write<'a>(
        &'a self,
        spec: &'a TableSpec,
        batches: BatchStream,
        options: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<WriteSummary>>;
    /// [`Warehouse::drop_table`].
    fn drop_table<'a>(&'a self, table: &'a str) -> BoxFuture<'a, Result<bool>>;
    /// [`Warehouse::table_names`].
    fn table_names(&self) -> BoxFuture<'_, Result<Vec<String>>>;
    /// [`Warehouse::table_schema`].
    fn table_schema<'a>(&'a self, table: &'a str) -> BoxFuture<'a, Result<Option<SchemaRef>>>;
    /// [`Warehouse::read_table`].
    fn read_table<'a>(
        &'a self,
        table: &'a str,
    ) -> BoxFuture<'a, Result<Vec<arrow::array::RecordBatch>>>;
    /// [`Warehouse::loads`].
    fn loads(&self) -> BoxFuture<'_, Result<Vec<LoadRecord>>>;
    /// [`Warehouse::stored_cursor`].
    fn stored_cursor<'a>(
        &'a self,
        source: &'a str,
        table: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>>;
}

impl<W: Warehouse> DynWarehouse for W {
    fn kind(&self) -> &'static str {
        Warehouse::kind(self)
    }
    fn ensure_table<'a>(&'a self, spec: &'a TableSpec) -> BoxFuture<'a, Result<SchemaRef>> {
        Box::pin(Warehouse::ensure_table(self, spec))
    }
    fn write<'a>(
        &'a self,
        spec: &'a TableSpec,
        batches: BatchStream,
        options: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<WriteSummary>> {
        Box::pin(Warehouse::write(self, spec, batches, options))
    }
    fn drop_table<'a>(&'a self, table: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(Warehouse::drop_table(self, table))
    }
    fn table_names(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(Warehouse::table_names(self))
    }
    fn table_schema<'a>(&'a self, table: &'a str) -> BoxFuture<'a, Result<Option<SchemaRef>>> {
        Box::pin(Warehouse::table_schema(self, table))
    }
    fn read_table<'a>(
        &'a self,
        table: &'a str,
    ) -> BoxFuture<'a, Result<Vec<arrow::array::RecordBatch>>> {
        Box::pin(Warehouse::read_table(self, table))
    }
    fn loads(&self) -> BoxFuture<'_, Result<Vec<LoadRecord>>> {
        Box::pin(Warehouse::loads(self))
    }
    fn stored_cursor<'a>(
        &'a self,
        source: &'a str,
        table: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(Warehouse::stored_cursor(self, source, table))
    }
}

/// A warehouse behind a pointer to a [`DynWarehouse`] (a `Box`, an `Arc`).
macro_rules! warehouse_behind {
    ($($pointer:ty),*) => {$(
        impl<'d> Warehouse for $pointer {
            fn kind(&self) -> &'static str {
                DynWarehouse::kind(&**self)
            }
            async fn ensure_table(&self, spec: &TableSpec) -> Result<SchemaRef> {
                DynWarehouse::ensure_table(&**self, spec).await
            }
            async fn write(
                &self,
                spec: &TableSpec,
                batches: BatchStream,
                options: &WriteOptions,
            ) -> Result<WriteSummary> {
                DynWarehouse::write(&**self, spec, batches, options).await
            }
            async fn drop_table(&self, table: &str) -> Result<bool> {
                DynWarehouse::drop_table(&**self, table).await
            }
            async fn table_names(&self) -> Result<Vec<String>> {
                DynWarehouse::table_names(&**self).await
            }
            async fn table_schema(&self, table: &str) -> Result<Option<SchemaRef>> {
                DynWarehouse::table_schema(&**self, table).await
            }
            async fn read_table(&self, table: &str) -> Result<Vec<arrow::array::RecordBatch>> {
                DynWarehouse::read_table(&**self, table).await
            }
            async fn loads(&self) -> Result<Vec<LoadRecord>> {
                DynWarehouse::loads(&**self).await
            }
            async fn stored_cursor(&self, source: &str, table: &str) -> Result<Option<String>> {
                DynWarehouse::stored_cursor(&**self, source, table).await
            }
        }
    )*};
}

warehouse_behind!(Box<dyn DynWarehouse + 'd>, Arc<dyn DynWarehouse + 'd>);
