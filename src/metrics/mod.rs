//! Everything `/metrics` serves: the registry (prefix `tencentcloud_partner`),
//! the cached snapshots exported by [`exposition::CachedMetrics`], the API
//! self-metrics of [`instrumentation::ApiMetrics`] and build information.

pub mod exposition;
pub mod instrumentation;

use crate::cache::Snapshots;
use crate::collectors::Status;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// The metric name prefix of every series.
pub const PREFIX: &str = "tencentcloud_partner";
/// The exporter's version, as `--version` and `build_info` show it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
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

/// The exporter's registry, ready to encode.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub api: instrumentation::ApiMetrics,
}

impl Metrics {
    /// Builds the registry over the shared snapshots and collector statuses.
    pub fn new(snapshots: Snapshots, statuses: Vec<Arc<Status>>, export_names: bool) -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
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
        let api = instrumentation::ApiMetrics::register(&mut registry);
        registry.register_collector(Box::new(exposition::CachedMetrics {
            snapshots,
            statuses,
            export_names,
        }));
        Self { registry, api }
    }

    /// The exposition in the OpenMetrics text format, ending in `# EOF`.
    pub fn openmetrics(&self) -> String {
        let mut body = String::with_capacity(64 * 1024);
        prometheus_client::encoding::text::encode(&mut body, &self.registry).expect("writing to a String cannot fail");
        body
    }

    /// The exposition in the Prometheus text format 0.0.4, for scrapers and
    /// tools that do not ask for OpenMetrics.
    pub fn prometheus_text(&self) -> String {
        let mut body = String::with_capacity(64 * 1024);
        prometheus_client::encoding::prometheus_text::encode(&mut body, &self.registry)
            .expect("writing to a String cannot fail");
        body
    }
}
