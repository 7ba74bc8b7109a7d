//! Polars frames and Arrow batches, one into the other without copying.
//!
//! [`to_frame`] and [`from_frame`] hand columns across through the Arrow C
//! data interface: the buffers stay where they are, and each side keeps the
//! other's alive. Strings stay `Utf8View` (Polars' own string layout,
//! `CompatLevel::newest()`), so a `Utf8View` column crosses both ways without
//! a copy, like every fixed-width column. Polars is re-exported as
//! [`polars`]: use it, so the versions match.
//!
//! ```
//! use etl_core::Batches;
//! use etl_core::arrow::array::{Int64Array, RecordBatch, StringViewArray};
//! use etl_polars::{from_frame, to_frame};
//! use etl_polars::polars::prelude::*;
//! use std::sync::Arc;
//!
//! let batch = RecordBatch::try_from_iter([
//!     ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as _),
//!     ("city", Arc::new(StringViewArray::from(vec!["Oslo", "Lima", "Oslo"])) as _),
//! ])?;
//! let df = to_frame(&Batches::from_batch(batch))?;
//! let counts = df.lazy().group_by([col("city")]).agg([len()]).sort(["city"], Default::default()).collect()?;
//! let back = from_frame(&counts)?;
//! assert_eq!(back.num_rows(), 2);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! # Types
//!
//! What each Arrow type becomes in Polars, and comes back as:
//!
//! | Arrow | Polars | back in Arrow |
//! | --- | --- | --- |
//! | Null, Boolean, Int8 … Int64, UInt8 … UInt64, Float16 … Float64 | the same | the same |
//! | Utf8, LargeUtf8, Utf8View | String | Utf8View |
//! | Binary, LargeBinary, BinaryView, FixedSizeBinary | Binary | BinaryView |
//! | Date32 | Date | Date32 |
//! | Date64 | Datetime(ms) | Timestamp(ms) |
//! | Time32, Time64 | Time | Time64(ns) |
//! | Timestamp(ms / µs / ns, tz) | Datetime(unit, tz) | the same |
//! | Timestamp(s, tz) | Datetime(ms, tz) | Timestamp(ms, tz) |
//! | Duration(ms / µs / ns) | Duration(unit) | the same |
//! | Duration(s) | Duration(ms) | Duration(ms) |
//! | Decimal32 … Decimal128(p ≤ 38, s ≥ 0) | Decimal(p, s) | Decimal128(p, s) |
//! | List, LargeList | List | LargeList |
//! | FixedSizeList(n) | Array(n) | FixedSizeList(n) |
//! | Struct | Struct | Struct |
//! | Map | List of Struct | LargeList of Struct |
//! | Dictionary(_, Utf8 or another string) | Categorical | Dictionary(UInt32, Utf8View) |
//! | Dictionary(_, other values) | the values' type | the values' type |
//!
//! Every column comes back nullable: Polars does not keep `nullable =
//! false`. Interval, Decimal256 over 38 digits, negative decimal scales,
//! unions, run-end encoded and list-view columns are refused with an error
//! naming the column: Polars has no type to hold them.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, make_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use polars::prelude::{Column, CompatLevel, DataFrame, PlSmallStr, Series};

pub use polars;

use etl_core::{BatchStream, Batches, ETLWorkflow, Error, Extractor, Result, TableSpec, Warehouse};
use etl_core::{WriteMode, WriteOptions, WriteSummary};
use etl_dag::output::{Format, Output, ReadSeek, RowsFn, TableFn};
use etl_dag::{BoxError, Codec, OutputHooks};

/// A column Polars cannot take, or a conversion that failed, naming the column.
fn column_error(column: &str, message: impl std::fmt::Display) -> Error {
    Error::Polars {
        column: Some(column.to_owned()),
        message: message.to_string(),
    }
}

/// Why Polars cannot hold `data_type`, if it cannot.
fn unsupported(data_type: &DataType) -> Option<String> {
    use DataType::*;
    match data_type {
        Null
        | Boolean
        | Int8
        | Int16
        | Int32
        | Int64
        | UInt8
        | UInt16
        | UInt32
        | UInt64
        | Float16
        | Float32
        | Float64
        | Utf8
        | LargeUtf8
        | Utf8View
        | Binary
        | LargeBinary
        | BinaryView
        | FixedSizeBinary(_)
        | Date32
        | Date64
        | Time32(_)
        | Time64(_)
        | Timestamp(_, _)
        | Duration(_) => None,
        Decimal32(p, s) | Decimal64(p, s) | Decimal128(p, s) | Decimal256(p, s) => {
            if *s < 0 {
                Some(format!(
                    "{data_type}: Polars decimals have no negative scale"
                ))
            } else if *p > 38 {
                Some(format!(
                    "{data_type}: Polars decimals hold at most 38 digits"
                ))
            } else {
                None
            }
        }
        List(f) | LargeList(f) | FixedSizeList(f, _) => unsupported(f.data_type()),
        Map(f, _) => unsupported(f.data_type()),
        Struct(fields) => fields.iter().find_map(|f| {
            unsupported(f.data_type()).map(|why| format!("field {:?}: {why}", f.name()))
        }),
        Dictionary(_, values) => unsupported(values),
        Interval(_) => Some(format!("{data_type}: Polars has no interval type")),
        other => Some(format!("{other}: Polars has no type for it")),
    }
}

