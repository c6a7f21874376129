//! The collectors: background tasks that refresh one snapshot each, on their
//! own interval, and publish it whole to the cache. Nothing here runs at
//! scrape time, and nothing here knows how snapshots become metrics.
//!
//! "Collector" means our refreshers, as in `--collector.vouchers`; the
//! prometheus-client trait of the same name lives in `metrics`.

pub mod allocations;
pub mod customers;
pub mod partner;
pub mod vouchers;

use crate::api::{self, Action};
use crate::cache::Snapshots;
use chrono::{FixedOffset, NaiveDateTime};
use futures::{StreamExt, TryStreamExt};
use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::CancellationToken;

/// The collectors an operator can enable, in the order they are refreshed and exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Partner = 0,
    Customers = 1,
    Allocations = 2,
    Vouchers = 3,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Partner, Kind::Customers, Kind::Allocations, Kind::Vouchers];

    /// The `collector` label value and the name in flags.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Partner => "partner",
            Kind::Customers => "customers",
            Kind::Allocations => "allocations",
            Kind::Vouchers => "vouchers",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A complete result of one collector's refresh.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Snapshot {
    Partner(partner::PartnerSnapshot),
    Customers(customers::CustomersSnapshot),
    Allocations(allocations::AllocationsSnapshot),
    Vouchers(vouchers::VouchersSnapshot),
}

impl Snapshot {
    pub fn kind(&self) -> Kind {
        match self {
            Snapshot::Partner(_) => Kind::Partner,
            Snapshot::Customers(_) => Kind::Customers,
            Snapshot::Allocations(_) => Kind::Allocations,
            Snapshot::Vouchers(_) => Kind::Vouchers,
        }
    }
}

/// Why a refresh failed; the previous snapshot stays published.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Api(#[from] api::Error),
    #[error("{listing} kept changing while it was read ({attempts} walks); trying again next refresh")]
    Unsettled { listing: &'static str, attempts: u32 },
    #[error("no current customer list: the customers collector has not refreshed within --cache.max-age")]
    NoCustomers,
}

/// What every collector needs to refresh: the API, the other snapshots, and
/// how to read the API's values.
#[derive(Clone)]
pub struct Shared {
    pub api: api::Client,
    pub snapshots: Snapshots,
    /// The zone of the API's zone-less time strings.
    pub timezone: FixedOffset,
    /// `--customers.uins`: only these customers, read with QueryCreditByUinList.
    pub customer_uins: Option<Arc<[u64]>>,
    /// `--cache.snapshot-dir`: where each published snapshot is also written.
    pub store: Option<crate::store::Store>,
    /// Snapshot files that could not be written.
    pub store_errors: prometheus_client::metrics::counter::Counter,
}

/// One collector's view of [`Shared`] plus its own status, so every API call
/// it makes also proves the task is alive.
pub struct Context {
    pub shared: Shared,
    status: Arc<Status>,
}

impl Context {
    /// Calls the API and records progress for `/-/healthy`.
    pub async fn call<A: Action>(&self, request: &A::Request) -> Result<A::Response, api::Error> {
        let result = self.shared.api.call::<A>(request).await;
        self.status.lock().last_progress = Instant::now();
        result
    }

    /// Reads a time string of the API as unix seconds.
    pub fn timestamp(&self, text: Option<&str>) -> Option<f64> {
        parse_time(text?, self.shared.timezone)
    }

    /// The latest customer list, if it is not older than `--cache.max-age`.
    pub fn customers(&self) -> Result<Arc<crate::cache::Published>, Error> {
        self.shared.snapshots.latest(Kind::Customers).ok_or(Error::NoCustomers)
    }
}

/// Parses `YYYY-MM-DD hh:mm:ss` in `zone` to unix seconds.
pub fn parse_time(text: &str, zone: FixedOffset) -> Option<f64> {
    let naive = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    Some(naive.and_local_timezone(zone).single()?.timestamp() as f64)
}

