//! Saving a step's output to a file and reading it back, so that a step can
//! run in another process (or on another machine) from its inputs, and a
//! failed run can be resumed without running again what succeeded.
//!
//! A step's [`Codec`] says how: Arrow data ([`Batches`], [`RecordBatch`],
//! `Vec<RecordBatch>`) as an Arrow IPC file, anything else that is serde's
//! `Serialize + Deserialize` as JSON. `#[workflow]` picks the codec from each
//! step's output type at compile time; a step built with
//! [`Step::new`](super::Step::new) gets one with
//! [`Step::codec`](super::Step::codec). A step whose output has no codec
//! still runs, but its output lives only in the process that ran it.
//!
//! Files are written to a temporary name and renamed into place: a reader
//! never sees half a file.
//!
//! ```
//! use etl_core::dag::Codec;
//! use etl_core::Batches;
//!
//! assert_eq!(Codec::arrow::<Batches>().extension(), "arrow");
//! assert_eq!(Codec::json::<Vec<String>>().extension(), "json");
//! ```

use std::any::Any;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Output, Produced};
use crate::{Batches, Error, Result};

/// Tables as Arrow record batches: what a step's output must be to be saved
/// as an Arrow IPC file.
pub trait ArrowData: Send + Sync + Sized + 'static {
    /// The schema and the batches (cheap: columns are shared).
    fn to_batches(&self) -> Result<(SchemaRef, Vec<RecordBatch>)>;
    /// The value back from what [`ArrowData::to_batches`] gave.
    fn from_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<Self>;
}

impl ArrowData for Batches {
    fn to_batches(&self) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        Ok((self.schema().clone(), self.batches().to_vec()))
    }
    fn from_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<Self> {
        Batches::new(schema, batches)
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

/// A step's output as a table, when it is one: Arrow data, or a Polars
/// `DataFrame` with the `polars` feature.
#[cfg_attr(not(feature = "datafusion"), allow(dead_code))]
pub(crate) fn as_table(
    value: &(dyn Any + Send + Sync),
) -> Option<Result<(SchemaRef, Vec<RecordBatch>)>> {
    if let Some(v) = value.downcast_ref::<Batches>() {
        return Some(v.to_batches());
    }
    if let Some(v) = value.downcast_ref::<RecordBatch>() {
        return Some(v.to_batches());
    }
    if let Some(v) = value.downcast_ref::<Vec<RecordBatch>>() {
        return Some(v.to_batches());
    }
    #[cfg(feature = "polars")]
    if let Some(v) = value.downcast_ref::<polars::prelude::DataFrame>() {
        return Some(v.to_batches());
    }
    None
}

/// How one step's output is saved and read back.
#[derive(Clone, Copy)]
pub struct Codec {
    extension: &'static str,
    type_name: &'static str,
    save: fn(&(dyn Any + Send + Sync), &Path) -> Result<()>,
    load: fn(&Path) -> Result<Output>,
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
    /// Arrow data as an Arrow IPC file (`.arrow`).
    pub fn arrow<T: ArrowData>() -> Codec {
        Codec {
            extension: "arrow",
            type_name: std::any::type_name::<T>(),
            save: |value, path| {
                let (schema, batches) = downcast::<T>(value)?.to_batches()?;
                write_atomically(path, |file| {
                    let mut writer = FileWriter::try_new(file, &schema)
                        .map_err(|e| Error::arrow(format!("writing {}", path.display()), e))?;
                    for batch in &batches {
                        writer
                            .write(batch)
                            .map_err(|e| Error::arrow(format!("writing {}", path.display()), e))?;
                    }
                    writer
                        .finish()
                        .map_err(|e| Error::arrow(format!("writing {}", path.display()), e))
                })
            },
            load: |path| {
                let file = File::open(path).map_err(|e| Error::io(path, e))?;
                let reader = FileReader::try_new(BufReader::new(file), None)
                    .map_err(|e| Error::arrow(format!("reading {}", path.display()), e))?;
                let schema = reader.schema();
                let batches = reader
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| Error::arrow(format!("reading {}", path.display()), e))?;
                Ok(Arc::new(T::from_batches(schema, batches)?) as Output)
            },
        }
    }

    /// A serde value as JSON (`.json`).
    pub fn json<T>() -> Codec
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        Codec {
            extension: "json",
            type_name: std::any::type_name::<T>(),
            save: |value, path| {
                let value = downcast::<T>(value)?;
                write_atomically(path, |file| {
                    let mut out = BufWriter::new(file);
                    serde_json::to_writer(&mut out, value).map_err(|e| {
                        Error::Config(format!(
                            "{}: cannot be written as JSON: {e}",
                            path.display()
                        ))
                    })?;
                    out.flush().map_err(|e| Error::io(path, e))
                })
            },
            load: |path| {
                let file = File::open(path).map_err(|e| Error::io(path, e))?;
                let value: T = serde_json::from_reader(BufReader::new(file)).map_err(|e| {
                    Error::Config(format!(
                        "{}: is not a saved {}: {e}",
                        path.display(),
                        std::any::type_name::<T>()
                    ))
                })?;
                Ok(Arc::new(value) as Output)
            },
        }
    }

    /// The file name's extension: `arrow` or `json`.
    pub fn extension(&self) -> &'static str {
        self.extension
    }

    /// The Rust type it saves.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// Where step `step`'s output goes in `dir`: `<dir>/<step>.<extension>`,
    /// the step's name made safe for a file name.
    pub fn file_in(&self, dir: &Path, step: &str) -> PathBuf {
        let safe: String = step
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || matches!(c, '_' | '-' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        dir.join(format!("{safe}.{}", self.extension))
    }

    pub(crate) fn save(&self, produced: &Produced, path: &Path) -> Result<()> {
        (self.save)(&*produced.value, path)
    }

    pub(crate) fn load(&self, path: &Path) -> Result<Produced> {
        Ok(Produced {
            value: (self.load)(path)?,
            type_name: self.type_name,
        })
    }
}