/// The Polars field of an Arrow one, through the C data interface: once
/// per column, not per chunk.
fn field_to_polars(field: &Field) -> Result<polars_arrow::datatypes::Field> {
    let ffi_schema = FFI_ArrowSchema::try_from(field).map_err(|e| column_error(field.name(), e))?;
    #[allow(unsafe_code)]
    // SAFETY: arrow-rs's `FFI_ArrowSchema` and polars-arrow's `ArrowSchema`
    // are `#[repr(C)]` declarations of the same C struct of the Arrow C data
    // interface (same fields, same order, checked to be the same size by
    // `transmute`). The transmute moves the struct, and with it the release
    // callback: arrow-rs's `Drop` never runs on it, Polars' does. arrow-rs
    // just exported it, so it is a valid C data interface struct to import.
    let schema: polars_arrow::ffi::ArrowSchema = unsafe { std::mem::transmute(ffi_schema) };
    #[allow(unsafe_code)]
    // SAFETY: `schema` is a valid exported C schema (above).
    unsafe { polars_arrow::ffi::import_field_from_c(&schema) }
        .map_err(|e| column_error(field.name(), e))
}

/// One Arrow array of column `field` into Polars as `pl_field`'s type
/// ([`field_to_polars`]), through the C data interface: no copy.
fn array_to_polars(
    array: &ArrayRef,
    field: &Field,
    pl_field: &polars_arrow::datatypes::Field,
) -> Result<Box<dyn polars_arrow::array::Array>> {
    let (ffi_array, _) =
        arrow::ffi::to_ffi(&array.to_data()).map_err(|e| column_error(field.name(), e))?;
    #[allow(unsafe_code)]
    // SAFETY: as in `field_to_polars`, for the array struct: arrow-rs's
    // `FFI_ArrowArray` and polars-arrow's `ArrowArray` declare the same C
    // struct, which moves with its release callback. It was just exported
    // by arrow-rs from an array of `field`'s type, which is the type
    // `pl_field` was imported from.
    unsafe {
        let array: polars_arrow::ffi::ArrowArray = std::mem::transmute(ffi_array);
        polars_arrow::ffi::import_array_from_c(array, pl_field.dtype.clone())
            .map_err(|e| column_error(field.name(), e))
    }
}

/// One Polars array back into Arrow, through the C data interface: no copy.
/// `schema` is its column's field, exported once ([`field_to_arrow_c`]).
fn array_from_polars(
    array: Box<dyn polars_arrow::array::Array>,
    field: &polars_arrow::datatypes::Field,
    schema: &FFI_ArrowSchema,
) -> Result<ArrayRef> {
    // Polars exports a null column with a buffer slot arrow-rs refuses; it
    // holds no data, so there is nothing to share.
    if field.dtype == polars_arrow::datatypes::ArrowDataType::Null {
        return Ok(Arc::new(arrow::array::NullArray::new(array.len())));
    }
    let pl_array = polars_arrow::ffi::export_array_to_c(array);
    #[allow(unsafe_code)]
    // SAFETY: as in `array_to_polars`, the other way: the struct was just
    // exported by polars-arrow and moves, release callback included, into
    // arrow-rs's declaration of the same C struct; `schema` describes its
    // type, exported by polars-arrow from the same field.
    let data = unsafe {
        let array: FFI_ArrowArray = std::mem::transmute(pl_array);
        arrow::ffi::from_ffi(array, schema).map_err(|e| column_error(&field.name, e))?
    };
    Ok(make_array(data))
}

/// A Polars field as arrow-rs's C schema struct, exported once per column.
fn field_to_arrow_c(field: &polars_arrow::datatypes::Field) -> FFI_ArrowSchema {
    let pl_schema = polars_arrow::ffi::export_field_to_c(field);
    #[allow(unsafe_code)]
    // SAFETY: as in `array_from_polars`: the same C struct, moved with its
    // release callback.
    unsafe {
        std::mem::transmute(pl_schema)
    }
}

