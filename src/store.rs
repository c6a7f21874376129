//! Snapshots on disk (`--cache.snapshot-dir`), so a restart serves the last
//! values at once instead of waiting out a refresh — half an hour for the
//! allocations of 10,000 customers at the rate limit.
//!
//! Each collector's last published snapshot (complete, or what a refresh
//! under way had read so far) is one file,
//! `<dir>/<account>/<collector>.json`, written whole: a temporary file,
//! fsync, rename, fsync of the directory. The file carries a format name and
//! version, the account, the collector and when the refresh completed. A
//! file that is corrupt, of another format or version, from the future or
//! older than the maximum age is refused with the reason; the caller logs it
//! and starts cold. This module reads and writes files; what is served, and
//! when, is the cache's business.

use crate::snapshot::{Kind, Snapshot};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `format` of every snapshot file.
pub const FORMAT: &str = "tencentcloud-partner-exporter/snapshot";
/// The version written, and the only one read.
pub const VERSION: u32 = 1;
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
}

impl Store {
    /// The store of `account` under `root`; creates the directory.
    pub fn open(root: &Path, account: &str) -> Result<Self, Error> {
        let dir = root.join(account);
        std::fs::create_dir_all(&dir).map_err(|cause| Error::Write {
            path: dir.clone(),
            cause,
        })?;
        Ok(Self {
            dir,
            account: account.to_owned(),
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
        let file = File {
            format: FORMAT.into(),
            version: VERSION,
            account: self.account.clone(),
            collector: kind.name().into(),
            taken_at: unix(taken_at),
            complete,
            snapshot,
        };
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
        write(&temporary).map_err(failed)?;
        std::fs::rename(&temporary, &path).map_err(failed)?;
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
        if header.format != FORMAT || header.version != VERSION {
            return Err(Error::Foreign {
                path,
                format: header.format,
                version: header.version,
            });
        }
        let file: File<Snapshot> = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if file.collector != kind.name() || file.snapshot.kind() != kind || file.account != self.account {
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
                snapshot: file.snapshot,
                taken_at,
                complete: file.complete,
            })),
        }
    }
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
mod tests {
    use super::*;
    use crate::snapshot::{CustomerRow, CustomersSnapshot};

    fn customers() -> Snapshot {
        Snapshot::Customers(CustomersSnapshot {
            total: 1,
            customers: vec![CustomerRow {
                uin: 100001,
                remark: "a \"quoted\"\nremark".into(),
                credit: Some(1234.56),
                remaining: None,
                ..Default::default()
            }],
        })
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn two_writers_of_one_collector_at_once_leave_one_whole_file() {
        // An account stopping after a reload and its successor, both saving.
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (
            Store::open(dir.path(), "default").unwrap(),
            Store::open(dir.path(), "default").unwrap(),
        );
        let taken_at = UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        std::thread::scope(|s| {
            for store in [&first, &second] {
                s.spawn(move || {
                    for _ in 0..200 {
                        store.save(&customers(), taken_at, true).unwrap();
                    }
                });
            }
        });
        let restored = first.load(Kind::Customers, HOUR, taken_at).unwrap().unwrap();
        assert_eq!(restored.snapshot, customers());
        let names: Vec<_> = std::fs::read_dir(dir.path().join("default"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["customers.json"]);
    }

    #[test]
    fn a_saved_snapshot_loads_back_exactly_with_its_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "default").unwrap();
        let taken_at = UNIX_EPOCH + Duration::from_millis(1_764_000_000_250);
        store.save(&customers(), taken_at, true).unwrap();
        let restored = store
            .load(Kind::Customers, HOUR, taken_at + Duration::from_secs(5))
            .unwrap()
            .unwrap();
        assert_eq!(restored.snapshot, customers());
        assert_eq!(restored.taken_at, taken_at);
        assert!(store.load(Kind::Partner, HOUR, taken_at).unwrap().is_none());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("default"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec!["customers.json"], "no temporary file left behind");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path(Kind::Customers))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "only the exporter's user reads customers' data");
        }
    }

    #[test]
    fn old_future_foreign_and_other_accounts_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "default").unwrap();
        let now = SystemTime::now();
        store.save(&customers(), now - 2 * HOUR, true).unwrap();
        assert!(matches!(
            store.load(Kind::Customers, HOUR, now),
            Err(Error::TooOld { .. })
        ));
        store.save(&customers(), now + HOUR, true).unwrap();
        assert!(matches!(
            store.load(Kind::Customers, HOUR, now),
            Err(Error::Future { .. })
        ));
        let path = store.path(Kind::Customers);
        std::fs::write(&path, r#"{"format":"something-else","version":7}"#).unwrap();
        assert!(matches!(
            store.load(Kind::Customers, HOUR, now),
            Err(Error::Foreign { .. })
        ));
        std::fs::write(&path, "{\"format\": \"tencentcloud-partner-exporter/snapsh").unwrap();
        assert!(matches!(
            store.load(Kind::Customers, HOUR, now),
            Err(Error::Corrupt { .. })
        ));
        let other = Store::open(dir.path(), "other").unwrap();
        other.save(&customers(), now, false).unwrap();
        std::fs::copy(other.path(Kind::Customers), &path).unwrap();
        assert!(matches!(
            store.load(Kind::Customers, HOUR, now),
            Err(Error::Mismatch { .. })
        ));
    }
}
