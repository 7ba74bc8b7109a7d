//! Which process runs what: each process that runs steps holds an exclusive
//! lock on a file of its own for as long as it lives. A run or step marked
//! RUNNING by an owner whose lock can be taken belongs to a process that
//! died; nothing is left RUNNING for ever, without heartbeats, and a reused
//! process id cannot pass for the dead process.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// This process's claim: its lock file, locked until dropped.
pub(crate) struct Owner {
    id: String,
    path: PathBuf,
    _file: File,
}

impl Owner {
    /// Creates and locks `dir/<pid>-<nonce>.lock`.
    pub(crate) fn claim(dir: &Path) -> std::io::Result<Owner> {
        std::fs::create_dir_all(dir)?;
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let id = format!("{}-{nonce:x}", std::process::id());
        let path = dir.join(format!("{id}.lock"));
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)?;
        file.try_lock().map_err(|e| match e {
            TryLockError::Error(e) => e,
            TryLockError::WouldBlock => std::io::Error::other("a new lock file is locked"),
        })?;
        writeln!(file, "pid {}", std::process::id())?;
        Ok(Owner {
            id,
            path,
            _file: file,
        })
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Removed while still locked: a reader that opens it in between
        // finds it locked; one that opens it after finds nothing. Both are right.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether the process that claimed `id` in `dir` still runs: its lock is
/// held. When it is not, the lock file is removed.
pub(crate) fn is_alive(dir: &Path, id: &str) -> bool {
    let path = dir.join(format!("{id}.lock"));
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return false,
        // Unreadable: assume alive rather than fail a run that may be going.
        Err(_) => return true,
    };
    match file.try_lock() {
        Ok(()) => {
            let _ = std::fs::remove_file(&path);
            false
        }
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(_)) => true,
    }
}

/// The process id in an owner id, for messages.
pub(crate) fn pid_of(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}
