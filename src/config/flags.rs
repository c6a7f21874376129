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
use clap::builder::BoolishValueParser;
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
#[command(
    name = "tencentcloud-partner-exporter",
    version,
    about,
    long_about = None,
    max_term_width = 100,
    after_help = after_help()
)]
pub struct Flags {
    /// Address to listen on for HTTP requests (`:PORT` listens on every interface).
    #[arg(long = "web.listen-address", env = "TENCENTCLOUD_PARTNER_EXPORTER_WEB_LISTEN_ADDRESS", default_value = ":19287", value_parser = parse_listen_address, value_name = "ADDRESS", help_heading = "Web")]
    pub listen_address: SocketAddr,

    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", env = "TENCENTCLOUD_PARTNER_EXPORTER_WEB_TELEMETRY_PATH", default_value = "/metrics", value_parser = parse_telemetry_path, value_name = "PATH", help_heading = "Web")]
    pub telemetry_path: String,

    /// Web configuration file (exporter-toolkit format): TLS, basic auth, headers. Reloaded on change and SIGHUP.
    #[arg(
        long = "web.config.file",
        env = "TENCENTCLOUD_PARTNER_EXPORTER_WEB_CONFIG_FILE",
        value_name = "PATH",
        help_heading = "Web"
    )]
    pub web_config_file: Option<PathBuf>,

    /// Let /-/healthy and /-/ready answer without basic auth (for Kubernetes probes).
    #[arg(long = "web.probes-without-auth", env = "TENCENTCLOUD_PARTNER_EXPORTER_WEB_PROBES_WITHOUT_AUTH", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new(), help_heading = "Web")]
    pub probes_without_auth: bool,

    /// Most connections open at once; beyond, the oldest is closed (at once when idle). Kept below the open-file limit.
    #[arg(long = "web.max-connections", env = "TENCENTCLOUD_PARTNER_EXPORTER_WEB_MAX_CONNECTIONS", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..), value_name = "N", help_heading = "Web")]
    pub max_connections: u32,

    /// Enable POST /-/reload, which re-reads the configuration files.
    #[arg(long = "web.enable-lifecycle", env = "TENCENTCLOUD_PARTNER_EXPORTER_WEB_ENABLE_LIFECYCLE", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new(), help_heading = "Web")]
    pub enable_lifecycle: bool,

    /// Accounts file (YAML): several partner accounts, each with its own key; every series gets an account label.
    #[arg(
        long = "config.file",
        env = "TENCENTCLOUD_PARTNER_EXPORTER_CONFIG_FILE",
        value_name = "PATH",
        help_heading = "API and credentials"
    )]
    pub config_file: Option<PathBuf>,

    /// Tencent Cloud API endpoint, scheme included.
    #[arg(long = "api.endpoint", env = "TENCENTCLOUD_PARTNER_EXPORTER_API_ENDPOINT", default_value = api::DEFAULT_ENDPOINT, value_parser = parse_endpoint, value_name = "URL", help_heading = "API and credentials")]
    pub endpoint: Url,

    /// Region sent as X-TC-Region (not required by current endpoints).
    #[arg(
        long = "api.region",
        env = "TENCENTCLOUD_PARTNER_EXPORTER_API_REGION",
        value_name = "REGION",
        help_heading = "API and credentials"
    )]
    pub region: Option<String>,

    /// Share of each action's documented rate limit to use (1.0: all of it). The limits, per second: see after the options.
    #[arg(long = "api.rate-limit-fraction", env = "TENCENTCLOUD_PARTNER_EXPORTER_API_RATE_LIMIT_FRACTION", default_value = "1.0", value_parser = parse_fraction, value_name = "FRACTION", help_heading = "API and credentials")]
    pub rate_limit_fraction: f64,

    /// File holding the SecretId (read again when it changes), with --api.secret-key-file.
    #[arg(
        long = "api.secret-id-file",
        env = "TENCENTCLOUD_PARTNER_EXPORTER_API_SECRET_ID_FILE",
        value_name = "PATH",
        help_heading = "API and credentials"
    )]
    pub secret_id_file: Option<PathBuf>,

    /// File holding the SecretKey (read again when it changes), with --api.secret-id-file.
    #[arg(
        long = "api.secret-key-file",
        env = "TENCENTCLOUD_PARTNER_EXPORTER_API_SECRET_KEY_FILE",
        value_name = "PATH",
        help_heading = "API and credentials"
    )]
    pub secret_key_file: Option<PathBuf>,

    /// CVM metadata service, for the credentials of the instance's CAM role.
    #[arg(long = "api.metadata-url", env = "TENCENTCLOUD_PARTNER_EXPORTER_API_METADATA_URL", default_value = DEFAULT_METADATA_URL, value_parser = parse_endpoint, value_name = "URL", help_heading = "API and credentials")]
    pub metadata_url: Url,

    /// Timeout of one API call.
    #[arg(long = "api.timeout", env = "TENCENTCLOUD_PARTNER_EXPORTER_API_TIMEOUT", default_value = "10s", value_parser = parse_duration, value_name = "DURATION", help_heading = "API and credentials")]
    pub timeout: Duration,

    /// Zone of the API's time strings, which carry none (UTC+8, China Standard Time, unless set).
    #[arg(long = "api.timezone", env = "TENCENTCLOUD_PARTNER_EXPORTER_API_TIMEZONE", default_value = "+08:00", value_parser = parse_timezone, value_name = "OFFSET", help_heading = "API and credentials")]
    pub timezone: FixedOffset,

    /// `--collector.<name>`, `--no-collector.<name>` and `--refresh.<name>-interval`.
    #[command(flatten)]
    pub collectors: CollectorFlags,

    /// How often a long refresh (a first start of a large partner) publishes what it has read so far.
    #[arg(long = "refresh.publish-interval", env = "TENCENTCLOUD_PARTNER_EXPORTER_REFRESH_PUBLISH_INTERVAL", default_value = "30s", value_parser = parse_duration, value_name = "DURATION", help_heading = "Refresh")]
    pub publish_every: Duration,

    /// How long a used, expired or withdrawn voucher is still exported after it ended; then it is left out.
    #[arg(long = "vouchers.ended-retention", env = "TENCENTCLOUD_PARTNER_EXPORTER_VOUCHERS_ENDED_RETENTION", default_value = "30d", value_parser = parse_duration, value_name = "DURATION", help_heading = "Collectors")]
    pub ended_retention: Duration,

    /// Only these customers (comma-separated UINs), read with QueryCreditByUinList.
    #[arg(long = "customers.uins", env = "TENCENTCLOUD_PARTNER_EXPORTER_CUSTOMERS_UINS", value_delimiter = ',', value_parser = parse_uin, value_name = "UIN,...", help_heading = "Collectors")]
    pub customer_uins: Option<Vec<u64>>,

    /// Alert thresholds of customers' own (YAML; read again on change and SIGHUP), exported as tencentcloud_partner_customer_threshold.
    #[arg(
        long = "customers.thresholds-file",
        env = "TENCENTCLOUD_PARTNER_EXPORTER_CUSTOMERS_THRESHOLDS_FILE",
        value_name = "PATH",
        help_heading = "Collectors"
    )]
    pub thresholds_file: Option<PathBuf>,

    /// Add the customer's name (often an e-mail address) to tencentcloud_partner_customer_info.
    #[arg(long = "customer.export-names", env = "TENCENTCLOUD_PARTNER_EXPORTER_CUSTOMER_EXPORT_NAMES", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new(), help_heading = "Collectors")]
    pub export_names: bool,

    /// Stop exporting values older than this (an outage then shows as absent series).
    #[arg(long = "cache.max-age", env = "TENCENTCLOUD_PARTNER_EXPORTER_CACHE_MAX_AGE", default_value = "1h", value_parser = parse_duration, value_name = "DURATION", help_heading = "Cache")]
    pub max_age: Duration,

    /// Directory to keep each collector's last snapshot in, so a restart serves them at once.
    #[arg(
        long = "cache.snapshot-dir",
        env = "TENCENTCLOUD_PARTNER_EXPORTER_CACHE_SNAPSHOT_DIR",
        value_name = "PATH",
        help_heading = "Cache"
    )]
    pub snapshot_dir: Option<PathBuf>,

    /// Only log messages of this level or more severe.
    #[arg(
        long = "log.level",
        env = "TENCENTCLOUD_PARTNER_EXPORTER_LOG_LEVEL",
        default_value = "info",
        value_enum,
        help_heading = "Logging"
    )]
    pub log_level: LogLevel,

    /// Log line format.
    #[arg(
        long = "log.format",
        env = "TENCENTCLOUD_PARTNER_EXPORTER_LOG_FORMAT",
        default_value = "logfmt",
        value_enum,
        help_heading = "Logging"
    )]
    pub log_format: LogFormat,

    /// Serve a built-in simulated partner (no Tencent account needed).
    #[arg(long = "demo", env = "TENCENTCLOUD_PARTNER_EXPORTER_DEMO", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new(), help_heading = "API and credentials")]
    pub demo: bool,
}

