use std::sync::Arc;

use arrow::array::*;
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::compute::cast;
use arrow::datatypes::*;
use polars::prelude::{self as pl, IntoLazy as _, col, df};

use super::*;

/// Arrow's half-precision float (the `half` crate's, which arrow does not re-export).
type F16 = <Float16Type as ArrowPrimitiveType>::Native;

/// `array` to Polars and back, as a one-column table named `c`.
fn round_trip(array: ArrayRef) -> Result<ArrayRef> {
    let batch = RecordBatch::try_from_iter([("c", array)]).unwrap();
    let frame = to_frame(&Batches::from_batch(batch))?;
    let back = from_frame(&frame)?;
    assert_eq!(back.batches().len(), 1);
    Ok(back.batches()[0].column(0).clone())
}

/// What each Arrow type comes back as, and that every value (nulls
/// included) comes back: compared with the original cast to that type, or
/// with an expected array where Arrow has no such cast.
#[test]
fn every_type_of_the_table_round_trips() {
    let tz: Option<Arc<str>> = Some("Europe/Paris".into());
    let strings = || vec![Some("ada"), None, Some("a string longer than twelve bytes")];
    let bytes = || vec![Some(b"ab".as_ref()), None, Some(b"cd".as_ref())];
    let int_list = || {
        ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(1), None]),
            None,
            Some(vec![]),
        ])
    };
    // (original, the type it comes back as)
    let cases: Vec<(ArrayRef, DataType)> = vec![
        (Arc::new(NullArray::new(3)), DataType::Null),
        (
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
            DataType::Boolean,
        ),
        (
            Arc::new(Int8Array::from(vec![Some(-8), None, Some(8)])),
            DataType::Int8,
        ),
        (
            Arc::new(Int16Array::from(vec![Some(-16), None, Some(16)])),
            DataType::Int16,
        ),
        (
            Arc::new(Int32Array::from(vec![Some(-32), None, Some(32)])),
            DataType::Int32,
        ),
        (
            Arc::new(Int64Array::from(vec![Some(-64), None, Some(i64::MAX)])),
            DataType::Int64,
        ),
        (
            Arc::new(UInt8Array::from(vec![Some(8), None, Some(u8::MAX)])),
            DataType::UInt8,
        ),
        (
            Arc::new(UInt16Array::from(vec![Some(16), None, Some(1)])),
            DataType::UInt16,
        ),
        (
            Arc::new(UInt32Array::from(vec![Some(32), None, Some(1)])),
            DataType::UInt32,
        ),
        (
            Arc::new(UInt64Array::from(vec![Some(u64::MAX), None, Some(1)])),
            DataType::UInt64,
        ),
        (
            Arc::new(Float16Array::from(vec![
                Some(F16::from_f32(1.5)),
                None,
                Some(F16::from_f32(-2.0)),
            ])),
            DataType::Float16,
        ),
        (
            Arc::new(Float32Array::from(vec![Some(1.5), None, Some(f32::NAN)])),
            DataType::Float32,
        ),
        (
            Arc::new(Float64Array::from(vec![
                Some(2.5),
                None,
                Some(f64::INFINITY),
            ])),
            DataType::Float64,
        ),
        (Arc::new(StringArray::from(strings())), DataType::Utf8View),
        (
            Arc::new(LargeStringArray::from(strings())),
            DataType::Utf8View,
        ),
        (
            Arc::new(StringViewArray::from(strings())),
            DataType::Utf8View,
        ),
        (Arc::new(BinaryArray::from(bytes())), DataType::BinaryView),
        (
            Arc::new(LargeBinaryArray::from(bytes())),
            DataType::BinaryView,
        ),
        (
            Arc::new(BinaryViewArray::from(bytes())),
            DataType::BinaryView,
        ),
        (
            Arc::new(Date32Array::from(vec![Some(19_783), None, Some(-1)])),
            DataType::Date32,
        ),
        (
            Arc::new(Date64Array::from(vec![
                Some(1_709_251_200_000),
                None,
                Some(0),
            ])),
            DataType::Timestamp(TimeUnit::Millisecond, None),
        ),
        (
            Arc::new(Time32SecondArray::from(vec![Some(3_600), None, Some(59)])),
            DataType::Time64(TimeUnit::Nanosecond),
        ),
        (
            Arc::new(Time32MillisecondArray::from(vec![
                Some(3_600_001),
                None,
                Some(0),
            ])),
            DataType::Time64(TimeUnit::Nanosecond),
        ),
        (
            Arc::new(Time64MicrosecondArray::from(vec![
                Some(3_600_000_001),
                None,
                Some(0),
            ])),
            DataType::Time64(TimeUnit::Nanosecond),
        ),
        (
            Arc::new(Time64NanosecondArray::from(vec![
                Some(1),
                None,
                Some(86_399_999_999_999),
            ])),
            DataType::Time64(TimeUnit::Nanosecond),
        ),
        (
            Arc::new(
                TimestampSecondArray::from(vec![Some(1_709_251_200), None, Some(-1)])
                    .with_timezone_opt(tz.clone()),
            ),
            DataType::Timestamp(TimeUnit::Millisecond, tz.clone()),
        ),
        (
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(1_709_251_200_001),
                None,
                Some(0),
            ])),
            DataType::Timestamp(TimeUnit::Millisecond, None),
        ),
        (
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(1), None, Some(2)])
                    .with_timezone_opt(tz.clone()),
            ),
            DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        ),
        (
            Arc::new(TimestampNanosecondArray::from(vec![Some(1), None, Some(2)])),
            DataType::Timestamp(TimeUnit::Nanosecond, None),
        ),
        (
            Arc::new(DurationSecondArray::from(vec![Some(90), None, Some(-1)])),
            DataType::Duration(TimeUnit::Millisecond),
        ),
        (
            Arc::new(DurationMillisecondArray::from(vec![
                Some(90_000),
                None,
                Some(1),
            ])),
            DataType::Duration(TimeUnit::Millisecond),
        ),
        (
            Arc::new(DurationMicrosecondArray::from(vec![Some(1), None, Some(2)])),
            DataType::Duration(TimeUnit::Microsecond),
        ),
        (
            Arc::new(DurationNanosecondArray::from(vec![Some(1), None, Some(2)])),
            DataType::Duration(TimeUnit::Nanosecond),
        ),
        (
            Arc::new(
                Decimal128Array::from(vec![Some(12_345), None, Some(-1)])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
            DataType::Decimal128(10, 2),
        ),
        (
            Arc::new(
                Decimal64Array::from(vec![Some(12_345), None, Some(-1)])
                    .with_precision_and_scale(12, 3)
                    .unwrap(),
            ),
            DataType::Decimal128(12, 3),
        ),
        (
            Arc::new(
                Decimal32Array::from(vec![Some(12_345), None, Some(-1)])
                    .with_precision_and_scale(9, 0)
                    .unwrap(),
            ),
            DataType::Decimal128(9, 0),
        ),
        (
            Arc::new(int_list()),
            DataType::LargeList(Arc::new(Field::new("item", DataType::Int64, true))),
        ),
        (
            Arc::new(LargeListArray::from_iter_primitive::<Int64Type, _, _>(
                vec![Some(vec![Some(1)]), None, Some(vec![None])],
            )),
            DataType::LargeList(Arc::new(Field::new("item", DataType::Int64, true))),
        ),
        (
            Arc::new(FixedSizeListArray::from_iter_primitive::<Int32Type, _, _>(
                vec![
                    Some(vec![Some(1), Some(2)]),
                    None,
                    Some(vec![None, Some(3)]),
                ],
                2,
            )),
            DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Int32, true)), 2),
        ),
        (
            Arc::new(StructArray::from(vec![
                (
                    Arc::new(Field::new("id", DataType::Int64, true)),
                    Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])) as ArrayRef,
                ),
                (
                    Arc::new(Field::new("name", DataType::Utf8View, true)),
                    Arc::new(StringViewArray::from(vec![Some("a"), Some("b"), None])) as ArrayRef,
                ),
            ])),
            DataType::Struct(Fields::from(vec![
                Field::new("id", DataType::Int64, true),
                Field::new("name", DataType::Utf8View, true),
            ])),
        ),
        (
            Arc::new(
                vec![Some("x"), None, Some("x")]
                    .into_iter()
                    .collect::<DictionaryArray<Int8Type>>(),
            ),
            DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8View)),
        ),
    ];
    for (original, expected_type) in cases {
        let back = round_trip(original.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", original.data_type()));
        assert_eq!(
            back.data_type(),
            &expected_type,
            "{} comes back as",
            original.data_type()
        );
        let expected = cast(&original, &expected_type)
            .unwrap_or_else(|e| panic!("casting {} to {expected_type}: {e}", original.data_type()));
        assert_eq!(&back, &expected, "{}: the values", original.data_type());
    }
}

