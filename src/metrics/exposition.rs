//! Turns snapshots into metric families, once, when a collector publishes
//! one ([`Renderer`]). No I/O.

use super::families::Families;
pub use super::families::Family;
use super::table::{Options, Scope};
use crate::snapshot::Snapshot;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use prometheus_client::registry::Unit;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Writes a snapshot's metric families: the collectors' list of metric tables.
pub type Encode = fn(&Snapshot, &mut DescriptorEncoder, Scope<'_>) -> fmt::Result;

/// Encodes one account's published snapshots into exposition families.
#[derive(Clone)]
pub struct Renderer {
    /// The `account` label of every series.
    account: Arc<str>,
    options: Options,
    encode: Encode,
}

impl fmt::Debug for Renderer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Renderer")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// One published snapshot, its exposition, and when it was taken.
#[derive(Debug)]
pub struct Published {
    pub snapshot: Arc<Snapshot>,
    /// The snapshot's metric families, encoded once when it was published.
    pub families: Vec<Family>,
    /// When it was published: when the refresh that produced it completed,
    /// or, for a part, when that part was read.
    pub at: SystemTime,
    /// Whether a refresh completed it; false for what a refresh still under
    /// way had read so far.
    pub complete: bool,
}

/// Writes one gauge family, unless it has no samples.
pub fn gauges<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    samples: impl IntoIterator<Item = (L, f64)>,
) -> fmt::Result {
    let mut samples = samples.into_iter().peekable();
    if samples.peek().is_none() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for (labels, value) in samples {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// `t` as unix seconds.
pub fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs_f64()
}

impl Renderer {
    /// A renderer of `account`'s snapshots, writing each with `encode`.
    pub fn new(account: &str, export_names: bool, encode: Encode) -> Self {
        Self {
            account: account.into(),
            options: Options { export_names },
            encode,
        }
    }

    /// The account whose snapshots this renders.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// `snapshot`'s metric families; those unchanged since `last` (the
    /// families served until now) are `last`'s, shared.
    pub fn render(&self, snapshot: &Arc<Snapshot>, last: &[Family]) -> Vec<Family> {
        let mut registry = Registry::with_prefix(super::PREFIX);
        registry.register_collector(Box::new(OneSnapshot {
            renderer: self.clone(),
            snapshot: snapshot.clone(),
        }));
        let mut families = Families::new(last);
        prometheus_client::encoding::text::encode_registry(&mut families, &registry)
            .expect("writing to memory cannot fail");
        families.finish()
    }
}

/// One snapshot, as a prometheus-client collector for [`Renderer::render`].
#[derive(Debug)]
struct OneSnapshot {
    renderer: Renderer,
    snapshot: Arc<Snapshot>,
}

impl Collector for OneSnapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let scope = Scope {
            account: &self.renderer.account,
            collector: self.snapshot.kind().name(),
            options: self.renderer.options,
        };
        (self.renderer.encode)(&self.snapshot, &mut encoder, scope)
    }
}
