//! Schema inference and batch reading for each file format, with errors that
//! name the file, line and column.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use etl_core::arrow::array::RecordBatch;
use etl_core::arrow::csv;
use etl_core::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use etl_core::arrow::error::ArrowError;
use etl_core::arrow::json;
use etl_core::{Error, Result};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{quoting, texts};

/// The formats [`super::FilesExtractor`] reads, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileFormat {
    /// Comma-separated values with a header row (`.csv`).
    Csv,
    /// Tab-separated values with a header row (`.tsv`).
    Tsv,
    /// Apache Parquet (`.parquet`, `.pq`).
    Parquet,
    /// One JSON object per line (`.jsonl`, `.ndjson`).
    JsonLines,
}

impl FileFormat {
    /// The format of a file, by its extension. CSV, TSV and JSON Lines may
    /// be gzipped (`orders.csv.gz`); Parquet compresses inside the file.
    pub fn from_path(path: &Path) -> Option<Self> {
        let (stem, gzip) = without_gz(path);
        let ext = Path::new(&*stem)
            .extension()?
            .to_str()?
            .to_ascii_lowercase();
        Some(match ext.as_str() {
            "csv" => FileFormat::Csv,
            "tsv" => FileFormat::Tsv,
            "parquet" | "pq" if !gzip => FileFormat::Parquet,
            "jsonl" | "ndjson" => FileFormat::JsonLines,
            _ => return None,
        })
    }

    fn delimiter(self) -> u8 {
        if self == FileFormat::Tsv { b'\t' } else { b',' }
    }

    /// The quote byte Arrow's parser gets: `"` for CSV; for TSV, which has
    /// no quoting, one that cannot reach it ([`quoting::TSV_QUOTE`]).
    fn quote(self) -> u8 {
        if self == FileFormat::Tsv {
            quoting::TSV_QUOTE
        } else {
            b'"'
        }
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileFormat::Csv => "CSV",
            FileFormat::Tsv => "TSV",
            FileFormat::Parquet => "Parquet",
            FileFormat::JsonLines => "JSON Lines",
        })
    }
}

/// The file's name without a final `.gz`, and whether it had one; a name
/// that is not UTF-8 is read lossily (its extension is ASCII either way).
pub(crate) fn without_gz(path: &Path) -> (std::borrow::Cow<'_, str>, bool) {
    let mut name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    match name.len().checked_sub(3) {
        Some(at) if name.is_char_boundary(at) && name[at..].eq_ignore_ascii_case(".gz") => {
            name.to_mut().truncate(at);
            (name, true)
        }
        _ => (name, false),
    }
}

/// A gzip stream whose errors say they come from decompressing
/// ("incomplete deflate stream" alone does not say the file is cut short).
struct Gunzip<R>(flate2::read::MultiGzDecoder<R>);

impl<R: BufRead> std::io::Read for Gunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("reading it as gzip: {e} (is it cut short, or not gzip?)"),
            )
        })
    }
}

fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| Error::io(path, e))
}

/// A text file's bytes from the start, decompressed as they are read when
/// gzipped. A corrupt gzip stream is an I/O error there.
fn open_raw(path: &Path) -> Result<Box<dyn Read + Send>> {
    let file = open(path)?;
    Ok(if without_gz(path).1 {
        Box::new(Gunzip(flate2::read::MultiGzDecoder::new(BufReader::new(
            file,
        ))))
    } else {
        Box::new(file)
    })
}

/// A text file (JSON Lines), buffered.
fn open_text(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    Ok(Box::new(BufReader::with_capacity(1 << 16, open_raw(path)?)))
}

/// A CSV or TSV file, buffered, its quoting checked on the way (see
/// [`quoting`]); a broken quote stops the stream and is told by the cell,
/// and the quoted empty fields are listed as they pass.
fn open_delimited(
    path: &Path,
    format: FileFormat,
) -> Result<(
    Box<dyn BufRead + Send>,
    quoting::Problem,
    quoting::QuotedEmpties,
)> {
    let (guard, problem, empties) = quoting::QuoteGuard::new(
        open_raw(path)?,
        format.delimiter(),
        format == FileFormat::Tsv,
    );
    Ok((
        Box::new(BufReader::with_capacity(1 << 16, guard)),
        problem,
        empties,
    ))
}

