//! One process per snapshot directory: each account's directory is locked
//! (`flock` on `<dir>/.lock`) for as long as the process uses it, so a
//! second exporter on the same `--cache.snapshot-dir` fails to start rather
//! than write the same files. The account restarted by a reload shares its
//! predecessor's lock. Whoever takes the lock first sweeps away the
//! temporary files a killed or failed write left behind.

use std::collections::HashMap;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// The lock of one directory, released when the last store using it goes.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Why a directory could not be locked.
#[derive(Debug)]
pub enum Refused {
    /// Another process holds it.
    Held,
    Io(std::io::Error),
}

/// The directories this process holds, so that the stores of one account
/// (the one a reload stops and its successor) share one lock.
static HELD: Mutex<Option<HashMap<PathBuf, Weak<DirLock>>>> = Mutex::new(None);

/// Locks `dir` for this process, or shares the lock it already holds.
pub fn lock(dir: &Path) -> Result<Arc<DirLock>, Refused> {
    let key = dir.canonicalize().map_err(Refused::Io)?;
    let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
    let held = held.get_or_insert_with(HashMap::new);
    if let Some(lock) = held.get(&key).and_then(Weak::upgrade) {
        return Ok(lock);
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(key.join(".lock"))
        .map_err(Refused::Io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(Refused::Held),
        Err(TryLockError::Error(error)) => return Err(Refused::Io(error)),
    }
    sweep_temporaries(&key);
    let lock = Arc::new(DirLock { _file: file });
    held.retain(|_, lock| lock.strong_count() > 0);
    held.insert(key, Arc::downgrade(&lock));
    Ok(lock)
}

/// Whether `name` is a temporary file of a snapshot being written.
pub fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp") && name.contains(".json.")
}

/// Removes what writes that never finished left in `dir`: nobody else
/// writes there, the lock says so.
fn sweep_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_str().is_some_and(is_temporary) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(file = %entry.path().display(), "removed the temporary file of a snapshot write that never finished")
                }
                Err(error) => {
                    tracing::warn!(file = %entry.path().display(), %error, "cannot remove a stale temporary snapshot file")
                }
            }
        }
    }
}
