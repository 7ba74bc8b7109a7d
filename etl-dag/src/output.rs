//! What the runtime knows of a step's output, captured when the step is
//! built: [`OutputHooks`], its rows, its view as a table for a SQL step, and
//! its [`Codec`], how it is saved to a file and read back so that a step can
//! run in another process (or on another machine) from its inputs, and a
//! failed run can be resumed without running again what succeeded.
//!
//! The runtime knows no data type. `#[workflow]` picks each step's hooks
//! from its output type at compile time: the crates that know a type plug
//! in at one level of a probe ([`Probe`]), tried from the most specific
//! down. This crate has the two lowest: serde types are saved as JSON, and
//! [`RowCount`] types say their rows. `etl-core` adds Arrow tables (Arrow
//! IPC, rows, a table view), any type that implements its table trait
//! included. A step built with [`Step::new`](crate::Step::new) gets its
//! hooks with [`Step::output`](crate::Step::output). A step whose output
//! has no codec still runs, but its output lives only in the process that
//! ran it.
//!
//! Files are written to a temporary name and renamed into place: a reader
//! never sees half a file.
//!
//! ```
//! use etl_dag::{Codec, OutputHooks};
//!
//! assert_eq!(Codec::json::<Vec<String>>().extension(), "json");
//! let hooks = OutputHooks::json::<Vec<String>>();
//! assert_eq!(hooks.codec().map(|c| c.extension()), Some("json"));
//! assert!(!hooks.is_table());
//! ```

use std::any::Any;
use std::fmt;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::BoxError;

/// What a step produced, shared with the steps that take it.
pub type Output = Arc<dyn Any + Send + Sync>;

/// The rows of an output, given the output.
pub type RowsFn = fn(&(dyn Any + Send + Sync)) -> Option<u64>;

/// An output as a table for SQL: a value of the table type the SQL engine
/// reads (for etl's, `etl_core::Batches`), given the output.
pub type TableFn = fn(&(dyn Any + Send + Sync)) -> std::result::Result<Output, BoxError>;

/// A source of bytes a [`Format`] reads a saved output from.
pub trait ReadSeek: Read + Seek + Send {}

impl<T: Read + Seek + Send> ReadSeek for T {}

/// A way to save values of type `T` to bytes and read them back.
pub trait Format<T>: 'static {
    /// The file name's extension, without the dot.
    const EXTENSION: &'static str;
    /// Writes `value`.
    fn save(value: &T, out: &mut dyn Write) -> std::result::Result<(), BoxError>;
    /// Reads back what [`Format::save`] wrote.
    fn load(input: &mut dyn ReadSeek) -> std::result::Result<T, BoxError>;
}

/// serde's JSON, for any `Serialize + DeserializeOwned` type.
#[derive(Debug, Clone, Copy)]
pub struct Json;

impl<T: Serialize + DeserializeOwned> Format<T> for Json {
    const EXTENSION: &'static str = "json";
    fn save(value: &T, out: &mut dyn Write) -> std::result::Result<(), BoxError> {
        let mut out = BufWriter::new(out);
        serde_json::to_writer(&mut out, value)?;
        out.flush()?;
        Ok(())
    }
    fn load(input: &mut dyn ReadSeek) -> std::result::Result<T, BoxError> {
        Ok(serde_json::from_reader(BufReader::new(input))?)
    }
}

/// How one step's output is saved and read back.
#[derive(Clone, Copy)]
pub struct Codec {
    extension: &'static str,
    type_name: &'static str,
    save: fn(&(dyn Any + Send + Sync), &mut dyn Write) -> std::result::Result<(), BoxError>,
    load: fn(&mut dyn ReadSeek) -> std::result::Result<Output, BoxError>,
}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Codec({} as .{})", self.type_name, self.extension)
    }
}

/// Codecs are equal when they save the same type the same way.
impl PartialEq for Codec {
    fn eq(&self, other: &Self) -> bool {
        self.extension == other.extension && self.type_name == other.type_name
    }
}

impl Eq for Codec {}

