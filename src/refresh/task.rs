//! The refresh loop of one collector's task: every interval, refresh, then
//! publish the snapshot (to the cache, and to disk when configured) or keep
//! what was published; while a long refresh runs, its progress is logged
//! about once a minute, and the collector publishes what it has read so far
//! through its [`Context`]. It keeps the collector's [`Status`] up to date.

use super::health::{Phase, Status, StopGuard};
use super::publish::publish;
use super::{Collector, Context, Inputs};
use crate::cache::Snapshots;
use crate::snapshot::{Kind, Rows};
use crate::store::Store;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How a collector's task runs.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub interval: Duration,
    /// How long a snapshot may be exported.
    pub max_age: Duration,
    /// `--refresh.<name>-full-interval`, for a collector that has one.
    pub full_sweep: Option<Duration>,
    /// `--refresh.publish-interval`: how often a long refresh publishes what
    /// it has read so far.
    pub publish_every: Duration,
}

/// Runs `collector` every `schedule.interval` until `cancel`, publishing each
/// complete snapshot (and, through the collector's [`Context`], the parts of
/// a long refresh). A failed refresh is logged and leaves what was published.
pub async fn run<C: Collector>(
    mut collector: C,
    inputs: Inputs,
    status: Arc<Status>,
    schedule: Schedule,
    cancel: CancellationToken,
) {
    let _guard = StopGuard(status.clone());
    let ctx = Context::new(inputs.clone(), status.clone(), schedule, cancel.clone());
    // A collector that reads the customer list waits for the first taken
    // by this run (one restored from disk may be old: what it reads from it
    // stays served meanwhile), then refreshes every interval, and soon after
    // a new list that concerns it: what changed for a customer shows one
    // customers refresh later.
    let mut customers = inputs.snapshots.subscribe(Kind::Customers);
    if C::NEEDS_CUSTOMERS {
        status.set_phase(Phase::Waiting);
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
        status.set_phase(Phase::Idle);
    }
    // A refresh that ran out of time made no progress to speak of, nor does
    // the one that starts after it: three intervals of those and
    // `/-/healthy` says so.
    let mut out_of_time = false;
    let mut ticker = tokio::time::interval(schedule.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            Ok(()) = customers.changed(), if C::NEEDS_CUSTOMERS => {
                // A new list that changes nothing the collector reads waits
                // for its interval.
                if !collector.concerned(&ctx) {
                    continue;
                }
                ticker.reset();
            }
            _ = cancel.cancelled() => return,
        }
        let started = Instant::now();
        status.refresh_started(started, !out_of_time);
        ctx.refresh_started();
        let Some(result) = refresh(&mut collector, &ctx, &status, &inputs, schedule, &cancel).await else {
            return;
        };
        let elapsed = started.elapsed();
        let kind = <C::Rows as Rows>::KIND;
        match result {
            Ok(rows) => {
                let first = !status.completed_once();
                // Its duration is recorded first: whoever sees the new
                // success time sees the duration of the same refresh.
                status.refresh_ended(None, elapsed, schedule.interval);
                publish(&inputs, &status, Arc::new(rows.into()), schedule.max_age, true).await;
                status.progressed();
                out_of_time = false;
                let took = humantime::format_duration(Duration::from_millis(elapsed.as_millis() as u64));
                if first {
                    tracing::info!(account = %inputs.account, collector = %kind, %took, "first refresh complete");
                } else {
                    tracing::debug!(account = %inputs.account, collector = %kind, %took, "refresh complete");
                }
            }
            Err(error) => {
                status.refresh_ended(Some(error.to_string()), elapsed, schedule.interval);
                out_of_time = matches!(error, super::Error::Deadline { .. });
                if !out_of_time {
                    status.progressed();
                }
                tracing::warn!(account = %inputs.account, collector = %kind, %error, "refresh failed; keeping what was published");
            }
        }
    }
}

/// How long a refresh under way is given, once the exporter stops, to
/// publish (and keep on disk) what it has read: a restart then goes on from there.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Runs one refresh of `collector`, logging a first refresh's progress every
/// two publish intervals (a minute by default); `None` when cancelled.
async fn refresh<C: Collector>(
    collector: &mut C,
    ctx: &Context,
    status: &Status,
    inputs: &Inputs,
    schedule: Schedule,
    cancel: &CancellationToken,
) -> Option<Result<C::Rows, super::Error>> {
    let every = schedule.publish_every * 2;
    let mut log = tokio::time::interval_at(Instant::now() + every, every);
    let refresh = collector.refresh(ctx);
    tokio::pin!(refresh);
    // A refresh that does not stop at its deadline (a walk that does not
    // end) is dropped after a grace as long again as its base.
    let grace = super::deadline::base(schedule.interval);
    loop {
        tokio::select! {
            result = &mut refresh => return Some(result),
            _ = log.tick() => status.log_progress(&inputs.account),
            _ = tokio::time::sleep_until(ctx.deadline() + grace) => {
                if Instant::now() >= ctx.deadline() + grace {
                    return Some(Err(ctx.deadline_error()));
                }
            }
            _ = cancel.cancelled() => {
                let _ = tokio::time::timeout(STOP_GRACE, &mut refresh).await;
                return None;
            }
        }
    }
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
            let published = snapshots.render(restored.snapshot, restored.taken_at, restored.complete);
            snapshots.insert(Arc::new(published), max_age);
            status.restored(restored.taken_at, restored.complete);
            let age = SystemTime::now().duration_since(restored.taken_at).unwrap_or_default();
            let what = if restored.complete {
                "serving the snapshot kept on disk until the first refresh"
            } else {
                "serving the part of a refresh kept on disk; the refresh goes on from there"
            };
            tracing::info!(
                account,
                collector = %status.kind,
                age = %humantime::format_duration(Duration::from_secs(age.as_secs())),
                "{what}"
            );
        }
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(account, collector = %status.kind, %error, "ignoring the snapshot kept on disk");
        }
    }
}
