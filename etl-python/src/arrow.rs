//! Arrow across the Arrow PyCapsule interface (`__arrow_c_stream__`), both
//! ways, without copies: a table read from an extractor or a warehouse is a
//! [`Stream`] that pyarrow, polars and duckdb read directly; any object
//! exporting a stream (a pyarrow Table or RecordBatchReader, a polars
//! DataFrame) is data a warehouse writes. Only the arrays' addresses cross;
//! the buffers stay where they are.

use std::sync::{Arc, Mutex};

use etl_core::BatchStream;
use etl_core::arrow::array::{ArrayRef, RecordBatch, RecordBatchReader, StructArray};
use etl_core::arrow::datatypes::{Field, SchemaRef};
use etl_core::arrow::error::ArrowError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use pyo3_arrow::ffi::{ArrayIterator, to_schema_pycapsule, to_stream_pycapsule};

use crate::errors::SourceError;

/// The batches of one table, read once, as an Arrow C stream:
/// `pyarrow.table(stream)`, `polars.DataFrame(stream)`,
/// `duckdb.sql("SELECT * FROM stream")`, or `warehouse.write(...)`.
#[pyclass(frozen, module = "etl")]
pub(crate) struct Stream {
    table: String,
    schema: SchemaRef,
    reader: Mutex<Option<Box<dyn RecordBatchReader + Send>>>,
}

impl Stream {
    /// The batches of `stream`, pulled as the reader asks for them.
    pub(crate) fn of_batches(table: String, stream: BatchStream) -> Self {
        let schema = stream.schema().clone();
        let reader = Pulled {
            schema: schema.clone(),
            stream,
        };
        Stream {
            table,
            schema,
            reader: Mutex::new(Some(Box::new(reader))),
        }
    }
}

#[pymethods]
impl Stream {
    /// The table whose rows these are.
    #[getter]
    fn table(&self) -> &str {
        &self.table
    }

    /// The column names, in order.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        Ok(to_schema_pycapsule(py, self.schema.as_ref())?)
    }

    /// Hands the batches over as an Arrow C stream; a stream is read once.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyCapsule>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let reader = self
            .reader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| {
                SourceError::new_err(format!(
                    "the stream of table {:?} was read already: read the table again",
                    self.table
                ))
            })?;
        let schema = reader.schema();
        let arrays = reader.map(|batch| batch.map(|b| Arc::new(StructArray::from(b)) as ArrayRef));
        let field = Field::new_struct("", schema.fields().clone(), false)
            .with_metadata(schema.metadata().clone());
        Ok(to_stream_pycapsule(
            py,
            Box::new(ArrayIterator::new(arrays, Arc::new(field))),
            requested_schema,
        )?)
    }

    fn __repr__(&self) -> String {
        let done = self.reader.lock().map(|r| r.is_none()).unwrap_or(true);
        format!(
            "<etl.Stream {:?}, {} columns{}>",
            self.table,
            self.schema.fields().len(),
            if done { ", read" } else { "" }
        )
    }
}

/// A [`BatchStream`] as a blocking reader: each batch waited for on the
/// runtime (from the reader's thread, whatever it is, without the GIL:
/// the stream's producer never needs it).
struct Pulled {
    schema: SchemaRef,
    stream: BatchStream,
}

impl Iterator for Pulled {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = crate::runtime::runtime()
            .handle()
            .block_on(self.stream.next_batch())?;
        Some(next.map_err(|e| ArrowError::ExternalError(Box::new(e))))
    }
}

impl RecordBatchReader for Pulled {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}