#[test]
fn maps_and_dictionaries_of_other_values_come_back_as_their_polars_type() {
    // A map: a list of key/value structs in Polars.
    let keys = StringArray::from(vec!["a", "b", "c"]);
    let values = Int64Array::from(vec![Some(1), None, Some(3)]);
    let entries = StructArray::from(vec![
        (
            Arc::new(Field::new("keys", DataType::Utf8, false)),
            Arc::new(keys) as ArrayRef,
        ),
        (
            Arc::new(Field::new("values", DataType::Int64, true)),
            Arc::new(values) as ArrayRef,
        ),
    ]);
    let map = MapArray::new(
        Arc::new(Field::new("entries", entries.data_type().clone(), false)),
        OffsetBuffer::new(ScalarBuffer::from(vec![0, 2, 2, 3])),
        entries,
        None,
        false,
    );
    let back = round_trip(Arc::new(map)).unwrap();
    let DataType::LargeList(item) = back.data_type() else {
        panic!("a map comes back as {}", back.data_type());
    };
    assert!(
        matches!(item.data_type(), DataType::Struct(f) if f.len() == 2),
        "{item}"
    );
    let list = back.as_any().downcast_ref::<LargeListArray>().unwrap();
    let lengths: Vec<i64> = (0..list.len()).map(|i| list.value_length(i)).collect();
    assert_eq!(lengths, [2, 0, 1]);

    // Dictionaries of numbers: their values.
    let mut builder = PrimitiveDictionaryBuilder::<Int8Type, Int64Type>::new();
    for value in [Some(10), None, Some(10)] {
        builder.append_option(value);
    }
    let dictionary = builder.finish();
    let back = round_trip(Arc::new(dictionary)).unwrap();
    assert_eq!(
        back.as_ref(),
        &Int64Array::from(vec![Some(10), None, Some(10)]) as &dyn Array
    );
}

