//! The refresh runtime every collector runs on: background tasks that
//! refresh one snapshot each, on their own interval, and publish it to the
//! cache: whole when the refresh completes, and, while a long one runs, what
//! it has read so far (merged with what was known), so that a first start of
//! a large partner shows data within a minute. It owns the schedule, the one
//! rule for what the API refuses ([`refusals`]), the bounds of every walk
//! ([`pages`]) and the health of each task; it knows no collector by name,
//! runs nothing at scrape time, and does not know how snapshots become metrics.
//!
//! "Collector" means our refreshers, as in `--collector.vouchers`; the
//! prometheus-client trait of the same name lives in `metrics`.

pub mod batches;
mod context;
pub mod deadline;
pub mod error;
pub mod health;
pub mod items;
pub mod metrics;
pub mod pages;
pub mod publish;
pub mod refusals;
pub mod since;
pub mod sweep;
pub mod task;

pub use context::Context;
pub use error::Error;
pub use health::{Phase, Progress, STARTING, Status, StatusView};
pub use items::{HandOver, Items, Key, Outcome, read_each};
pub use pages::{Anomaly, Page, Walked, walk, walk_checked, walk_pages};
pub use task::{Schedule, run};

use crate::api;
use crate::cache::Snapshots;
use crate::metrics::counters::{AccountCounters, CounterDef};
use crate::metrics::table::{Scope, Table};
use crate::snapshot::{Kind, Rows, Snapshot, VisitKind, VisitRows};
use chrono::{DateTime, FixedOffset, NaiveDateTime};
use prometheus_client::encoding::DescriptorEncoder;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Writes `snapshot`'s metric families with its collector's metric table.
pub fn encode(snapshot: &Snapshot, encoder: &mut DescriptorEncoder, scope: Scope<'_>) -> std::fmt::Result {
    snapshot.visit(Encode { encoder, scope })
}

struct Encode<'e, 'a, 's> {
    encoder: &'e mut DescriptorEncoder<'a>,
    scope: Scope<'s>,
}

impl<R: Collected> VisitRows<R> for Encode<'_, '_, '_> {
    type Output = std::fmt::Result;
    fn visit(self, rows: &R) -> std::fmt::Result {
        <R::By as Collector>::METRICS.encode(rows, self.encoder, self.scope)
    }
}

/// Starts the task of `status`'s collector on `tasks`.
pub fn spawn(tasks: &TaskTracker, status: Arc<Status>, inputs: Inputs, schedule: Schedule, cancel: CancellationToken) {
    status.kind.visit(Spawn {
        tasks,
        status: status.clone(),
        inputs,
        schedule,
        cancel,
    })
}

struct Spawn<'t> {
    tasks: &'t TaskTracker,
    status: Arc<Status>,
    inputs: Inputs,
    schedule: Schedule,
    cancel: CancellationToken,
}

impl<R: Collected> VisitKind<R> for Spawn<'_> {
    type Output = ();
    fn visit(self) {
        // Seeded with what it serves, so that what has not changed since the
        // last run (before a restart, too) need not be read again.
        let previous = self.inputs.snapshots.latest(R::KIND);
        let collector = R::By::start(previous.as_deref().and_then(|p| R::of(&p.snapshot)));
        task::spawn(
            self.tasks,
            collector,
            self.inputs,
            self.status,
            self.schedule,
            self.cancel,
        )
    }
}

/// What a collector is by default and how the flags describe it.
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    pub interval: Duration,
    pub enabled: bool,
    /// What it refreshes, for `--help`: "the customers' vouchers".
    pub about: &'static str,
    pub needs_customers: bool,
    /// Within how long everything is read again, for a collector that reads only what changed.
    pub full_sweep: Option<Duration>,
    /// What that does, for `--help`.
    pub full_sweep_help: &'static str,
}

/// The counters every collector declares, registered whether it runs or
/// not, each with the name of the collector that counts it.
pub fn counters() -> Vec<(&'static str, &'static CounterDef)> {
    Kind::ALL
        .into_iter()
        .flat_map(|kind| kind.visit(GetCounters).iter().map(move |def| (kind.name(), *def)))
        .collect()
}

struct GetCounters;

impl<R: Collected> VisitKind<R> for GetCounters {
    type Output = &'static [&'static CounterDef];
    fn visit(self) -> Self::Output {
        R::By::COUNTERS
    }
}