/// A batch whose text columns hold the empty string where the file had a
/// quoted empty field (`""`); Arrow's parser read those as null. Other
/// types have no empty value: there `""` stays null.
fn with_quoted_empties(
    batch: RecordBatch,
    first_row: u64,
    empties: &[(u64, usize)],
) -> Result<RecordBatch, ArrowError> {
    use etl_core::arrow::array::{Array, StringArray};
    if empties.is_empty() {
        return Ok(batch);
    }
    let mut columns = batch.columns().to_vec();
    for (field, column) in columns.iter_mut().enumerate() {
        let Some(text) = column.as_any().downcast_ref::<StringArray>() else {
            continue;
        };
        let rows: std::collections::HashSet<usize> = empties
            .iter()
            .filter(|(_, f)| *f == field)
            .map(|(row, _)| (row - first_row) as usize)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let filled: StringArray = (0..text.len())
            .map(|i| match text.is_null(i) && rows.contains(&i) {
                true => Some(""),
                false => text.is_valid(i).then(|| text.value(i)),
            })
            .collect();
        *column = Arc::new(filled);
    }
    RecordBatch::try_new(batch.schema(), columns)
}

/// What a CSV or TSV error becomes: the quoting problem that stopped the
/// stream, if it was one, else Arrow's error with its line and column.
fn delimited_error(
    path: &Path,
    schema: Option<&SchemaRef>,
    problem: &quoting::Problem,
    e: ArrowError,
) -> Error {
    match problem.get() {
        Some((line, message)) => malformed(path, Some(*line), None, message.clone()),
        None => csv_error(path, schema, e),
    }
}

fn malformed(path: &Path, line: Option<u64>, column: Option<String>, message: String) -> Error {
    Error::Malformed {
        path: path.to_owned(),
        line,
        column,
        message,
    }
}

/// The schema of a table made of `parts`: read (Parquet) or inferred and
/// unified across parts (CSV, JSON Lines).
pub(crate) fn table_schema(
    format: FileFormat,
    parts: &[std::path::PathBuf],
    infer_rows: Option<usize>,
) -> Result<SchemaRef> {
    let mut unified: Option<(Schema, &Path)> = None;
    for part in parts {
        let schema = part_schema(format, part, infer_rows)?;
        unified = Some(match unified {
            None => (schema, part),
            Some((so_far, first)) => (unify(format, &so_far, first, &schema, part)?, first),
        });
    }
    let schema = unified.map(|(s, _)| s).unwrap_or_else(Schema::empty);
    Ok(Arc::new(schema))
}

