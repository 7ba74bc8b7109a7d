//! Step outputs that are tables: the table trait [`ArrowData`], and what it
//! gives a step of the runtime (`etl-dag`, which knows no data type): its
//! rows, its view as a table for a SQL step, its saving as an Arrow IPC
//! file ([`ArrowIpc`]). `#[workflow]` finds these hooks for any output type
//! that implements [`ArrowData`], yours included; a step built with
//! `Step::new` takes them from [`table_output`].
//!
//! ```
//! use etl_dag::{Dag, Step, StepContext, StepInputs};
//! use etl_core::{Batches, table_output};
//! use etl_core::arrow::array::{Int64Array, RecordBatch};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> etl_core::Result<()> {
//! let dag = Dag::builder("numbers")
//!     .step(
//!         Step::new("numbers", |_: StepContext, _: StepInputs| async {
//!             let ids = Int64Array::from(vec![1, 2, 3]);
//!             let batch = RecordBatch::try_from_iter([("id", Arc::new(ids) as _)])
//!                 .map_err(|e| etl_core::Error::arrow("numbers", e))?;
//!             Ok::<_, etl_core::Error>(Batches::from_batch(batch))
//!         })
//!         .output(table_output::<Batches>()),
//!     )
//!     .build()?;
//! let report = dag.run().await.into_result()?;
//! assert_eq!(report.step("numbers").unwrap().rows, Some(3));
//! # Ok(()) }
//! ```

use std::any::Any;
use std::io::Write;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use etl_dag::output::{Format, Output, ReadSeek, RowsFn, TableFn};
use etl_dag::{BoxError, Codec, OutputHooks, RowCount};

use crate::{Batches, Error, LoadReport, Result, WriteSummary};

/// The table trait: a type that is tables of Arrow record batches. A step
/// whose output implements it has its rows counted, is a table a SQL step
/// reads (named after the step), and is saved as an Arrow IPC file.
pub trait ArrowData: Send + Sync + Sized + 'static {
    /// The schema and the batches (cheap: columns are shared).
    fn to_batches(&self) -> Result<(SchemaRef, Vec<RecordBatch>)>;
    /// The value back from what [`ArrowData::to_batches`] gave.
    fn from_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<Self>;
    /// Its rows; by default, those of [`ArrowData::to_batches`].
    fn num_rows(&self) -> Option<u64> {
        let (_, batches) = self.to_batches().ok()?;
        Some(batches.iter().map(|b| b.num_rows() as u64).sum())
    }
}

impl ArrowData for Batches {
    fn to_batches(&self) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        Ok((self.schema().clone(), self.batches().to_vec()))
    }
    fn from_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<Self> {
        Batches::new(schema, batches)
    }
    fn num_rows(&self) -> Option<u64> {
        Some(Batches::num_rows(self) as u64)
    }
}

impl ArrowData for RecordBatch {
    fn to_batches(&self) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        Ok((self.schema(), vec![self.clone()]))
    }
    fn from_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<Self> {
        arrow::compute::concat_batches(&schema, &batches)
            .map_err(|e| Error::arrow("joining the saved batches into one", e))
    }
    fn num_rows(&self) -> Option<u64> {
        Some(RecordBatch::num_rows(self) as u64)
    }
}

impl ArrowData for Vec<RecordBatch> {
    fn to_batches(&self) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let schema = self
            .first()
            .map(RecordBatch::schema)
            .unwrap_or_else(|| Arc::new(Schema::empty()));
        Ok((schema, self.clone()))
    }
    fn from_batches(_schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<Self> {
        Ok(batches)
    }
}

/// What a load wrote counts its rows in reports.
impl RowCount for LoadReport {
    fn row_count(&self) -> u64 {
        self.total_rows()
    }
}

impl RowCount for WriteSummary {
    fn row_count(&self) -> u64 {
        self.rows
    }
}

/// Arrow IPC files (`.arrow`), for any [`ArrowData`].
#[derive(Debug, Clone, Copy)]
pub struct ArrowIpc;

impl<T: ArrowData> Format<T> for ArrowIpc {
    const EXTENSION: &'static str = "arrow";
    fn save(value: &T, out: &mut dyn Write) -> std::result::Result<(), BoxError> {
        let (schema, batches) = value.to_batches()?;
        let mut writer = FileWriter::try_new(out, &schema)?;
        for batch in &batches {
            writer.write(batch)?;
        }
        writer.finish()?;
        Ok(())
    }
    fn load(input: &mut dyn ReadSeek) -> std::result::Result<T, BoxError> {
        let reader = FileReader::try_new(input, None)?;
        let schema = reader.schema();
        let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(T::from_batches(schema, batches)?)
    }
}

