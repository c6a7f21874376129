//! The snapshot files: written whole, read back exactly, refused with the
//! reason when they cannot be trusted.

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
        .filter(|name| name != ".lock")
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
        .filter(|name| name != ".lock")
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

#[test]
fn a_file_altered_after_it_was_written_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), "default").unwrap();
    let now = SystemTime::now();
    store.save(&customers(), now, true).unwrap();
    let path = store.path(Kind::Customers);
    let text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in [
        ("1234.56", "1234.57"),
        ("100001", "100002"),
        ("\"complete\":true", "\"complete\":false"),
    ] {
        assert!(text.contains(from), "{from} in {text}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        assert!(
            matches!(store.load(Kind::Customers, HOUR, now), Err(Error::Altered { .. })),
            "{from} changed to {to}"
        );
    }
    let taken = format!("{}", super::unix(now));
    let later = format!("{}", super::unix(now) - 1.0);
    std::fs::write(&path, text.replacen(&taken, &later, 1)).unwrap();
    assert!(matches!(
        store.load(Kind::Customers, HOUR, now),
        Err(Error::Altered { .. })
    ));
}

#[test]
fn a_file_of_the_version_before_checksums_is_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), "default").unwrap();
    let now = SystemTime::now();
    store.save(&customers(), now, true).unwrap();
    let path = store.path(Kind::Customers);
    let mut file: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    file["version"] = 1.into();
    file.as_object_mut().unwrap().remove("sha256");
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
    let restored = store.load(Kind::Customers, HOUR, now).unwrap().unwrap();
    assert_eq!(restored.snapshot, customers());
}

#[test]
fn a_failed_write_leaves_no_temporary_file_and_the_first_store_sweeps_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let account = dir.path().join("default");
    std::fs::create_dir_all(&account).unwrap();
    let stale = account.join(".vouchers.json.4242.7.tmp");
    std::fs::write(&stale, "half a snapshot").unwrap();
    let store = Store::open(dir.path(), "default").unwrap();
    assert!(!stale.exists(), "a killed write's temporary file is swept at start");
    // The rename fails: the file's place is a directory.
    std::fs::create_dir(store.path(Kind::Customers)).unwrap();
    std::fs::write(store.path(Kind::Customers).join("x"), "").unwrap();
    assert!(matches!(
        store.save(&customers(), SystemTime::now(), true),
        Err(Error::Write { .. })
    ));
    let temporaries: Vec<_> = std::fs::read_dir(&account)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| super::lock::is_temporary(name))
        .collect();
    assert!(temporaries.is_empty(), "{temporaries:?}");
}

#[test]
fn a_directory_is_one_process_s_and_shared_within_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path(), "default").unwrap();
    // A reload's successor in this process shares the lock.
    let successor = Store::open(dir.path(), "default").unwrap();
    drop(first);
    // Another process: another open file description of the lock file.
    let other = std::fs::File::open(dir.path().join("default/.lock")).unwrap();
    assert!(matches!(other.try_lock(), Err(std::fs::TryLockError::WouldBlock)));
    drop(successor);
    assert!(other.try_lock().is_ok(), "released with the last store");
}
