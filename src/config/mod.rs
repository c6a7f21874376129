//! Command-line flags (each with an environment variable) and the validated
//! configuration the rest of the exporter runs on. No I/O beyond reading the
//! credential variables through the lookup the caller passes in; the
//! accounts file (`--config.file`) is read by [`accounts`].

pub mod accounts;
pub mod file;

pub use crate::api::credentials::CredentialSource;
use crate::api::{self, Credentials};
use chrono::FixedOffset;
use clap::{ArgAction, Parser, ValueEnum};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// Environment variables of Tencent's SDKs that hold the API key.
pub const SECRET_ID_VAR: &str = "TENCENTCLOUD_SECRET_ID";
pub const SECRET_KEY_VAR: &str = "TENCENTCLOUD_SECRET_KEY";
pub const SESSION_TOKEN_VAR: &str = "TENCENTCLOUD_SESSION_TOKEN";

/// The CVM metadata service, as Tencent's SDKs address it.
pub const DEFAULT_METADATA_URL: &str = "http://metadata.tencentyun.com/latest";

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
/// customer credit, credit allocations and customer vouchers.
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

    /// Interval between refreshes of the partner's own credit.
    #[arg(long = "refresh.partner-interval", env = "TENCENTCLOUD_PARTNER_EXPORTER_REFRESH_PARTNER_INTERVAL", default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub partner_interval: Duration,

    /// Interval between refreshes of the customers' credit.
    #[arg(long = "refresh.customers-interval", env = "TENCENTCLOUD_PARTNER_EXPORTER_REFRESH_CUSTOMERS_INTERVAL", default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub customers_interval: Duration,

    /// Interval between refreshes of the credit allocation history.
    #[arg(long = "refresh.allocations-interval", env = "TENCENTCLOUD_PARTNER_EXPORTER_REFRESH_ALLOCATIONS_INTERVAL", default_value = "1h", value_parser = parse_duration, value_name = "DURATION")]
    pub allocations_interval: Duration,

    /// Interval between refreshes of the customers' vouchers.
    #[arg(long = "refresh.vouchers-interval", env = "TENCENTCLOUD_PARTNER_EXPORTER_REFRESH_VOUCHERS_INTERVAL", default_value = "15m", value_parser = parse_duration, value_name = "DURATION")]
    pub vouchers_interval: Duration,

    /// Enable the allocations collector (default: enabled).
    #[arg(long = "collector.allocations", env = "TENCENTCLOUD_PARTNER_EXPORTER_COLLECTOR_ALLOCATIONS", num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true", action = ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new(), overrides_with = "no_allocations", value_name = "BOOL")]
    pub allocations: bool,

    /// Disable the allocations collector.
    #[arg(long = "no-collector.allocations", action = ArgAction::SetTrue, overrides_with = "allocations")]
    pub no_allocations: bool,

    /// Enable the vouchers collector (default: enabled).
    #[arg(long = "collector.vouchers", env = "TENCENTCLOUD_PARTNER_EXPORTER_COLLECTOR_VOUCHERS", num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true", action = ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new(), overrides_with = "no_vouchers", value_name = "BOOL")]
    pub vouchers: bool,

    /// Disable the vouchers collector.
    #[arg(long = "no-collector.vouchers", action = ArgAction::SetTrue, overrides_with = "vouchers")]
    pub no_vouchers: bool,

    /// Only these customers (comma-separated UINs), read with QueryCreditByUinList.
    #[arg(long = "customers.uins", env = "TENCENTCLOUD_PARTNER_EXPORTER_CUSTOMERS_UINS", value_delimiter = ',', value_parser = parse_uin, value_name = "UIN,...")]
    pub customer_uins: Option<Vec<u64>>,

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

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--api.secret-id-file and --api.secret-key-file must be given together")]
    HalfAKeyFile,
    #[error("--customers.uins lists no customer")]
    EmptyUinList,
    #[error("--demo serves its own account and takes no --config.file")]
    DemoWithAccounts,
    #[error(
        "--api.secret-id-file and --api.secret-key-file are for one account; with --config.file give each account its files"
    )]
    KeyFilesWithAccounts,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen_address: SocketAddr,
    pub telemetry_path: String,
    pub web: Web,
    pub api: api::Settings,
    pub timezone: FixedOffset,
    pub credentials: CredentialSource,
    pub intervals: Intervals,
    pub allocations: bool,
    pub vouchers: bool,
    pub customer_uins: Option<Vec<u64>>,
    pub export_names: bool,
    pub max_age: Duration,
    /// `--cache.snapshot-dir`.
    pub snapshot_dir: Option<PathBuf>,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    pub demo: bool,
    /// `--config.file`: the accounts, instead of the one the flags describe.
    pub config_file: Option<PathBuf>,
}

