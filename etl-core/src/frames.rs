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
//! use etl_core::frames::{from_frame, to_frame};
//! use etl_core::polars::prelude::*;
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

use crate::{Batches, Error, Result};

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

impl Batches {
    /// The table as a Polars `DataFrame`, without copying: see [`to_frame`].
    pub fn to_polars(&self) -> Result<DataFrame> {
        to_frame(self)
    }

    /// A Polars `DataFrame` as a table, without copying: see [`from_frame`].
    pub fn from_polars(frame: &DataFrame) -> Result<Batches> {
        from_frame(frame)
    }
}

/// A step's `DataFrame` output is saved as an Arrow IPC file, like `Batches`.
impl crate::ArrowData for DataFrame {
    fn to_batches(&self) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let batches = from_frame(self)?;
        Ok((batches.schema().clone(), batches.into_batches()))
    }
    fn from_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<Self> {
        to_frame(&Batches::new(schema, batches)?)
    }
}

#[cfg(test)]
mod tests;
