//! Arrow batches to PostgreSQL's binary `COPY` format, written straight
//! from the arrays: each column gets an encoder for its PostgreSQL type,
//! and each row is its fields' lengths and big-endian bytes. No value is
//! formatted as text, except nested ones, which go into `jsonb` as JSON.
//!
//! Values PostgreSQL cannot hold (a date past its calendar, a timestamp
//! with nanoseconds, a NUL byte in text) are an [`Error::Value`] naming the
//! table, column and row, before the row is sent.

use etl_core::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Decimal256Array, FixedSizeBinaryArray,
    GenericBinaryArray, GenericStringArray, ListArray, OffsetSizeTrait, PrimitiveArray,
    RecordBatch,
};
use etl_core::arrow::compute::cast;
use etl_core::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, DurationMicrosecondType, DurationMillisecondType,
    DurationNanosecondType, DurationSecondType, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, IntervalDayTimeType, IntervalMonthDayNanoType, IntervalUnit, IntervalYearMonthType,
    Time32MillisecondType, Time32SecondType, Time64MicrosecondType, Time64NanosecondType, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use etl_core::arrow::json::writer::{EncoderOptions, make_encoder};
use etl_core::{Error, Result};

use super::types::{PgType, cast_target};

/// The binary COPY header: signature, flags, header extension length.
pub(crate) const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The binary COPY trailer: a tuple of -1 fields.
pub(crate) const TRAILER: &[u8] = &[0xff, 0xff];

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
pub(crate) const EPOCH_DAYS: i64 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
pub(crate) const EPOCH_MICROS: i64 = EPOCH_DAYS * MICROS_PER_DAY;
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// PostgreSQL's first date, 4714-11-24 BC, in days from 2000-01-01.
const FIRST_DATE: i64 = -2_451_545;
/// The day after its last date, 5874897-12-31.
const END_DATE: i64 = 2_147_483_494 - 2_451_545;
/// Its first timestamp, in microseconds from 2000-01-01.
const FIRST_TIMESTAMP: i64 = FIRST_DATE * MICROS_PER_DAY;
/// The first timestamp past its last, 294277-01-01.
const END_TIMESTAMP: i64 = 9_223_371_331_200_000_000;

/// Where values come from, for errors.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    pub(crate) table: &'a str,
    pub(crate) column: &'a str,
    /// The batch's first row within the load.
    pub(crate) first_row: u64,
}

impl At<'_> {
    fn error(&self, row: usize, message: impl Into<String>) -> Error {
        Error::Value {
            table: self.table.to_owned(),
            column: self.column.to_owned(),
            row: self.first_row + row as u64,
            message: message.into(),
        }
    }
}

/// Writes one field: its length, then its bytes (or -1 for null).
trait Encode {
    fn encode(&self, row: usize, out: &mut Vec<u8>) -> Result<()>;
}

/// Appends `batch`'s rows to `out` as binary COPY tuples; `types[i]` is the
/// PostgreSQL type of column `i`.
pub(crate) fn encode_batch(
    table: &str,
    batch: &RecordBatch,
    types: &[PgType],
    first_row: u64,
    out: &mut Vec<u8>,
) -> Result<()> {
    let schema = batch.schema();
    // Each column cast to what its encoder takes, first: the encoders borrow them.
    let arrays = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .zip(types)
        .map(
            |((array, f), pg)| match cast_target(array.data_type(), pg) {
                Some(to) => cast(array, &to).map_err(|e| {
                    Error::arrow(
                        format!(
                            "table {table:?}, column {:?}: converting {} to {to} for {pg}",
                            f.name(),
                            array.data_type()
                        ),
                        e,
                    )
                }),
                None => Ok(array.clone()),
            },
        )
        .collect::<Result<Vec<_>>>()?;
    let encoders = arrays
        .iter()
        .zip(schema.fields())
        .zip(types)
        .map(|((array, f), pg)| {
            let at = At {
                table,
                column: f.name(),
                first_row,
            };
            encoder(at, pg, array)
        })
        .collect::<Result<Vec<_>>>()?;
    let fields = i16::try_from(encoders.len()).map_err(|_| Error::Schema {
        table: table.to_owned(),
        message: format!("{} columns; PostgreSQL takes 1,600", encoders.len()),
    })?;
    for row in 0..batch.num_rows() {
        out.extend_from_slice(&fields.to_be_bytes());
        for encoder in &encoders {
            encoder.encode(row, out)?;
        }
    }
    Ok(())
}

fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(&(-1_i32).to_be_bytes());
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Starts a field of unknown length; [`end_field`] writes it.
fn start_field(out: &mut Vec<u8>) -> usize {
    out.extend_from_slice(&[0; 4]);
    out.len()
}

fn end_field(at: &At<'_>, row: usize, out: &mut [u8], start: usize) -> Result<()> {
    let len = i32::try_from(out.len() - start)
        .map_err(|_| at.error(row, "a value of 2 GiB or more; PostgreSQL holds 1 GiB"))?;
    out[start - 4..start].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// The encoder of `array`, already cast as [`cast_target`] says, into a
/// column of type `pg`.
fn encoder<'a>(at: At<'a>, pg: &PgType, array: &'a ArrayRef) -> Result<Box<dyn Encode + 'a>> {
    let unsupported = |array: &ArrayRef| {
        Error::Internal(format!(
            "table {:?}, column {:?}: no binary encoding of {} as {pg}",
            at.table,
            at.column,
            array.data_type()
        ))
    };
    if array.data_type() == &DataType::Null {
        return Ok(Box::new(Nulls));
    }
    Ok(match (pg, array.data_type().clone()) {
        (PgType::Bool, DataType::Boolean) => Box::new(Bools(array.as_boolean().clone())),
        (PgType::Int2, _) => Box::new(Fixed::<Int16Type>(array.as_primitive().clone())),
        (PgType::Int4, _) => Box::new(Fixed::<Int32Type>(array.as_primitive().clone())),
        (PgType::Int8, _) => Box::new(Fixed::<Int64Type>(array.as_primitive().clone())),
        (PgType::Float4, _) => Box::new(Fixed::<Float32Type>(array.as_primitive().clone())),
        (PgType::Float8, _) => Box::new(Fixed::<Float64Type>(array.as_primitive().clone())),
        (PgType::Numeric(_), DataType::Decimal128(_, s)) => Box::new(Numeric128 {
            array: array.as_primitive().clone(),
            scale: s,
        }),
        (PgType::Numeric(_), DataType::Decimal256(_, s)) => Box::new(Numeric256 {
            array: array.as_primitive().clone(),
            scale: s,
        }),
        (PgType::Text, DataType::Utf8) => Box::new(Text(at, array.as_string::<i32>().clone())),
        (PgType::Text, DataType::LargeUtf8) => Box::new(Text(at, array.as_string::<i64>().clone())),
        (PgType::Text, DataType::Utf8View) => Box::new(TextView(at, array.clone())),
        (PgType::Bytea, DataType::Binary) => Box::new(Bytes(array.as_binary::<i32>().clone())),
        (PgType::Bytea, DataType::LargeBinary) => Box::new(Bytes(array.as_binary::<i64>().clone())),
        (PgType::Bytea, DataType::BinaryView) => Box::new(BytesView(array.clone())),
        (PgType::Bytea, DataType::FixedSizeBinary(_)) => {
            Box::new(FixedBytes(array.as_fixed_size_binary().clone()))
        }
        (PgType::Date, DataType::Date32) => Box::new(Dates(at, array.as_primitive().clone())),
        (PgType::Time, DataType::Time32(unit) | DataType::Time64(unit)) => {
            Box::new(Micros::new(at, array, unit, Kind::Time))
        }
        (PgType::Timestamp | PgType::TimestampTz, DataType::Timestamp(unit, _)) => {
            Box::new(Micros::new(at, array, unit, Kind::Timestamp))
        }
        (PgType::Interval, DataType::Duration(unit)) => {
            Box::new(Micros::new(at, array, unit, Kind::Duration))
        }
        (PgType::Interval, DataType::Interval(_)) => Box::new(Intervals(at, array.clone())),
        (PgType::Jsonb, _) => Box::new(Json::new(at, array)?),
        (PgType::Array(element), DataType::List(_)) => {
            let list = array.as_list::<i32>();
            Box::new(List {
                at,
                list,
                values: encoder(at, element, list.values())?,
                oid: element.oid(),
            })
        }
        _ => return Err(unsupported(array)),
    })
}

struct Nulls;

impl Encode for Nulls {
    fn encode(&self, _: usize, out: &mut Vec<u8>) -> Result<()> {
        null(out);
        Ok(())
    }
}

struct Bools(BooleanArray);

impl Encode for Bools {
    fn encode(&self, row: usize, out: &mut Vec<u8>) -> Result<()> {
        if self.0.is_null(row) {
            null(out);
        } else {
            field(out, &[u8::from(self.0.value(row))]);
        }
        Ok(())
    }
}

/// Numbers PostgreSQL stores as the same big-endian bytes as Rust.
trait BigEndian: ArrowPrimitiveType {
    fn write(value: Self::Native, out: &mut Vec<u8>);
}

macro_rules! big_endian {
    ($($t:ty),*) => {$(
        impl BigEndian for $t {
            fn write(value: Self::Native, out: &mut Vec<u8>) {
                field(out, &value.to_be_bytes());
            }
        }
    )*};
}
big_endian!(Int16Type, Int32Type, Int64Type, Float32Type, Float64Type);

struct Fixed<T: ArrowPrimitiveType>(PrimitiveArray<T>);

impl<T: BigEndian> Encode for Fixed<T> {
    fn encode(&self, row: usize, out: &mut Vec<u8>) -> Result<()> {
        if self.0.is_null(row) {
            null(out);
        } else {
            T::write(self.0.value(row), out);
        }
        Ok(())
    }
}

struct Text<'a, O: OffsetSizeTrait>(At<'a>, GenericStringArray<O>);

