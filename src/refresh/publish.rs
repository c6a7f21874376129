//! Publishing a collector's values: a complete refresh, or what a long one
//! has read so far. The snapshot is encoded off the async workers and before
//! any lock is taken (at 50,000 vouchers that is tens of megabytes of text),
//! then served from the cache, recorded in the collector's status and kept on
//! disk. Scrapes, `/-/healthy` and the landing page never wait on it.

use super::Inputs;
use super::health::Status;
use crate::cache::Snapshots;
use crate::metrics::exposition::Published;
use crate::snapshot::Snapshot;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Publishes `snapshot` (`complete`, or a part of a refresh under way): it is
/// served until it is older than `max_age`, and written to disk when
/// `--cache.snapshot-dir` is set.
pub async fn publish(
    inputs: &Inputs,
    status: &Status,
    snapshot: Arc<Snapshot>,
    max_age: Duration,
    complete: bool,
) -> Option<Arc<Published>> {
    let published = serve(&inputs.snapshots, status, snapshot, max_age, complete).await?;
    if let Some(store) = &inputs.store {
        save(store, &published, &inputs.store_errors).await;
    }
    Some(published)
}

/// Encodes `snapshot` on a blocking thread, then serves it from `snapshots`
/// and records it in `status`: the only moments anything shared is touched.
pub async fn serve(
    snapshots: &Snapshots,
    status: &Status,
    snapshot: Arc<Snapshot>,
    max_age: Duration,
    complete: bool,
) -> Option<Arc<Published>> {
    let at = SystemTime::now();
    let rendering = snapshots.clone();
    let rendered = tokio::task::spawn_blocking(move || rendering.render(snapshot, at, complete)).await;
    let published = match rendered {
        Ok(published) => Arc::new(published),
        Err(error) => {
            tracing::warn!(collector = %status.kind, %error, "encoding the snapshot stopped; keeping what was published");
            return None;
        }
    };
    snapshots.insert(published.clone(), max_age);
    status.published(published.at, complete);
    Some(published)
}

/// Writes a published snapshot to disk, off the async workers; a failure is
/// logged and counted, and costs only the warm start.
async fn save(
    store: &crate::store::Store,
    published: &Arc<Published>,
    errors: &prometheus_client::metrics::counter::Counter,
) {
    // The snapshot alone, not the publication: its encoded text (tens of
    // megabytes) is not needed to write it and may be replaced meanwhile.
    let (store, snapshot, at, complete) = (
        store.clone(),
        published.snapshot.clone(),
        published.at,
        published.complete,
    );
    let saved = tokio::task::spawn_blocking(move || store.save(&snapshot, at, complete)).await;
    match saved {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            errors.inc();
            tracing::warn!(%error, "cannot keep the snapshot on disk; a restart will start cold");
        }
        Err(error) => {
            errors.inc();
            tracing::warn!(%error, "writing the snapshot stopped");
        }
    }
}
