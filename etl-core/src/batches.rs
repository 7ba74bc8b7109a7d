//! [`Batches`]: a table in memory, the usual output of a step.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::{BatchStream, Error, ExtractOptions, Extractor, Result};

/// A table held in memory: an Arrow schema and its record batches. Steps of a
/// workflow pass tables to each other as `Batches`; the run report counts
/// their rows. Cloning is cheap (the columns are shared).
///
/// ```
/// use etl_core::Batches;
/// use etl_core::arrow::array::{Int64Array, RecordBatch};
/// use etl_core::arrow::datatypes::{DataType, Field, Schema};
/// use std::sync::Arc;
///
/// let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
/// let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1, 2, 3]))]).unwrap();
/// let table = Batches::new(schema, vec![batch.clone(), batch])?;
/// assert_eq!(table.num_rows(), 6);
/// # Ok::<_, etl_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Batches {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl Batches {
    /// Batches of `schema`; a batch of another schema is an error.
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<Batches> {
        if let Some((i, b)) = batches
            .iter()
            .enumerate()
            .find(|(_, b)| b.schema().fields() != schema.fields())
        {
            return Err(Error::SchemaMismatch {
                context: "batches".into(),
                message: format!(
                    "batch {i} has columns {:?}, the table has {:?}",
                    b.schema()
                        .fields()
                        .iter()
                        .map(|f| f.name())
                        .collect::<Vec<_>>(),
                    schema.fields().iter().map(|f| f.name()).collect::<Vec<_>>()
                ),
            });
        }
        Ok(Batches { schema, batches })
    }

    /// One batch, its schema the table's.
    pub fn from_batch(batch: RecordBatch) -> Batches {
        Batches {
            schema: batch.schema(),
            batches: vec![batch],
        }
    }

    /// Reads a whole stream into memory.
    pub async fn collect(stream: BatchStream) -> Result<Batches> {
        let schema = stream.schema().clone();
        let batches = stream.collect_batches().await?;
        Ok(Batches { schema, batches })
    }

    /// Reads table `table` of `extractor` into memory.
    pub async fn extract<E: Extractor>(extractor: &E, table: &str) -> Result<Batches> {
        let specs = extractor.tables().await?;
        let Some(spec) = specs.iter().find(|s| s.name() == table) else {
            return Err(Error::UnknownTable {
                table: table.to_string(),
                offered: specs.iter().map(|s| s.name().to_string()).collect(),
            });
        };
        let stream = extractor.extract(spec, &ExtractOptions::default()).await?;
        Batches::collect(stream).await
    }

    /// The schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The batches.
    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    /// Rows in all batches.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// One batch holding every row.
    pub fn concat(&self) -> Result<RecordBatch> {
        arrow::compute::concat_batches(&self.schema, &self.batches).map_err(|source| Error::Arrow {
            context: "concatenating batches".into(),
            source,
        })
    }

    /// A stream of the batches, e.g. for [`Warehouse::write`](crate::Warehouse::write).
    pub fn to_stream(&self) -> BatchStream {
        BatchStream::from_batches(self.schema.clone(), self.batches.clone())
    }

    /// The batches, owned.
    pub fn into_batches(self) -> Vec<RecordBatch> {
        self.batches
    }
}

impl From<RecordBatch> for Batches {
    fn from(batch: RecordBatch) -> Self {
        Batches::from_batch(batch)
    }
}