#[test]
fn types_polars_cannot_hold_are_refused_naming_the_column() {
    let interval: ArrayRef = Arc::new(IntervalMonthDayNanoArray::from(vec![
        IntervalMonthDayNano::new(1, 2, 3),
    ]));
    let wide: ArrayRef = Arc::new(
        Decimal256Array::from(vec![i256::from(1)])
            .with_precision_and_scale(50, 0)
            .unwrap(),
    );
    for (array, why) in [
        (interval, "Polars has no interval type"),
        (wide, "Polars decimals hold at most 38 digits"),
    ] {
        let batch = RecordBatch::try_from_iter([
            ("ok", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
            ("bad", array),
        ])
        .unwrap();
        let err = to_frame(&Batches::from_batch(batch)).unwrap_err();
        assert!(
            matches!(&err, Error::Polars { column: Some(c), .. } if c == "bad"),
            "{err:?}"
        );
        let err = err.to_string();
        assert!(
            err.starts_with("Polars, column \"bad\": ") && err.contains(why),
            "{err}"
        );
    }
    // Nested: the field is named too.
    let nested: ArrayRef = Arc::new(StructArray::from(vec![(
        Arc::new(Field::new(
            "span",
            DataType::Interval(IntervalUnit::MonthDayNano),
            true,
        )),
        Arc::new(IntervalMonthDayNanoArray::from(vec![
            IntervalMonthDayNano::new(1, 2, 3),
        ])) as ArrayRef,
    )]));
    let err = round_trip(nested).unwrap_err().to_string();
    assert!(
        err.contains("column \"c\": field \"span\"") && err.contains("interval"),
        "{err}"
    );
}

#[test]
fn empty_tables_keep_their_columns_and_types() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8View, true),
    ]));
    // No batch at all, and one batch of no rows.
    for table in [
        Batches::new(schema.clone(), vec![]).unwrap(),
        Batches::new(schema.clone(), vec![RecordBatch::new_empty(schema.clone())]).unwrap(),
    ] {
        let frame = to_frame(&table).unwrap();
        assert_eq!(frame.shape(), (0, 2));
        assert_eq!(
            frame.column("name").unwrap().dtype(),
            &polars::prelude::DataType::String
        );
        let back = from_frame(&frame).unwrap();
        assert_eq!(back.num_rows(), 0);
        assert_eq!(back.schema().fields(), schema.fields());
    }
    // No columns, some rows.
    let frame = pl::DataFrame::empty_with_height(3);
    let back = from_frame(&frame).unwrap();
    assert_eq!((back.num_rows(), back.schema().fields().len()), (3, 0));
}

