//! [`FilesExtractor`]: CSV, Parquet and JSON Lines files as tables.
//!
//! ```
//! use etl_core::Extractor;
//! use etl_extractors::FilesExtractor;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> etl_core::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! # std::fs::write(dir.path().join("users.csv"), "id,name\n1,ada\n2,bob\n").unwrap();
//! let files = FilesExtractor::open(dir.path())?;
//! let tables = files.tables().await?;
//! assert_eq!(tables[0].name(), "users");
//! assert_eq!(tables[0].schema().field(0).name(), "id");
//! # Ok(()) }
//! ```
//!
//! # Which files, which tables
//!
//! [`FilesExtractor::open`] takes a file, a folder or a glob (`data/*.csv`):
//!
//! - each file is one table, named after the file without its extension
//!   (`orders.csv` → `orders`);
//! - each folder directly inside the given folder (or matched by the glob)
//!   is one table named after the folder, made of the parts inside it, which
//!   must share one format and one set of columns (`events/part-0.parquet`,
//!   `events/part-1.parquet` → `events`);
//! - formats go by extension: `.csv`, `.tsv` (tab-separated), `.parquet`,
//!   `.pq`, `.jsonl`, `.ndjson`; other files, and names starting with `.` or
//!   `_`, are skipped. Two files that would make the same table are an error;
//! - a file (or folder of parts) whose name is not valid UTF-8 cannot name
//!   a table: it is offered as a table named lossily (`caf\u{FFFD}`) that
//!   fails, saying so, while the other tables load. A part inside a folder
//!   may have any name;
//! - CSV, TSV and JSON Lines files may be gzipped (`orders.csv.gz` is the
//!   table `orders`), decompressed as they stream; parts of one table may
//!   mix gzipped and plain files. (Parquet compresses inside the file.)
//!
//! # Schemas and streaming
//!
//! Parquet files carry their schema. CSV and JSON Lines schemas are inferred
//! from the first [`FilesConfig::with_infer_rows`] records of each part (10 000 by
//! default); parts of one table whose inferred types differ are widened to a
//! common type (Int64 and Float64 to Float64, anything else to Utf8). CSV files
//! have a header row. A CSV column with no value in the sampled rows is typed
//! from the whole file. JSON integers past the 64-bit range stay exact: a
//! top-level field of whole numbers up to 38 digits is `Decimal128(38, 0)`,
//! any other (nested, or mixed with fractions or strings) text as written.
//!
//! CSV quoting is checked as the file is read: a quote never closed, or
//! text after a closing quote, is [`Error::Malformed`] naming the line. TSV
//! has no quoting: a `"` is part of its field. A quoted empty CSV field
//! (`""`) is the empty string in a text column, and an unquoted empty one
//! null; in a column of another type both are null.
//!
//! Parquet parts of one table may differ in how a writer stored a column
//! (nullable or required, dictionary-encoded or not, large offsets or
//! small): they load in any order, as the table's one type. Parts whose
//! columns differ otherwise are refused, naming the column and both files.
//!
//! A JSON Lines line that is not JSON (`NaN`, `Infinity`, `1e400`) is an
//! error at its own line; no number is read as infinity.
//!
//! Files are read in batches on tokio's blocking pool, a few batches ahead of
//! the warehouse at most, so memory stays bounded whatever the file's size.
//!
//! A record that does not fit the schema (a value that does not parse, a wrong
//! number of fields, a JSON field not seen while inferring) ends the stream with
//! [`Error::Malformed`] naming the file, its 1-based line and the column; the
//! warehouse then rolls the table back.

mod connector;
mod quoting;
mod read;
mod texts;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use etl_core::arrow::datatypes::SchemaRef;
use etl_core::{
    BatchStream, Discovered, Error, ExtractOptions, Extractor, Result, TableSpec, WriteMode,
};

pub use connector::register;
pub use read::FileFormat;

/// Rows sampled per file to infer a CSV or JSON Lines schema, by default.
pub const DEFAULT_INFER_ROWS: usize = 10_000;

/// What a [`FilesExtractor`] reads and how, built as the other extractors'
/// configs are: `FilesConfig::new(path).with_…()`, then
/// [`FilesExtractor::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FilesConfig {
    /// A file, a folder, or a glob.
    pub path: PathBuf,
    /// Records sampled per file to infer CSV and JSON Lines schemas
    /// ([`DEFAULT_INFER_ROWS`]); `None` reads whole files.
    pub infer_rows: Option<usize>,
    /// The primary key of each table that has one (needed to merge it).
    pub primary_keys: BTreeMap<String, Vec<String>>,
    /// How each table is written (replace by default).
    pub write_modes: BTreeMap<String, WriteMode>,
}