fn part_schema(format: FileFormat, path: &Path, infer_rows: Option<usize>) -> Result<Schema> {
    match format {
        FileFormat::Parquet => {
            let builder = ParquetRecordBatchReaderBuilder::try_new(open(path)?)
                .map_err(|e| malformed(path, None, None, e.to_string()))?;
            // Keep the fields, not the file's key-value metadata.
            Ok(Schema::new(builder.schema().fields().clone()))
        }
        FileFormat::Csv | FileFormat::Tsv => {
            let infer = |rows: Option<usize>| {
                let (reader, problem, empties) = open_delimited(path, format)?;
                let (schema, records) = csv::reader::Format::default()
                    .with_header(true)
                    .with_delimiter(format.delimiter())
                    .with_quote(format.quote())
                    .infer_schema(reader, rows)
                    .map_err(|e| delimited_error(path, None, &problem, e))?;
                // A column whose only values are `""` is text, not nothing.
                let quoted: std::collections::HashSet<usize> = empties
                    .take_before(records as u64)
                    .into_iter()
                    .map(|(_, field)| field)
                    .collect();
                let fields = schema.fields().iter().enumerate().map(|(i, f)| {
                    let untyped = f.data_type() == &DataType::Null && quoted.contains(&i);
                    match untyped {
                        true => f.as_ref().clone().with_data_type(DataType::Utf8),
                        false => f.as_ref().clone(),
                    }
                });
                Ok::<_, Error>((Schema::new(fields.collect::<Vec<_>>()), records))
            };
            let (schema, records) = infer(infer_rows)?;
            // A column empty in every sampled row has no type yet (Null),
            // and would load every later value as null: read the whole file
            // to find one. Empty in the whole file, it stays Null, which
            // loads as nulls and fits any existing column.
            let untyped = schema
                .fields()
                .iter()
                .any(|f| f.data_type() == &DataType::Null);
            let schema = if untyped && infer_rows.is_some_and(|rows| records >= rows) {
                infer(None)?.0
            } else {
                schema
            };
            Ok(refine_sampled(format, path, schema, infer_rows))
        }
        FileFormat::JsonLines => {
            let schema = infer_json_lines(path, infer_rows)?;
            // Arrow sorts inferred fields by name; keep the file's order
            // instead, and keep integers past Int64 exact.
            let sample = json_sample(path, infer_rows)?;
            let mut fields: Vec<Field> = schema
                .fields()
                .iter()
                .map(|f| match sample.exact_type(f) {
                    Some(exact) => f.as_ref().clone().with_data_type(exact),
                    None => f.as_ref().clone(),
                })
                .collect();
            fields.sort_by_key(|f| {
                sample
                    .keys
                    .iter()
                    .position(|k| k == f.name())
                    .unwrap_or(usize::MAX)
            });
            Ok(refine_sampled(
                format,
                path,
                Schema::new(fields),
                infer_rows,
            ))
        }
    }
}

/// `schema` with its text columns typed as their first `rows` records'
/// values all read (see [`texts::refine`]): booleans, dates and timestamps
/// Arrow's inference leaves as text. A sample that cannot be read leaves
/// the schema as inferred: reading the file says why.
fn refine_sampled(format: FileFormat, path: &Path, schema: Schema, rows: Option<usize>) -> Schema {
    if !schema
        .fields()
        .iter()
        .any(|f| f.data_type() == &DataType::Utf8)
    {
        return schema;
    }
    let inferred = Arc::new(schema);
    let limit = rows.unwrap_or(usize::MAX);
    let mut samples = Vec::new();
    let mut seen = 0;
    let read = read_part(
        format,
        path,
        &inferred,
        limit.clamp(1, 8192),
        &mut |batch| {
            let keep = batch.num_rows().min(limit - seen);
            seen += keep;
            samples.push(batch.slice(0, keep));
            seen < limit
        },
    );
    match read {
        Ok(_) => texts::refine(&inferred, &samples),
        Err(_) => Arc::unwrap_or_clone(inferred),
    }
}

/// A JSON Lines file's schema as Arrow infers it from its first `rows`
/// records, each line parsed here so that one that is not JSON (`NaN`,
/// `Infinity`, `1e400`, a cut line) is named by its own line number: Arrow's
/// inference parses line by line and says `line 1` of each. Integers past
/// 64 bits are read as text, at any depth: Arrow would infer Float64 and
/// round them.
fn infer_json_lines(path: &Path, rows: Option<usize>) -> Result<Schema> {
    let mut reader = open_text(path)?;
    let mut line = Vec::new();
    let mut line_no: u64 = 0;
    let mut bad: Option<Error> = None;
    let values = std::iter::from_fn(|| {
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    bad = Some(Error::io(path, e));
                    return None;
                }
            }
            line_no += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed = serde_json::from_slice::<serde_json::Value>(
                &crate::bigint::big_integers_as_text(&line),
            );
            return match parsed {
                Ok(value) => Some(Ok(value)),
                Err(e) => {
                    bad = Some(not_json(path, line_no, &line, &e));
                    None
                }
            };
        }
    });
    let values = values.take(rows.unwrap_or(usize::MAX));
    let schema = json::reader::infer_json_schema_from_iterator(values)
        .map_err(|e| malformed(path, None, None, format!("inferring the schema: {e}")));
    match bad {
        Some(error) => Err(error),
        None => schema,
    }
}

