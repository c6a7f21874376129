//! Direct instrumentation of the exporter itself: every API call it makes.
//! Refresh metrics are not here: they are read from each collector's status at
//! scrape time, so `/-/healthy`, the landing page and `/metrics` never disagree.

use crate::api::{self, Observer};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionCodeLabels {
    pub account: String,
    pub action: &'static str,
    pub code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub account: String,
    pub action: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FieldLabels {
    pub account: String,
    pub action: &'static str,
    /// The field's name in Tencent's SDK model, as `RemainingAmount`.
    pub field: String,
}

/// Calls of one action, for the landing page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub calls: u64,
    pub throttled: u64,
    /// Failed calls other than throttled ones.
    pub errors: u64,
}

/// Counts and times every API call; the [`api::Client`]'s observer.
#[derive(Debug, Clone)]
pub struct ApiMetrics {
    requests: Family<ActionCodeLabels, Counter>,
    durations: Family<ActionLabels, Histogram>,
    decode_errors: Family<FieldLabels, Counter>,
    rate_limits: Family<ActionLabels, Gauge<f64, AtomicU64>>,
    ledger: Arc<Mutex<Ledger>>,
}

/// What the families cannot tell: they can be neither read back nor listed.
#[derive(Debug, Default)]
struct Ledger {
    /// The calls summed per account and action.
    counts: BTreeMap<(String, &'static str), CallCounts>,
    /// The label sets created in `requests` and `decode_errors`, so that a
    /// removed account's can be removed.
    codes: BTreeSet<(String, &'static str, String)>,
    fields: BTreeSet<(String, &'static str, String)>,
    /// Accounts removed by a reload: a call of theirs still under way when
    /// they stopped must not bring their series back.
    removed: BTreeSet<String>,
}

/// [`ApiMetrics`] for the client of one account.
#[derive(Debug, Clone)]
pub struct AccountApiMetrics {
    metrics: ApiMetrics,
    account: String,
}

impl ApiMetrics {
    /// Registers the API metrics.
    pub fn register(registry: &mut Registry) -> Self {
        let requests = Family::<ActionCodeLabels, Counter>::default();
        let durations = Family::<ActionLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.025, 2.0, 10))
        });
        registry.register(
            "api_requests",
            "Calls to the Tencent Cloud API by action and result code (Success or the error code), retries included",
            requests.clone(),
        );
        registry.register_with_unit(
            "api_request_duration",
            "Duration of calls to the Tencent Cloud API, retries counted separately",
            Unit::Seconds,
            durations.clone(),
        );
        let decode_errors = Family::<FieldLabels, Counter>::default();
        registry.register(
            "api_decode_errors",
            "Values of the API's answers read as absent because they cannot mean what the field does: a type other \
             than the one Tencent's SDK declares, an amount out of range (a negative balance, beyond 10^12 USD), a \
             time in another format; by action and field",
            decode_errors.clone(),
        );
        let rate_limits = Family::<ActionLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "api_rate_limit_requests_per_second",
            "Calls per second the exporter allows itself for each action: its documented rate limit times \
             --api.rate-limit-fraction; divide the rate of api_requests_total by it for the share of quota in use",
            rate_limits.clone(),
        );
        Self {
            requests,
            durations,
            decode_errors,
            rate_limits,
            ledger: Arc::default(),
        }
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls so far, by account and action.
    pub fn counts(&self) -> BTreeMap<(String, &'static str), CallCounts> {
        self.ledger().counts.clone()
    }

    /// Removes every series of `account`, which a reload removed: a
    /// dashboard or alert must not see the calls of an account that is gone.
    pub fn remove(&self, account: &str) {
        let mut ledger = self.ledger();
        ledger.removed.insert(account.to_owned());
        ledger.counts.retain(|(a, _), _| a != account);
        let of_account = |(a, _, _): &(String, &'static str, String)| a == account;
        for (account, action, code) in ledger.codes.extract_if(.., of_account) {
            self.requests.remove(&ActionCodeLabels { account, action, code });
        }
        for (account, action, field) in ledger.fields.extract_if(.., of_account) {
            self.decode_errors.remove(&FieldLabels { account, action, field });
        }
        for &(action, _) in api::actions::ALL {
            let labels = ActionLabels {
                account: account.to_owned(),
                action,
            };
            self.rate_limits.remove(&labels);
            self.durations.remove(&labels);
        }
    }

    /// The observer of `account`'s client, which registers nothing until it
    /// observes: a reload that fails leaves no series of an account it did
    /// not start.
    pub fn observer(&self, account: &str) -> AccountApiMetrics {
        AccountApiMetrics {
            metrics: self.clone(),
            account: account.to_owned(),
        }
    }

    /// The observer of `account`'s client, with a zero `Success` series for
    /// every action so that rates start at 0 rather than from nothing, and
    /// the rate each action is paced at with `rate_limit_fraction`.
    pub fn for_account(&self, account: &str, rate_limit_fraction: f64) -> AccountApiMetrics {
        let mut ledger = self.ledger();
        ledger.removed.remove(account);
        for &(action, limit) in api::actions::ALL {
            self.rate_limits
                .get_or_create(&ActionLabels {
                    account: account.to_owned(),
                    action,
                })
                .set(f64::from(limit) * rate_limit_fraction);
            self.requests
                .get_or_create(&ActionCodeLabels {
                    account: account.to_owned(),
                    action,
                    code: "Success".into(),
                })
                .get();
            ledger.codes.insert((account.to_owned(), action, "Success".into()));
        }
        drop(ledger);
        AccountApiMetrics {
            metrics: self.clone(),
            account: account.to_owned(),
        }
    }
}

