//! Snapshots on disk (`--cache.snapshot-dir`), so a restart serves the last
//! values at once instead of waiting out a refresh — half an hour for the
//! allocations of 10,000 customers at the rate limit.
//!
//! Each collector's last published snapshot (complete, or what a refresh
//! under way had read so far) is one file,
//! `<dir>/<account>/<collector>.json`, written whole: a temporary file,
//! fsync, rename, fsync of the directory; a write that fails removes its
//! temporary file, and the first store of a directory sweeps away those of
//! writes killed half-way. The file carries a format name and version, the
//! account, the collector, when the refresh completed, and a SHA-256 of all
//! of it. A file that is corrupt, altered, of another format or version,
//! from the future or older than the maximum age is refused with the reason;
//! the caller logs it and starts cold. The directory of each account is
//! locked by one process ([`lock`]). This module reads and writes files;
//! what is served, and when, is the cache's business.

mod lock;

use crate::snapshot::{Kind, Snapshot};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `format` of every snapshot file.
pub const FORMAT: &str = "tencentcloud-partner-exporter/snapshot";
/// The version written: 2 carries a checksum. Version 1, without one, is
/// still read, so that an upgrade does not start cold.
pub const VERSION: u32 = 2;
/// The version before checksums.
const UNCHECKED: u32 = 1;
/// The most a snapshot file may hold: room for a partner a hundred times
/// the 50,000 vouchers of the scale benchmark (a voucher is a few hundred
/// bytes of JSON), while a file that is not a snapshot is refused rather
/// than read whole.
const MOST: u64 = 2 << 30;
/// How far ahead of this host's clock a file's time may be before it is
/// refused as from the future (clocks of two hosts in a cluster differ a little).
const CLOCK_TOLERANCE: Duration = Duration::from_secs(60);

/// Why a snapshot file was not written or not used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot write {path}: {cause}")]
    Write { path: PathBuf, cause: std::io::Error },
    #[error("cannot read {path}: {cause}")]
    Read { path: PathBuf, cause: std::io::Error },
    #[error(
        "{path} is in use by another process: two exporters cannot share a --cache.snapshot-dir (give each its own)"
    )]
    Locked { path: PathBuf },
    #[error("{path} does not match its checksum: it was altered or damaged after it was written")]
    Altered { path: PathBuf },
    #[error("{path} is not a snapshot file: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("{path} is of format {format:?} version {version}, not {FORMAT:?} version {VERSION}")]
    Foreign {
        path: PathBuf,
        format: String,
        version: u32,
    },
    #[error("{path} holds {found}/{found_account}, not {expected}/{expected_account}")]
    Mismatch {
        path: PathBuf,
        found: String,
        found_account: String,
        expected: Kind,
        expected_account: String,
    },
    #[error("{path} was written {ahead:?} in the future by this host's clock")]
    Future { path: PathBuf, ahead: Duration },
    #[error("{path} is {age:?} old, older than the maximum age of {max_age:?}")]
    TooOld {
        path: PathBuf,
        age: Duration,
        max_age: Duration,
    },
}

/// The file's contents.
#[derive(Serialize, Deserialize)]
struct File<S> {
    format: String,
    version: u32,
    account: String,
    collector: String,
    /// Unix seconds at which the snapshot was published.
    taken_at: f64,
    /// False for what a refresh still under way had read so far: a restart
    /// goes on from it. Files written before parts were published are whole.
    #[serde(default = "whole")]
    complete: bool,
    /// SHA-256, in hex, of the other fields (see [`checksum`]); absent in
    /// version 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    // `taken_at` is in the checksum by its bits: serde_json's
    // `float_roundtrip` reads back exactly the f64 written.
    snapshot: S,
}

fn whole() -> bool {
    true
}

/// Only the header, to tell a foreign file from a corrupt one.
#[derive(Deserialize)]
struct Header {
    format: String,
    version: u32,
}

/// A snapshot read back, with when it was taken.
#[derive(Debug)]
pub struct Restored {
    pub snapshot: Snapshot,
    pub taken_at: SystemTime,
    /// Whether a refresh completed it (false: a part of a refresh).
    pub complete: bool,
}

/// The snapshot directory of one account.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    account: String,
    _lock: Arc<lock::DirLock>,
}

impl Store {
    /// The store of `account` under `root`; creates the directory and locks
    /// it for this process.
    pub fn open(root: &Path, account: &str) -> Result<Self, Error> {
        let dir = root.join(account);
        let cannot = |cause| Error::Write {
            path: dir.clone(),
            cause,
        };
        std::fs::create_dir_all(&dir).map_err(cannot)?;
        let lock = lock::lock(&dir).map_err(|refused| match refused {
            lock::Refused::Held => Error::Locked { path: dir.clone() },
            lock::Refused::Io(cause) => cannot(cause),
        })?;
        Ok(Self {
            dir,
            account: account.to_owned(),
            _lock: lock,
        })
    }

    /// The file of `kind`.
    pub fn path(&self, kind: Kind) -> PathBuf {
        self.dir.join(format!("{}.json", kind.name()))
    }

