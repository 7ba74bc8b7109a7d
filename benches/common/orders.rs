//! The benchmarks' table: 1M orders, 10 columns (ints, floats, strings,
//! timestamps, some nulls), in 8,192-row batches. Included by `load.rs` and
//! `transforms.rs` with `#[path]`.

use std::sync::Arc;

use etl::arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use etl::arrow::compute::cast;
use etl::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

pub(crate) const ROWS: usize = 1_000_000;
pub(crate) const BATCH: usize = etl::DEFAULT_BATCH_SIZE;

/// The table's schema, its two string columns typed `strings` (`Utf8` or
/// `Utf8View`).
pub(crate) fn schema(strings: &DataType) -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("customer_id", DataType::Int64, true),
        Field::new("quantity", DataType::Int32, true),
        Field::new("price", DataType::Float64, true),
        Field::new("discount", DataType::Float64, true),
        Field::new("weight", DataType::Float64, true),
        Field::new("product", strings.clone(), true),
        Field::new("category", strings.clone(), true),
        Field::new("ordered_at", ts.clone(), true),
        Field::new("shipped_at", ts, true),
    ]))
}

/// The table's batches: 50,000 customers, 5 categories, 100,000 products,
/// every tenth order not shipped.
pub(crate) fn batches(strings: &DataType) -> Vec<RecordBatch> {
    let schema = schema(strings);
    const CATEGORIES: [&str; 5] = ["books", "garden", "kitchen", "toys", "tools"];
    let text = |values: StringArray| -> ArrayRef {
        cast(&values, strings).expect("Utf8 casts to the string type asked for")
    };
    (0..ROWS)
        .step_by(BATCH)
        .map(|start| {
            let ids: Vec<i64> = (start as i64..(start + BATCH).min(ROWS) as i64).collect();
            let base = 1_700_000_000_000_000_i64;
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(ids.clone())),
                    Arc::new(Int64Array::from_iter_values(ids.iter().map(|i| i % 50_000))),
                    Arc::new(Int32Array::from_iter_values(
                        ids.iter().map(|i| (i % 7) as i32 + 1),
                    )),
                    Arc::new(Float64Array::from_iter_values(
                        ids.iter().map(|i| (i % 1000) as f64 * 0.25),
                    )),
                    Arc::new(Float64Array::from_iter_values(
                        ids.iter().map(|i| (i % 5) as f64 / 10.0),
                    )),
                    Arc::new(Float64Array::from_iter_values(
                        ids.iter().map(|i| 0.5 + (i % 300) as f64),
                    )),
                    text(StringArray::from_iter_values(
                        ids.iter().map(|i| format!("product-{:06}", i % 100_000)),
                    )),
                    text(StringArray::from_iter_values(
                        ids.iter().map(|i| CATEGORIES[*i as usize % 5]),
                    )),
                    Arc::new(TimestampMicrosecondArray::from_iter_values(
                        ids.iter().map(|i| base + i * 1_000_000),
                    )),
                    Arc::new(TimestampMicrosecondArray::from(
                        ids.iter()
                            .map(|i| (i % 10 != 0).then_some(base + i * 1_000_000 + 86_400_000_000))
                            .collect::<Vec<_>>(),
                    )),
                ],
            )
            .expect("a valid batch")
        })
        .collect()
}
