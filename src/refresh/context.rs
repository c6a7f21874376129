//! What a collector sees while it refreshes, the [`Context`]: the API, the
//! snapshots it reads, the account's settings, and the runtime's bookkeeping
//! of the refresh under way (its parts, deadline, progress and refusals). It
//! must not reach the store or the other collectors' tasks.

use super::{Error, Inputs, Schedule, Status, deadline, pages, parse_time, publish};
use crate::api::{self, Action};
use crate::metrics::counters::CounterDef;
use crate::snapshot::{Kind, Rows, Snapshot};
use chrono::{DateTime, FixedOffset};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What a collector sees while it refreshes: the API, the snapshots it reads,
/// the time zone and the customers it is limited to; not the store, not the
/// other collectors' tasks.
pub struct Context {
    inputs: Inputs,
    status: Arc<Status>,
    schedule: Schedule,
    /// When the refresh under way started or last published a part.
    last_part: Mutex<Instant>,
    /// Cancelled when the exporter stops.
    cancel: CancellationToken,
    /// When the refresh under way started, and when it is past its deadline
    /// (see [`deadline`]).
    started: Mutex<Instant>,
    deadline: Mutex<Instant>,
    /// The items whose refusal by the API was logged this refresh: each is
    /// logged once a refresh.
    refusals_logged: Mutex<std::collections::HashSet<u64>>,
}

/// How soon, as a share of `--refresh.publish-interval`, a collector that has
/// published nothing yet publishes the first part of its refresh: 5 s by
/// default. `/-/ready` waits for it.
const FIRST_PART_SHARE: u32 = 6;

impl Context {
    pub(super) fn new(inputs: Inputs, status: Arc<Status>, schedule: Schedule, cancel: CancellationToken) -> Self {
        Self {
            inputs,
            status,
            schedule,
            last_part: Mutex::new(Instant::now()),
            started: Mutex::new(Instant::now()),
            deadline: Mutex::new(Instant::now() + deadline::base(schedule.interval)),
            cancel,
            refusals_logged: Mutex::default(),
        }
    }

    /// Completes when the exporter stops: a long refresh then publishes
    /// what it has read and ends.
    pub async fn stopping(&self) {
        self.cancel.cancelled().await
    }