/// A line that is not JSON, at its line, with serde_json's column (its
/// `line 1` is this line) and what it found.
fn not_json(path: &Path, line_no: u64, line: &[u8], e: &serde_json::Error) -> Error {
    let what = e.to_string();
    let what = what.split(" at line ").next().unwrap_or(&what);
    let near: String = String::from_utf8_lossy(line)
        .chars()
        .skip(e.column().saturating_sub(1))
        .take(24)
        .collect();
    malformed(
        path,
        Some(line_no),
        None,
        format!(
            "not JSON at character {}: {what} (near {near:?}; NaN, Infinity and numbers past \
             a 64-bit float are not JSON)",
            e.column()
        ),
    )
}

/// What the sample says of a file's top-level fields beyond Arrow's
/// inference: their order, and what their numbers look like.
#[derive(Debug, Default)]
struct JsonSample {
    /// The top-level keys in order of first appearance.
    keys: Vec<String>,
    /// Per key, its number literals: (an integer past the 64-bit range
    /// seen, a number with a fraction or exponent seen, most digits of an
    /// integer).
    numbers: std::collections::HashMap<String, (bool, bool, usize)>,
    /// The keys that had a string value.
    strings: std::collections::HashSet<String>,
}

impl JsonSample {
    /// A top-level field of whole numbers only, some past Int64, of at
    /// most 38 digits: `Decimal128(38, 0)`. (They were read as text, which
    /// is what the field stays otherwise: mixed with fractions or strings,
    /// each value as written.)
    fn exact_type(&self, field: &Field) -> Option<DataType> {
        let (big, fraction, digits) = *self.numbers.get(field.name())?;
        (big && !fraction
            && digits <= 38
            && !self.strings.contains(field.name())
            && field.data_type() == &DataType::Utf8)
            .then_some(DataType::Decimal128(38, 0))
    }
}

/// Reads the first `rows` records' top-level keys and numbers.
fn json_sample(path: &Path, rows: Option<usize>) -> Result<JsonSample> {
    let reader = open_text(path)?;
    let mut sample = JsonSample::default();
    let mut records = 0;
    for line in reader.lines() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        for (key, number) in top_level_entries(&line) {
            if number.as_deref() == Some("\"") {
                sample.strings.insert(key.clone());
            } else if let Some(number) = number {
                let seen = sample.numbers.entry(key.clone()).or_default();
                if number.contains(['.', 'e', 'E']) {
                    seen.1 = true;
                } else {
                    seen.0 |= number.parse::<i64>().is_err();
                    seen.2 = seen.2.max(number.trim_start_matches('-').len());
                }
            }
            if !sample.keys.contains(&key) {
                sample.keys.push(key);
            }
        }
        records += 1;
        if rows.is_some_and(|r| records >= r) {
            break;
        }
    }
    Ok(sample)
}

/// The keys of a one-line JSON object, in order, each with its value's text
/// when the value is a number, or `"` when it is a string. A line that is not an object gives what it
/// can: the decoder reports it properly later.
fn top_level_entries(line: &str) -> Vec<(String, Option<String>)> {
    let mut entries: Vec<(String, Option<String>)> = Vec::new();
    let mut depth = 0_u32;
    let mut expect_key = false;
    // After a top-level key and its colon: where a number may start.
    let mut after_colon = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' => {
                depth += 1;
                expect_key = depth == 1;
                after_colon = false;
            }
            '[' => {
                depth += 1;
                after_colon = false;
            }
            '}' | ']' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => expect_key = true,
            ':' if depth == 1 => after_colon = true,
            '-' | '0'..='9' if depth == 1 && after_colon => {
                let mut number = String::from(c);
                while let Some(&d) = chars.peek() {
                    if d.is_ascii_digit() || matches!(d, '.' | 'e' | 'E' | '+' | '-') {
                        number.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if let Some(last) = entries.last_mut() {
                    last.1 = Some(number);
                }
                after_colon = false;
            }
            '"' => {
                if depth == 1 && after_colon {
                    // A string value: told apart from numbers by `"`.
                    if let Some(last) = entries.last_mut() {
                        last.1 = Some("\"".into());
                    }
                }
                after_colon = false;
                let mut text = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some('n') => text.push('\n'),
                            Some('t') => text.push('\t'),
                            Some('r') => text.push('\r'),
                            Some('b') => text.push('\u{8}'),
                            Some('f') => text.push('\u{c}'),
                            Some('u') => {
                                let hex: String = chars.by_ref().take(4).collect();
                                if let Some(c) =
                                    u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                                {
                                    text.push(c);
                                }
                            }
                            Some(other) => text.push(other),
                            None => break,
                        },
                        other => text.push(other),
                    }
                }
                if depth == 1 && expect_key {
                    entries.push((text, None));
                    expect_key = false;
                }
            }
            c if c.is_whitespace() => {}
            _ => after_colon = false,
        }
    }
    entries
}