impl Observer for AccountApiMetrics {
    fn observe(&self, action: &'static str, code: &str, elapsed: Duration) {
        let metrics = &self.metrics;
        let mut ledger = metrics.ledger();
        if ledger.removed.contains(&self.account) {
            return;
        }
        ledger.codes.insert((self.account.clone(), action, code.to_owned()));
        metrics
            .requests
            .get_or_create(&ActionCodeLabels {
                account: self.account.clone(),
                action,
                code: code.to_owned(),
            })
            .inc();
        metrics
            .durations
            .get_or_create(&ActionLabels {
                account: self.account.clone(),
                action,
            })
            .observe(elapsed.as_secs_f64());
        let entry = ledger.counts.entry((self.account.clone(), action)).or_default();
        entry.calls += 1;
        if code.starts_with("RequestLimitExceeded") {
            entry.throttled += 1;
        } else if code != "Success" {
            entry.errors += 1;
        }
    }

    fn decode_error(&self, action: &'static str, field: &str) {
        let mut ledger = self.metrics.ledger();
        if ledger.removed.contains(&self.account) {
            return;
        }
        ledger.fields.insert((self.account.clone(), action, field.to_owned()));
        self.metrics
            .decode_errors
            .get_or_create(&FieldLabels {
                account: self.account.clone(),
                action,
                field: field.to_owned(),
            })
            .inc();
    }
}

/// The outcome of the last configuration reload, as Prometheus and
/// Alertmanager report theirs: alert on `..._successful == 0`.
#[derive(Debug, Clone, Default)]
pub struct ReloadMetrics {
    successful: Gauge,
    success_time: Gauge<f64, AtomicU64>,
    /// No series without TLS.
    certificate_expiry: Family<Vec<(String, String)>, Gauge<f64, AtomicU64>>,
}

impl ReloadMetrics {
    /// Registers the reload metrics; the configuration read at start counts
    /// as a successful load.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "config_last_reload_successful",
            "Whether the last configuration reload succeeded (1) or kept the running configuration (0)",
            metrics.successful.clone(),
        );
        registry.register_with_unit(
            "config_last_reload_success_timestamp",
            "When the configuration was last loaded successfully, as a Unix time",
            Unit::Seconds,
            metrics.success_time.clone(),
        );
        registry.register_with_unit(
            "web_certificate_expiry_timestamp",
            "When the TLS certificate served expires, as a Unix time (no series without TLS)",
            Unit::Seconds,
            metrics.certificate_expiry.clone(),
        );
        metrics.record(true);
        metrics
    }

    /// Records when the certificate in force expires, if TLS is on.
    pub fn certificate_expires(&self, at: Option<std::time::SystemTime>) {
        self.certificate_expiry.clear();
        if let Some(at) = at {
            let seconds = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            self.certificate_expiry
                .get_or_create(&Vec::new())
                .set(seconds.as_secs_f64());
        }
    }

    /// Records a reload's outcome.
    pub fn record(&self, succeeded: bool) {
        self.successful.set(i64::from(succeeded));
        if succeeded {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            self.success_time.set(now.as_secs_f64());
        }
    }
}
