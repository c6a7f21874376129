//! How many connections the server holds, bounded by what the process may
//! open: the soft open-file limit is raised to the hard one at start (as Go
//! programs, node_exporter among them, do), connections are capped below it
//! (`--web.max-connections`), and beyond the cap the oldest connection is
//! asked to close (at once when idle, after its response otherwise) so that
//! a crowd of idle ones cannot lock the scraper out. Failures to accept are
//! logged once per [`ACCEPT_LOG_EVERY`] with how many there were. Nothing
//! here speaks HTTP.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Descriptors kept for what is not a connection: the listener, snapshot
/// files, outbound calls to the API, the log.
const RESERVED_FDS: u64 = 64;
/// How often accept errors are logged, at most.
pub const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(10);

/// Raises the soft limit on open files to the hard one; returns the soft
/// limit in force, if it can be read.
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.current?;
    // An unlimited hard limit is not a soft one the kernel takes.
    let hard = limit.maximum.unwrap_or(1 << 20);
    if soft >= hard {
        return Some(soft);
    }
    let raised = Rlimit {
        current: Some(hard),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => Some(hard),
        Err(error) => {
            tracing::debug!(%error, soft, hard, "cannot raise the open-file limit");
            Some(soft)
        }
    }
}

/// The connections a process with `open_files` descriptors may hold, when
/// `wanted` are asked for; says so when it is fewer.
pub fn cap(wanted: usize, open_files: Option<u64>) -> usize {
    let Some(open_files) = open_files else {
        return wanted;
    };
    let room = open_files.saturating_sub(RESERVED_FDS).max(1) as usize;
    if room < wanted {
        tracing::warn!(
            wanted,
            open_files,
            serving = room,
            "--web.max-connections is above what the open-file limit leaves room for; raise LimitNOFILE (systemd) or ulimit -n"
        );
    }
    wanted.min(room)
}

/// The connections open, oldest first.
#[derive(Clone)]
pub struct Connections {
    inner: Arc<Mutex<Open>>,
    max: usize,
}

struct Open {
    next: u64,
    by_age: BTreeMap<u64, CancellationToken>,
}

/// One connection's place, given back when dropped; `close` is cancelled
/// when the connection is to close.
pub struct Place {
    id: u64,
    pub close: CancellationToken,
    connections: Connections,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.connections.lock().by_age.remove(&self.id);
    }
}

impl Connections {
    pub fn new(max: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Open {
                next: 0,
                by_age: BTreeMap::new(),
            })),
            max: max.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a new connection, closed with `stop`; the oldest
    /// connections are asked to close when the cap is reached.
    pub fn admit(&self, stop: &CancellationToken) -> Place {
        let close = stop.child_token();
        let mut open = self.lock();
        while open.by_age.len() >= self.max {
            let Some((_, oldest)) = open.by_age.pop_first() else {
                break;
            };
            oldest.cancel();
        }
        let id = open.next;
        open.next += 1;
        open.by_age.insert(id, close.clone());
        Place {
            id,
            close,
            connections: self.clone(),
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().by_age.len()
    }
}

/// Accept errors since the last logged: out of descriptors and the like.
#[derive(Default)]
pub struct AcceptErrors {
    since: u64,
    logged: Option<Instant>,
}

impl AcceptErrors {
    /// Counts `error`, and logs it with the count unless one was logged
    /// within [`ACCEPT_LOG_EVERY`].
    pub fn record(&mut self, error: &std::io::Error, open: usize) {
        self.since += 1;
        if self.logged.is_some_and(|at| at.elapsed() < ACCEPT_LOG_EVERY) {
            return;
        }
        tracing::warn!(%error, errors = self.since, connections = open, "cannot accept connections");
        self.since = 0;
        self.logged = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beyond_the_cap_the_oldest_connection_is_asked_to_close() {
        let (connections, stop) = (Connections::new(2), CancellationToken::new());
        let first = connections.admit(&stop);
        let second = connections.admit(&stop);
        assert!(!first.close.is_cancelled());
        let third = connections.admit(&stop);
        assert!(first.close.is_cancelled(), "the oldest goes");
        assert!(!second.close.is_cancelled() && !third.close.is_cancelled());
        assert_eq!(connections.open(), 2);
        drop(first);
        assert_eq!(connections.open(), 2, "a closed one does not free a place twice");
        drop(second);
        assert_eq!(connections.open(), 1);
        stop.cancel();
        assert!(third.close.is_cancelled(), "a stop closes every connection");
    }

    #[test]
    fn the_cap_leaves_room_for_the_processs_other_files() {
        assert_eq!(cap(512, Some(1024)), 512);
        assert_eq!(cap(2048, Some(1024)), 1024 - RESERVED_FDS as usize);
        assert_eq!(cap(512, Some(10)), 1);
        assert_eq!(cap(512, None), 512);
    }

    #[test]
    fn the_soft_open_file_limit_is_raised_to_the_hard_one() {
        use rustix::process::{Resource, getrlimit};
        let soft = raise_open_file_limit().unwrap();
        let now = getrlimit(Resource::Nofile);
        assert_eq!(now.current, Some(soft));
        if let Some(hard) = now.maximum {
            assert_eq!(soft, hard);
        }
    }
}