/// What `--help` says after the options: where the key comes from, the
/// rule of the environment variables, and each action's documented rate
/// limit, stated once. clap wraps the paragraphs.
fn after_help() -> String {
    let mut limits: Vec<u32> = api::actions::ALL.iter().map(|(_, limit)| *limit).collect();
    limits.sort_unstable_by(|a, b| b.cmp(a));
    limits.dedup();
    let paces: Vec<String> = limits
        .iter()
        .map(|limit| {
            let actions: Vec<&str> = api::actions::ALL
                .iter()
                .filter(|(_, l)| l == limit)
                .map(|(name, _)| *name)
                .collect();
            format!("- {limit}/s: {}", actions.join(", "))
        })
        .collect();
    format!(
        "The key: {id} and {key} (with {token} for a temporary key), else --api.secret-id-file and \
         --api.secret-key-file, else ~/.tencentcloud/credentials, else the CVM instance's CAM role. \
         --demo needs none.\n\n\
         Every option can also be set by an environment variable: TENCENTCLOUD_PARTNER_EXPORTER_ and the \
         option's name in capitals, with dots and dashes as underscores (--web.listen-address: \
         TENCENTCLOUD_PARTNER_EXPORTER_WEB_LISTEN_ADDRESS); docs/configuration.md lists them.\n\n\
         The API's documented rate limits, of which --api.rate-limit-fraction is used:\n{}",
        paces.join("\n"),
        id = super::SECRET_ID_VAR,
        key = super::SECRET_KEY_VAR,
        token = super::SESSION_TOKEN_VAR,
    )
}