fn text(at: &At<'_>, row: usize, value: &str, out: &mut Vec<u8>) -> Result<()> {
    if value.as_bytes().contains(&0) {
        return Err(at.error(
            row,
            "the text holds a NUL byte (\\0), which PostgreSQL's text cannot; \
             nothing was written (strip it, or load the column as binary)",
        ));
    }
    field(out, value.as_bytes());
    Ok(())
}

impl<O: OffsetSizeTrait> Encode for Text<'_, O> {
    fn encode(&self, row: usize, out: &mut Vec<u8>) -> Result<()> {
        if self.1.is_null(row) {
            null(out);
            Ok(())
        } else {
            text(&self.0, row, self.1.value(row), out)
        }
    }
}

struct TextView<'a>(At<'a>, ArrayRef);

impl Encode for TextView<'_> {
    fn encode(&self, row: usize, out: &mut Vec<u8>) -> Result<()> {
        let array = self.1.as_string_view();
        if array.is_null(row) {
            null(out);
            Ok(())
        } else {
            text(&self.0, row, array.value(row), out)
        }
    }
}

struct Bytes<O: OffsetSizeTrait>(GenericBinaryArray<O>);

impl<O: OffsetSizeTrait> Encode for Bytes<O> {
    fn encode(&self, row: usize, out: &mut Vec<u8>) -> Result<()> {
        if self.0.is_null(row) {
            null(out);
        } else {
            field(out, self.0.value(row));
        }
        Ok(())
    }
}

struct BytesView(ArrayRef);

impl Encode for BytesView {
    fn encode(&self, row: usize, out: &mut Vec<u8>) -> Result<()> {
        let array = self.0.as_binary_view();
        if array.is_null(row) {
            null(out);
        } else {
            field(out, array.value(row));
        }
        Ok(())
    }
}

struct FixedBytes(FixedSizeBinaryArray);

impl Encode for FixedBytes {
    fn encode(&self, row: usize, out: &mut Vec<u8>) -> Result<()> {
        if self.0.is_null(row) {
            null(out);
        } else {
            field(out, self.0.value(row));
        }
        Ok(())
    }
}