fn downcast<T: 'static>(value: &(dyn Any + Send + Sync)) -> Result<&T> {
    value.downcast_ref::<T>().ok_or_else(|| {
        Error::Internal(format!(
            "a step's output is not the {} its codec saves",
            std::any::type_name::<T>()
        ))
    })
}

/// Writes `path` through a temporary file in the same folder, renamed into
/// place once complete: a reader sees the old file or the whole new one.
fn write_atomically(path: &Path, write: impl FnOnce(File) -> Result<()>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let written =
        write(file).and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Picks a step's codec from its output type at compile time, for code
/// generated by `#[workflow]`: `(&&&Probe::<T>::new()).codec()` with the
/// three probe traits in scope is Arrow for [`ArrowData`], JSON for serde
/// types, and `None` for anything else (method resolution tries `&&Probe`
/// first, then `&Probe`, then `Probe`).
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
pub trait ProbeArrow {
    fn codec(&self) -> Option<Codec>;
}

impl<T: ArrowData> ProbeArrow for &&Probe<T> {
    fn codec(&self) -> Option<Codec> {
        Some(Codec::arrow::<T>())
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
pub trait ProbeNone {
    fn codec(&self) -> Option<Codec>;
}

impl<T> ProbeNone for Probe<T> {
    fn codec(&self) -> Option<Codec> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

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

    fn produced<T: Send + Sync + 'static>(value: T) -> Produced {
        Produced {
            value: Arc::new(value),
            type_name: std::any::type_name::<T>(),
        }
    }

    #[test]
    fn arrow_data_round_trips_through_an_ipc_file() {
        let dir = tempfile::tempdir().unwrap();
        let codec = Codec::arrow::<Batches>();
        let path = codec.file_in(dir.path(), "users");
        assert_eq!(path, dir.path().join("users.arrow"));
        codec.save(&produced(table()), &path).unwrap();
        let back = codec.load(&path).unwrap();
        assert_eq!(back.value.downcast_ref::<Batches>(), Some(&table()));
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        let one = Codec::arrow::<RecordBatch>();
        let path = one.file_in(dir.path(), "one");
        one.save(&produced(table().concat().unwrap()), &path)
            .unwrap();
        let back = one.load(&path).unwrap();
        assert_eq!(
            back.value.downcast_ref::<RecordBatch>().unwrap().num_rows(),
            3
        );
    }

    #[test]
    fn serde_values_round_trip_through_json() {
        let dir = tempfile::tempdir().unwrap();
        let codec = Codec::json::<(u64, Vec<String>)>();
        let path = codec.file_in(dir.path(), "odd name/with: slash");
        assert_eq!(path, dir.path().join("odd_name_with__slash.json"));
        let value = (7_u64, vec!["a".to_string(), "b".to_string()]);
        codec.save(&produced(value.clone()), &path).unwrap();
        let back = codec.load(&path).unwrap();
        assert_eq!(back.value.downcast_ref(), Some(&value));
    }

    #[test]
    fn a_file_of_another_shape_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, "\"text\"").unwrap();
        let err = Codec::json::<u64>().load(&path).err().unwrap().to_string();
        assert!(err.contains("x.json") && err.contains("u64"), "{err}");
        let err = Codec::arrow::<Batches>()
            .load(&dir.path().join("missing.arrow"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("missing.arrow"), "{err}");
    }

    #[test]
    // The three borrows are the mechanism: each is one step of method resolution.
    #[allow(clippy::needless_borrow)]
    fn the_probe_picks_arrow_then_json_then_none() {
        struct Opaque;
        let arrow = (&&&Probe::<Batches>::new()).codec();
        let json = (&&&Probe::<Vec<u8>>::new()).codec();
        let none = (&&&Probe::<Opaque>::new()).codec();
        assert_eq!(arrow.map(|c| c.extension()), Some("arrow"));
        assert_eq!(json.map(|c| c.extension()), Some("json"));
        assert!(none.is_none());
    }
}
