//! Command-line flags (each with an environment variable) and the validated
//! configuration the rest of the exporter runs on. No I/O beyond reading the
//! credential variables through the lookup the caller passes in; the
//! accounts file (`--config.file`) is read by [`accounts`].

pub mod accounts;
mod collectors;
pub use crate::yaml_file as file;
mod flags;
mod values;

pub use collectors::{Enabled, FullSweeps, Intervals};
pub use flags::{Flags, LogFormat, LogLevel, command, one_line, parse_from};
use values::{check_fraction, parse_duration, parse_endpoint};

pub use crate::api::credentials::CredentialSource;
use crate::api::{self, Credentials};
use crate::snapshot::Kind;
use chrono::FixedOffset;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Environment variables of Tencent's SDKs that hold the API key.
pub const SECRET_ID_VAR: &str = "TENCENTCLOUD_SECRET_ID";
pub const SECRET_KEY_VAR: &str = "TENCENTCLOUD_SECRET_KEY";
pub const SESSION_TOKEN_VAR: &str = "TENCENTCLOUD_SESSION_TOKEN";

/// The CVM metadata service, as Tencent's SDKs address it.
pub const DEFAULT_METADATA_URL: &str = "http://metadata.tencentyun.com/latest";

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--api.secret-id-file and --api.secret-key-file must be given together")]
    HalfAKeyFile,
    #[error("{set} is set but {missing} is not: set both (or neither, for a key file, a profile or a CAM role)")]
    HalfAKeyInEnvironment { set: &'static str, missing: &'static str },
    #[error("--customers.uins lists no customer")]
    EmptyUinList,
    #[error("the {0} collector reads the customer list: add --no-collector.{0}, or drop --no-collector.customers")]
    NeedsCustomers(Kind),
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
    /// The collectors that run.
    pub collectors: Enabled,
    /// `--refresh.<name>-full-interval` of the collectors that have one.
    pub full_sweeps: FullSweeps,
    /// `--refresh.publish-interval`.
    pub publish_every: Duration,
    /// `--vouchers.ended-retention`.
    pub ended_retention: Duration,
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
    /// `--customers.thresholds-file`.
    pub thresholds_file: Option<PathBuf>,
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
    /// The collectors that run.
    pub collectors: Enabled,
    pub full_sweeps: FullSweeps,
    /// How often a long refresh publishes what it has read so far.
    pub publish_every: Duration,
    /// How long an ended voucher is still exported.
    pub ended_retention: Duration,
    pub export_names: bool,
    pub max_age: Duration,
    pub snapshot_dir: Option<PathBuf>,
    pub timezone: FixedOffset,
}

