//! The refresh loop of one collector's task: every interval, refresh, then
//! publish the snapshot whole (to the cache, and to disk when configured) or
//! keep the last one; and the [`Status`] that `/-/healthy`, `/-/ready`, the
//! landing page and the refresh metrics ([`RefreshMetrics`]) read.

use super::{Collector, Context, Error, Inputs};
use crate::cache::Snapshots;
use crate::metrics::exposition::{gauges, unix};
use crate::snapshot::{Kind, Rows, Snapshot};
use crate::store::Store;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Unit;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
// tokio's clock, so the tests of health can advance it instead of sleeping.
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
    pub phase: Phase,
}

/// What a collector's task is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Between refreshes, or before the first: the last outcome says how it went.
    Idle,
    /// Waiting for another collector's first snapshot: not wedged.
    Waiting,
    /// A refresh is under way.
    Refreshing,
    /// The task ended (panicked, or the exporter is stopping).
    Stopped,
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
                phase: Phase::Idle,
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
        match view.phase {
            Phase::Stopped => false,
            Phase::Waiting => true,
            Phase::Idle | Phase::Refreshing => view.last_progress.elapsed() < self.interval * 3,
        }
    }

    /// Puts the task in `phase`, as the tests of what reads it need.
    #[cfg(test)]
    pub(crate) fn set_phase(&self, phase: Phase) {
        self.lock().phase = phase;
    }

    /// Records that the task got an API answer: it is alive.
    pub fn progressed(&self) {
        self.lock().last_progress = Instant::now();
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
        self.0.lock().phase = Phase::Stopped;
    }
}

/// How a collector's task runs.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub interval: Duration,
    /// How long a snapshot may be exported.
    pub max_age: Duration,
    /// `--refresh.<name>-full-interval`, for a collector that has one.
    pub full_sweep: Option<Duration>,
}