struct Dates<'a>(At<'a>, PrimitiveArray<Date32Type>);

impl Encode for Dates<'_> {
    fn encode(&self, row: usize, out: &mut Vec<u8>) -> Result<()> {
        if self.1.is_null(row) {
            null(out);
            return Ok(());
        }
        let days = i64::from(self.1.value(row)) - EPOCH_DAYS;
        if !(FIRST_DATE..END_DATE).contains(&days) {
            return Err(self.0.error(
                row,
                format!(
                    "the date {} days from 1970-01-01 is outside PostgreSQL's calendar \
                     (4714-11-24 BC to 5874897-12-31); nothing was written",
                    self.1.value(row)
                ),
            ));
        }
        field(out, &(days as i32).to_be_bytes());
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Time,
    Timestamp,
    Duration,
}

/// Times, timestamps and durations: microseconds, whatever the Arrow unit.
struct Micros<'a> {
    at: At<'a>,
    values: Vec<Option<i64>>,
    unit: TimeUnit,
    kind: Kind,
}

impl<'a> Micros<'a> {
    fn new(at: At<'a>, array: &ArrayRef, unit: TimeUnit, kind: Kind) -> Self {
        fn values<T: ArrowPrimitiveType>(array: &ArrayRef) -> Vec<Option<i64>>
        where
            T::Native: Into<i64>,
        {
            array
                .as_primitive::<T>()
                .iter()
                .map(|v| v.map(Into::into))
                .collect()
        }
        let values = match array.data_type() {
            DataType::Time32(TimeUnit::Second) => values::<Time32SecondType>(array),
            DataType::Time32(_) => values::<Time32MillisecondType>(array),
            DataType::Time64(TimeUnit::Microsecond) => values::<Time64MicrosecondType>(array),
            DataType::Time64(_) => values::<Time64NanosecondType>(array),
            DataType::Timestamp(TimeUnit::Second, _) => values::<TimestampSecondType>(array),
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                values::<TimestampMillisecondType>(array)
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                values::<TimestampMicrosecondType>(array)
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                values::<TimestampNanosecondType>(array)
            }
            DataType::Duration(TimeUnit::Second) => values::<DurationSecondType>(array),
            DataType::Duration(TimeUnit::Millisecond) => values::<DurationMillisecondType>(array),
            DataType::Duration(TimeUnit::Microsecond) => values::<DurationMicrosecondType>(array),
            _ => values::<DurationNanosecondType>(array),
        };
        Micros {
            at,
            values,
            unit,
            kind,
        }
    }
}

/// `value` in `unit` as microseconds, `None` when it overflows or has a
/// part finer than a microsecond.
fn to_micros(value: i64, unit: TimeUnit) -> Option<i64> {
    match unit {
        TimeUnit::Second => value.checked_mul(1_000_000),
        TimeUnit::Millisecond => value.checked_mul(1_000),
        TimeUnit::Microsecond => Some(value),
        TimeUnit::Nanosecond => (value % 1_000 == 0).then_some(value / 1_000),
    }
}

impl Encode for Micros<'_> {
    fn encode(&self, row: usize, out: &mut Vec<u8>) -> Result<()> {
        let Some(value) = self.values[row] else {
            null(out);
            return Ok(());
        };
        let what = match self.kind {
            Kind::Time => "time",
            Kind::Timestamp => "timestamp",
            Kind::Duration => "duration",
        };
        let micros = to_micros(value, self.unit).ok_or_else(|| {
            self.at.error(
                row,
                format!(
                    "the {what} {value} ({:?}) has a part finer than a microsecond or \
                     overflows, and PostgreSQL keeps microseconds; nothing was written \
                     (round the column to microseconds first)",
                    self.unit
                ),
            )
        })?;
        match self.kind {
            Kind::Time => {
                if !(0..=MICROS_PER_DAY).contains(&micros) {
                    return Err(self
                        .at
                        .error(row, format!("the time {value} is not within a day")));
                }
                field(out, &micros.to_be_bytes());
            }
            Kind::Timestamp => {
                let pg = micros
                    .checked_sub(EPOCH_MICROS)
                    .filter(|t| (FIRST_TIMESTAMP..END_TIMESTAMP).contains(t));
                let Some(pg) = pg else {
                    return Err(self.at.error(
                        row,
                        format!(
                            "the timestamp {value} ({:?} from 1970) is outside PostgreSQL's \
                             range (4714-11-24 BC to 294276-12-31); nothing was written",
                            self.unit
                        ),
                    ));
                };
                field(out, &pg.to_be_bytes());
            }
            Kind::Duration => interval(out, micros, 0, 0),
        }
        Ok(())
    }
}

