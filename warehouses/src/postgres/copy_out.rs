//! PostgreSQL's binary `COPY … TO STDOUT` into Arrow builders: each column
//! decodes its own type's bytes straight into a builder, and a batch is cut
//! every [`BATCH_ROWS`] rows or [`BATCH_BYTES`] bytes, so memory stays bounded
//! whatever the table's size. Columns without a binary decoder here are
//! selected as their text (see [`PgType::reads_binary`]).

use std::sync::Arc;

use etl_core::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, IntervalMonthDayNanoBuilder,
    ListArray, RecordBatch, StringBuilder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use etl_core::arrow::buffer::{NullBuffer, OffsetBuffer};
use etl_core::arrow::datatypes::{Field, IntervalMonthDayNano, SchemaRef};
use etl_core::{Error, Result};

use super::copy_in::{EPOCH_DAYS, EPOCH_MICROS};
use super::types::PgType;

/// Rows per batch at most.
pub(crate) const BATCH_ROWS: usize = 65_536;
/// Bytes of row data per batch at most (a batch of wide rows is cut sooner).
pub(crate) const BATCH_BYTES: usize = 32 << 20;

/// Where a value comes from, for errors.
struct At<'a> {
    table: &'a str,
    column: &'a str,
    row: u64,
}

impl At<'_> {
    fn error(&self, message: impl Into<String>) -> Error {
        Error::Value {
            table: self.table.to_owned(),
            column: self.column.to_owned(),
            row: self.row,
            message: message.into(),
        }
    }
}