/// Runs `collector` every `schedule.interval` until `cancel`, publishing each
/// complete snapshot. A failed refresh is logged and leaves the last one in place.
pub async fn run<C: Collector>(
    mut collector: C,
    inputs: Inputs,
    status: Arc<Status>,
    schedule: Schedule,
    cancel: CancellationToken,
) {
    let _guard = StopGuard(status.clone());
    let ctx = Context {
        inputs: inputs.clone(),
        status: status.clone(),
        schedule,
    };
    // A collector that reads the customer list waits for the first taken
    // by this run (one restored from disk may be old: what it reads from it
    // stays served meanwhile), then refreshes after each new one as well as
    // every interval: what changed for a customer shows one customers
    // refresh later.
    let mut customers = inputs.snapshots.subscribe(Kind::Customers);
    if C::NEEDS_CUSTOMERS {
        status.lock().phase = Phase::Waiting;
        let fresh = |_: &u64| {
            inputs
                .snapshots
                .latest(Kind::Customers)
                .is_some_and(|list| list.at >= inputs.started)
        };
        tokio::select! {
            _ = customers.wait_for(fresh) => {}
            _ = cancel.cancelled() => return,
        }
        customers.mark_unchanged();
        status.lock().phase = Phase::Idle;
    }
    let mut ticker = tokio::time::interval(schedule.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            Ok(()) = customers.changed(), if C::NEEDS_CUSTOMERS => ticker.reset(),
            _ = cancel.cancelled() => return,
        }
        let started = Instant::now();
        {
            let mut view = status.lock();
            view.last_progress = started;
            view.last_attempt = Some(SystemTime::now());
            view.phase = Phase::Refreshing;
        }
        let result = tokio::select! {
            result = collector.refresh(&ctx) => result.map(Into::into),
            _ = cancel.cancelled() => return,
        };
        let elapsed = started.elapsed();
        let published = record(&status, result, schedule, elapsed, <C::Rows as Rows>::KIND, &inputs);
        if let (Some(store), Some(published)) = (&inputs.store, published) {
            save(store, &published, &inputs.store_errors).await;
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
    inputs: &Inputs,
) -> Option<Arc<crate::metrics::exposition::Published>> {
    let mut view = status.lock();
    view.phase = Phase::Idle;
    view.last_duration = Some(elapsed);
    view.next_run = Some(SystemTime::now() + schedule.interval.saturating_sub(elapsed));
    match result {
        Ok(snapshot) => {
            let published = inputs.snapshots.publish(snapshot, schedule.max_age);
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
    published: &Arc<crate::metrics::exposition::Published>,
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

/// Every collector task's status, by account: what the refresh metrics report.
pub trait Statuses: Send + Sync + fmt::Debug + 'static {
    fn statuses(&self) -> Vec<(Arc<str>, Arc<Status>)>;
}

/// Starts `collector`'s task on `tasks`.
pub fn spawn<C: Collector>(
    tasks: &TaskTracker,
    collector: C,
    inputs: Inputs,
    status: Arc<Status>,
    schedule: Schedule,
    cancel: CancellationToken,
) {
    tasks.spawn(run(collector, inputs, status, schedule, cancel));
}

/// Serves the snapshot of `status`'s collector kept by an earlier run, if
/// there is a usable one; says why not otherwise.
pub fn restore(account: &str, store: &Store, status: &Status, max_age: Duration, snapshots: &Snapshots) {
    match store.load(status.kind, max_age, SystemTime::now()) {
        Ok(Some(restored)) => {
            snapshots.publish_taken_at(restored.snapshot, restored.taken_at, max_age);
            status.restored(restored.taken_at);
            let age = SystemTime::now().duration_since(restored.taken_at).unwrap_or_default();
            tracing::info!(
                account,
                collector = %status.kind,
                age = %humantime::format_duration(Duration::from_secs(age.as_secs())),
                "serving the snapshot kept on disk until the first refresh"
            );
        }
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(account, collector = %status.kind, %error, "ignoring the snapshot kept on disk");
        }
    }
}

/// The collectors' refresh metrics, read from their status on each scrape,
/// so `/-/healthy`, the landing page and `/metrics` never disagree.
#[derive(Debug)]
pub struct RefreshMetrics<S>(pub S);

impl<S: Statuses> prometheus_client::collector::Collector for RefreshMetrics<S> {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let e = &mut encoder;
        let all = self.0.statuses();
        let statuses: Vec<(&str, &Status, StatusView)> = all.iter().map(|(a, s)| (&**a, &**s, s.view())).collect();
        let label =
            |account: &str, s: &Status| [("account", account.to_owned()), ("collector", s.kind.name().to_owned())];
        gauges(
            e,
            "refresh_success",
            "Whether the collector's last refresh succeeded (1) or failed (0)",
            None,
            statuses
                .iter()
                .filter_map(|(a, s, v)| Some((label(a, s), f64::from(u8::from(v.last_ok?))))),
        )?;
        gauges(
            e,
            "refresh_last_success_timestamp",
            "Unix time of the collector's last successful refresh (or of the snapshot kept on disk it serves)",
            Some(&Unit::Seconds),
            statuses
                .iter()
                .filter_map(|(a, s, v)| Some((label(a, s), unix(v.last_success?)))),
        )?;
        gauges(
            e,
            "refresh_interval",
            "Configured interval between the collector's refreshes",
            Some(&Unit::Seconds),
            statuses.iter().map(|(a, s, _)| (label(a, s), s.interval.as_secs_f64())),
        )?;
        gauges(
            e,
            "refresh_duration",
            "Duration of the collector's last refresh, successful or not",
            Some(&Unit::Seconds),
            statuses
                .iter()
                .filter_map(|(a, s, v)| Some((label(a, s), v.last_duration?.as_secs_f64()))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn status_turns_unhealthy_after_three_silent_intervals() {
        let status = Status::new(Kind::Partner, Duration::from_secs(60));
        tokio::time::advance(Duration::from_secs(179)).await;
        assert!(status.is_healthy());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!status.is_healthy());
        status.progressed();
        assert!(status.is_healthy(), "an API answer is progress");
        tokio::time::advance(Duration::from_secs(180)).await;
        status.lock().phase = Phase::Waiting;
        assert!(status.is_healthy(), "waiting for a dependency is not being wedged");
        status.lock().phase = Phase::Stopped;
        assert!(!status.is_healthy());
    }
}