fn interval(out: &mut Vec<u8>, micros: i64, days: i32, months: i32) {
    out.extend_from_slice(&16_i32.to_be_bytes());
    out.extend_from_slice(&micros.to_be_bytes());
    out.extend_from_slice(&days.to_be_bytes());
    out.extend_from_slice(&months.to_be_bytes());
}

struct Intervals<'a>(At<'a>, ArrayRef);

impl Encode for Intervals<'_> {
    fn encode(&self, row: usize, out: &mut Vec<u8>) -> Result<()> {
        if self.1.is_null(row) {
            null(out);
            return Ok(());
        }
        match self.1.data_type() {
            DataType::Interval(IntervalUnit::YearMonth) => {
                let months = self.1.as_primitive::<IntervalYearMonthType>().value(row);
                interval(out, 0, 0, months);
            }
            DataType::Interval(IntervalUnit::DayTime) => {
                let v = self.1.as_primitive::<IntervalDayTimeType>().value(row);
                interval(out, i64::from(v.milliseconds) * 1_000, v.days, 0);
            }
            _ => {
                let v = self.1.as_primitive::<IntervalMonthDayNanoType>().value(row);
                let micros = to_micros(v.nanoseconds, TimeUnit::Nanosecond).ok_or_else(|| {
                    self.0.error(
                        row,
                        format!(
                            "the interval's {} ns have a part finer than a microsecond, \
                             and PostgreSQL keeps microseconds; nothing was written",
                            v.nanoseconds
                        ),
                    )
                })?;
                interval(out, micros, v.days, v.months);
            }
        }
        Ok(())
    }
}

/// Decimals as `numeric`: base-10000 digits, most significant first, with
/// the weight of the first and the scale.
struct Numeric128 {
    array: Decimal128Array,
    scale: i8,
}

impl Encode for Numeric128 {
    fn encode(&self, row: usize, out: &mut Vec<u8>) -> Result<()> {
        if self.array.is_null(row) {
            null(out);
            return Ok(());
        }
        let value = self.array.value(row);
        numeric(
            out,
            value < 0,
            value.unsigned_abs(),
            self.scale.max(0) as u32,
        );
        Ok(())
    }
}

/// Writes the numeric `magnitude × 10^-scale` (negative when `negative`).
fn numeric(out: &mut Vec<u8>, negative: bool, magnitude: u128, scale: u32) {
    let pow = |n: u32| 10_u128.pow(n);
    // The integer part's groups, least significant first.
    let mut groups: Vec<i16> = Vec::new();
    let (mut int, frac) = if scale > 38 {
        (0, magnitude)
    } else {
        (magnitude / pow(scale), magnitude % pow(scale))
    };
    while int > 0 {
        groups.push((int % 10_000) as i16);
        int /= 10_000;
    }
    groups.reverse();
    let weight = groups.len() as i16 - 1;
    // The fraction's groups, most significant first: digit k covers the
    // fraction's digits 4k+1 ..= 4k+4.
    let frac_groups = scale.div_ceil(4);
    for k in 0..frac_groups {
        let below = scale.saturating_sub(4 * (k + 1));
        let group = if below > 0 {
            (frac / pow(below.min(38))) % 10_000
        } else {
            (frac % pow(scale - 4 * k)) * pow(4 * (k + 1) - scale)
        };
        groups.push(group as i16);
    }
    write_numeric(out, negative, groups, weight, scale as u16);
}

