//! Reading a YAML configuration file, with the one error type the accounts
//! file, the customer thresholds file and the web configuration share.

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// Why a configuration file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {cause}")]
    Read { path: PathBuf, cause: std::io::Error },
    #[error("{path} is not a valid {what}: {message}")]
    Invalid {
        path: PathBuf,
        /// What the file should have been, as "accounts file".
        what: &'static str,
        message: String,
    },
}

/// Reads the YAML file at `path`, a `what`; an empty file reads as `T::default()`.
pub fn read_yaml<T: DeserializeOwned + Default>(path: &Path, what: &'static str) -> Result<T, Error> {
    let text = crate::local_file::read_to_string(path, crate::local_file::SETTINGS).map_err(|cause| Error::Read {
        path: path.to_owned(),
        cause,
    })?;
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    serde_yaml_ng::from_str(&text).map_err(|e| invalid(path, what, e.to_string()))
}

/// A problem with the contents of the file at `path`, a `what`.
pub fn invalid(path: &Path, what: &'static str, message: impl Into<String>) -> Error {
    Error::Invalid {
        path: path.to_owned(),
        what,
        message: message.into(),
    }
}