/// One column being decoded.
enum Column {
    Bool(BooleanBuilder),
    Int2(Int16Builder),
    Int4(Int32Builder),
    Int8(Int64Builder),
    Float4(Float32Builder),
    Float8(Float64Builder),
    Numeric(Decimal128Builder, i8),
    Text(StringBuilder),
    Bytea(BinaryBuilder),
    Date(Date32Builder),
    Time(Time64MicrosecondBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Interval(IntervalMonthDayNanoBuilder),
    List(Box<ListColumn>),
}

struct ListColumn {
    field: Arc<Field>,
    offsets: Vec<i32>,
    valid: Vec<bool>,
    values: Column,
}

impl Column {
    fn new(pg: &PgType) -> Column {
        match pg {
            PgType::Bool => Column::Bool(BooleanBuilder::new()),
            PgType::Int2 => Column::Int2(Int16Builder::new()),
            PgType::Int4 => Column::Int4(Int32Builder::new()),
            PgType::Int8 => Column::Int8(Int64Builder::new()),
            PgType::Float4 => Column::Float4(Float32Builder::new()),
            PgType::Float8 => Column::Float8(Float64Builder::new()),
            PgType::Numeric(Some((_, scale))) if pg.reads_binary() => {
                Column::Numeric(Decimal128Builder::new().with_data_type(pg.arrow()), *scale)
            }
            PgType::Bytea => Column::Bytea(BinaryBuilder::new()),
            PgType::Date => Column::Date(Date32Builder::new()),
            PgType::Time => Column::Time(Time64MicrosecondBuilder::new()),
            PgType::Timestamp => Column::Timestamp(TimestampMicrosecondBuilder::new()),
            PgType::TimestampTz => {
                Column::Timestamp(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
            }
            PgType::Interval => Column::Interval(IntervalMonthDayNanoBuilder::new()),
            PgType::Array(element) if pg.reads_binary() => Column::List(Box::new(ListColumn {
                field: Arc::new(Field::new("item", element.arrow(), true)),
                offsets: vec![0],
                valid: Vec::new(),
                values: Column::new(element),
            })),
            _ => Column::Text(StringBuilder::new()),
        }
    }

    fn append(&mut self, at: &At<'_>, value: Option<&[u8]>) -> Result<()> {
        let Some(bytes) = value else {
            self.append_null();
            return Ok(());
        };
        let short = || at.error(format!("a value of {} bytes is malformed", bytes.len()));
        macro_rules! be {
            ($t:ty) => {
                <$t>::from_be_bytes(bytes.try_into().map_err(|_| short())?)
            };
        }
        match self {
            Column::Bool(b) => b.append_value(bytes.first().copied().ok_or_else(short)? != 0),
            Column::Int2(b) => b.append_value(be!(i16)),
            Column::Int4(b) => b.append_value(be!(i32)),
            Column::Int8(b) => b.append_value(be!(i64)),
            Column::Float4(b) => b.append_value(be!(f32)),
            Column::Float8(b) => b.append_value(be!(f64)),
            Column::Numeric(b, scale) => b.append_value(numeric(at, bytes, *scale)?),
            Column::Text(b) => b.append_value(
                std::str::from_utf8(bytes).map_err(|e| at.error(format!("not UTF-8: {e}")))?,
            ),
            Column::Bytea(b) => b.append_value(bytes),
            Column::Date(b) => {
                let days = i64::from(be!(i32)) + EPOCH_DAYS;
                // infinity and -infinity: no Arrow date holds them.
                let days = i32::try_from(days).map_err(|_| {
                    at.error("the date is infinity, or past what Arrow's Date32 holds")
                })?;
                b.append_value(days)
            }
            Column::Time(b) => b.append_value(be!(i64)),
            Column::Timestamp(b) => {
                let micros = be!(i64);
                if micros == i64::MAX || micros == i64::MIN {
                    return Err(at.error("the timestamp is infinity, which Arrow cannot hold"));
                }
                let since_1970 = micros.checked_add(EPOCH_MICROS).ok_or_else(|| {
                    at.error("the timestamp is past what Arrow's microsecond timestamp holds")
                })?;
                b.append_value(since_1970)
            }
            Column::Interval(b) => {
                if bytes.len() != 16 {
                    return Err(short());
                }
                let micros = i64::from_be_bytes(bytes[0..8].try_into().map_err(|_| short())?);
                let days = i32::from_be_bytes(bytes[8..12].try_into().map_err(|_| short())?);
                let months = i32::from_be_bytes(bytes[12..16].try_into().map_err(|_| short())?);
                let nanos = micros
                    .checked_mul(1_000)
                    .ok_or_else(|| at.error("the interval overflows Arrow's nanoseconds"))?;
                b.append_value(IntervalMonthDayNano::new(months, days, nanos))
            }
            Column::List(list) => list.append(at, bytes)?,
        }
        Ok(())
    }

    fn append_null(&mut self) {
        match self {
            Column::Bool(b) => b.append_null(),
            Column::Int2(b) => b.append_null(),
            Column::Int4(b) => b.append_null(),
            Column::Int8(b) => b.append_null(),
            Column::Float4(b) => b.append_null(),
            Column::Float8(b) => b.append_null(),
            Column::Numeric(b, _) => b.append_null(),
            Column::Text(b) => b.append_null(),
            Column::Bytea(b) => b.append_null(),
            Column::Date(b) => b.append_null(),
            Column::Time(b) => b.append_null(),
            Column::Timestamp(b) => b.append_null(),
            Column::Interval(b) => b.append_null(),
            Column::List(list) => {
                let last = *list.offsets.last().unwrap_or(&0);
                list.offsets.push(last);
                list.valid.push(false);
            }
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Bool(b) => Arc::new(b.finish()),
            Column::Int2(b) => Arc::new(b.finish()),
            Column::Int4(b) => Arc::new(b.finish()),
            Column::Int8(b) => Arc::new(b.finish()),
            Column::Float4(b) => Arc::new(b.finish()),
            Column::Float8(b) => Arc::new(b.finish()),
            Column::Numeric(b, _) => Arc::new(b.finish()),
            Column::Text(b) => Arc::new(b.finish()),
            Column::Bytea(b) => Arc::new(b.finish()),
            Column::Date(b) => Arc::new(b.finish()),
            Column::Time(b) => Arc::new(b.finish()),
            Column::Timestamp(b) => Arc::new(b.finish()),
            Column::Interval(b) => Arc::new(b.finish()),
            Column::List(list) => {
                let offsets = std::mem::replace(&mut list.offsets, vec![0]);
                let valid = std::mem::take(&mut list.valid);
                let values = list.values.finish();
                let nulls = valid.iter().any(|v| !v).then(|| NullBuffer::from(valid));
                Arc::new(ListArray::new(
                    list.field.clone(),
                    OffsetBuffer::new(offsets.into()),
                    values,
                    nulls,
                ))
            }
        }
    }
}

impl ListColumn {
    /// A one-dimensional array: ndim, has-nulls, element OID, then (length,
    /// lower bound) and the elements. An empty array has no dimension.
    fn append(&mut self, at: &At<'_>, bytes: &[u8]) -> Result<()> {
        let malformed = || at.error("a malformed array");
        let word = |i: usize| -> Result<i32> {
            bytes
                .get(4 * i..4 * i + 4)
                .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(malformed)
        };
        let dims = word(0)?;
        let mut count = 0;
        if dims > 1 {
            return Err(at.error(format!(
                "a {dims}-dimensional array; etl reads one-dimensional arrays as lists"
            )));
        }
        if dims == 1 {
            let len = word(3)?;
            let mut pos = 20;
            for _ in 0..len {
                let size = bytes
                    .get(pos..pos + 4)
                    .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    .ok_or_else(malformed)?;
                pos += 4;
                if size < 0 {
                    self.values.append(at, None)?;
                } else {
                    let end = pos + size as usize;
                    self.values
                        .append(at, Some(bytes.get(pos..end).ok_or_else(malformed)?))?;
                    pos = end;
                }
                count += 1;
            }
        }
        let last = *self.offsets.last().unwrap_or(&0);
        self.offsets.push(last + count);
        self.valid.push(true);
        Ok(())
    }
}

/// A binary `numeric` as a decimal of `scale`: NaN and infinities have no
/// Arrow decimal, and are an error naming the row.
fn numeric(at: &At<'_>, bytes: &[u8], scale: i8) -> Result<i128> {
    let malformed = || at.error("a malformed numeric");
    let word = |i: usize| -> Result<u16> {
        bytes
            .get(2 * i..2 * i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(malformed)
    };
    let ndigits = word(0)? as usize;
    let weight = word(1)? as i16 as i32;
    let sign = word(2)?;
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Err(at.error("NaN, which an Arrow decimal cannot hold")),
        _ => return Err(at.error("an infinite numeric, which an Arrow decimal cannot hold")),
    }
    let overflow = || {
        at.error(format!(
            "the numeric does not fit a decimal of scale {scale}"
        ))
    };
    let mut value: i128 = 0;
    for i in 0..ndigits {
        let digit = i128::from(word(4 + i)?);
        value = value
            .checked_mul(10_000)
            .and_then(|v| v.checked_add(digit))
            .ok_or_else(overflow)?;
    }
    // value × 10000^(weight - ndigits + 1), at scale `scale`.
    let exponent = 4 * (weight - ndigits as i32 + 1) + i32::from(scale);
    if exponent >= 0 {
        value = 10_i128
            .checked_pow(exponent as u32)
            .and_then(|p| value.checked_mul(p))
            .ok_or_else(overflow)?;
    } else {
        let divisor = 10_i128.checked_pow((-exponent) as u32);
        value = match divisor {
            Some(d) if value % d == 0 => value / d,
            None if value == 0 => 0,
            _ => return Err(overflow()),
        };
    }
    Ok(if sign == 0x4000 { -value } else { value })
}

/// Decodes a binary COPY stream into batches of `schema`, whose columns
/// have the PostgreSQL types `types`.
pub(crate) struct Decoder {
    table: String,
    schema: SchemaRef,
    columns: Vec<Column>,
    buffer: Vec<u8>,
    /// Where the next tuple starts in `buffer`.
    pos: usize,
    header: bool,
    done: bool,
    rows: usize,
    bytes: usize,
    /// Rows per batch at most.
    batch_rows: usize,
    /// Each field's place in the tuple being decoded (kept between tuples).
    spans: Vec<Option<(usize, usize)>>,
    /// Rows decoded in earlier batches.
    rows_before: u64,
}

impl Decoder {
    pub(crate) fn new(table: &str, schema: SchemaRef, types: &[PgType]) -> Decoder {
        let columns = types.iter().map(Column::new).collect();
        Decoder {
            table: table.to_owned(),
            schema,
            columns,
            buffer: Vec::new(),
            pos: 0,
            header: false,
            done: false,
            rows: 0,
            bytes: 0,
            batch_rows: BATCH_ROWS,
            spans: Vec::new(),
            rows_before: 0,
        }
    }

