//! Turns snapshots into metric families, once, when a collector publishes
//! one ([`Renderer`]). No I/O.

use super::block::Block;
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

/// One metric family of a snapshot, encoded: its descriptor (`# HELP`,
/// `# TYPE`, `# UNIT`) apart from its samples, so a scrape can write the
/// descriptor once and the samples of every account after it.
#[derive(Debug, Clone)]
pub struct Family {
    pub name: String,
    pub header: Block,
    /// The descriptor without `# UNIT`, for the classic text format.
    pub classic_header: bytes::Bytes,
    pub samples: Block,
}

/// Splits OpenMetrics text into its families, sharing the text rather than
/// copying it (a snapshot of 50,000 vouchers is tens of megabytes).
fn families(text: String) -> Vec<Family> {
    let all = bytes::Bytes::from(text);
    let text = std::str::from_utf8(&all).expect("the encoder writes UTF-8");
    let mut out = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let rest = &text[start..];
        // A family starts with `# HELP name`; its samples end where the next one starts.
        let end = rest[1..].find("\n# HELP ").map_or(rest.len(), |i| i + 2);
        let family = &rest[..end];
        let samples_at = family
            .match_indices('\n')
            .map(|(i, _)| i + 1)
            .find(|&i| !family[i..].starts_with("# "))
            .unwrap_or(family.len());
        let header = &family[..samples_at];
        let name = header
            .strip_prefix("# HELP ")
            .and_then(|h| h.split(' ').next())
            .unwrap_or_default()
            .to_owned();
        let classic: String = header
            .split_inclusive('\n')
            .filter(|l| !l.starts_with("# UNIT "))
            .collect();
        out.push(Family {
            name,
            header: Block::from_bytes(all.slice(start..start + samples_at)),
            classic_header: bytes::Bytes::from(classic),
            samples: Block::from_bytes(all.slice(start + samples_at..start + end)),
        });
        start += end;
    }
    out
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

    /// `snapshot`'s metric families, encoded into a text of `capacity` bytes
    /// to start with.
    pub fn render(&self, snapshot: &Arc<Snapshot>, capacity: usize) -> Vec<Family> {
        let mut registry = Registry::with_prefix(super::PREFIX);
        registry.register_collector(Box::new(OneSnapshot {
            renderer: self.clone(),
            snapshot: snapshot.clone(),
        }));
        let mut text = String::with_capacity(capacity);
        prometheus_client::encoding::text::encode_registry(&mut text, &registry)
            .expect("writing to a String cannot fail");
        // The text is kept as long as it is served: without the room left over.
        text.shrink_to_fit();
        families(text)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_split_descriptors_from_samples_and_rejoin_to_the_text() {
        let text = "# HELP a_usd First.\n# TYPE a_usd gauge\n# UNIT a_usd usd\na_usd{account=\"x\"} 1.0\n\
                    # HELP b Second.\n# TYPE b gauge\nb{account=\"x\",k=\"v\"} 2.0\nb{account=\"x\",k=\"w\"} 3.0\n";
        let families = families(text.to_owned());
        let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a_usd", "b"]);
        let rejoined: Vec<u8> = families
            .iter()
            .flat_map(|f| [f.header.text.clone(), f.samples.text.clone()])
            .flat_map(|b| b.to_vec())
            .collect();
        assert_eq!(String::from_utf8(rejoined).unwrap(), text);
        assert_eq!(&families[0].samples.text[..], b"a_usd{account=\"x\"} 1.0\n");
        assert_eq!(
            &families[0].classic_header[..],
            b"# HELP a_usd First.\n# TYPE a_usd gauge\n"
        );
    }
}