/// A collector: produces a complete snapshot, or an error and nothing.
pub trait Collector: Send + 'static {
    const KIND: Kind;
    /// Whether the first refresh must wait for the first customer list.
    const NEEDS_CUSTOMERS: bool = false;
    fn refresh(&mut self, ctx: &Context) -> impl Future<Output = Result<Snapshot, Error>> + Send;
}

/// What `/-/healthy`, `/-/ready`, the landing page and the refresh metrics
/// know of one collector's task.
#[derive(Debug)]
pub struct Status {
    pub kind: Kind,
    pub interval: Duration,
    inner: Mutex<StatusView>,
}

/// A copy of a collector's status at one moment.
#[derive(Debug, Clone)]
pub struct StatusView {
    /// When the task last started a refresh or got an API answer.
    pub last_progress: Instant,
    pub last_attempt: Option<SystemTime>,
    pub last_success: Option<SystemTime>,
    /// Whether the last finished refresh succeeded.
    pub last_ok: Option<bool>,
    pub last_duration: Option<Duration>,
    pub last_error: Option<String>,
    pub next_run: Option<SystemTime>,
    pub running: bool,
    /// Waiting for another collector's first snapshot: not wedged.
    pub waiting: bool,
    /// The task ended (panicked, or the exporter is stopping).
    pub stopped: bool,
}