/// The account the flags describe, when there is no `--config.file`.
pub const DEFAULT_ACCOUNT: &str = "default";

/// One partner account to serve. Two equal configurations are the same
/// account: a reload leaves it running.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountConfig {
    /// The `account` label of its series.
    pub name: String,
    pub credentials: CredentialSource,
    pub api: api::Settings,
    pub intervals: Intervals,
    pub customer_uins: Option<Vec<u64>>,
}

/// What every account shares.
#[derive(Debug, Clone)]
pub struct Common {
    pub allocations: bool,
    pub vouchers: bool,
    pub export_names: bool,
    pub max_age: Duration,
    pub snapshot_dir: Option<PathBuf>,
    pub timezone: FixedOffset,
}

impl Config {
    /// The settings every account shares.
    pub fn common(&self) -> Common {
        Common {
            allocations: self.allocations,
            vouchers: self.vouchers,
            export_names: self.export_names,
            max_age: self.max_age,
            snapshot_dir: self.snapshot_dir.clone(),
            timezone: self.timezone,
        }
    }

    /// The one account the flags describe.
    pub fn flag_account(&self) -> AccountConfig {
        AccountConfig {
            name: DEFAULT_ACCOUNT.into(),
            credentials: self.credentials.clone(),
            api: self.api.clone(),
            intervals: self.intervals,
            customer_uins: self.customer_uins.clone(),
        }
    }
}

/// How the HTTP endpoint is secured and managed.
#[derive(Debug, Clone, Default)]
pub struct Web {
    /// `--web.config.file`: TLS, basic auth and headers; none serves plain HTTP to anyone.
    pub config_file: Option<PathBuf>,
    pub probes_without_auth: bool,
    /// `POST /-/reload`.
    pub enable_lifecycle: bool,
}

/// Refresh interval of each collector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Intervals {
    pub partner: Duration,
    pub customers: Duration,
    pub allocations: Duration,
    pub vouchers: Duration,
}

impl Config {
    /// Validates `flags`; `env` looks up the credential variables.
    pub fn from_flags(flags: Flags, env: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let credentials = match (
            var(SECRET_ID_VAR),
            var(SECRET_KEY_VAR),
            &flags.secret_id_file,
            &flags.secret_key_file,
        ) {
            _ if flags.demo => CredentialSource::Demo,
            (Some(id), Some(key), ..) => {
                CredentialSource::Environment(Credentials::new(id.trim(), key.trim(), var(SESSION_TOKEN_VAR)))
            }
            (_, _, Some(id), Some(key)) => CredentialSource::Files {
                secret_id: id.clone(),
                secret_key: key.clone(),
            },
            (_, _, Some(_), None) | (_, _, None, Some(_)) => return Err(Error::HalfAKeyFile),
            _ => CredentialSource::Discover {
                profile: var("HOME").map(|home| PathBuf::from(home).join(".tencentcloud").join("credentials")),
                metadata_url: flags.metadata_url.clone(),
            },
        };
        if flags.customer_uins.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::EmptyUinList);
        }
        if flags.config_file.is_some() && flags.demo {
            return Err(Error::DemoWithAccounts);
        }
        if flags.config_file.is_some() && (flags.secret_id_file.is_some() || flags.secret_key_file.is_some()) {
            return Err(Error::KeyFilesWithAccounts);
        }
        Ok(Self {
            listen_address: flags.listen_address,
            telemetry_path: flags.telemetry_path,
            web: Web {
                config_file: flags.web_config_file,
                probes_without_auth: flags.probes_without_auth,
                enable_lifecycle: flags.enable_lifecycle,
            },
            api: api::Settings {
                endpoint: flags.endpoint,
                region: flags.region.filter(|r| !r.is_empty()),
                timeout: flags.timeout,
                rate_limit_fraction: flags.rate_limit_fraction,
                retry: api::RetryPolicy::default(),
            },
            timezone: flags.timezone,
            credentials,
            intervals: Intervals {
                partner: flags.partner_interval,
                customers: flags.customers_interval,
                allocations: flags.allocations_interval,
                vouchers: flags.vouchers_interval,
            },
            allocations: flags.allocations && !flags.no_allocations,
            vouchers: flags.vouchers && !flags.no_vouchers,
            customer_uins: flags.customer_uins,
            export_names: flags.export_names,
            max_age: flags.max_age,
            snapshot_dir: flags.snapshot_dir.filter(|d| !d.as_os_str().is_empty()),
            log_level: flags.log_level,
            log_format: flags.log_format,
            demo: flags.demo,
            config_file: flags.config_file.filter(|f| !f.as_os_str().is_empty()),
        })
    }
}