impl Config {
    /// The settings every account shares.
    pub fn common(&self) -> Common {
        Common {
            collectors: self.collectors,
            full_sweeps: self.full_sweeps,
            publish_every: self.publish_every,
            ended_retention: self.ended_retention,
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
    /// `--web.max-connections`.
    pub max_connections: usize,
}

impl Config {
    /// Validates `flags`; `env` looks up the credential variables.
    pub fn from_flags(mut flags: Flags, env: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        if flags.demo {
            flags.collectors.enable_unless_chosen();
        }
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
            (Some(_), None, None, None) => {
                return Err(Error::HalfAKeyInEnvironment {
                    set: SECRET_ID_VAR,
                    missing: SECRET_KEY_VAR,
                });
            }
            (None, Some(_), None, None) => {
                return Err(Error::HalfAKeyInEnvironment {
                    set: SECRET_KEY_VAR,
                    missing: SECRET_ID_VAR,
                });
            }
            _ => CredentialSource::Discover {
                profile: var("HOME").map(|home| PathBuf::from(home).join(".tencentcloud").join("credentials")),
                metadata_url: flags.metadata_url.clone(),
            },
        };
        if flags.customer_uins.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::EmptyUinList);
        }
        let enabled = flags.collectors.enabled;
        if let Some(kind) = enabled
            .kinds()
            .find(|kind| crate::refresh::defaults(*kind).needs_customers)
            && !enabled.contains(Kind::Customers)
        {
            return Err(Error::NeedsCustomers(kind));
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
                max_connections: flags.max_connections as usize,
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
            intervals: flags.collectors.intervals,
            collectors: flags.collectors.enabled,
            full_sweeps: flags.collectors.full_sweeps,
            publish_every: flags.publish_every,
            ended_retention: flags.ended_retention,
            customer_uins: flags.customer_uins,
            export_names: flags.export_names,
            max_age: flags.max_age,
            snapshot_dir: flags.snapshot_dir.filter(|d| !d.as_os_str().is_empty()),
            log_level: flags.log_level,
            log_format: flags.log_format,
            demo: flags.demo,
            config_file: flags.config_file.filter(|f| !f.as_os_str().is_empty()),
            thresholds_file: flags.thresholds_file.filter(|f| !f.as_os_str().is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::values::{parse_fraction, parse_telemetry_path, parse_timezone, parse_uin};
    use super::*;
    use clap::Parser;

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
        assert_eq!(config.intervals.get(Kind::Partner), Duration::from_secs(60));
        assert_eq!(config.intervals.get(Kind::Customers), Duration::from_secs(300));
        assert_eq!(config.intervals.get(Kind::Allocations), Duration::from_secs(3600));
        assert_eq!(config.intervals.get(Kind::Vouchers), Duration::from_secs(300));
        assert_eq!(
            config.full_sweeps.get(Kind::Allocations),
            Some(Duration::from_secs(24 * 3600))
        );
        assert_eq!(
            config.full_sweeps.get(Kind::Vouchers),
            Some(Duration::from_secs(24 * 3600))
        );
        assert_eq!(config.full_sweeps.get(Kind::Partner), None);
        assert_eq!(config.ended_retention, Duration::from_secs(30 * 24 * 3600));
        assert_eq!(config.max_age, Duration::from_secs(3600));
        assert_eq!(config.timezone.local_minus_utc(), 8 * 3600);
        // Every collector runs but bills, whose 1 call a second is too slow
        // for a large partner unless asked for.
        for kind in Kind::ALL {
            assert_eq!(config.collectors.contains(kind), kind != Kind::Bills, "{kind}");
        }
        assert_eq!(
            config.full_sweeps.get(Kind::Bills),
            Some(Duration::from_secs(24 * 3600))
        );
    }

    #[test]
    fn collectors_can_be_switched_off_and_on_again() {
        let off = Config::from_flags(parse(&["--no-collector.allocations"]).unwrap(), env).unwrap();
        assert!(!off.collectors.contains(Kind::Allocations) && off.collectors.contains(Kind::Vouchers));
        let on = Config::from_flags(
            parse(&["--no-collector.vouchers", "--collector.vouchers"]).unwrap(),
            env,
        )
        .unwrap();
        assert!(on.collectors.contains(Kind::Vouchers));
        let off = Config::from_flags(parse(&["--collector.vouchers=false"]).unwrap(), env).unwrap();
        assert!(!off.collectors.contains(Kind::Vouchers));
        let interval = Config::from_flags(parse(&["--refresh.vouchers-interval=30m"]).unwrap(), env).unwrap();
        assert_eq!(interval.intervals.get(Kind::Vouchers), Duration::from_secs(1800));
        assert!(matches!(
            Config::from_flags(parse(&["--no-collector.customers"]).unwrap(), env),
            Err(Error::NeedsCustomers(Kind::Allocations))
        ));
        let alone = Config::from_flags(
            parse(&[
                "--no-collector.customers",
                "--no-collector.allocations",
                "--no-collector.vouchers",
                "--no-collector.pool",
                "--no-collector.status",
                "--no-collector.subagents",
                "--no-collector.spend",
            ])
            .unwrap(),
            env,
        )
        .unwrap();
        assert_eq!(alone.collectors.kinds().collect::<Vec<_>>(), [Kind::Partner]);
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
        let id_only = |name: &str| (name == SECRET_ID_VAR).then(|| "AKIDtest".to_owned());
        let half = source(&[], &id_only).err().map(|e| e.to_string());
        assert_eq!(
            half.as_deref(),
            Some(
                "TENCENTCLOUD_SECRET_ID is set but TENCENTCLOUD_SECRET_KEY is not: set both (or neither, for a key \
                 file, a profile or a CAM role)"
            )
        );
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

    #[test]
    fn the_demo_runs_every_collector_not_switched_off() {
        let demo = Config::from_flags(parse(&["--demo"]).unwrap(), env).unwrap();
        assert!(Kind::ALL.iter().all(|kind| demo.collectors.contains(*kind)));
        for off in [
            ["--demo", "--no-collector.bills"],
            ["--demo", "--collector.bills=false"],
        ] {
            let demo = Config::from_flags(parse(&off).unwrap(), env).unwrap();
            assert!(!demo.collectors.contains(Kind::Bills) && demo.collectors.contains(Kind::Status));
        }
        let plain = Config::from_flags(parse(&[]).unwrap(), env).unwrap();
        assert!(!plain.collectors.contains(Kind::Bills));
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