/// The defaults of `kind`'s collector.
pub fn defaults(kind: Kind) -> Defaults {
    kind.visit(GetDefaults)
}

struct GetDefaults;

impl<R: Collected> VisitKind<R> for GetDefaults {
    type Output = Defaults;
    fn visit(self) -> Defaults {
        Defaults {
            interval: R::By::INTERVAL,
            enabled: R::By::ENABLED_BY_DEFAULT,
            about: R::By::ABOUT,
            needs_customers: R::By::NEEDS_CUSTOMERS,
            full_sweep: R::By::FULL_SWEEP,
            full_sweep_help: R::By::FULL_SWEEP_HELP,
        }
    }
}

/// What every collector needs to refresh: the API, the other snapshots, and
/// how to read the API's values.
#[derive(Clone)]
pub struct Inputs {
    /// The account's name, for the log.
    pub account: Arc<str>,
    pub api: api::Client,
    pub snapshots: Snapshots,
    /// The zone of the API's zone-less time strings.
    pub timezone: FixedOffset,
    /// `--customers.uins`: only these customers, read with QueryCreditByUinList.
    pub customer_uins: Option<Arc<[u64]>>,
    /// `--vouchers.ended-retention`: how long an ended voucher is still exported.
    pub ended_retention: Duration,
    /// `--cache.snapshot-dir`: where each published snapshot is also written.
    pub store: Option<crate::store::Store>,
    /// Snapshot files that could not be written.
    pub store_errors: prometheus_client::metrics::counter::Counter,
    /// The counters the collectors declare, for this account.
    pub counters: AccountCounters,
    /// When the account's tasks were set up: a snapshot taken before was
    /// restored from disk or kept from an earlier run.
    pub started: std::time::SystemTime,
    /// The account's tasks, the publications of parts included: a reload
    /// awaits them all before the account's new tasks call the API.
    pub tasks: TaskTracker,
}

/// Parses `YYYY-MM-DD hh:mm:ss` in `zone`, or RFC 3339 with its own
/// offset, to unix seconds. The decoder has reported any other text.
pub fn parse_time(text: &str, zone: FixedOffset) -> Option<f64> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.timestamp() as f64);
    }
    let naive = NaiveDateTime::parse_from_str(text, crate::api::decode::TIME_FORMAT).ok()?;
    Some(naive.and_local_timezone(zone).single()?.timestamp() as f64)
}

/// A collector: produces a complete snapshot, or an error and nothing.
pub trait Collector: Sized + Send + 'static {
    /// What a refresh produces.
    type Rows: Collected;
    /// One sample's source in the metric table: a customer, a voucher.
    type Row: 'static;
    /// What it exports.
    const METRICS: Table<Self::Rows, Self::Row>;
    /// What it refreshes, for `--help`: "the customers' vouchers".
    const ABOUT: &'static str;
    /// Its default `--refresh.<name>-interval`.
    const INTERVAL: Duration;
    /// Whether it runs without `--collector.<name>`.
    const ENABLED_BY_DEFAULT: bool = true;
    /// Whether the first refresh must wait for the first customer list.
    const NEEDS_CUSTOMERS: bool = false;
    /// Its default `--refresh.<name>-full-interval`, for a collector that
    /// reads only what changed: within it, everything is read again.
    const FULL_SWEEP: Option<Duration> = None;
    /// What a full sweep does, for `--help`.
    const FULL_SWEEP_HELP: &'static str = "reads everything again, changed or not, spread over its refreshes";
    /// The counters it keeps, per account, of what it notices and survives.
    const COUNTERS: &'static [&'static CounterDef] = &[];
    /// For a collector that reads the customer list: whether the list now
    /// served gives it work, so that it refreshes soon rather than at its
    /// interval. By default, always.
    fn concerned(&self, _ctx: &Context) -> bool {
        true
    }
    /// The collector, given the snapshot last served (from disk after a restart).
    fn start(previous: Option<&Self::Rows>) -> Self;
    fn refresh(&mut self, ctx: &Context) -> impl Future<Output = Result<Self::Rows, Error>> + Send;
}

/// Names the collector that produces each kind of rows. Every rows type in
/// [`crate::snapshot`] implements it in its collector's file: the exporter
/// then refreshes, encodes and configures that collector by its [`Kind`].
pub trait Collected: Rows {
    type By: Collector<Rows = Self>;
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
        assert_eq!(parse_time("2022-10-13T20:09:03+08:00", utc), Some(1_665_662_943.0));
    }
}
