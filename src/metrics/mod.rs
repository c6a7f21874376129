//! Everything `/metrics` serves: the blocks each collector's snapshot was
//! encoded into when it was published ([`exposition::Renderer`]), then the
//! exporter's own metrics, encoded per scrape: API calls
//! ([`instrumentation::ApiMetrics`]), refresh status, build information and
//! the process metrics ([`process`]).
//! A scrape copies no cached block: it hands out reference-counted buffers.

pub mod block;
pub mod counters;
pub mod exposition;
pub mod families;
pub mod instrumentation;
pub mod process;
pub mod table;
pub mod thresholds;

use crate::snapshot::Kind;
use bytes::Bytes;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// The metric name prefix of every series.
pub const PREFIX: &str = "tencentcloud_partner";
/// The exporter's version, as `build_info` and the landing page show it: the
/// crate's, unless the build sets TENCENTCLOUD_PARTNER_EXPORTER_VERSION (the
/// container image's VERSION build argument).
pub const VERSION: &str = match option_env!("TENCENTCLOUD_PARTNER_EXPORTER_VERSION") {
    Some(version) if !version.is_empty() => version,
    _ => env!("CARGO_PKG_VERSION"),
};
/// The commit the binary was built from, when the build could tell.
pub const REVISION: &str = match option_env!("TENCENTCLOUD_PARTNER_EXPORTER_REVISION") {
    Some(revision) => revision,
    None => "unknown",
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    revision: &'static str,
}

/// The exposition formats `/metrics` serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics text 1.0.0, ending in `# EOF`: what Prometheus asks for.
    OpenMetrics,
    /// The Prometheus text format 0.0.4, for every other client.
    Text,
}

/// The snapshots `/metrics` serves, as their collectors published them.
pub trait Source: Send + Sync + std::fmt::Debug {
    /// The latest snapshot of `kind` of every account served, with the
    /// account's name, in account order.
    fn published(&self, kind: Kind) -> Vec<(Arc<str>, Arc<exposition::Published>)>;
}

/// The exporter's metrics, ready to serve.
#[derive(Debug)]
pub struct Metrics {
    /// The exporter's own metrics; the cached snapshots are not in it.
    registry: Registry,
    source: Arc<dyn Source>,
    pub api: instrumentation::ApiMetrics,
    pub reload: instrumentation::ReloadMetrics,
    /// Snapshot files (`--cache.snapshot-dir`) that could not be written.
    pub store_errors: prometheus_client::metrics::counter::Counter,
    /// The counters the collectors declare.
    pub counters: counters::Counters,
    /// `--customers.thresholds-file` in force, exported per customer.
    pub thresholds: Arc<arc_swap::ArcSwap<crate::thresholds::Thresholds>>,
}