/// Writes a numeric of base-10000 `groups` (the first of weight `weight`)
/// and display scale `scale`: leading zero groups go (each lowering the
/// weight), then trailing ones; zero has no groups and no sign.
fn write_numeric(out: &mut Vec<u8>, negative: bool, mut groups: Vec<i16>, weight: i16, scale: u16) {
    let leading = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..leading);
    let mut weight = weight - leading as i16;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    out.extend_from_slice(&((8 + 2 * groups.len()) as i32).to_be_bytes());
    out.extend_from_slice(&(groups.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    let sign: u16 = if negative && !groups.is_empty() {
        0x4000
    } else {
        0
    };
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&scale.to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
}

/// 256-bit decimals (up to 76 digits): through their digits, which do not
/// fit a `u128`.
struct Numeric256 {
    array: Decimal256Array,
    scale: i8,
}

impl Encode for Numeric256 {
    fn encode(&self, row: usize, out: &mut Vec<u8>) -> Result<()> {
        if self.array.is_null(row) {
            null(out);
            return Ok(());
        }
        let value = self.array.value(row);
        let text = value.to_string();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, text.as_str()),
        };
        numeric_digits(out, negative, digits.as_bytes(), self.scale.max(0) as usize);
        Ok(())
    }
}

/// Writes the numeric whose decimal `digits` (ASCII) carry `scale` of them
/// after the point.
fn numeric_digits(out: &mut Vec<u8>, negative: bool, digits: &[u8], scale: usize) {
    let padded_int = digits.len().saturating_sub(scale);
    let int_digits = &digits[..padded_int];
    let mut frac: Vec<u8> = std::iter::repeat_n(b'0', scale.saturating_sub(digits.len()))
        .chain(digits[padded_int..].iter().copied())
        .collect();
    frac.resize(scale.div_ceil(4) * 4, b'0');
    let lead = (4 - int_digits.len() % 4) % 4;
    let int: Vec<u8> = std::iter::repeat_n(b'0', lead)
        .chain(int_digits.iter().copied())
        .collect();
    let group = |chunk: &[u8]| {
        chunk
            .iter()
            .fold(0_i16, |n, d| n * 10 + i16::from(d - b'0'))
    };
    let mut groups: Vec<i16> = int.chunks(4).map(group).collect();
    let weight = groups.len() as i16 - 1;
    groups.extend(frac.chunks(4).map(group));
    write_numeric(out, negative, groups, weight, scale as u16);
}

/// Nested values as `jsonb`: version 1, then the value as arrow's JSON,
/// encoded for the whole column at once.
struct Json<'a> {
    at: At<'a>,
    array: &'a ArrayRef,
    json: Vec<u8>,
    /// Where row `i`'s JSON starts in `json`; one more for the end.
    offsets: Vec<usize>,
}

impl<'a> Json<'a> {
    fn new(at: At<'a>, array: &'a ArrayRef) -> Result<Self> {
        let field = std::sync::Arc::new(etl_core::arrow::datatypes::Field::new(
            at.column,
            array.data_type().clone(),
            true,
        ));
        let options = EncoderOptions::default().with_explicit_nulls(true);
        let mut encoder = make_encoder(&field, array.as_ref(), &options).map_err(|e| {
            Error::arrow(
                format!(
                    "table {:?}, column {:?}: encoding {} as JSON",
                    at.table,
                    at.column,
                    array.data_type()
                ),
                e,
            )
        })?;
        let mut json = Vec::new();
        let mut offsets = Vec::with_capacity(array.len() + 1);
        for row in 0..array.len() {
            offsets.push(json.len());
            if array.is_valid(row) {
                encoder.encode(row, &mut json);
            }
        }
        offsets.push(json.len());
        Ok(Json {
            at,
            array,
            json,
            offsets,
        })
    }
}