    /// Writes `snapshot`, taken at `taken_at` (`complete`, or a part of a
    /// refresh under way), replacing the previous file whole.
    pub fn save(&self, snapshot: &Snapshot, taken_at: SystemTime, complete: bool) -> Result<(), Error> {
        let kind = snapshot.kind();
        let path = self.path(kind);
        let mut file = File {
            format: FORMAT.into(),
            version: VERSION,
            account: self.account.clone(),
            collector: kind.name().into(),
            taken_at: unix(taken_at),
            complete,
            sha256: None,
            snapshot,
        };
        // The snapshot is encoded twice, once for its checksum and once to
        // the file, rather than held whole in memory (tens of megabytes).
        let mut hasher = Hasher(checksum_of_header(&file));
        serde_json::to_writer(&mut hasher, snapshot).map_err(|e| Error::Write {
            path: path.clone(),
            cause: e.into(),
        })?;
        file.sha256 = Some(hex(hasher.0.finalize().as_slice()));
        // Unique per writer: an account stopping after a reload and its
        // successor may write the same collector's file at once.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let write_id = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temporary = self
            .dir
            .join(format!(".{}.json.{}.{write_id}.tmp", kind.name(), std::process::id()));
        let write = |path: &Path| -> std::io::Result<()> {
            let mut out = std::io::BufWriter::new(create_private(path)?);
            serde_json::to_writer(&mut out, &file)?;
            let out = out.into_inner().map_err(|e| e.into_error())?;
            out.sync_all()
        };
        let failed = |cause| Error::Write {
            path: path.clone(),
            cause,
        };
        if let Err(cause) = write(&temporary).and_then(|()| std::fs::rename(&temporary, &path)) {
            // Not left to fill the disk: a full one is the likeliest cause.
            let _ = std::fs::remove_file(&temporary);
            return Err(failed(cause));
        }
        // The rename is durable only once the directory is.
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(failed)?;
        Ok(())
    }

    /// Reads the snapshot of `kind` if there is one, refusing it if it is not
    /// this account's, or not younger than `max_age` at `now`.
    pub fn load(&self, kind: Kind, max_age: Duration, now: SystemTime) -> Result<Option<Restored>, Error> {
        let path = self.path(kind);
        let bytes = match crate::local_file::read(&path, MOST) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(cause) => return Err(Error::Read { path, cause }),
        };
        let corrupt = |message: String| Error::Corrupt {
            path: path.clone(),
            message,
        };
        let header: Header = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if header.format != FORMAT || !(UNCHECKED..=VERSION).contains(&header.version) {
            return Err(Error::Foreign {
                path,
                format: header.format,
                version: header.version,
            });
        }
        let file: File<&RawValue> = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if header.version > UNCHECKED {
            let mut hasher = checksum_of_header(&file);
            hasher.update(file.snapshot.get().as_bytes());
            if file.sha256.as_deref() != Some(hex(hasher.finalize().as_slice()).as_str()) {
                return Err(Error::Altered { path });
            }
        }
        let snapshot: Snapshot = serde_json::from_str(file.snapshot.get()).map_err(|e| corrupt(e.to_string()))?;
        if file.collector != kind.name() || snapshot.kind() != kind || file.account != self.account {
            return Err(Error::Mismatch {
                path,
                found: file.collector,
                found_account: file.account,
                expected: kind,
                expected_account: self.account.clone(),
            });
        }
        let taken_at = Duration::try_from_secs_f64(file.taken_at)
            .ok()
            .and_then(|since_epoch| UNIX_EPOCH.checked_add(since_epoch))
            .ok_or_else(|| corrupt(format!("taken_at {} is not a time", file.taken_at)))?;
        match now.duration_since(taken_at) {
            Err(ahead) if ahead.duration() > CLOCK_TOLERANCE => Err(Error::Future {
                path,
                ahead: ahead.duration(),
            }),
            Ok(age) if age >= max_age => Err(Error::TooOld { path, age, max_age }),
            _ => Ok(Some(Restored {
                snapshot,
                taken_at,
                complete: file.complete,
            })),
        }
    }
}

/// A SHA-256 under way of a file's fields other than its snapshot, each
/// length-prefixed so that no two files share one; the snapshot's bytes,
/// as written, follow.
fn checksum_of_header<S>(file: &File<S>) -> Sha256 {
    let mut hasher = Sha256::new();
    let taken_at = file.taken_at.to_bits().to_be_bytes();
    let fields: [&[u8]; 6] = [
        file.format.as_bytes(),
        &file.version.to_be_bytes(),
        file.account.as_bytes(),
        file.collector.as_bytes(),
        &taken_at,
        &[u8::from(file.complete)],
    ];
    for field in fields {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field);
    }
    hasher
}

/// Feeds what is written to a SHA-256.
struct Hasher(Sha256);

impl Write for Hasher {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Creates (or truncates) a file only its owner can read: a snapshot holds
/// customers' remarks and names.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

#[cfg(test)]
mod tests;