impl Metrics {
    /// Builds the registry of the exporter's own metrics, with `refresh`
    /// (the collectors' status, encoded per scrape) and the collectors'
    /// `counters`, over the snapshots of `source`.
    pub fn new(
        source: Arc<dyn Source>,
        refresh: Box<dyn prometheus_client::collector::Collector>,
        counters: impl IntoIterator<Item = (&'static str, &'static counters::CounterDef)>,
    ) -> Self {
        // The process metrics are named as every client library names them,
        // without the exporter's prefix; everything else carries it.
        let mut root = Registry::default();
        root.register_collector(Box::new(process::ProcessMetrics));
        let registry = root.sub_registry_with_prefix(PREFIX);
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: VERSION,
                revision: REVISION,
            })
            .set(1);
        registry.register(
            "exporter_build_info",
            "Version and revision of the exporter, value 1",
            build,
        );
        let api = instrumentation::ApiMetrics::register(registry);
        let reload = instrumentation::ReloadMetrics::register(registry);
        let store_errors = prometheus_client::metrics::counter::Counter::default();
        registry.register(
            "snapshot_write_errors",
            "Snapshots that could not be written to --cache.snapshot-dir",
            store_errors.clone(),
        );
        registry.register(
            "label_values_cut",
            "Label values cut to 1024 bytes (a customer's remark, say), counted at every encoding of a publication that holds one",
            table::LABEL_VALUES_CUT.clone(),
        );
        let counters = counters::Counters::register(registry, counters);
        registry.register_collector(refresh);
        let thresholds = Arc::default();
        registry.register_collector(Box::new(thresholds::ThresholdMetrics::new(
            source.clone(),
            Arc::clone(&thresholds),
        )));
        Self {
            registry: root,
            source,
            api,
            reload,
            store_errors,
            counters,
            thresholds,
        }
    }

    /// The exporter's own metrics, encoded now.
    fn own(&self, format: Format) -> String {
        let mut text = String::with_capacity(16 * 1024);
        match format {
            Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut text, &self.registry),
            Format::Text => prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry),
        }
        .expect("writing to a String cannot fail");
        text
    }

    /// The whole exposition as chunks to send in order, gzip-compressed when
    /// `gzip`. Cached blocks come first and are shared, not copied: each
    /// family's descriptor once, then its samples from every account.
    pub fn scrape(&self, format: Format, gzip: bool) -> Vec<Bytes> {
        coalesce(self.chunks(format, gzip))
    }

    fn chunks(&self, format: Format, gzip: bool) -> Vec<Bytes> {
        let mut parts: Vec<(&exposition::Family, bool)> = Vec::new();
        let published: Vec<Vec<_>> = Kind::ALL
            .iter()
            .map(|kind| self.source.published(*kind).into_iter().map(|(_, p)| p).collect())
            .collect();
        for group in &published {
            let mut names: Vec<&str> = Vec::new();
            for family in group.iter().flat_map(|p| &p.families) {
                if !names.contains(&family.name.as_str()) {
                    names.push(&family.name);
                }
            }
            for name in names {
                let mut members = group.iter().filter_map(|p| p.families.iter().find(|f| f.name == name));
                if let Some(first) = members.next() {
                    parts.push((first, true));
                    parts.push((first, false));
                    parts.extend(members.map(|f| (f, false)));
                }
            }
        }
        let own = self.own(format);
        // The classic format is the same text without `# UNIT` lines, which
        // only descriptors have: those were prepared at publication.
        let blocks = parts.iter().map(|(f, header)| match (header, format) {
            (true, Format::OpenMetrics) => &f.header,
            (true, Format::Text) => &f.classic_header,
            (false, _) => &f.samples,
        });
        if gzip {
            // Stitched from the blocks compressed at publication.
            let blocks: Vec<&block::Block> = blocks.collect();
            block::gzip(&blocks, own.as_bytes())
        } else {
            blocks
                .flat_map(|block| block.text().cloned())
                .chain(std::iter::once(Bytes::from(own)))
                .collect()
        }
    }
}

/// Chunks below this size are joined with their small neighbours.
const SMALL_CHUNK: usize = 16 * 1024;

/// Joins runs of small chunks (descriptors, the deflate of a short family)
/// into one, so a response is a few large writes rather than dozens of tiny
/// ones; large chunks pass through uncopied.
fn coalesce(chunks: Vec<Bytes>) -> Vec<Bytes> {
    let mut out = Vec::with_capacity(chunks.len());
    let mut small = bytes::BytesMut::new();
    for chunk in chunks {
        if chunk.len() >= SMALL_CHUNK {
            if !small.is_empty() {
                out.push(small.split().freeze());
            }
            out.push(chunk);
        } else {
            small.extend_from_slice(&chunk);
            if small.len() >= SMALL_CHUNK {
                out.push(small.split().freeze());
            }
        }
    }
    if !small.is_empty() {
        out.push(small.freeze());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalescing_keeps_the_bytes_and_their_order() {
        let big = Bytes::from(vec![b'b'; SMALL_CHUNK * 2]);
        let chunks = vec![
            Bytes::from_static(b"a1"),
            Bytes::from_static(b"a2"),
            big.clone(),
            Bytes::from_static(b"c"),
        ];
        let joined = coalesce(chunks.clone());
        assert_eq!(joined.concat(), chunks.concat());
        assert_eq!(joined.len(), 3, "the two small leading chunks become one");
        assert_eq!(joined[1].as_ptr(), big.as_ptr(), "a large chunk is not copied");
    }
}