/// The batches as a Polars `DataFrame`, each batch a chunk of every column:
/// nothing is copied (but the conversions the [type table](self#types)
/// shows, such as `Utf8` to Polars' strings). A type Polars cannot hold is an
/// error naming the column.
pub fn to_frame(batches: &Batches) -> Result<DataFrame> {
    let schema = batches.schema();
    for field in schema.fields() {
        if let Some(why) = unsupported(field.data_type()) {
            return Err(column_error(field.name(), why));
        }
    }
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        let pl_field = field_to_polars(field)?;
        let chunks = if batches.batches().is_empty() {
            // No batch: an empty column of the field's type.
            let empty = arrow::array::new_empty_array(field.data_type());
            vec![array_to_polars(&empty, field, &pl_field)?]
        } else {
            batches
                .batches()
                .iter()
                .map(|batch| array_to_polars(batch.column(i), field, &pl_field))
                .collect::<Result<Vec<_>>>()?
        };
        let series = Series::from_arrow_chunks(PlSmallStr::from_str(field.name()), chunks)
            .map_err(|e| column_error(field.name(), e))?;
        columns.push(Column::from(series));
    }
    DataFrame::new(batches.num_rows(), columns).map_err(|e| Error::Polars {
        column: None,
        message: format!("building a frame: {e}"),
    })
}

/// A Polars `DataFrame` as Arrow batches, one per chunk: nothing is copied
/// when the columns' chunks line up (a frame built by [`to_frame`], or one
/// chunk each); otherwise Polars realigns them first. Strings come back as
/// `Utf8View`.
pub fn from_frame(frame: &DataFrame) -> Result<Batches> {
    let mut frame = frame.clone();
    if frame.should_rechunk() {
        frame.align_chunks();
    }
    let pl_schema = polars::prelude::SchemaExt::to_arrow(&**frame.schema(), CompatLevel::newest());
    let pl_fields: Vec<_> = pl_schema.iter_values().cloned().collect();
    let c_schemas: Vec<_> = pl_fields.iter().map(field_to_arrow_c).collect();
    let fields = pl_fields
        .iter()
        .zip(&c_schemas)
        .map(|(field, c_schema)| {
            Field::try_from(c_schema).map_err(|e| column_error(&field.name, e))
        })
        .collect::<Result<Vec<_>>>()?;
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let mut batches = Vec::new();
    for chunk in frame.iter_chunks(CompatLevel::newest(), false) {
        let rows = chunk.height();
        let columns = chunk
            .into_arrays()
            .into_iter()
            .zip(pl_fields.iter().zip(&c_schemas))
            .map(|(array, (field, c_schema))| array_from_polars(array, field, c_schema))
            .collect::<Result<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        batches.push(
            RecordBatch::try_new_with_options(schema.clone(), columns, &options)
                .map_err(|e| Error::arrow("a Polars frame's chunk as a record batch", e))?,
        );
    }
    Batches::new(schema, batches)
}

/// `Batches` to and from Polars: `batches.to_polars()`,
/// `Batches::from_polars(&frame)`, with this trait in scope.
pub trait BatchesPolars: Sized {
    /// These batches as a Polars `DataFrame`, without copying: see [`to_frame`].
    fn to_polars(&self) -> Result<DataFrame>;
    /// A Polars `DataFrame` as a table, without copying: see [`from_frame`].
    fn from_polars(frame: &DataFrame) -> Result<Self>;
}

impl BatchesPolars for Batches {
    fn to_polars(&self) -> Result<DataFrame> {
        to_frame(self)
    }
    fn from_polars(frame: &DataFrame) -> Result<Batches> {
        from_frame(frame)
    }
}

/// A `DataFrame` into any warehouse: `warehouse.write_frame(…)`, with this
/// trait in scope.
pub trait WriteFrame: Warehouse {
    /// Writes `frame` to table `table` in `mode`, the columns crossing into
    /// Arrow without a copy. [`WriteMode::Merge`] needs a primary key, which
    /// a frame does not carry, and is refused here; to merge, write
    /// `Batches::from_polars(&frame)?` through `Warehouse::write` with a
    /// `TableSpec` that has one.
    fn write_frame(
        &self,
        table: &str,
        frame: &DataFrame,
        mode: WriteMode,
    ) -> impl Future<Output = Result<WriteSummary>> + Send {
        let converted = from_frame(frame)
            .map(|batches| {
                let spec = TableSpec::new(table, batches.schema().clone()).with_mode(mode);
                (spec, batches)
            })
            .map_err(|e| Error::Schema {
                table: table.to_owned(),
                message: e.to_string(),
            });
        async move {
            let (spec, batches) = converted?;
            self.write(&spec, batches.to_stream(), &WriteOptions::default())
                .await
        }
    }
}

impl<W: Warehouse> WriteFrame for W {}