fn parse_listen_address(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let full = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.to_owned(),
    };
    full.to_socket_addrs()
        .map_err(|e| format!("not a HOST:PORT address ({e})"))?
        .next()
        .ok_or_else(|| "the host resolves to no address".to_owned())
}

fn parse_telemetry_path(text: &str) -> Result<String, String> {
    match text {
        "/" | "/-/healthy" | "/-/ready" | "/-/reload" => Err(format!("{text} is taken by another endpoint")),
        p if p.starts_with('/') && !p.contains(char::is_whitespace) => Ok(p.to_owned()),
        _ => Err("must be a path starting with /".into()),
    }
}

fn parse_endpoint(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    Ok(url)
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    check_fraction(text.trim().parse().map_err(|_| "not a number".to_owned())?)
}

/// A share of the documented rate limits, from a flag or the accounts file.
fn check_fraction(value: f64) -> Result<f64, String> {
    if !(value.is_finite() && value > 0.0 && value <= 100.0) {
        return Err("must be above 0 and at most 100".into());
    }
    Ok(value)
}

/// A duration, from a flag or the accounts file: `30s`, `5m`, `1h30m`, above zero.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration =
        humantime::parse_duration(text.trim()).map_err(|e| format!("not a duration like 30s, 5m or 1h ({e})"))?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

fn parse_timezone(text: &str) -> Result<FixedOffset, String> {
    let text = text.trim();
    if matches!(text, "UTC" | "utc" | "Z") {
        return Ok(FixedOffset::east_opt(0).expect("zero is a valid offset"));
    }
    text.parse::<FixedOffset>()
        .map_err(|_| "must be a UTC offset like +08:00, -05:00 or UTC".to_owned())
}