impl Encode for Json<'_> {
    fn encode(&self, row: usize, out: &mut Vec<u8>) -> Result<()> {
        if self.array.is_null(row) {
            null(out);
            return Ok(());
        }
        let value = &self.json[self.offsets[row]..self.offsets[row + 1]];
        if value.windows(6).any(|w| w == b"\\u0000") {
            return Err(self.at.error(
                row,
                "the value holds a NUL character (\\u0000), which PostgreSQL's jsonb \
                 cannot; nothing was written",
            ));
        }
        let start = start_field(out);
        out.push(1);
        out.extend_from_slice(value);
        end_field(&self.at, row, out, start)
    }
}

/// Lists as one-dimensional arrays: dimensions, then each element as a field.
struct List<'a> {
    at: At<'a>,
    list: &'a ListArray,
    values: Box<dyn Encode + 'a>,
    oid: u32,
}

impl Encode for List<'_> {
    fn encode(&self, row: usize, out: &mut Vec<u8>) -> Result<()> {
        if self.list.is_null(row) {
            null(out);
            return Ok(());
        }
        let offsets = self.list.value_offsets();
        let (from, to) = (offsets[row] as usize, offsets[row + 1] as usize);
        let start = start_field(out);
        let has_nulls = self.list.values().logical_null_count() > 0;
        out.extend_from_slice(&i32::from(from != to).to_be_bytes());
        out.extend_from_slice(&i32::from(has_nulls).to_be_bytes());
        out.extend_from_slice(&self.oid.to_be_bytes());
        if from != to {
            out.extend_from_slice(&((to - from) as i32).to_be_bytes());
            out.extend_from_slice(&1_i32.to_be_bytes());
            for i in from..to {
                self.values.encode(i, out)?;
            }
        }
        end_field(&self.at, row, out, start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A numeric's fields: (ndigits, weight, sign, dscale, digits).
    type Fields = (i16, i16, u16, u16, Vec<i16>);

    fn fields(bytes: &[u8]) -> Fields {
        let word = |i: usize| [bytes[4 + 2 * i], bytes[5 + 2 * i]];
        let n = i16::from_be_bytes(word(0));
        (
            n,
            i16::from_be_bytes(word(1)),
            u16::from_be_bytes(word(2)),
            u16::from_be_bytes(word(3)),
            (0..n as usize)
                .map(|i| i16::from_be_bytes(word(4 + i)))
                .collect(),
        )
    }

    #[test]
    fn numerics_are_base_10000_digits_around_the_point() {
        let cases: &[(i128, u32, Fields)] = &[
            (0, 2, (0, 0, 0, 2, vec![])),
            (12345, 2, (2, 0, 0, 2, vec![123, 4500])),
            (-1, 10, (1, -3, 0x4000, 10, vec![100])),
            (123_456_789, 0, (3, 2, 0, 0, vec![1, 2345, 6789])),
            (10_000, 0, (1, 1, 0, 0, vec![1])),
            (5, 1, (1, -1, 0, 1, vec![5000])),
        ];
        for (value, scale, want) in cases {
            let mut a = Vec::new();
            numeric(&mut a, *value < 0, value.unsigned_abs(), *scale);
            assert_eq!(&fields(&a), want, "{value} scale {scale}");
            let mut b = Vec::new();
            let text = value.unsigned_abs().to_string();
            numeric_digits(&mut b, *value < 0, text.as_bytes(), *scale as usize);
            assert_eq!(a, b, "{value} scale {scale}: both encoders agree");
        }
        // 38 digits, 10 after the point.
        let v = 12_345_678_901_234_567_890_123_456_789_i128;
        let mut a = Vec::new();
        numeric(&mut a, false, v as u128, 10);
        let mut b = Vec::new();
        numeric_digits(&mut b, false, v.to_string().as_bytes(), 10);
        assert_eq!(a, b);
    }

    #[test]
    fn nanoseconds_are_refused_not_truncated() {
        assert_eq!(to_micros(1_000, TimeUnit::Nanosecond), Some(1));
        assert_eq!(to_micros(1_001, TimeUnit::Nanosecond), None);
        assert_eq!(to_micros(i64::MAX, TimeUnit::Second), None);
    }
}