/// clap's error in one line, with what clap would say on the lines after
/// it that a person needs: the flag they may have meant, the values
/// accepted, and the environment variable a refused value came from.
pub fn one_line(error: &clap::Error, env: impl Fn(&str) -> Option<String>, args: &[String]) -> String {
    use clap::error::{ContextKind, ContextValue};
    let rendered = error.render().to_string();
    let mut line = rendered
        .lines()
        .next()
        .unwrap_or("error: invalid command line")
        .to_owned();
    let strings = |kind| match error.get(kind) {
        Some(ContextValue::String(one)) => vec![one.clone()],
        Some(ContextValue::Strings(many)) => many.clone(),
        _ => Vec::new(),
    };
    if let Some(meant) = strings(ContextKind::SuggestedArg).first() {
        line.push_str(&format!("; did you mean {meant}?"));
    }
    let accepted = strings(ContextKind::ValidValue);
    if !accepted.is_empty() {
        line.push_str(&format!(" (accepted: {})", accepted.join(", ")));
    }
    if let Some(arg) = strings(ContextKind::InvalidArg).first() {
        let long = arg.split([' ', '=', '[']).next().unwrap_or(arg);
        let command = <Flags as clap::CommandFactory>::command();
        let var = command
            .get_arguments()
            .find(|a| a.get_long().is_some_and(|l| format!("--{l}") == long))
            .and_then(|a| a.get_env())
            .and_then(|v| v.to_str().map(str::to_owned));
        let on_the_command_line = args.iter().any(|a| a == long || a.starts_with(&format!("{long}=")));
        if let Some(var) = var.filter(|v| env(v).is_some() && !on_the_command_line) {
            line.push_str(&format!(", from the environment variable {var}"));
        }
    }
    line
}

/// The command line as `--help` shows it: without each option's environment
/// variable, which follows one rule said once after the options.
pub fn command() -> clap::Command {
    <Flags as clap::CommandFactory>::command().mut_args(|arg| arg.hide_env(true))
}

/// Reads the command line (and the environment) as `command` describes it.
pub fn parse_from<I, T>(args: I) -> Result<Flags, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command().try_get_matches_from(args)?;
    <Flags as clap::FromArgMatches>::from_arg_matches(&matches)
}

#[cfg(test)]
mod tests {
    /// `--help` states the rule instead of each variable: it must hold.
    #[test]
    fn every_options_variable_follows_the_rule_help_states() {
        let command = super::command();
        let mut checked = 0;
        for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
            let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) else {
                continue;
            };
            let rule = format!(
                "TENCENTCLOUD_PARTNER_EXPORTER_{}",
                long.to_uppercase().replace(['.', '-'], "_")
            );
            assert_eq!(env.to_str(), Some(rule.as_str()), "--{long}");
            checked += 1;
        }
        assert!(checked > 30, "{checked}");
    }
}
