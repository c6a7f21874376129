//! The command-line flags, each with its environment variable; the parsers
//! in [`super::values`] check each value as clap reads it.

use super::DEFAULT_METADATA_URL;
use super::collectors::CollectorFlags;
use super::values::{
    parse_duration, parse_endpoint, parse_fraction, parse_listen_address, parse_telemetry_path, parse_timezone,
    parse_uin,
};
use crate::api;
use chrono::FixedOffset;
use clap::{ArgAction, Parser, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// Log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Prometheus exporter for Tencent Cloud International Partners: partner and
/// customer credit, credit allocations, vouchers, account status and
/// second-level resellers.
#[derive(Debug, Parser)]
#[command(name = "tencentcloud-partner-exporter", version, about, long_about = None)]
pub struct Flags {
    /// Address to listen on for HTTP requests (`:PORT` listens on every interface).
    #[arg(long = "web.listen-address", env = "TENCENTCLOUD_PARTNER_EXPORTER_WEB_LISTEN_ADDRESS", default_value = ":19287", value_parser = parse_listen_address, value_name = "ADDRESS")]
    pub listen_address: SocketAddr,

    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", env = "TENCENTCLOUD_PARTNER_EXPORTER_WEB_TELEMETRY_PATH", default_value = "/metrics", value_parser = parse_telemetry_path, value_name = "PATH")]
    pub telemetry_path: String,

    /// Web configuration file (exporter-toolkit format): TLS, basic auth, headers. Reloaded on change and SIGHUP.
    #[arg(
        long = "web.config.file",
        env = "TENCENTCLOUD_PARTNER_EXPORTER_WEB_CONFIG_FILE",
        value_name = "PATH"
    )]
    pub web_config_file: Option<PathBuf>,

    /// Let /-/healthy and /-/ready answer without basic auth (for Kubernetes probes).
    #[arg(long = "web.probes-without-auth", env = "TENCENTCLOUD_PARTNER_EXPORTER_WEB_PROBES_WITHOUT_AUTH", action = ArgAction::SetTrue)]
    pub probes_without_auth: bool,

    /// Most connections open at once; beyond, the oldest is closed (at once when idle). Kept below the open-file limit.
    #[arg(long = "web.max-connections", env = "TENCENTCLOUD_PARTNER_EXPORTER_WEB_MAX_CONNECTIONS", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    pub max_connections: u32,

    /// Enable POST /-/reload, which re-reads the configuration files.
    #[arg(long = "web.enable-lifecycle", env = "TENCENTCLOUD_PARTNER_EXPORTER_WEB_ENABLE_LIFECYCLE", action = ArgAction::SetTrue)]
    pub enable_lifecycle: bool,

    /// Accounts file (YAML): several partner accounts, each with its own key; every series gets an account label.
    #[arg(
        long = "config.file",
        env = "TENCENTCLOUD_PARTNER_EXPORTER_CONFIG_FILE",
        value_name = "PATH"
    )]
    pub config_file: Option<PathBuf>,

    /// Tencent Cloud API endpoint, scheme included.
    #[arg(long = "api.endpoint", env = "TENCENTCLOUD_PARTNER_EXPORTER_API_ENDPOINT", default_value = api::DEFAULT_ENDPOINT, value_parser = parse_endpoint, value_name = "URL")]
    pub endpoint: Url,

    /// Region sent as X-TC-Region (not required by current endpoints).
    #[arg(
        long = "api.region",
        env = "TENCENTCLOUD_PARTNER_EXPORTER_API_REGION",
        value_name = "REGION"
    )]
    pub region: Option<String>,

    /// Share of each action's documented rate limit to use (1.0 = 5/s, 20/s for the voucher list and usage details).
    #[arg(long = "api.rate-limit-fraction", env = "TENCENTCLOUD_PARTNER_EXPORTER_API_RATE_LIMIT_FRACTION", default_value = "1.0", value_parser = parse_fraction, value_name = "FRACTION")]
    pub rate_limit_fraction: f64,

    /// File holding the SecretId (read again when it changes), with --api.secret-key-file.
    #[arg(
        long = "api.secret-id-file",
        env = "TENCENTCLOUD_PARTNER_EXPORTER_API_SECRET_ID_FILE",
        value_name = "PATH"
    )]
    pub secret_id_file: Option<PathBuf>,

    /// File holding the SecretKey (read again when it changes), with --api.secret-id-file.
    #[arg(
        long = "api.secret-key-file",
        env = "TENCENTCLOUD_PARTNER_EXPORTER_API_SECRET_KEY_FILE",
        value_name = "PATH"
    )]
    pub secret_key_file: Option<PathBuf>,

    /// CVM metadata service, for the credentials of the instance's CAM role.
    #[arg(long = "api.metadata-url", env = "TENCENTCLOUD_PARTNER_EXPORTER_API_METADATA_URL", default_value = DEFAULT_METADATA_URL, value_parser = parse_endpoint, value_name = "URL")]
    pub metadata_url: Url,

    /// Timeout of one API call.
    #[arg(long = "api.timeout", env = "TENCENTCLOUD_PARTNER_EXPORTER_API_TIMEOUT", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,

    /// Zone of the API's time strings, which carry none (UTC+8, China Standard Time, unless set).
    #[arg(long = "api.timezone", env = "TENCENTCLOUD_PARTNER_EXPORTER_API_TIMEZONE", default_value = "+08:00", value_parser = parse_timezone, value_name = "OFFSET")]
    pub timezone: FixedOffset,

    /// `--collector.<name>`, `--no-collector.<name>` and `--refresh.<name>-interval`.
    #[command(flatten)]
    pub collectors: CollectorFlags,

    /// How often a long refresh (a first start of a large partner) publishes what it has read so far.
    #[arg(long = "refresh.publish-interval", env = "TENCENTCLOUD_PARTNER_EXPORTER_REFRESH_PUBLISH_INTERVAL", default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub publish_every: Duration,

    /// How long a used, expired or withdrawn voucher is still exported after it ended; then it is left out.
    #[arg(long = "vouchers.ended-retention", env = "TENCENTCLOUD_PARTNER_EXPORTER_VOUCHERS_ENDED_RETENTION", default_value = "30d", value_parser = parse_duration, value_name = "DURATION")]
    pub ended_retention: Duration,

    /// Only these customers (comma-separated UINs), read with QueryCreditByUinList.
    #[arg(long = "customers.uins", env = "TENCENTCLOUD_PARTNER_EXPORTER_CUSTOMERS_UINS", value_delimiter = ',', value_parser = parse_uin, value_name = "UIN,...")]
    pub customer_uins: Option<Vec<u64>>,

    /// Alert thresholds of customers' own (YAML; read again on change and SIGHUP), exported as tencentcloud_partner_customer_threshold.
    #[arg(
        long = "customers.thresholds-file",
        env = "TENCENTCLOUD_PARTNER_EXPORTER_CUSTOMERS_THRESHOLDS_FILE",
        value_name = "PATH"
    )]
    pub thresholds_file: Option<PathBuf>,

    /// Add the customer's name (often an e-mail address) to tencentcloud_partner_customer_info.
    #[arg(long = "customer.export-names", env = "TENCENTCLOUD_PARTNER_EXPORTER_CUSTOMER_EXPORT_NAMES", action = ArgAction::SetTrue)]
    pub export_names: bool,

    /// Stop exporting values older than this (an outage then shows as absent series).
    #[arg(long = "cache.max-age", env = "TENCENTCLOUD_PARTNER_EXPORTER_CACHE_MAX_AGE", default_value = "1h", value_parser = parse_duration, value_name = "DURATION")]
    pub max_age: Duration,

    /// Directory to keep each collector's last snapshot in, so a restart serves them at once.
    #[arg(
        long = "cache.snapshot-dir",
        env = "TENCENTCLOUD_PARTNER_EXPORTER_CACHE_SNAPSHOT_DIR",
        value_name = "PATH"
    )]
    pub snapshot_dir: Option<PathBuf>,

    /// Only log messages of this level or more severe.
    #[arg(
        long = "log.level",
        env = "TENCENTCLOUD_PARTNER_EXPORTER_LOG_LEVEL",
        default_value = "info",
        value_enum
    )]
    pub log_level: LogLevel,

    /// Log line format.
    #[arg(
        long = "log.format",
        env = "TENCENTCLOUD_PARTNER_EXPORTER_LOG_FORMAT",
        default_value = "logfmt",
        value_enum
    )]
    pub log_format: LogFormat,

    /// Serve a built-in simulated partner (no Tencent account needed).
    #[arg(long = "demo", env = "TENCENTCLOUD_PARTNER_EXPORTER_DEMO", action = ArgAction::SetTrue)]
    pub demo: bool,
}