    /// Cuts batches of `rows` rows at most.
    pub(crate) fn batch_rows(mut self, rows: usize) -> Decoder {
        self.batch_rows = rows.max(1);
        self
    }

    /// Decodes what `chunk` completes; returns a batch when one is full.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        if self.pos == self.buffer.len() {
            // Nothing pending (the server sends a row a message): decode
            // straight from the chunk, keeping only what it leaves unfinished.
            self.buffer.clear();
            self.pos = 0;
            let mut at = 0;
            while let Some(used) = self.tuple_in(&chunk[at..])? {
                at += used;
                self.cut(&mut batches)?;
            }
            self.buffer.extend_from_slice(&chunk[at..]);
            return Ok(batches);
        }
        self.buffer.extend_from_slice(chunk);
        let buffer = std::mem::take(&mut self.buffer);
        let mut decoded = Ok(());
        loop {
            match self.tuple_in(&buffer[self.pos..]) {
                Ok(Some(used)) => {
                    self.pos += used;
                    if let Err(e) = self.cut(&mut batches) {
                        decoded = Err(e);
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    decoded = Err(e);
                    break;
                }
            }
        }
        self.buffer = buffer;
        decoded?;
        if self.pos > 0 && self.pos >= self.buffer.len() / 2 {
            self.buffer.drain(..self.pos);
            self.pos = 0;
        }
        Ok(batches)
    }