/// Widens two inferred schemas of parts of one table to one.
fn unify(
    format: FileFormat,
    a: &Schema,
    a_path: &Path,
    b: &Schema,
    b_path: &Path,
) -> Result<Schema> {
    let differ = |what: String| Error::SchemaMismatch {
        context: "parts of one table".into(),
        message: format!("{} and {} {what}", a_path.display(), b_path.display()),
    };
    if format == FileFormat::Parquet {
        return unify_parquet(a, b).map_err(differ);
    }
    let names = |s: &Schema| {
        s.fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>()
    };
    if format != FileFormat::JsonLines && names(a) != names(b) {
        return Err(differ(format!(
            "have different headers ({} / {})",
            names(a).join(","),
            names(b).join(",")
        )));
    }
    let mut fields: Vec<Field> = a.fields().iter().map(|f| f.as_ref().clone()).collect();
    for field in b.fields() {
        match fields.iter_mut().find(|f| f.name() == field.name()) {
            Some(existing) => {
                let widened = widen(existing.data_type(), field.data_type()).ok_or_else(|| {
                    differ(format!(
                        "give column {:?} the types {} and {}",
                        field.name(),
                        existing.data_type(),
                        field.data_type()
                    ))
                })?;
                *existing = existing.clone().with_data_type(widened).with_nullable(true);
            }
            None => fields.push(field.as_ref().clone().with_nullable(true)),
        }
    }
    Ok(Schema::new(fields))
}

/// Two Parquet parts' schemas as one, whatever their order: the same
/// columns in the same order, whose types may differ only in how a writer
/// stored them (see [`logical`]); a column nullable in either part is
/// nullable. Otherwise what differs, naming the column.
fn unify_parquet(a: &Schema, b: &Schema) -> Result<Schema, String> {
    let names = |s: &Schema| {
        s.fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>()
    };
    if let Some(name) = names(a).into_iter().find(|n| b.field_with_name(n).is_err()) {
        return Err(format!(
            "differ: column {name:?} is in the first, not the second"
        ));
    }
    if let Some(name) = names(b).into_iter().find(|n| a.field_with_name(n).is_err()) {
        return Err(format!(
            "differ: column {name:?} is in the second, not the first"
        ));
    }
    if names(a) != names(b) {
        return Err(format!(
            "have their columns in different orders ({} / {})",
            names(a).join(","),
            names(b).join(",")
        ));
    }
    let fields = a.fields().iter().zip(b.fields()).map(|(x, y)| {
        let nullable = x.is_nullable() || y.is_nullable();
        if x.data_type() == y.data_type() {
            return Ok(x.as_ref().clone().with_nullable(nullable));
        }
        let (lx, ly) = (logical(x.data_type()), logical(y.data_type()));
        if lx != ly {
            return Err(format!(
                "give column {:?} the types {} and {}",
                x.name(),
                x.data_type(),
                y.data_type()
            ));
        }
        Ok(x.as_ref()
            .clone()
            .with_data_type(lx)
            .with_nullable(nullable))
    });
    Ok(Schema::new(fields.collect::<Result<Vec<_>, _>>()?))
}

