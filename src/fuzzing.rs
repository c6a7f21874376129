//! The parsers of outside input, each fed arbitrary bytes through the same
//! function the exporter calls: the fuzz targets in `fuzz/` call these, and
//! `tests/fuzz_corpus.rs` replays every input of their corpora on stable
//! Rust. Each must return, whatever the bytes: never panic, never allocate
//! without bound, never take more than linear time.
//!
//! The file parsers read a file, as the exporter does: the bytes are written
//! to a scratch file of this process first. Nothing here is used by the
//! exporter itself.

use crate::config::{Config, Flags};
use crate::snapshot::Kind;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// A parser fed arbitrary bytes.
pub type Parser = fn(&[u8]);

/// Every parser, by the name of its fuzz target and corpus.
pub const TARGETS: &[(&str, Parser)] = &[
    ("api_answer", api_answer),
    ("accounts_file", accounts_file),
    ("web_config", web_config),
    ("credential_profile", credential_profile),
    ("metadata_answer", metadata_answer),
    ("snapshot_file", snapshot_file),
];

/// An API answer's body, as the client reads it: the envelope, then the
/// decoder of every action.
pub fn api_answer(data: &[u8]) {
    crate::api::read_as_every_answer(data);
}

/// An accounts file (`--config.file`), the variables it names all set.
pub fn accounts_file(data: &[u8]) {
    static FLAGS: OnceLock<Config> = OnceLock::new();
    let flags = FLAGS.get_or_init(|| {
        let flags = <Flags as clap::Parser>::parse_from(["exporter"]);
        Config::from_flags(flags, |_| Some("AKIDfuzz".into())).expect("the default flags are valid")
    });
    let path = scratch("accounts.yml", data);
    let _ = crate::config::accounts::load(&path, flags, |_| Some("AKIDfuzz".into()));
}

/// A web configuration file (`--web.config.file`).
pub fn web_config(data: &[u8]) {
    let path = scratch("web-config.yml", data);
    let _ = crate::http::web_config::WebConfig::load(&path);
}

/// A Tencent Cloud credentials file, read for its `default` profile.
pub fn credential_profile(data: &[u8]) {
    let path = scratch("credential", data);
    let _ = crate::api::credentials::from_profile(&path, "default");
}

/// The CVM metadata service's answers: the role listing and the role's key.
pub fn metadata_answer(data: &[u8]) {
    let _ = crate::api::credentials::role_of(data);
    let _ = crate::api::credentials::role_credentials(data);
}

/// A snapshot file of `--cache.snapshot-dir`, read as each collector's.
pub fn snapshot_file(data: &[u8]) {
    let Ok(store) = crate::store::Store::open(&scratch_dir().join("snapshots"), "default") else {
        return;
    };
    let day = Duration::from_secs(86_400);
    for kind in Kind::ALL {
        if std::fs::write(store.path(kind), data).is_ok() {
            let _ = store.load(kind, day, SystemTime::now());
        }
    }
}

/// Removes this process's scratch files, once it has fed every input.
pub fn remove_scratch() {
    let _ = std::fs::remove_dir_all(scratch_dir());
}

/// This process's scratch directory, made once.
fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tencentcloud-partner-exporter-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
        dir
    })
}

/// `data` written to the scratch file `name`.
fn scratch(name: &str, data: &[u8]) -> PathBuf {
    let path = scratch_dir().join(name);
    std::fs::write(&path, data).expect("the scratch file is writable");
    path
}
