//! Where a run's saved step outputs live: an [`OutputStore`]. The runtime
//! writes each output with its [`Codec`](crate::Codec) through the store
//! and records the location the store gives back (a path, a URL); a later
//! run, or a step in another process, reads it back from that location.
//!
//! [`Folder`] keeps them in a local folder, `<root>/<run id>/<step>.<ext>`.
//! `etl-runs` adds buckets (S3, GCS, Azure) for runs shared by machines
//! with no disk in common. A store saves all or nothing: no reader sees half
//! an output.
//!
//! ```
//! use etl_dag::{Folder, OutputStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! # let dir = tempfile::tempdir().unwrap();
//! let folder = Folder::new(dir.path());
//! let at = folder
//!     .save("run-1", "total.json", Box::new(|out| Ok(out.write_all(b"42")?)))
//!     .await
//!     .unwrap();
//! assert!(at.ends_with("run-1/total.json"));
//! assert!(folder.exists(&at).await.unwrap());
//! let mut text = String::new();
//! std::io::Read::read_to_string(&mut folder.open(&at).await.unwrap(), &mut text).unwrap();
//! assert_eq!(text, "42");
//! # }
//! ```

use std::fmt;
use std::fs::File;
use std::future::Future;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;

use crate::BoxError;
use crate::output::ReadSeek;

/// What an [`OutputStore`] method returns.
pub type OutputFuture<'a, T> =
    Pin<Box<dyn Future<Output = std::result::Result<T, BoxError>> + Send + 'a>>;

/// What saving an output writes: the codec's bytes, to the writer it is given.
pub type WriteFn = Box<dyn FnOnce(&mut dyn Write) -> std::result::Result<(), BoxError> + Send>;

/// A place for saved step outputs, shared by the processes of a run.
pub trait OutputStore: Send + Sync + fmt::Debug {
    /// Where the store is, for messages: a path, or a URL with no credentials.
    fn describe(&self) -> String;

    /// Saves output `name` (`<step>.<extension>`, safe as a file name) of
    /// run `run_id` (checked by [`check_run_id`](crate::check_run_id)) with
    /// `write`, all or nothing, replacing an older one; its location.
    fn save<'a>(
        &'a self,
        run_id: &'a str,
        name: &'a str,
        write: WriteFn,
    ) -> OutputFuture<'a, String>;

    /// The output saved at `location`, to read from its start.
    fn open<'a>(&'a self, location: &'a str) -> OutputFuture<'a, Box<dyn ReadSeek>>;

    /// Whether an output is saved at `location`.
    fn exists<'a>(&'a self, location: &'a str) -> OutputFuture<'a, bool>;
}

/// Outputs in a local folder: `<root>/<run id>/<name>` (or, for
/// [`Runner::persist_outputs`](crate::Runner::persist_outputs), `<root>/<name>`).
/// Each file is written under a temporary name and renamed into place.
/// Any path recorded by an earlier run opens, wherever it is; a URL does not.
#[derive(Debug, Clone)]
pub struct Folder {
    root: PathBuf,
    per_run: bool,
}

impl Folder {
    /// Outputs under `root`, a folder per run.
    pub fn new(root: impl Into<PathBuf>) -> Folder {
        Folder {
            root: root.into(),
            per_run: true,
        }
    }

    /// One run's outputs, straight in `dir`.
    pub(crate) fn flat(dir: impl Into<PathBuf>) -> Folder {
        Folder {
            root: dir.into(),
            per_run: false,
        }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn local(location: &str) -> std::result::Result<&Path, BoxError> {
        if location.contains("://") {
            return Err(format!(
                "{location} is in object storage, and this program's outputs are a local folder \
                 (give it the same outputs URL as the run that saved it)"
            )
            .into());
        }
        Ok(Path::new(location))
    }
}

impl OutputStore for Folder {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn save<'a>(
        &'a self,
        run_id: &'a str,
        name: &'a str,
        write: WriteFn,
    ) -> OutputFuture<'a, String> {
        Box::pin(async move {
            crate::check_run_id(run_id)?;
            check_name(name)?;
            let path = if self.per_run {
                self.root.join(run_id).join(name)
            } else {
                self.root.join(name)
            };
            let location = path
                .to_str()
                .ok_or_else(|| format!("{} is not UTF-8", path.display()))?
                .to_owned();
            tokio::task::spawn_blocking(move || {
                write_atomically(&path, |file| {
                    let mut out = BufWriter::new(file);
                    write(&mut out)?;
                    Ok(out.flush()?)
                })
            })
            .await??;
            Ok(location)
        })
    }

    fn open<'a>(&'a self, location: &'a str) -> OutputFuture<'a, Box<dyn ReadSeek>> {
        Box::pin(async move {
            let path = Self::local(location)?.to_owned();
            let file = tokio::task::spawn_blocking(move || File::open(path)).await??;
            Ok(Box::new(BufReader::new(file)) as Box<dyn ReadSeek>)
        })
    }

    fn exists<'a>(&'a self, location: &'a str) -> OutputFuture<'a, bool> {
        Box::pin(async move {
            let path = Self::local(location)?.to_owned();
            Ok(tokio::task::spawn_blocking(move || path.try_exists()).await??)
        })
    }
}

/// An output's name must be one plain file name: what
/// [`Codec::file_name`](crate::Codec::file_name) makes.
pub fn check_name(name: &str) -> std::result::Result<(), BoxError> {
    let plain = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if plain {
        Ok(())
    } else {
        Err(format!("{name:?} is not a plain file name for a saved output").into())
    }
}

/// Writes `path` through a temporary file in the same folder, renamed into
/// place once complete: a reader sees the old file or the whole new one.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(File) -> std::result::Result<(), BoxError>,
) -> std::result::Result<(), BoxError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let file = File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let written = write(file).and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()).into())
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