impl Codec {
    /// Values of type `T` in format `F`.
    pub fn of<T: Send + Sync + 'static, F: Format<T>>() -> Codec {
        Codec {
            extension: F::EXTENSION,
            type_name: std::any::type_name::<T>(),
            save: |value, out| F::save(downcast::<T>(value)?, out),
            load: |input| Ok(Arc::new(F::load(input)?) as Output),
        }
    }

    /// A serde value as JSON (`.json`).
    pub fn json<T>() -> Codec
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        Codec::of::<T, Json>()
    }

    /// The file name's extension (`arrow`, `json`).
    pub fn extension(&self) -> &'static str {
        self.extension
    }

    /// The Rust type it saves.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The file name step `step`'s output is saved under:
    /// `<step>.<extension>`. A name that is not plain ASCII letters, digits,
    /// `_` and `-`, or that has capitals, is made so and given a hash of the
    /// whole name, so that two steps never share a file, not even on a file
    /// system that ignores case (`a b` and `a_b`, `Total` and `total`).
    pub fn file_name(&self, step: &str) -> String {
        let plain = step
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'));
        if plain && !step.is_empty() && step.len() <= 200 {
            return format!("{step}.{}", self.extension);
        }
        let safe: String = step
            .chars()
            .take(120)
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("{safe}-{:016x}.{}", fnv1a(step), self.extension)
    }

    /// Where step `step`'s output goes in `dir`: `dir` joined with
    /// [`Codec::file_name`].
    pub fn file_in(&self, dir: &Path, step: &str) -> PathBuf {
        dir.join(self.file_name(step))
    }

    /// Writes `value` (which must be this codec's type) to `out`.
    pub fn save_to(
        &self,
        value: &(dyn Any + Send + Sync),
        out: &mut dyn Write,
    ) -> std::result::Result<(), BoxError> {
        (self.save)(value, out)
    }

    /// Reads a value of this codec's type from `input`.
    pub fn load_from(&self, input: &mut dyn ReadSeek) -> std::result::Result<Output, BoxError> {
        (self.load)(input)
    }
}

/// FNV-1a, 64 bits: stable across builds and platforms, unlike std's hasher.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn downcast<T: 'static>(value: &(dyn Any + Send + Sync)) -> std::result::Result<&T, BoxError> {
    value.downcast_ref::<T>().ok_or_else(|| {
        format!(
            "a step's output is not the {} its codec saves",
            std::any::type_name::<T>()
        )
        .into()
    })
}

/// An output type that knows how many rows it holds (what a load wrote, a
/// count of records): its steps show their rows in reports and events.
pub trait RowCount: Send + Sync + 'static {
    /// The rows.
    fn row_count(&self) -> u64;
}

impl<T: RowCount> RowCount for Vec<T> {
    fn row_count(&self) -> u64 {
        self.iter().map(RowCount::row_count).sum()
    }
}

/// What the runtime knows of one step's output type: how to count its rows,
/// how to see it as a table, how to save it. Each is optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutputHooks {
    codec: Option<Codec>,
    rows: Option<RowsFn>,
    table: Option<TableFn>,
}

/// Hooks are equal when they save the same way and know the same things.
impl PartialEq for OutputHooks {
    fn eq(&self, other: &Self) -> bool {
        self.codec == other.codec
            && self.rows.is_some() == other.rows.is_some()
            && self.table.is_some() == other.table.is_some()
    }
}

impl Eq for OutputHooks {}

impl OutputHooks {
    /// Nothing known: no rows, not a table, not saved.
    pub const NONE: OutputHooks = OutputHooks {
        codec: None,
        rows: None,
        table: None,
    };

    /// A serde type, saved as JSON.
    pub fn json<T>() -> OutputHooks
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        OutputHooks::NONE.with_codec(Codec::json::<T>())
    }

    /// Saved with `codec`.
    pub fn with_codec(mut self, codec: Codec) -> Self {
        self.codec = Some(codec);
        self
    }

    /// Rows counted by `rows`.
    pub fn with_rows(mut self, rows: RowsFn) -> Self {
        self.rows = Some(rows);
        self
    }

    /// Rows counted by [`RowCount`].
    pub fn counted<T: RowCount>(self) -> Self {
        self.with_rows(|value| value.downcast_ref::<T>().map(RowCount::row_count))
    }

    /// Seen as a table by `table`.
    pub fn with_table(mut self, table: TableFn) -> Self {
        self.table = Some(table);
        self
    }

    /// How the output is saved, if it is.
    pub fn codec(&self) -> Option<Codec> {
        self.codec
    }

    /// Whether a SQL step can read the output as a table.
    pub fn is_table(&self) -> bool {
        self.table.is_some()
    }

    /// The rows of `value`, if this type counts them.
    pub fn rows(&self, value: &(dyn Any + Send + Sync)) -> Option<u64> {
        self.rows.and_then(|rows| rows(value))
    }

    pub(crate) fn table_fn(&self) -> Option<TableFn> {
        self.table
    }

    /// The hooks `#[workflow]`'s probes found, one per capability.
    #[doc(hidden)]
    pub fn __probed(
        codec: Option<Codec>,
        rows: Option<RowsFn>,
        table: Option<TableFn>,
    ) -> OutputHooks {
        OutputHooks { codec, rows, table }
    }
}