fn parse_uin(text: &str) -> Result<u64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a UIN (a positive integer)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Flags, clap::Error> {
        Flags::try_parse_from(std::iter::once("exporter").chain(args.iter().copied()))
    }

    fn env(name: &str) -> Option<String> {
        match name {
            SECRET_ID_VAR => Some("AKIDtest".into()),
            SECRET_KEY_VAR => Some("key".into()),
            _ => None,
        }
    }

    #[test]
    fn defaults_match_the_documentation() {
        let config = Config::from_flags(parse(&[]).unwrap(), env).unwrap();
        assert_eq!(config.listen_address.port(), 19287);
        assert_eq!(config.telemetry_path, "/metrics");
        assert_eq!(
            config.api.endpoint.as_str(),
            "https://intlpartnersmgt.intl.tencentcloudapi.com/"
        );
        assert_eq!(config.intervals.partner, Duration::from_secs(60));
        assert_eq!(config.intervals.customers, Duration::from_secs(300));
        assert_eq!(config.intervals.allocations, Duration::from_secs(3600));
        assert_eq!(config.intervals.vouchers, Duration::from_secs(900));
        assert_eq!(config.max_age, Duration::from_secs(3600));
        assert_eq!(config.timezone.local_minus_utc(), 8 * 3600);
        assert!(config.allocations && config.vouchers);
    }

    #[test]
    fn collectors_can_be_switched_off_and_on_again() {
        let off = Config::from_flags(parse(&["--no-collector.allocations"]).unwrap(), env).unwrap();
        assert!(!off.allocations && off.vouchers);
        let on = Config::from_flags(
            parse(&["--no-collector.vouchers", "--collector.vouchers"]).unwrap(),
            env,
        )
        .unwrap();
        assert!(on.vouchers);
        let off = Config::from_flags(parse(&["--collector.vouchers=false"]).unwrap(), env).unwrap();
        assert!(!off.vouchers);
    }

    #[test]
    fn bad_values_are_rejected() {
        for args in [
            &["--api.timeout", "soon"][..],
            &["--api.timeout", "0s"],
            &["--api.rate-limit-fraction", "0"],
            &["--api.rate-limit-fraction", "NaN"],
            &["--api.endpoint", "not a url"],
            &["--api.endpoint", "ftp://example.com"],
            &["--web.listen-address", "nowhere"],
            &["--web.telemetry-path", "metrics"],
            &["--customers.uins", "12,abc"],
            &["--api.timezone", "Mars/Olympus"],
        ] {
            assert!(parse(args).is_err(), "{args:?} should be rejected");
        }
    }

    #[test]
    fn credentials_come_from_the_environment_then_files_then_discovery() {
        let none = |_: &str| None;
        let source = |args: &[&str], env: &dyn Fn(&str) -> Option<String>| {
            Config::from_flags(parse(args).unwrap(), env).map(|c| c.credentials)
        };
        assert!(matches!(source(&[], &env), Ok(CredentialSource::Environment(_))));
        let files = ["--api.secret-id-file=/run/id", "--api.secret-key-file=/run/key"];
        assert!(matches!(source(&files, &none), Ok(CredentialSource::Files { .. })));
        assert!(matches!(source(&files[..1], &none), Err(Error::HalfAKeyFile)));
        let home = |name: &str| (name == "HOME").then(|| "/home/partner".to_owned());
        match source(&[], &home) {
            Ok(CredentialSource::Discover { profile, metadata_url }) => {
                assert_eq!(
                    profile.unwrap(),
                    PathBuf::from("/home/partner/.tencentcloud/credentials")
                );
                assert_eq!(metadata_url.as_str(), "http://metadata.tencentyun.com/latest");
            }
            other => panic!("expected discovery, got {other:?}"),
        }
        assert!(matches!(source(&["--demo"], &env), Ok(CredentialSource::Demo)));
    }

    proptest::proptest! {
        /// No command line, however odd, panics the parser or the validation.
        #[test]
        fn no_command_line_panics(args in proptest::collection::vec("(--[a-z.-]{1,30}(=[^\\x00]{0,20})?|[^\\x00]{0,20})", 0..8)) {
            if let Ok(flags) = Flags::try_parse_from(std::iter::once("exporter".to_owned()).chain(args)) {
                let _ = Config::from_flags(flags, env);
            }
        }

        /// Each value parser returns an error rather than panicking. (The listen
        /// address is left out: host names in it are resolved, and random ones
        /// would make this test ask DNS.)
        #[test]
        fn value_parsers_never_panic(text in "[^\\x00]{0,40}") {
            let _ = parse_telemetry_path(&text);
            let _ = parse_endpoint(&text);
            let _ = parse_fraction(&text);
            let _ = parse_duration(&text);
            let _ = parse_timezone(&text);
            let _ = parse_uin(&text);
        }
    }

    #[test]
    fn uin_list_and_offsets_parse() {
        let config = Config::from_flags(
            parse(&["--customers.uins", "1, 2,3", "--api.timezone", "UTC"]).unwrap(),
            env,
        )
        .unwrap();
        assert_eq!(config.customer_uins, Some(vec![1, 2, 3]));
        assert_eq!(config.timezone.local_minus_utc(), 0);
    }
}
