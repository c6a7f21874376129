//! The collectors' refresh metrics, read from their [`Status`] on each
//! scrape, so `/-/healthy`, the landing page and `/metrics` never disagree.
//! Encodes only; it changes no status.

use super::health::{Status, StatusView};
use crate::metrics::exposition::{gauges, unix};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::registry::Unit;
use std::fmt;
use std::sync::Arc;

/// Every collector task's status, by account: what the refresh metrics report.
pub trait Statuses: Send + Sync + fmt::Debug + 'static {
    fn statuses(&self) -> Vec<(Arc<str>, Arc<Status>)>;
}

/// The refresh metrics of every collector in `S`.
#[derive(Debug)]
pub struct RefreshMetrics<S>(pub S);

impl<S: Statuses> prometheus_client::collector::Collector for RefreshMetrics<S> {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let e = &mut encoder;
        let all = self.0.statuses();
        let statuses: Vec<(&str, &Status, StatusView)> = all.iter().map(|(a, s)| (&**a, &**s, s.view())).collect();
        let label = label_of;
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
            "refresh_last_publish_timestamp",
            "Unix time the collector last published values: a complete refresh, or what a long refresh has read so far",
            Some(&Unit::Seconds),
            statuses
                .iter()
                .filter_map(|(a, s, v)| Some((label(a, s), unix(v.last_published?)))),
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
        )?;
        gauges(
            e,
            "refresh_items",
            "Items (customers, vouchers) the collector's current or last refresh reads one at a time: read so far, \
             and due in all",
            None,
            statuses.iter().flat_map(|(a, s, v)| {
                v.progress.into_iter().flat_map(move |p| {
                    let [account, collector] = label(a, s);
                    [("read", p.read), ("due", p.due)].map(|(state, n)| {
                        let labels = [account.clone(), collector.clone(), ("state", state.to_owned())];
                        (labels, n as f64)
                    })
                })
            }),
        )?;
        let by = |label: &'static str, of: fn(&StatusView) -> Vec<(String, u64)>| {
            statuses
                .iter()
                .flat_map(move |(a, s, v)| {
                    of(v).into_iter().map(move |(value, n)| {
                        let [account, collector] = label_of(a, s);
                        ([account, collector, (label, value)], n)
                    })
                })
                .collect::<Vec<_>>()
        };
        counters(
            e,
            "listing_anomalies",
            "What a walk of a paged listing found wrong with the API's answers: rows listed twice (duplicate_rows, \
             each kept once), a listing published a few items short of its Total (short_of_total), a Total its \
             pages could not reach (total_unreachable: the read failed)",
            by("anomaly", |v| {
                v.anomalies.iter().map(|(a, n)| ((*a).to_owned(), *n)).collect()
            }),
        )?;
        counters(
            e,
            "refused_items",
            "Items (customers, vouchers) the API refused one at a time, by error code: each keeps its last value, \
             or has none, while the rest of the refresh is published",
            by("code", |v| v.refused.iter().map(|(c, n)| (c.clone(), *n)).collect()),
        )?;
        Ok(())
    }
}

/// The labels of `status`'s collector of `account`.
fn label_of(account: &str, status: &Status) -> [(&'static str, String); 2] {
    [
        ("account", account.to_owned()),
        ("collector", status.kind.name().to_owned()),
    ]
}

/// Writes a counter family of `samples`, unless there are none.
fn counters(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: Vec<([(&'static str, String); 3], u64)>,
) -> fmt::Result {
    if samples.is_empty() {
        return Ok(());
    }
    let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, n) in samples {
        ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}
