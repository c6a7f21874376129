//! The last published snapshot of each collector, held in a moka cache whose
//! entries expire once they are older than the configured maximum age.
//!
//! A snapshot is replaced whole; readers get an `Arc` to an immutable value.
//! A long refresh publishes what it has read so far as such a snapshot, so
//! what readers see is always a consistent set of values, never half a row. Nothing here calls the
//! API or knows how snapshots are turned into metrics.

use crate::metrics::exposition::{Published, Renderer};
use crate::snapshot::{Kind, Snapshot};
use moka::Expiry;
use moka::sync::Cache;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;

/// A published snapshot and how long it may be exported.
#[derive(Debug)]
struct Entry {
    /// Swapped for its successor's when the entry is replaced: moka frees a
    /// replaced entry only when its epoch-based collector next runs, which
    /// kept whole superseded publications (tens of megabytes each) alive.
    published: Mutex<Arc<Published>>,
    /// How long moka serves it: what is left of the maximum age once the
    /// snapshot's own age (one restored from disk) is taken off.
    max_age: Duration,
}

impl Entry {
    fn published(&self) -> Arc<Published> {
        self.published.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Points a replaced entry at its successor's publication, so that the
    /// one it held is freed now and a reader still holding the entry gets
    /// the newer one.
    fn hand_over(&self, successor: Arc<Published>) {
        *self.published.lock().unwrap_or_else(PoisonError::into_inner) = successor;
    }
}

struct MaxAge;

impl Expiry<Kind, Arc<Entry>> for MaxAge {
    fn expire_after_create(&self, _: &Kind, value: &Arc<Entry>, _: Instant) -> Option<Duration> {
        Some(value.max_age)
    }

    fn expire_after_update(&self, _: &Kind, value: &Arc<Entry>, _: Instant, _: Option<Duration>) -> Option<Duration> {
        Some(value.max_age)
    }
}

/// The snapshots every collector last completed.
#[derive(Clone)]
pub struct Snapshots {
    cache: Cache<Kind, Arc<Entry>>,
    renderer: Arc<Renderer>,
    /// Bumped on each publish, so dependent collectors can wait for data.
    generations: Arc<[watch::Sender<u64>; Kind::ALL.len()]>,
}

impl std::fmt::Debug for Snapshots {
    /// The cache's contents are not worth printing: tens of thousands of rows.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Snapshots")
    }
}

impl Snapshots {
    /// An empty cache whose snapshots `renderer` encodes on publication.
    pub fn new(renderer: Renderer) -> Self {
        Self {
            renderer: Arc::new(renderer),
            cache: Cache::builder()
                .max_capacity(Kind::ALL.len() as u64)
                .expire_after(MaxAge)
                .build(),
            generations: Arc::new(Kind::ALL.map(|_| watch::Sender::new(0))),
        }
    }

    /// Replaces the snapshot of `snapshot.kind()`, taken now; it expires
    /// after `max_age`.
    pub fn publish(&self, snapshot: Snapshot, max_age: Duration) -> Arc<Published> {
        self.publish_taken_at(snapshot, SystemTime::now(), max_age)
    }

    /// Replaces the snapshot of `snapshot.kind()`, taken at `at` (earlier,
    /// when restored from disk); it expires once `max_age` after `at`.
    /// Renders on the calling thread: a collector's task renders with
    /// [`Snapshots::render`] off the async workers, then [`Snapshots::insert`]s.
    pub fn publish_taken_at(&self, snapshot: Snapshot, at: SystemTime, max_age: Duration) -> Arc<Published> {
        let published = Arc::new(self.render(snapshot, at, true));
        self.insert(published.clone(), max_age);
        published
    }

    /// Encodes `snapshot`, taken at `at`, into its metric families: the costly
    /// half of a publication (tens of megabytes of text at 50,000 vouchers),
    /// which touches nothing shared. `complete` is false for what a refresh
    /// still under way has read so far.
    pub fn render(&self, snapshot: impl Into<Arc<Snapshot>>, at: SystemTime, complete: bool) -> Published {
        let snapshot = snapshot.into();
        let last = self.cache.get(&snapshot.kind()).map(|entry| entry.published());
        let last = last.as_ref().map_or(&[][..], |published| &published.families[..]);
        let families = self.renderer.render(&snapshot, last);
        Published {
            snapshot,
            families,
            at,
            complete,
        }
    }

