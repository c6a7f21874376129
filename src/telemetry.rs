//! Logging: `--log.level` and `--log.format` (logfmt or JSON), to stderr.

use crate::config::{LogFormat, LogLevel};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global subscriber. Dependencies log warnings and errors only,
/// whatever the level: their debug output is about HTTP internals, not the exporter.
pub fn init(level: LogLevel, format: LogFormat) {
    let ours = match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    };
    let theirs = if level == LogLevel::Error { "error" } else { "warn" };
    let filter = EnvFilter::new(format!("{theirs},tencentcloud_partner_exporter={ours}"));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Logfmt => registry
            .with(tracing_logfmt::builder().layer().with_writer(std::io::stderr))
            .init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr))
            .init(),
    }
}