/// Polars transforms in an `ETLWorkflow`: `.transform(table, |df| …)`, with
/// this trait in scope.
pub trait FrameTransform: Sized {
    /// Transforms table `table` with Polars between extract and load: `f`
    /// gets the whole table as a `DataFrame` (the columns cross without a
    /// copy) and returns the frame to load. It runs on the blocking pool.
    /// The table is held in memory for it: for a table too big for that,
    /// use a SQL transform. An error in `f` fails the table (its old rows
    /// stay), naming it. Several transforms of one table run in the order
    /// given.
    fn transform<F, Err>(self, table: impl Into<String>, f: F) -> Self
    where
        F: Fn(DataFrame) -> std::result::Result<DataFrame, Err> + Send + Sync + 'static,
        Err: Into<BoxError>;
}

impl<E: Extractor, W: Warehouse> FrameTransform for ETLWorkflow<E, W> {
    fn transform<F, Err>(self, table: impl Into<String>, f: F) -> Self
    where
        F: Fn(DataFrame) -> std::result::Result<DataFrame, Err> + Send + Sync + 'static,
        Err: Into<BoxError>,
    {
        let f: FrameFn = Arc::new(move |df| f(df).map_err(Into::into));
        self.transform_with(table, PolarsTransform(f))
    }
}

type FrameFn = Arc<dyn Fn(DataFrame) -> std::result::Result<DataFrame, BoxError> + Send + Sync>;

struct PolarsTransform(FrameFn);

impl etl_core::TableTransform for PolarsTransform {
    fn apply(
        &self,
        table: &TableSpec,
        stream: BatchStream,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<BatchStream>> + Send + 'static>> {
        let (f, table) = (self.0.clone(), table.name().to_owned());
        Box::pin(async move {
            let batches = Batches::collect(stream).await?;
            let failed = move |message: String| Error::Transform {
                table: table.clone(),
                message,
            };
            let on_pool = failed.clone();
            let transformed = tokio::task::spawn_blocking(move || {
                let frame = to_frame(&batches).map_err(|e| on_pool(e.to_string()))?;
                let frame = f(frame).map_err(|e| on_pool(etl_dag::error_chain(&*e)))?;
                from_frame(&frame).map_err(|e| on_pool(e.to_string()))
            })
            .await
            .map_err(|e| failed(e.to_string()))??;
            Ok(transformed.to_stream())
        })
    }
}

/// Arrow IPC files for a `DataFrame` step output, as for `Batches`.
#[derive(Debug, Clone, Copy)]
pub struct FrameIpc;

impl Format<DataFrame> for FrameIpc {
    const EXTENSION: &'static str = "arrow";
    fn save(value: &DataFrame, out: &mut dyn std::io::Write) -> std::result::Result<(), BoxError> {
        <etl_core::ArrowIpc as Format<Batches>>::save(&from_frame(value)?, out)
    }
    fn load(input: &mut dyn ReadSeek) -> std::result::Result<DataFrame, BoxError> {
        let batches = <etl_core::ArrowIpc as Format<Batches>>::load(input)?;
        Ok(to_frame(&batches)?)
    }
}

fn frame_rows(value: &(dyn std::any::Any + Send + Sync)) -> Option<u64> {
    Some(value.downcast_ref::<DataFrame>()?.height() as u64)
}

fn frame_table(value: &(dyn std::any::Any + Send + Sync)) -> std::result::Result<Output, BoxError> {
    let frame = value
        .downcast_ref::<DataFrame>()
        .ok_or("an output is not a DataFrame")?;
    Ok(Arc::new(from_frame(frame)?))
}

/// What the step runtime knows of a `DataFrame` output: its rows, its view
/// as a table for SQL, its saving as Arrow IPC. `#[workflow]` finds these
/// itself; a step built with `Step::new` takes them with
/// `.output(etl_polars::frame_output())`.
pub fn frame_output() -> OutputHooks {
    OutputHooks::NONE
        .with_codec(Codec::of::<DataFrame, FrameIpc>())
        .with_rows(frame_rows)
        .with_table(frame_table)
}

/// The level of `#[workflow]`'s probe where `DataFrame` outputs are found,
/// above the table trait's (a `DataFrame` cannot implement it: neither the
/// trait nor the type is this crate's).
#[doc(hidden)]
pub trait ProbeFrame {
    fn codec(&self) -> Option<Codec>;
    fn rows(&self) -> Option<RowsFn>;
    fn table(&self) -> Option<TableFn>;
}

impl ProbeFrame for &&&etl_dag::output::Probe<DataFrame> {
    fn codec(&self) -> Option<Codec> {
        frame_output().codec()
    }
    fn rows(&self) -> Option<RowsFn> {
        Some(frame_rows)
    }
    fn table(&self) -> Option<TableFn> {
        Some(frame_table)
    }
}

#[cfg(test)]
mod tests;