    /// Serves `published` in place of the last snapshot of its kind; it
    /// expires once `max_age` after it was taken. Cheap: no encoding.
    pub fn insert(&self, published: Arc<Published>, max_age: Duration) {
        let kind = published.snapshot.kind();
        let age = SystemTime::now().duration_since(published.at).unwrap_or_default();
        let max_age = max_age.saturating_sub(age);
        let replaced = self.cache.get(&kind);
        self.cache.insert(
            kind,
            Arc::new(Entry {
                published: Mutex::new(published.clone()),
                max_age,
            }),
        );
        if let Some(replaced) = replaced {
            replaced.hand_over(published);
        }
        self.generations[kind as usize].send_modify(|g| *g += 1);
    }

    /// The latest snapshot of `kind`, unless none was published or it is too
    /// old: moka's expiry is the one clock, and an expired entry is never
    /// returned even before it is evicted.
    pub fn latest(&self, kind: Kind) -> Option<Arc<Published>> {
        self.cache.get(&kind).map(|entry| entry.published())
    }

    /// Follows the publications of `kind`: the receiver changes on each.
    pub fn subscribe(&self, kind: Kind) -> watch::Receiver<u64> {
        self.generations[kind as usize].subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::PartnerSnapshot;

    fn partner(total: f64) -> Snapshot {
        Snapshot::Partner(PartnerSnapshot {
            total: Some(total),
            ..Default::default()
        })
    }

    #[test]
    fn publish_replaces_and_expires_after_max_age() {
        let snapshots = Snapshots::new(Renderer::new("default", false, crate::refresh::encode));
        assert!(snapshots.latest(Kind::Partner).is_none());
        snapshots.publish(partner(1.0), Duration::from_secs(3600));
        snapshots.publish(partner(2.0), Duration::from_millis(400));
        let latest = snapshots.latest(Kind::Partner).unwrap();
        assert!(
            latest
                .families
                .iter()
                .any(|f| f.samples.to_vec() == b"tencentcloud_partner_credit_usd{account=\"default\"} 2.0\n")
        );
        match &*latest.snapshot {
            Snapshot::Partner(p) => assert_eq!(p.total, Some(2.0)),
            other => panic!("unexpected {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(200));
        assert!(snapshots.latest(Kind::Partner).is_some());
        std::thread::sleep(Duration::from_millis(300));
        assert!(snapshots.latest(Kind::Partner).is_none(), "served past its maximum age");
    }

    #[test]
    fn a_restored_snapshot_expires_its_maximum_age_after_it_was_taken() {
        let snapshots = Snapshots::new(Renderer::new("default", false, crate::refresh::encode));
        let taken = SystemTime::now() - Duration::from_secs(50);
        snapshots.publish_taken_at(partner(1.0), taken, Duration::from_secs(60));
        assert!(snapshots.latest(Kind::Partner).is_some());
        snapshots.publish_taken_at(partner(1.0), taken, Duration::from_secs(50));
        assert!(snapshots.latest(Kind::Partner).is_none(), "served past its maximum age");
    }

    #[test]
    fn a_replaced_publication_is_freed_at_once() {
        let snapshots = Snapshots::new(Renderer::new("default", false, crate::refresh::encode));
        let first = Arc::downgrade(&snapshots.publish(partner(1.0), Duration::from_secs(60)));
        snapshots.publish(partner(2.0), Duration::from_secs(60));
        assert_eq!(first.strong_count(), 0, "the cache still holds a replaced publication");
    }

    #[tokio::test]
    async fn a_subscriber_learns_of_each_publish_of_its_kind() {
        let snapshots = Snapshots::new(Renderer::new("default", false, crate::refresh::encode));
        let mut partner_updates = snapshots.subscribe(Kind::Partner);
        let customers_updates = snapshots.subscribe(Kind::Customers);
        assert!(!partner_updates.has_changed().unwrap());
        snapshots.publish(partner(1.0), Duration::from_secs(60));
        snapshots.publish(partner(2.0), Duration::from_secs(60));
        tokio::time::timeout(Duration::from_secs(1), partner_updates.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(*partner_updates.borrow_and_update(), 2);
        assert!(!partner_updates.has_changed().unwrap());
        assert!(!customers_updates.has_changed().unwrap());
    }
}