    /// A batch into `batches` when the one being built is full.
    fn cut(&mut self, batches: &mut Vec<RecordBatch>) -> Result<()> {
        if self.rows >= self.batch_rows || self.bytes >= BATCH_BYTES {
            batches.push(self.flush()?);
        }
        Ok(())
    }

    /// The last rows, once the stream has ended.
    pub(crate) fn finish(mut self) -> Result<Option<RecordBatch>> {
        if self.pos < self.buffer.len() && !self.done {
            return Err(Error::Internal(format!(
                "table {:?}: the COPY stream ended inside a row",
                self.table
            )));
        }
        if self.rows == 0 {
            return Ok(None);
        }
        self.flush().map(Some)
    }

    fn flush(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = self.columns.iter_mut().map(Column::finish).collect();
        self.rows_before += self.rows as u64;
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| Error::arrow(format!("table {:?}: a batch read", self.table), e))
    }

    /// Decodes the tuple (or the header) that `buf` starts with, if it
    /// holds all of it; returns how many bytes it took.
    fn tuple_in(&mut self, buf: &[u8]) -> Result<Option<usize>> {
        let mut at = 0;
        if !self.header {
            if buf.len() < 19 {
                return Ok(None);
            }
            if &buf[..11] != b"PGCOPY\n\xff\r\n\0" {
                return Err(Error::Internal(format!(
                    "table {:?}: not a binary COPY stream",
                    self.table
                )));
            }
            let extension = u32::from_be_bytes([buf[15], buf[16], buf[17], buf[18]]) as usize;
            if buf.len() < 19 + extension {
                return Ok(None);
            }
            self.header = true;
            return Ok(Some(19 + extension));
        }
        if self.done || buf.len() < 2 {
            return Ok(None);
        }
        let fields = i16::from_be_bytes([buf[0], buf[1]]);
        if fields == -1 {
            self.done = true;
            return Ok(Some(2));
        }
        if fields as usize != self.columns.len() {
            return Err(Error::Internal(format!(
                "table {:?}: a row of {fields} fields, {} expected",
                self.table,
                self.columns.len()
            )));
        }
        at += 2;
        // The whole tuple must be here before any column takes a value.
        let mut spans = std::mem::take(&mut self.spans);
        spans.clear();
        for _ in 0..self.columns.len() {
            let Some(len) = buf.get(at..at + 4) else {
                self.spans = spans;
                return Ok(None);
            };
            let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
            at += 4;
            if len < 0 {
                spans.push(None);
            } else {
                let end = at + len as usize;
                if buf.len() < end {
                    self.spans = spans;
                    return Ok(None);
                }
                spans.push(Some((at, end)));
                at = end;
            }
        }
        let row = self.rows_before + self.rows as u64;
        let fields = self.schema.fields();
        for ((column, span), field) in self.columns.iter_mut().zip(&spans).zip(fields) {
            let place = At {
                table: &self.table,
                column: field.name(),
                row,
            };
            let value = span.map(|(from, to)| &buf[from..to]);
            if let Err(e) = column.append(&place, value) {
                self.spans = spans;
                return Err(e);
            }
        }
        self.spans = spans;
        self.rows += 1;
        self.bytes += at;
        Ok(Some(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etl_core::arrow::array::{
        Array, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array, StringArray,
        TimestampMicrosecondArray,
    };
    use etl_core::arrow::datatypes::{DataType, Int32Type, Schema};

    /// A batch of every type the decoder reads in binary, through the
    /// encoder, then decoded from chunks cut anywhere: the same values.
    #[test]
    fn what_the_encoder_writes_decodes_whole_from_chunks_of_any_size() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), None]),
            Some(vec![]),
            None,
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![Some(1), None, Some(-3)])),
            Arc::new(StringArray::from(vec![Some("héllo"), Some(""), None])),
            Arc::new(Float64Array::from(vec![Some(0.5), Some(f64::NAN), None])),
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
            Arc::new(Date32Array::from(vec![Some(0), Some(-10_957), None])),
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(1),
                None,
                Some(-1),
            ])),
            Arc::new(
                Decimal128Array::from(vec![Some(12_345), Some(-1), None])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
            Arc::new(list),
        ];
        let types = [
            PgType::Int8,
            PgType::Text,
            PgType::Float8,
            PgType::Bool,
            PgType::Date,
            PgType::Timestamp,
            PgType::Numeric(Some((10, 2))),
            PgType::Array(Box::new(PgType::Int4)),
        ];
        let schema = Arc::new(Schema::new(
            types
                .iter()
                .enumerate()
                .map(|(i, t)| Field::new(format!("c{i}"), t.arrow(), true))
                .collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(
                columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
                    .collect::<Vec<_>>(),
            )),
            columns,
        )
        .unwrap();
        let mut stream = super::super::copy_in::HEADER.to_vec();
        super::super::copy_in::encode_batch("t", &batch, &types, 0, &mut stream).unwrap();
        stream.extend_from_slice(super::super::copy_in::TRAILER);
        for size in [1, 2, 3, 7, 64, stream.len()] {
            let mut decoder = Decoder::new("t", schema.clone(), &types);
            let mut batches = Vec::new();
            for chunk in stream.chunks(size) {
                batches.extend(decoder.push(chunk).unwrap());
            }
            batches.extend(decoder.finish().unwrap());
            assert_eq!(batches.len(), 1, "chunks of {size}");
            let got = &batches[0];
            assert_eq!(got.num_rows(), 3);
            let ints = got.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            assert_eq!(ints.iter().collect::<Vec<_>>(), [Some(1), None, Some(-3)]);
            let text = got
                .column(1)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            assert_eq!(
                text.iter().collect::<Vec<_>>(),
                [Some("héllo"), Some(""), None]
            );
            let floats = got
                .column(2)
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap();
            assert!(floats.value(1).is_nan() && floats.is_null(2));
            assert_eq!(got.column(3).null_count(), 1);
            let days = got
                .column(4)
                .as_any()
                .downcast_ref::<Date32Array>()
                .unwrap();
            assert_eq!(
                days.iter().collect::<Vec<_>>(),
                [Some(0), Some(-10_957), None]
            );
            let ts = got
                .column(5)
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .unwrap();
            assert_eq!(ts.iter().collect::<Vec<_>>(), [Some(1), None, Some(-1)]);
            let dec = got
                .column(6)
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .unwrap();
            assert_eq!(
                dec.iter().collect::<Vec<_>>(),
                [Some(12_345), Some(-1), None]
            );
            let lists = got.column(7).as_any().downcast_ref::<ListArray>().unwrap();
            assert_eq!(lists.value(0).len(), 2);
            assert_eq!(lists.value(1).len(), 0);
            assert!(lists.is_null(2));
            assert_eq!(
                got.column(7).data_type(),
                &DataType::List(Arc::new(Field::new("item", DataType::Int32, true)))
            );
        }
        // Cut inside a row, the stream's end is an error, not a short table.
        let mut decoder = Decoder::new("t", schema, &types);
        decoder.push(&stream[..stream.len() - 5]).unwrap();
        assert!(decoder.finish().is_err());
    }

    fn numeric_bytes(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut out = Vec::new();
        for w in [ndigits as u16, weight as u16, sign, dscale] {
            out.extend_from_slice(&w.to_be_bytes());
        }
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    #[test]
    fn numerics_decode_at_the_column_scale() {
        let at = At {
            table: "t",
            column: "c",
            row: 0,
        };
        assert_eq!(
            numeric(&at, &numeric_bytes(2, 0, 0, 2, &[123, 4500]), 2).unwrap(),
            12_345
        );
        assert_eq!(
            numeric(&at, &numeric_bytes(1, -3, 0x4000, 10, &[100]), 10).unwrap(),
            -1
        );
        assert_eq!(
            numeric(&at, &numeric_bytes(1, 1, 0, 0, &[1]), 0).unwrap(),
            10_000
        );
        assert_eq!(numeric(&at, &numeric_bytes(0, 0, 0, 2, &[]), 2).unwrap(), 0);
        let nan = numeric(&at, &numeric_bytes(0, 0, 0xC000, 0, &[]), 2).unwrap_err();
        assert!(nan.to_string().contains("NaN"), "{nan}");
        // 0.5 at scale 0 does not fit.
        assert!(numeric(&at, &numeric_bytes(1, -1, 0, 1, &[5000]), 0).is_err());
    }
}