/// A type without what only says how a writer stored it: dictionary
/// encoding, large or view offsets of text and bytes, and the nullability
/// of what a nested type holds. Parts that agree on it are one column.
fn logical(data_type: &DataType) -> DataType {
    use DataType::*;
    let item = |f: &Arc<Field>| {
        Arc::new(
            f.as_ref()
                .clone()
                .with_data_type(logical(f.data_type()))
                .with_nullable(true),
        )
    };
    match data_type {
        Dictionary(_, values) => logical(values),
        LargeUtf8 | Utf8View => Utf8,
        LargeBinary | BinaryView => Binary,
        List(f) | LargeList(f) | ListView(f) | LargeListView(f) => List(item(f)),
        FixedSizeList(f, n) => FixedSizeList(item(f), *n),
        Struct(fields) => Struct(fields.iter().map(item).collect()),
        Map(f, sorted) => Map(item(f), *sorted),
        other => other.clone(),
    }
}

fn widen(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    Some(match (a, b) {
        _ if a == b => a.clone(),
        (Null, other) | (other, Null) => other.clone(),
        (Int64, Float64) | (Float64, Int64) => Float64,
        _ if !a.is_nested() && !b.is_nested() => Utf8,
        _ => return None,
    })
}

/// Streams one part into `sink` in batches of `schema`; returns false when
/// `sink` asked to stop.
pub(crate) fn read_part(
    format: FileFormat,
    path: &Path,
    schema: &SchemaRef,
    batch_size: usize,
    sink: &mut dyn FnMut(RecordBatch) -> bool,
) -> Result<bool> {
    match format {
        FileFormat::Csv | FileFormat::Tsv => {
            let (text, problem, empties) = open_delimited(path, format)?;
            // Booleans, dates and timestamps are read as text, then parsed.
            let wire = texts::wire(schema);
            let reader = csv::ReaderBuilder::new(wire)
                .with_header(true)
                .with_delimiter(format.delimiter())
                .with_quote(format.quote())
                .with_batch_size(batch_size)
                // open_delimited buffers already: no second buffer to copy through.
                .build_buffered(text)
                .map_err(|e| delimited_error(path, Some(schema), &problem, e))?;
            let mut first_row = 0;
            for batch in reader {
                let start = first_row;
                let batch = batch.and_then(|batch| {
                    let end = first_row + batch.num_rows() as u64;
                    let batch = with_quoted_empties(batch, first_row, &empties.take_before(end));
                    first_row = end;
                    batch
                });
                let batch = batch.map_err(|e| delimited_error(path, Some(schema), &problem, e))?;
                let batch = texts::convert(batch, schema).map_err(|bad| {
                    // The row's line, found again from the start: an error's path only.
                    let line = open_raw(path).ok().and_then(|text| {
                        let tsv = format == FileFormat::Tsv;
                        quoting::line_of_row(text, format.delimiter(), tsv, start + bad.row as u64)
                    });
                    malformed(path, line, Some(bad.column), bad.message)
                })?;
                if !sink(batch) {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        FileFormat::JsonLines => read_json_lines(path, schema, batch_size, sink),
        FileFormat::Parquet => {
            let reader = ParquetRecordBatchReaderBuilder::try_new(open(path)?)
                .and_then(|b| b.with_batch_size(batch_size).build())
                .map_err(|e| malformed(path, None, None, e.to_string()))?;
            for batch in reader {
                let batch = batch.map_err(|e| malformed(path, None, None, e.to_string()))?;
                // Same columns, re-labelled with the table's schema (no file
                // metadata), each stored as the table stores it (a part
                // dictionary-encoded where another is not, say).
                let columns = batch
                    .columns()
                    .iter()
                    .zip(schema.fields())
                    .map(
                        |(column, field)| match column.data_type() == field.data_type() {
                            true => Ok(column.clone()),
                            false => etl_core::arrow::compute::cast(column, field.data_type())
                                .map_err(|e| (field.name().as_str(), e.to_string())),
                        },
                    )
                    .collect::<Result<Vec<_>, _>>();
                let batch = columns
                    .map_err(|(column, e)| (Some(column.to_owned()), e))
                    .and_then(|columns| {
                        RecordBatch::try_new(schema.clone(), columns)
                            .map_err(|e| (None, e.to_string()))
                    })
                    .map_err(|(column, e)| Error::SchemaMismatch {
                        context: path.display().to_string(),
                        message: match column {
                            Some(column) => {
                                format!("its column {column:?} does not fit the table's: {e}")
                            }
                            None => format!("its columns differ from the table's: {e}"),
                        },
                    })?;
                if !sink(batch) {
                    return Ok(false);
                }
            }
            Ok(true)
        }
    }
}

/// Finds `word` followed by a number in an Arrow message: `line 17`, `column 2`.
fn number_after(message: &str, word: &str) -> Option<u64> {
    let at = message.find(word)? + word.len();
    let digits: String = message[at..]
        .chars()
        .skip_while(|c| *c == ' ')
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// A CSV reader error as [`Error::Malformed`] with file, 1-based line and column name.
///
/// Arrow counts value errors from 0 with the header as line 0, and field-count
/// and UTF-8 errors from 1 with the header as line 1; both become the line
/// number a text editor shows.
fn csv_error(path: &Path, schema: Option<&SchemaRef>, e: ArrowError) -> Error {
    let message = match &e {
        ArrowError::CsvError(m) | ArrowError::ParseError(m) => m.clone(),
        ArrowError::IoError(m, _) => m.clone(),
        other => other.to_string(),
    };
    let (line, column) = if message.contains("incorrect number of fields") {
        (number_after(&message, "for line"), None)
    } else if message.contains("unequal lengths") {
        // From schema inference: the csv crate counts lines from 1, header included.
        (number_after(&message, "at line"), None)
    } else if message.contains("invalid UTF-8") {
        (
            number_after(&message, "for line"),
            number_after(&message, "field"),
        )
    } else {
        (
            number_after(&message, "at line").map(|l| l + 1),
            number_after(&message, "column"),
        )
    };
    let column = column.and_then(|i| {
        let fields = schema?.fields();
        // UTF-8 errors count fields from 0; value errors count columns from 0.
        fields.get(i as usize).map(|f| f.name().clone())
    });
    let message = message
        .split(". Row data:")
        .next()
        .unwrap_or(&message)
        .to_owned();
    malformed(path, line, column, message)
}

fn read_json_lines(
    path: &Path,
    schema: &SchemaRef,
    batch_size: usize,
    sink: &mut dyn FnMut(RecordBatch) -> bool,
) -> Result<bool> {
    let mut reader = open_text(path)?;
    // Booleans, dates and timestamps are read as text, then parsed.
    let wire = texts::wire(schema);
    let mut chunk = JsonChunk::default();
    let mut line_no: u64 = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Some(number) = crate::bigint::number_out_of_range(&line) {
            return Err(malformed(
                path,
                Some(line_no),
                None,
                format!("the number {number} is past the range of a 64-bit float"),
            ));
        }
        chunk.push(&crate::bigint::big_integers_as_text(&line), line_no);
        if chunk.lines.len() >= batch_size {
            let batch = chunk.decode(path, &wire, schema)?;
            if !sink(batch) {
                return Ok(false);
            }
        }
    }
    if !chunk.lines.is_empty() {
        let batch = chunk.decode(path, &wire, schema)?;
        if !sink(batch) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Raw JSON lines waiting to become one batch, with where each line starts.
#[derive(Default)]
struct JsonChunk {
    bytes: Vec<u8>,
    /// (offset into `bytes`, 1-based line number in the file)
    lines: Vec<(usize, u64)>,
}

impl JsonChunk {
    fn push(&mut self, line: &[u8], line_no: u64) {
        self.lines.push((self.bytes.len(), line_no));
        self.bytes.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            self.bytes.push(b'\n');
        }
    }

    /// The lines as one batch of `schema`, read as `wire` (its booleans,
    /// dates and timestamps as text, see [`texts::wire`]), then parsed.
    fn decode(&mut self, path: &Path, wire: &SchemaRef, schema: &SchemaRef) -> Result<RecordBatch> {
        let result = decode_json(&self.bytes, wire, self.lines.len());
        let batch = match result {
            Ok(batch) => batch,
            Err(e) => return Err(self.locate(path, wire, e)),
        };
        let batch = texts::convert(batch, schema).map_err(|bad| {
            let line = self.lines.get(bad.row).map(|(_, line)| *line);
            malformed(path, line, Some(bad.column), bad.message)
        })?;
        self.bytes.clear();
        self.lines.clear();
        Ok(batch)
    }

    /// Decodes line by line to find the one that failed.
    fn locate(&self, path: &Path, schema: &SchemaRef, batch_error: ArrowError) -> Error {
        for (i, (start, line_no)) in self.lines.iter().enumerate() {
            let end = self.lines.get(i + 1).map_or(self.bytes.len(), |(s, _)| *s);
            if let Err(e) = decode_json(&self.bytes[*start..end], schema, 1) {
                return json_error(path, Some(*line_no), e);
            }
        }
        json_error(path, None, batch_error)
    }
}

fn decode_json(bytes: &[u8], schema: &SchemaRef, rows: usize) -> Result<RecordBatch, ArrowError> {
    let mut decoder = json::ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.max(1))
        .with_strict_mode(true)
        .with_coerce_primitive(true)
        .build_decoder()?;
    let mut rest = bytes;
    let mut batches = Vec::new();
    while !rest.is_empty() {
        let read = decoder.decode(rest)?;
        rest = &rest[read..];
        if read == 0 {
            // The decoder holds a full batch: take it, then go on.
            match decoder.flush()? {
                Some(batch) => batches.push(batch),
                None => {
                    return Err(ArrowError::JsonError(
                        "the decoder stopped before the end of the input".into(),
                    ));
                }
            }
        }
    }
    batches.extend(decoder.flush()?);
    if batches.len() == 1 {
        Ok(batches.pop().expect("one batch"))
    } else {
        etl_core::arrow::compute::concat_batches(schema, &batches)
    }
}

fn json_error(path: &Path, line: Option<u64>, e: ArrowError) -> Error {
    let message = match &e {
        ArrowError::JsonError(m) | ArrowError::ParseError(m) => m.clone(),
        other => other.to_string(),
    };
    let quoted_after = |word: &str| {
        let at = message.find(word)? + word.len();
        let rest = &message[at..];
        Some(rest[..rest.find('\'')?].to_owned())
    };
    let missing = quoted_after("column '").filter(|_| message.contains("missing from schema"));
    let column = missing
        .clone()
        .or_else(|| quoted_after("whilst decoding field '"));
    let message = if missing.is_some() {
        format!(
            "{message} (the field was not in the records sampled to infer the schema; \
             sample more with FilesConfig::with_infer_rows)"
        )
    } else {
        message
    };
    malformed(path, line, column, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_keys_come_in_file_order_nested_ones_are_skipped() {
        let line = r#"{"b": 1, "a": {"z": [1, {"y": 2}]}, "c\"q": "x,\"d\": 1", "\u00e9": null, "n":-1.5e3}"#;
        let entries = top_level_entries(line);
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c\"q", "é", "n"]);
        let numbers: Vec<Option<&str>> = entries.iter().map(|(_, n)| n.as_deref()).collect();
        assert_eq!(numbers, [Some("1"), None, Some("\""), None, Some("-1.5e3")]);
    }

    #[test]
    fn numbers_widen_to_float_and_mixed_scalars_to_text() {
        assert_eq!(
            widen(&DataType::Int64, &DataType::Float64),
            Some(DataType::Float64)
        );
        assert_eq!(
            widen(&DataType::Null, &DataType::Date32),
            Some(DataType::Date32)
        );
        assert_eq!(
            widen(&DataType::Boolean, &DataType::Int64),
            Some(DataType::Utf8)
        );
        let list = DataType::List(Arc::new(Field::new("item", DataType::Int64, true)));
        assert_eq!(widen(&list, &DataType::Utf8), None);
    }

    #[test]
    fn arrow_csv_messages_become_lines_and_column_names() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("amount", DataType::Int64, true),
        ]));
        let e = ArrowError::ParseError(
            "Error while parsing value 'x' as type 'Int64' for column 1 at line 3. Row data: '[3, x]'".into(),
        );
        match csv_error(Path::new("f.csv"), Some(&schema), e) {
            Error::Malformed {
                line,
                column,
                message,
                ..
            } => {
                assert_eq!(line, Some(4));
                assert_eq!(column.as_deref(), Some("amount"));
                assert!(!message.contains("Row data"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