/// The Arrow IPC codec of `T`.
pub fn arrow_codec<T: ArrowData>() -> Codec {
    Codec::of::<T, ArrowIpc>()
}

/// Everything the runtime can know of a table type `T`: rows, the table a
/// SQL step reads ([`Batches`]), saving as Arrow IPC.
pub fn table_output<T: ArrowData>() -> OutputHooks {
    OutputHooks::NONE
        .with_codec(arrow_codec::<T>())
        .with_rows(rows_of::<T>)
        .with_table(table_of::<T>)
}

fn rows_of<T: ArrowData>(value: &(dyn Any + Send + Sync)) -> Option<u64> {
    value.downcast_ref::<T>()?.num_rows()
}

fn table_of<T: ArrowData>(
    value: &(dyn Any + Send + Sync),
) -> std::result::Result<Output, BoxError> {
    let value = value
        .downcast_ref::<T>()
        .ok_or_else(|| format!("an output is not the {}", std::any::type_name::<T>()))?;
    let (schema, batches) = value.to_batches()?;
    Ok(Arc::new(Batches::new(schema, batches)?))
}

/// The level of `#[workflow]`'s probe where tables are found (see
/// `etl_dag::output::Probe`): above serde, so that a table that is also
/// serde is saved as Arrow.
#[doc(hidden)]
pub trait ProbeArrow {
    fn codec(&self) -> Option<Codec>;
    fn rows(&self) -> Option<RowsFn>;
    fn table(&self) -> Option<TableFn>;
}

impl<T: ArrowData> ProbeArrow for &&etl_dag::output::Probe<T> {
    fn codec(&self) -> Option<Codec> {
        Some(arrow_codec::<T>())
    }
    fn rows(&self) -> Option<RowsFn> {
        Some(rows_of::<T>)
    }
    fn table(&self) -> Option<TableFn> {
        Some(table_of::<T>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use etl_dag::output::Probe;
    use etl_dag::output::{ProbeJson as _, ProbeNone as _, ProbeRows as _};
    use std::io::Cursor;

    fn table() -> Batches {
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as _),
            (
                "name",
                Arc::new(StringArray::from(vec![Some("ada"), None, Some("cy")])) as _,
            ),
        ])
        .unwrap();
        Batches::new(batch.schema(), vec![batch.slice(0, 2), batch.slice(2, 1)]).unwrap()
    }

    fn round_trip<T: ArrowData>(codec: Codec, value: &T) -> Output {
        let mut bytes = Vec::new();
        codec.save_to(value, &mut bytes).unwrap();
        codec.load_from(&mut Cursor::new(bytes)).unwrap()
    }

    #[test]
    fn arrow_data_round_trips_through_ipc() {
        let codec = arrow_codec::<Batches>();
        assert_eq!(codec.extension(), "arrow");
        let back = round_trip(codec, &table());
        assert_eq!(back.downcast_ref::<Batches>(), Some(&table()));
        let one = table().concat().unwrap();
        let back = round_trip(arrow_codec::<RecordBatch>(), &one);
        assert_eq!(back.downcast_ref::<RecordBatch>().unwrap().num_rows(), 3);
    }

    #[test]
    fn bytes_that_are_not_ipc_are_an_error() {
        let err = arrow_codec::<Batches>()
            .load_from(&mut Cursor::new(b"not arrow".to_vec()))
            .err()
            .unwrap();
        assert!(!err.to_string().is_empty());
    }

    #[test]
    // The borrows are the mechanism: each is one step of method resolution.
    #[allow(clippy::needless_borrow)]
    fn the_probe_picks_arrow_then_json_then_none() {
        struct Opaque;
        let arrow = (&&&Probe::<Batches>::new()).codec();
        let json = (&&&Probe::<Vec<u8>>::new()).codec();
        let none = (&&&Probe::<Opaque>::new()).codec();
        assert_eq!(arrow.map(|c| c.extension()), Some("arrow"));
        assert_eq!(json.map(|c| c.extension()), Some("json"));
        assert!(none.is_none());
        let rows = (&&&Probe::<Batches>::new()).rows().unwrap();
        assert_eq!(rows(&table()), Some(3));
        let rows = (&&&Probe::<Vec<WriteSummary>>::new()).rows().unwrap();
        assert_eq!(rows(&Vec::<WriteSummary>::new()), Some(0));
        assert!((&&&Probe::<Batches>::new()).table().is_some());
        assert!((&&&Probe::<Vec<u8>>::new()).table().is_none());
    }
}