    /// Whether the exporter is stopping.
    pub fn is_stopping(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Counts the time to the next part from now: a refresh starts, or a
    /// part is published.
    pub(super) fn restart_part_clock(&self) {
        *self.last_part.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// Starts a refresh: its refusals are logged anew, its deadline set.
    pub(super) fn refresh_started(&self) {
        self.restart_part_clock();
        let now = Instant::now();
        *self.started.lock().unwrap_or_else(|p| p.into_inner()) = now;
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = now + deadline::base(self.status.interval);
        self.refusals_logged.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Declares `due` more items this refresh reads one at a time, each
    /// with a call of `A`: the progress shown, and the time left at `A`'s pace.
    pub fn items_due<A: Action>(&self, due: usize) {
        let pace = self.inputs.api.pace::<A>().as_secs_f64();
        self.status.items_due(due, pace);
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) += deadline::for_items(due, pace);
    }

    /// When the refresh under way must have ended.
    pub fn deadline(&self) -> Instant {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The error of a refresh past its deadline.
    pub fn deadline_error(&self) -> Error {
        let started = *self.started.lock().unwrap_or_else(|p| p.into_inner());
        Error::Deadline {
            after: self.deadline().saturating_duration_since(started),
        }
    }

    /// Whether the refresh under way is past its deadline: it then stops
    /// reading, publishes what it read, and fails.
    pub fn past_deadline(&self) -> bool {
        Instant::now() >= self.deadline()
    }

    /// Records that the API refused `item` (a customer's UIN, a voucher's id)
    /// alone with `error`: it keeps its last value, or has none. Counted each
    /// time, logged at `warn` the first time in a refresh, with the API's reason.
    pub fn refused(&self, item: u64, code: &str, error: &dyn std::fmt::Display) {
        self.status.item_refused(code);
        let first = self
            .refusals_logged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(item);
        if first {
            tracing::warn!(
                account = %self.inputs.account,
                collector = %self.status.kind,
                item,
                %error,
                "the API refused this one item; it keeps its last value, or has none"
            );
        }
    }

    /// Counts `n` of `anomaly` in a listing's answers, and logs what
    /// `message` says at `warn` the first time of each kind.
    pub fn listing_anomaly(&self, anomaly: pages::Anomaly, n: u64, message: impl FnOnce() -> String) {
        if self.status.listing_anomaly(anomaly.label(), n) {
            tracing::warn!(account = %self.inputs.account, collector = %self.status.kind, "{}", message());
        } else {
            tracing::debug!(account = %self.inputs.account, collector = %self.status.kind, "{}", message());
        }
    }

    /// Records one item of this refresh read.
    pub fn item_read(&self) {
        self.status.item_read();
    }

    /// Whether it is time to publish what this refresh has read so far:
    /// every `--refresh.publish-interval`, and soon after the start for a
    /// collector that has published nothing yet.
    pub fn part_due(&self) -> bool {
        let every = if self.status.is_ready() {
            self.schedule.publish_every
        } else {
            self.schedule.publish_every / FIRST_PART_SHARE
        };
        self.last_part.lock().unwrap_or_else(|p| p.into_inner()).elapsed() >= every
    }

    /// Publishes what this refresh has read so far, merged with what was
    /// known: served, and kept on disk, until the refresh completes.
    pub async fn publish_part(&self, rows: impl Into<Snapshot>) {
        let _ = self.spawn_part(Arc::new(rows.into())).await;
    }

    /// [`Context::publish_part`] on a task of its own, so that the refresh
    /// reads on meanwhile; await the handle before publishing anything after it.
    pub fn spawn_part(&self, snapshot: Arc<Snapshot>) -> tokio::task::JoinHandle<()> {
        self.restart_part_clock();
        let (inputs, status, max_age) = (self.inputs.clone(), self.status.clone(), self.schedule.max_age);
        self.inputs.tasks.clone().spawn(async move {
            publish::publish(&inputs, &status, snapshot, max_age, false).await;
        })
    }

    /// Calls the API. A call retries for at most one of the collector's
    /// intervals, so that an outage fails the refresh, and shows, within
    /// about an interval.
    /// The first failed call since the last complete refresh is logged at
    /// once, and each failure shows on the landing page while it is retried.
    pub async fn call<A: Action>(&self, request: &A::Request) -> Result<A::Response, api::Error> {
        let retrying = |error: &api::Error| self.call_failed(A::NAME, error);
        let result = self
            .inputs
            .api
            .call_within::<A>(request, Some(self.status.interval), retrying)
            .await;
        match &result {
            Err(error) if !error.is_about_the_subject() => self.call_failed(A::NAME, error),
            _ => self.status.call_answered(),
        }
        result
    }

    /// Records a failed call; logs the first since the last complete
    /// refresh, naming the endpoint, unless the client logs it already (an
    /// error that retrying cannot fix).
    fn call_failed(&self, action: &'static str, error: &api::Error) {
        let first = self.status.call_failed(error.to_string());
        if first && error.is_retryable() {
            tracing::warn!(
                account = %self.inputs.account,
                collector = %self.status.kind,
                endpoint = self.inputs.api.host(),
                action,
                %error,
                "API call failed; retrying until the collector's interval is up, then the refresh fails"
            );
        }
    }

    /// Adds one to a counter the collector declares in [`Collector::COUNTERS`].
    pub fn count(&self, counter: &CounterDef) {
        self.inputs.counters.inc(counter);
    }

    /// Reads a time string of the API as unix seconds.
    pub fn timestamp(&self, text: Option<&str>) -> Option<f64> {
        parse_time(text?, self.inputs.timezone)
    }

    /// The collector's interval.
    pub fn interval(&self) -> Duration {
        self.status.interval
    }

    /// The API's time as the client knows it (corrected for a skewed local
    /// clock), in the API's time zone.
    pub fn api_now(&self) -> DateTime<FixedOffset> {
        let now = DateTime::from_timestamp(self.inputs.api.now(), 0).unwrap_or_default();
        now.with_timezone(&self.inputs.timezone)
    }

    /// How many calls of `A` the rate limiter lets through in one of the
    /// collector's intervals.
    pub fn calls_per_interval<A: Action>(&self) -> usize {
        let pace = self.inputs.api.pace::<A>().as_secs_f64();
        (self.status.interval.as_secs_f64() / pace).floor().max(1.0) as usize
    }

    /// `--refresh.<name>-full-interval`: within how long everything is read
    /// again, whatever changed.
    pub fn full_sweep(&self) -> Option<Duration> {
        self.schedule.full_sweep
    }

    /// `--customers.uins`: only these customers, read with QueryCreditByUinList.
    pub fn customer_uins(&self) -> Option<&Arc<[u64]>> {
        self.inputs.customer_uins.as_ref()
    }

    /// `--vouchers.ended-retention`: how long an ended voucher is still exported.
    pub fn ended_retention(&self) -> Duration {
        self.inputs.ended_retention
    }

    /// What the collector of `R` serves now, if anything: the rows of its
    /// last refresh, or those restored from disk.
    pub fn served<R: Rows>(&self) -> Option<Arc<crate::metrics::exposition::Published>> {
        self.inputs.snapshots.latest(R::KIND)
    }

    /// The collector refreshing.
    pub fn kind(&self) -> Kind {
        self.status.kind
    }

    /// The latest customer list, if it is not older than `--cache.max-age`.
    pub fn customers(&self) -> Result<Arc<crate::metrics::exposition::Published>, Error> {
        self.inputs.snapshots.latest(Kind::Customers).ok_or(Error::NoCustomers)
    }
}
