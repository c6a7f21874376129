//! Reading a local file the operator names (configuration, credentials, TLS
//! material, the snapshots kept on disk) with a cap on its size. A path that
//! turns out to be a device (`/dev/zero`), or a file that grew by mistake, is
//! refused with one error, not read into memory without end. Depends on
//! nothing else in the exporter.

use std::io::{self, Read};
use std::path::Path;

/// The most a configuration, credentials or PEM file may hold: twenty times
/// the largest such file in common use, a system's bundle of CA certificates
/// (about 200 KB).
pub const SETTINGS: u64 = 4 << 20;

/// Reads the file at `path`, refusing one of more than `limit` bytes.
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("it holds more than {}, the most this file may hold", size(limit)),
        ));
    }
    Ok(bytes)
}

/// Reads the UTF-8 text of the file at `path`, as [`read`].
pub fn read_to_string(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

/// `bytes` for a person: "4 MiB".
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b.is_multiple_of(1 << 30) => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b.is_multiple_of(1 << 20) => format!("{} MiB", b >> 20),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_up_to_the_limit_is_read_and_a_longer_one_or_a_device_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "0123456789").unwrap();
        assert_eq!(read(&path, 10).unwrap(), b"0123456789");
        let error = read(&path, 9).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(
            error.to_string(),
            "it holds more than 9 bytes, the most this file may hold"
        );
        let endless = read_to_string(Path::new("/dev/zero"), SETTINGS).unwrap_err();
        assert_eq!(
            endless.to_string(),
            "it holds more than 4 MiB, the most this file may hold"
        );
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert_eq!(
            read_to_string(&path, 10).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