impl Status {
    pub fn new(kind: Kind, interval: Duration) -> Self {
        Self {
            kind,
            interval,
            inner: Mutex::new(StatusView {
                last_progress: Instant::now(),
                last_attempt: None,
                last_success: None,
                last_ok: None,
                last_duration: None,
                last_error: None,
                next_run: None,
                running: false,
                waiting: false,
                stopped: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, StatusView> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn view(&self) -> StatusView {
        self.lock().clone()
    }

    /// Healthy unless the task died or has shown no progress for three intervals.
    pub fn is_healthy(&self) -> bool {
        let view = self.lock();
        !view.stopped && (view.waiting || view.last_progress.elapsed() < self.interval * 3)
    }

    /// Records that the snapshot served was taken at `at` by an earlier run:
    /// the exporter is ready, and the refresh metrics show the snapshot's age.
    pub fn restored(&self, at: SystemTime) {
        self.lock().last_success = Some(at);
    }

    /// Whether a refresh has completed at least once.
    pub fn is_ready(&self) -> bool {
        self.lock().last_success.is_some()
    }
}

/// Marks the status stopped when the task ends, by return or by panic.
struct StopGuard(Arc<Status>);
impl Drop for StopGuard {
    fn drop(&mut self) {
        self.0.lock().stopped = true;
    }
}

/// How a collector's task runs.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub interval: Duration,
    /// How long a snapshot may be exported.
    pub max_age: Duration,
}

/// Runs `collector` every `schedule.interval` until `cancel`, publishing each
/// complete snapshot. A failed refresh is logged and leaves the last one in place.
pub async fn run<C: Collector>(
    mut collector: C,
    shared: Shared,
    status: Arc<Status>,
    schedule: Schedule,
    cancel: CancellationToken,
) {
    let _guard = StopGuard(status.clone());
    let ctx = Context {
        shared: shared.clone(),
        status: status.clone(),
    };
    if C::NEEDS_CUSTOMERS {
        status.lock().waiting = true;
        tokio::select! {
            _ = shared.snapshots.wait_for_first(Kind::Customers) => {}
            _ = cancel.cancelled() => return,
        }
        status.lock().waiting = false;
    }
    let mut ticker = tokio::time::interval(schedule.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = cancel.cancelled() => return,
        }
        let started = Instant::now();
        {
            let mut view = status.lock();
            view.last_progress = started;
            view.last_attempt = Some(SystemTime::now());
            view.running = true;
        }
        let result = tokio::select! {
            result = collector.refresh(&ctx) => result,
            _ = cancel.cancelled() => return,
        };
        let elapsed = started.elapsed();
        let published = record(&status, result, schedule, elapsed, C::KIND, &shared);
        if let (Some(store), Some(published)) = (&shared.store, published) {
            save(store, &published, &shared.store_errors).await;
        }
    }
}

/// Publishes a refresh's snapshot, or keeps the last one, and updates the status.
fn record(
    status: &Status,
    result: Result<Snapshot, Error>,
    schedule: Schedule,
    elapsed: Duration,
    kind: Kind,
    shared: &Shared,
) -> Option<Arc<crate::cache::Published>> {
    let mut view = status.lock();
    view.running = false;
    view.last_duration = Some(elapsed);
    view.next_run = Some(SystemTime::now() + schedule.interval.saturating_sub(elapsed));
    match result {
        Ok(snapshot) => {
            let published = shared.snapshots.publish(snapshot, schedule.max_age);
            view.last_success = Some(published.at);
            view.last_ok = Some(true);
            view.last_error = None;
            tracing::debug!(collector = %kind, duration = ?elapsed, "refresh complete");
            Some(published)
        }
        Err(error) => {
            view.last_ok = Some(false);
            view.last_error = Some(error.to_string());
            tracing::warn!(collector = %kind, %error, "refresh failed; keeping the last complete snapshot");
            None
        }
    }
}

/// Writes a published snapshot to disk, off the async workers; a failure is
/// logged and counted, and costs only the warm start.
async fn save(
    store: &crate::store::Store,
    published: &Arc<crate::cache::Published>,
    errors: &prometheus_client::metrics::counter::Counter,
) {
    let (store, published) = (store.clone(), published.clone());
    let saved = tokio::task::spawn_blocking(move || store.save(&published.snapshot, published.at)).await;
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

/// How many times a listing is walked again when it changes while being read.
const MAX_WALKS: u32 = 5;
/// Pages of one listing requested at once; the rate limiter paces them.
const PAGES_IN_FLIGHT: usize = 4;

/// One page of a listing: the total it claims, and its items.
pub struct Page<T> {
    pub total: Option<u64>,
    pub items: Vec<T>,
    /// Items the server sent that cannot be exported (no UIN or id, or one of
    /// another type): they still count towards `total`.
    pub unkeyed: u64,
}

impl<T> Page<T> {
    /// A page of the items of `sent` that `keep` turns into rows.
    pub fn of<S>(total: Option<u64>, sent: Vec<S>, keep: impl FnMut(S) -> Option<T>) -> Self {
        let count = sent.len() as u64;
        let items: Vec<T> = sent.into_iter().filter_map(keep).collect();
        Self {
            total,
            unkeyed: count - items.len() as u64,
            items,
        }
    }
}

/// Reads every page of a listing (pages from 1, `page_size` items each, or
/// fewer when the server serves fewer).
///
/// The listing is read again from the start when its `Total` changes during
/// the walk, or when the items read do not add up to `Total` (a customer bound
/// and another unbound meanwhile shift the pages without changing the total).
/// A listing page without a total fails the walk. One case cannot be
/// seen from the listing itself: a bind and an unbind between two page reads
/// that shift an item past the reader while keeping both the total and the
/// count; the next refresh corrects it.
pub async fn walk_pages<T, F, Fut>(
    listing: &'static str,
    page_size: u64,
    key: impl Fn(&T) -> u64,
    fetch: F,
) -> Result<Vec<T>, Error>
where
    F: Fn(u64, u64) -> Fut,
    Fut: Future<Output = Result<Page<T>, api::Error>>,
{
    for attempt in 1..=MAX_WALKS {
        let first = fetch(1, page_size).await?;
        // Without a total, a short or empty page cannot be told from the end
        // of the list: publishing it could drop every customer at once.
        let Some(total) = first.total else {
            return Err(Error::Api(api::Error::Decode(format!(
                "{listing} answered without a total"
            ))));
        };
        let size = served_page_size(page_size, first.items.len() as u64 + first.unkeyed, total);
        if size != page_size {
            tracing::debug!(
                listing,
                asked = page_size,
                served = size,
                "the API serves shorter pages than asked"
            );
        }
        let pages = total.div_ceil(size).max(1);
        let rest: Vec<Page<T>> = futures::stream::iter(2..=pages)
            .map(|page| fetch(page, size))
            .buffered(PAGES_IN_FLIGHT)
            .try_collect()
            .await?;
        let settled = rest.iter().all(|p| p.total == Some(total));
        let unkeyed: u64 = first.unkeyed + rest.iter().map(|p| p.unkeyed).sum::<u64>();
        let mut seen = HashSet::new();
        let items: Vec<T> = std::iter::once(first)
            .chain(rest)
            .flat_map(|p| p.items)
            .filter(|item| seen.insert(key(item)))
            .collect();
        if settled && items.len() as u64 + unkeyed == total {
            if unkeyed > 0 {
                tracing::debug!(listing, unkeyed, "items without a readable key left out");
            }
            return Ok(items);
        }
        tracing::debug!(
            listing,
            attempt,
            total,
            read = items.len(),
            "listing changed during the walk; reading it again"
        );
    }
    Err(Error::Unsettled {
        listing,
        attempts: MAX_WALKS,
    })
}

/// The page size a server actually uses, judged from a first page of `served`
/// items out of `total` when `asked` were asked for. A page shorter than asked
/// while more remain shows the server's own cap, which it does not announce.
pub fn served_page_size(asked: u64, served: u64, total: u64) -> u64 {
    if served > 0 && served < asked && served < total {
        served
    } else {
        asked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_strings_are_read_in_the_configured_zone() {
        let china = FixedOffset::east_opt(8 * 3600).unwrap();
        assert_eq!(parse_time("2022-10-13 20:09:03", china), Some(1_665_662_943.0));
        let utc = FixedOffset::east_opt(0).unwrap();
        assert_eq!(parse_time("2022-10-13 12:09:03", utc), Some(1_665_662_943.0));
        assert_eq!(parse_time("", china), None);
        assert_eq!(parse_time("0000-00-00 00:00:00", china), None);
    }

    /// A listing of `items` whose contents change (to `after`) once `calls`
    /// pages have been served, as when customers bind or unbind mid-walk.
    struct Listing {
        before: Vec<u64>,
        after: Vec<u64>,
        change_after_calls: usize,
        calls: Mutex<usize>,
    }

    impl Listing {
        fn page(&self, page: u64, size: u64) -> Page<u64> {
            let mut calls = self.calls.lock().unwrap();
            *calls += 1;
            let items = if *calls > self.change_after_calls {
                &self.after
            } else {
                &self.before
            };
            Page {
                total: Some(items.len() as u64),
                items: items
                    .iter()
                    .copied()
                    .skip(((page - 1) * size) as usize)
                    .take(size as usize)
                    .collect(),
                unkeyed: 0,
            }
        }
    }

    async fn walk(listing: &Listing) -> Result<Vec<u64>, Error> {
        walk_pages(
            "test",
            10,
            |i: &u64| *i,
            |page, size| async move { Ok(listing.page(page, size)) },
        )
        .await
    }

    #[tokio::test]
    async fn a_server_that_serves_shorter_pages_is_walked_at_its_own_size() {
        let listing = Listing {
            before: (0..25).collect(),
            after: Vec::new(),
            change_after_calls: usize::MAX,
            calls: Mutex::new(0),
        };
        // Asks for 10 a page; the server silently serves 4.
        let items = walk_pages(
            "test",
            10,
            |i: &u64| *i,
            |page, size| {
                let listing = &listing;
                async move { Ok(listing.page(page, size.min(4))) }
            },
        )
        .await
        .unwrap();
        assert_eq!(items, (0..25).collect::<Vec<u64>>());
        assert_eq!(*listing.calls.lock().unwrap(), 7, "one walk of seven pages of 4");
    }

    #[tokio::test]
    async fn items_without_a_key_count_towards_the_total_but_are_left_out() {
        // 25 items; every fifth has no key (its UIN was null or unreadable).
        let sent = |page: u64| -> Vec<Option<u64>> {
            (0..25)
                .map(|i| (i % 5 != 0).then_some(i))
                .skip(((page - 1) * 10) as usize)
                .take(10)
                .collect()
        };
        let items = walk_pages(
            "test",
            10,
            |i: &u64| *i,
            |page, _| async move { Ok(Page::of(Some(25), sent(page), |i| i)) },
        )
        .await
        .unwrap();
        assert_eq!(items.len(), 20);
    }

    #[test]
    fn the_served_page_size_is_the_asked_one_unless_a_page_falls_short() {
        assert_eq!(served_page_size(100, 20, 250), 20);
        assert_eq!(served_page_size(100, 100, 250), 100);
        assert_eq!(served_page_size(100, 30, 30), 100, "a short last page is the end");
        assert_eq!(
            served_page_size(100, 0, 30),
            100,
            "an empty page says nothing of the size"
        );
    }

    #[tokio::test]
    async fn a_listing_that_grows_mid_walk_is_read_again() {
        let listing = Listing {
            before: (0..25).collect(),
            // A new customer is listed first, shifting every page by one.
            after: std::iter::once(100).chain(0..25).collect(),
            change_after_calls: 1,
            calls: Mutex::new(0),
        };
        let mut items = walk(&listing).await.unwrap();
        items.sort();
        assert_eq!(items, (0..25).chain(std::iter::once(100)).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_swap_that_keeps_the_total_is_caught_by_the_count() {
        // A customer bound (listed first) and another unbound (the last): the
        // total stays 25, but the shifted pages repeat one item, so the walk
        // reads 24 distinct items and starts over.
        let listing = Listing {
            before: (0..25).collect(),
            after: std::iter::once(100).chain(0..24).collect(),
            change_after_calls: 1,
            calls: Mutex::new(0),
        };
        let mut items = walk(&listing).await.unwrap();
        items.sort();
        assert_eq!(items, (0..24).chain(std::iter::once(100)).collect::<Vec<u64>>());
        assert_eq!(*listing.calls.lock().unwrap(), 6, "two walks of three pages");
    }

    #[tokio::test]
    async fn a_listing_without_a_total_fails_instead_of_publishing_an_empty_list() {
        let result = walk_pages(
            "test",
            10,
            |i: &u64| *i,
            |_, _| async {
                Ok(Page {
                    total: None,
                    items: Vec::<u64>::new(),
                    unkeyed: 0,
                })
            },
        )
        .await;
        assert!(matches!(result, Err(Error::Api(api::Error::Decode(_)))));
    }

    #[tokio::test]
    async fn a_listing_that_never_settles_fails_instead_of_publishing() {
        struct Restless(Mutex<u64>);
        let restless = Restless(Mutex::new(0));
        let result = walk_pages(
            "test",
            10,
            |i: &u64| *i,
            |page, _| {
                let restless = &restless;
                async move {
                    let mut n = restless.0.lock().unwrap();
                    *n += 1;
                    Ok(Page {
                        total: Some(20 + *n),
                        items: (page * 10..page * 10 + 10).collect(),
                        unkeyed: 0,
                    })
                }
            },
        )
        .await;
        assert!(matches!(result, Err(Error::Unsettled { .. })));
    }

    #[test]
    fn status_turns_unhealthy_after_three_silent_intervals() {
        let status = Status::new(Kind::Partner, Duration::from_millis(20));
        assert!(status.is_healthy());
        std::thread::sleep(Duration::from_millis(70));
        assert!(!status.is_healthy());
        status.lock().waiting = true;
        assert!(status.is_healthy(), "waiting for a dependency is not being wedged");
        status.lock().stopped = true;
        assert!(!status.is_healthy());
    }
}