impl FilesConfig {
    /// The tables in `path` (a file, a folder, a glob), with the defaults.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FilesConfig {
            path: path.into(),
            infer_rows: Some(DEFAULT_INFER_ROWS),
            primary_keys: BTreeMap::new(),
            write_modes: BTreeMap::new(),
        }
    }

    /// Records sampled per file to infer CSV and JSON Lines schemas; `None`
    /// reads whole files (slower to start, never surprised later).
    pub fn with_infer_rows(mut self, rows: Option<usize>) -> Self {
        self.infer_rows = rows.map(|r| r.max(1));
        self
    }

    /// Declares the primary key of a table (needed to merge it).
    pub fn with_primary_key<I, S>(mut self, table: &str, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.primary_keys.insert(
            table.to_owned(),
            columns.into_iter().map(Into::into).collect(),
        );
        self
    }

    /// Sets how a table is written (replace by default).
    pub fn with_write_mode(mut self, table: &str, mode: WriteMode) -> Self {
        self.write_modes.insert(table.to_owned(), mode);
        self
    }
}

/// Tables from CSV, Parquet and JSON Lines files; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct FilesExtractor {
    /// `files:` and the absolute path opened.
    source: String,
    tables: Vec<FileTable>,
    infer_rows: Option<usize>,
    keys: BTreeMap<String, Vec<String>>,
    modes: BTreeMap<String, WriteMode>,
}

/// One table: its name, format and the files it is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileTable {
    name: String,
    format: FileFormat,
    parts: Vec<PathBuf>,
    /// Why it cannot be loaded, found while listing: its name is not UTF-8.
    unloadable: Option<String>,
}

impl FileTable {
    fn new(path: &Path, name: String, format: FileFormat, parts: Vec<PathBuf>) -> Self {
        let unloadable = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_none()
            .then(|| {
                format!(
                    "{}: its name is not valid UTF-8, so it cannot name a table (shown here with \
                 \u{FFFD} for the bytes that are not); rename it",
                    path.display()
                )
            });
        FileTable {
            name,
            format,
            parts,
            unloadable,
        }
    }
}

impl FilesExtractor {
    /// Finds the tables in a file, a folder, or a glob, with the default
    /// config; see the [module docs](self).
    ///
    /// Lists files only: schemas are read when [`Extractor::tables`] is called.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::new(FilesConfig::new(path.as_ref()))
    }

    /// Finds the tables `config` names, read as it says.
    pub fn new(config: FilesConfig) -> Result<Self> {
        let path = config.path.as_path();
        let text = path.to_string_lossy();
        let mut tables = Vec::new();
        if text.contains(['*', '?', '[']) {
            let matches =
                glob::glob(&text).map_err(|e| Error::Config(format!("bad glob {text:?}: {e}")))?;
            for entry in matches {
                let entry = entry.map_err(|e| Error::io(e.path().to_owned(), e.into()))?;
                add_entry(&mut tables, &entry, true)?;
            }
        } else {
            let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
            if meta.is_dir() {
                for entry in sorted_entries(path)? {
                    add_entry(&mut tables, &entry, true)?;
                }
            } else {
                add_entry(&mut tables, path, false)?;
            }
        }
        if tables.is_empty() {
            return Err(Error::Config(format!(
                "{}: no CSV, Parquet or JSON Lines files found",
                path.display()
            )));
        }
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        // Tables that fail for their names are not named by them: two lossy
        // names may be equal.
        for pair in tables.windows(2) {
            if pair[0].name == pair[1].name
                && pair[0].unloadable.is_none()
                && pair[1].unloadable.is_none()
            {
                return Err(Error::Config(format!(
                    "{} and {} would both be table {:?}",
                    pair[0].parts[0].display(),
                    pair[1].parts[0].display(),
                    pair[0].name
                )));
            }
        }
        let source = format!(
            "files:{}",
            std::path::absolute(path)
                .unwrap_or_else(|_| path.to_owned())
                .display()
        );
        Ok(FilesExtractor {
            source,
            tables,
            infer_rows: config.infer_rows,
            keys: config.primary_keys,
            modes: config.write_modes,
        })
    }

    /// The names of the tables found, sorted.
    pub fn table_names(&self) -> Vec<&str> {
        self.tables.iter().map(|t| t.name.as_str()).collect()
    }

    fn find(&self, name: &str) -> Result<&FileTable> {
        self.tables
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| Error::UnknownTable {
                table: name.to_owned(),
                offered: self.tables.iter().map(|t| t.name.clone()).collect(),
            })
    }

    fn spec(&self, table: &FileTable, schema: SchemaRef) -> TableSpec {
        let mut spec = TableSpec::new(table.name.clone(), schema);
        if let Some(key) = self.keys.get(&table.name) {
            spec = spec.with_primary_key(key.clone());
        }
        if let Some(mode) = self.modes.get(&table.name) {
            spec = spec.with_mode(*mode);
        }
        spec
    }
}