#[test]
fn int64_and_utf8_view_columns_cross_without_a_copy() {
    let ints = Int64Array::from((0..1_000).collect::<Vec<i64>>());
    let strings = StringViewArray::from_iter_values(
        (0..1_000).map(|i| format!("a string that is not inlined {i}")),
    );
    let ints_at = ints.values().inner().as_ptr();
    let views_at = strings.views().inner().as_ptr();
    let data_at: Vec<*const u8> = strings.data_buffers().iter().map(|b| b.as_ptr()).collect();
    let batch = RecordBatch::try_from_iter([
        ("n", Arc::new(ints) as ArrayRef),
        ("s", Arc::new(strings) as ArrayRef),
    ])
    .unwrap();

    let frame = to_frame(&Batches::from_batch(batch)).unwrap();
    // In Polars: the same memory.
    let n = frame
        .column("n")
        .unwrap()
        .as_materialized_series()
        .i64()
        .unwrap()
        .clone();
    assert_eq!(
        n.downcast_iter().next().unwrap().values().as_ptr().cast(),
        ints_at
    );

    // And back in Arrow: still the same memory.
    let back = from_frame(&frame).unwrap();
    let back = &back.batches()[0];
    let ints = back.column(0).as_primitive::<Int64Type>();
    assert_eq!(
        ints.values().inner().as_ptr(),
        ints_at,
        "the int64 buffer was copied"
    );
    let strings = back.column(1).as_string_view();
    assert_eq!(
        strings.views().inner().as_ptr(),
        views_at,
        "the views were copied"
    );
    let back_data: Vec<*const u8> = strings.data_buffers().iter().map(|b| b.as_ptr()).collect();
    assert_eq!(back_data, data_at, "the string data was copied");
}

#[test]
fn each_batch_is_a_chunk_and_comes_back_a_batch() {
    let batch = |from: i64| {
        RecordBatch::try_from_iter([(
            "n",
            Arc::new(Int64Array::from_iter_values(from..from + 3)) as ArrayRef,
        )])
        .unwrap()
    };
    let schema = batch(0).schema();
    let table = Batches::new(schema, vec![batch(0), batch(3), batch(6)]).unwrap();
    let frame = table.to_polars().unwrap();
    assert_eq!(frame.first_col_n_chunks(), 3);
    let back = Batches::from_polars(&frame).unwrap();
    assert_eq!(back.batches().len(), 3);
    // The same rows; the column comes back nullable, as Polars' columns are.
    assert!(!table.schema().field(0).is_nullable());
    assert!(back.schema().field(0).is_nullable());
    for (a, b) in back.batches().iter().zip(table.batches()) {
        assert_eq!(a.columns(), b.columns());
    }
}

#[test]
fn frames_polars_made_come_back_as_arrow() {
    let frame = df!(
        "city" => ["Oslo", "Lima", "Oslo"],
        "sales" => [1.5, 2.0, 3.5],
    )
    .unwrap();
    let sums = frame
        .lazy()
        .group_by([col("city")])
        .agg([col("sales").sum()])
        .sort(["city"], Default::default())
        .collect()
        .unwrap();
    let back = from_frame(&sums).unwrap();
    let batch = back.concat().unwrap();
    assert_eq!(batch.schema().field(0).data_type(), &DataType::Utf8View);
    let text = arrow::util::pretty::pretty_format_batches(&[batch])
        .unwrap()
        .to_string();
    assert_eq!(
        text,
        "+------+-------+\n| city | sales |\n+------+-------+\n| Lima | 2.0   |\n| Oslo | 5.0   |\n+------+-------+"
    );
}