/// Picks a step's hooks from its output type at compile time, for code
/// generated by `#[workflow]`: `(&&&Probe::<T>::new()).codec()` (and
/// `.rows()`, `.table()`) with every probe trait in scope. Method
/// resolution tries `&&&Probe` first, then `&&Probe`, `&Probe`, `Probe`;
/// each crate that knows a kind of output implements its trait at one of
/// those levels: `etl-core`'s tables at `&&Probe`, this crate's serde
/// ([`ProbeJson`]) and [`RowCount`] ([`ProbeRows`]) at `&Probe`, nothing
/// ([`ProbeNone`]) at `Probe`.
#[doc(hidden)]
pub struct Probe<T>(PhantomData<T>);

impl<T> Probe<T> {
    #[doc(hidden)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Probe(PhantomData)
    }
}

#[doc(hidden)]
pub trait ProbeJson {
    fn codec(&self) -> Option<Codec>;
}

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> ProbeJson for &Probe<T> {
    fn codec(&self) -> Option<Codec> {
        Some(Codec::json::<T>())
    }
}

#[doc(hidden)]
pub trait ProbeRows {
    fn rows(&self) -> Option<RowsFn>;
}

impl<T: RowCount> ProbeRows for &Probe<T> {
    fn rows(&self) -> Option<RowsFn> {
        OutputHooks::NONE.counted::<T>().rows
    }
}

#[doc(hidden)]
pub trait ProbeNone {
    fn codec(&self) -> Option<Codec>;
    fn rows(&self) -> Option<RowsFn>;
    fn table(&self) -> Option<TableFn>;
}

impl<T> ProbeNone for Probe<T> {
    fn codec(&self) -> Option<Codec> {
        None
    }
    fn rows(&self) -> Option<RowsFn> {
        None
    }
    fn table(&self) -> Option<TableFn> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_values_round_trip_through_json() {
        let codec = Codec::json::<(u64, Vec<String>)>();
        let value = (7_u64, vec!["a".to_string(), "b".to_string()]);
        let mut bytes = Vec::new();
        codec.save_to(&value, &mut bytes).unwrap();
        let back = codec.load_from(&mut std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(back.downcast_ref(), Some(&value));
        let err = Codec::json::<u64>()
            .load_from(&mut std::io::Cursor::new(b"\"text\"".to_vec()))
            .err()
            .unwrap();
        assert!(err.to_string().contains("invalid type"), "{err}");
    }

    #[test]
    fn file_names_are_plain_and_never_shared() {
        let codec = Codec::json::<u64>();
        assert_eq!(codec.file_name("total_2"), "total_2.json");
        let names: Vec<String> = [
            "a b",
            "a_b",
            "Total",
            "total",
            "odd name/with: slash",
            "../x",
            "",
        ]
        .iter()
        .map(|step| codec.file_name(step))
        .collect();
        for name in &names {
            crate::outputs::check_name(name).unwrap();
            assert!(!name.contains('/') && !name.starts_with('.'), "{name}");
        }
        let distinct: std::collections::BTreeSet<String> =
            names.iter().map(|n| n.to_lowercase()).collect();
        assert_eq!(distinct.len(), names.len(), "{names:?}");
        assert!(
            names[4].starts_with("odd_name_with__slash-"),
            "{}",
            names[4]
        );
        assert!(codec.file_name(&"x".repeat(10_000)).len() < 160);
    }

    struct Loaded(u64);

    impl RowCount for Loaded {
        fn row_count(&self) -> u64 {
            self.0
        }
    }

    #[test]
    // The borrows are the mechanism: each is one step of method resolution.
    #[allow(clippy::needless_borrow)]
    fn the_probe_picks_json_rows_or_nothing() {
        struct Opaque;
        let json = (&&&Probe::<Vec<u8>>::new()).codec();
        let none = (&&&Probe::<Opaque>::new()).codec();
        assert_eq!(json.map(|c| c.extension()), Some("json"));
        assert!(none.is_none());
        let rows = (&&&Probe::<Vec<Loaded>>::new()).rows().unwrap();
        assert_eq!(rows(&vec![Loaded(2), Loaded(3)]), Some(5));
        assert!((&&&Probe::<Opaque>::new()).rows().is_none());
        assert!((&&&Probe::<Opaque>::new()).table().is_none());
    }
}