impl Extractor for FilesExtractor {
    fn source(&self) -> String {
        self.source.clone()
    }

    async fn tables(&self) -> Result<Vec<TableSpec>> {
        Discovered::all(self.discover().await?)
    }

    /// Each table's schema on its own: a file whose first rows are ragged,
    /// not UTF-8, badly quoted or nested too deep fails its table only.
    async fn discover(&self) -> Result<Vec<Discovered>> {
        let tables = self.tables.clone();
        let infer_rows = self.infer_rows;
        let schemas = tokio::task::spawn_blocking(move || {
            tables
                .iter()
                .map(|t| {
                    if let Some(why) = &t.unloadable {
                        return Err(Error::Config(why.clone()));
                    }
                    // A parser that panics on one file fails that table only.
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        read::table_schema(t.format, &t.parts, infer_rows)
                    }))
                    .unwrap_or_else(|panic| {
                        Err(Error::Internal(format!(
                            "reading the schema of {} panicked: {}",
                            t.parts[0].display(),
                            panic_text(&*panic)
                        )))
                    })
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| Error::Internal(format!("schema inference panicked: {e}")))?;
        Ok(self
            .tables
            .iter()
            .zip(schemas)
            .map(|(table, schema)| match schema {
                Ok(schema) => Discovered::Ready(self.spec(table, schema)),
                Err(error) => Discovered::Failed {
                    table: table.name.clone(),
                    error,
                },
            })
            .collect())
    }

    async fn extract(&self, table: &TableSpec, options: &ExtractOptions) -> Result<BatchStream> {
        let found = self.find(table.name())?.clone();
        if let Some(why) = found.unloadable {
            return Err(Error::Config(why));
        }
        let schema = table.schema().clone();
        let batch_size = options.batch_size;
        let producer_schema = schema.clone();
        Ok(BatchStream::from_blocking(schema, 2, move |tx| {
            for part in &found.parts {
                let keep_going = read::read_part(
                    found.format,
                    part,
                    &producer_schema,
                    batch_size,
                    &mut |batch| tx.send(batch),
                )?;
                if !keep_going {
                    break;
                }
            }
            Ok(())
        }))
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|entry| entry.map(|e| e.path()).map_err(|e| Error::io(dir, e)))
        .collect::<Result<Vec<_>>>()?;
    entries.sort();
    Ok(entries)
}

/// Hidden (`.name`) and marker (`_SUCCESS`) files, judged on the name's
/// bytes: a name that is not UTF-8 is not skipped for that.
fn skipped(path: &Path) -> bool {
    path.file_name()
        .is_none_or(|n| matches!(n.as_encoded_bytes().first(), Some(b'.' | b'_')))
}

/// Adds the table a file (or, when `folders` is set, a folder of parts) makes.
fn add_entry(tables: &mut Vec<FileTable>, path: &Path, folders: bool) -> Result<()> {
    if skipped(path) {
        return Ok(());
    }
    if path.is_dir() {
        if !folders {
            return Ok(());
        }
        let parts: Vec<(PathBuf, FileFormat)> = sorted_entries(path)?
            .into_iter()
            .filter(|p| p.is_file() && !skipped(p))
            .filter_map(|p| FileFormat::from_path(&p).map(|f| (p, f)))
            .collect();
        let Some((first, format)) = parts.first().cloned() else {
            return Ok(());
        };
        if let Some((other, other_format)) = parts.iter().find(|(_, f)| *f != format) {
            return Err(Error::Config(format!(
                "{}: parts of one table must share a format, but {} is {format} and {} is {other_format}",
                path.display(),
                first.display(),
                other.display()
            )));
        }
        let parts = parts.into_iter().map(|(p, _)| p).collect();
        tables.push(FileTable::new(path, file_name(path), format, parts));
    } else if let Some(format) = FileFormat::from_path(path) {
        let parts = vec![path.to_owned()];
        tables.push(FileTable::new(path, table_name(path), format, parts));
    } else if !folders {
        return Err(Error::Config(format!(
            "{}: not a CSV, TSV, Parquet or JSON Lines file (by its extension: .csv, .tsv, .parquet, .pq, .jsonl, .ndjson; the text ones may end in .gz)",
            path.display()
        )));
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The file's name without its extensions: `orders.csv` and
/// `orders.csv.gz` are `orders`.
fn table_name(path: &Path) -> String {
    let (name, _) = read::without_gz(path);
    Path::new(&*name)
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
