//! Shared test fixtures: a simulated partner API on a loopback port, the
//! exporter running in-process against it, and a parser for its exposition.
#![allow(dead_code)]

pub mod binary;
pub mod pki;
pub mod tools;

use chrono::NaiveDateTime;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tencentcloud_partner_exporter::config::{Config, Flags};
use tencentcloud_partner_exporter::simulator::{self, Dataset, Shape, Simulator};

pub const SECRET_ID: &str = "AKIDtestexporter0000000000000001";
pub const SECRET_KEY: &str = "TestSecretKeyThatMustNeverBePrinted42";

/// A simulator serving on loopback.
pub struct Api {
    pub sim: Simulator,
    pub endpoint: String,
}

/// Starts a simulator with `shape` and `settings`, accepting the test key.
pub async fn start_api(shape: Shape, settings: simulator::Settings) -> Api {
    // The tests' own HTTP clients need the crypto provider the exporter installs.
    tencentcloud_partner_exporter::api::install_crypto_provider();
    let sim = Simulator::new(Dataset::generate(shape), settings);
    sim.add_key(SECRET_ID, SECRET_KEY);
    let addr = sim.spawn().await.expect("simulator binds a loopback port");
    Api {
        sim,
        endpoint: format!("http://{addr}"),
    }
}

/// A simulator whose rate limits are 20 times the documented ones, so that
/// tests of behaviour other than rate limiting run quickly.
pub fn fast_settings() -> simulator::Settings {
    simulator::Settings {
        rate_limit_scale: Some(20.0),
        ..Default::default()
    }
}

/// The exporter running in this process.
pub struct Exporter {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Exporter {
    /// Starts the exporter with `args` (flags) against `api`, with the test
    /// key in its environment.
    pub async fn start(api: &Api, args: &[&str]) -> Self {
        Self::start_with_env(api, args, |name| match name {
            "TENCENTCLOUD_SECRET_ID" => Some(SECRET_ID.into()),
            "TENCENTCLOUD_SECRET_KEY" => Some(SECRET_KEY.into()),
            _ => None,
        })
        .await
    }

    /// Starts the exporter with `args` against `api`, reading its environment through `env`.
    pub async fn start_with_env(api: &Api, args: &[&str], env: impl Fn(&str) -> Option<String>) -> Self {
        let endpoint = format!("--api.endpoint={}", api.endpoint);
        let argv = ["exporter", endpoint.as_str()].into_iter().chain(args.iter().copied());
        let flags = <Flags as clap::Parser>::try_parse_from(argv).expect("test flags parse");
        let config = Config::from_flags(flags, env).expect("test configuration is valid");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            tencentcloud_partner_exporter::app::run(config, listener, async {
                let _ = stopped.await;
            })
            .await
            .expect("exporter runs");
        });
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Fast refresh settings for tests: rate limits scaled like [`fast_settings`].
    pub const FAST: &'static [&'static str] = &["--api.rate-limit-fraction=20", "--api.timeout=2s"];

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The exposition in the Prometheus text format, as served.
    pub async fn scrape_text(&self) -> String {
        reqwest::get(self.url("/metrics")).await.unwrap().text().await.unwrap()
    }

    /// The exposition in the Prometheus text format.
    pub async fn scrape(&self) -> Exposition {
        Exposition::parse(&self.scrape_text().await)
    }

    /// Waits until `/-/ready` answers 200.
    pub async fn wait_ready(&self, within: Duration) {
        let url = self.url("/-/ready");
        eventually(within, || async {
            reqwest::get(&url)
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false)
        })
        .await;
    }

    /// Waits until every collector has completed a refresh: `/-/ready` comes
    /// sooner, once each has published what it had read so far.
    pub async fn wait_refreshed(&self, within: Duration) {
        self.wait_ready(within).await;
        eventually(within, || async {
            let scrape = self.scrape().await;
            let collectors = scrape.series("tencentcloud_partner_refresh_interval_seconds");
            let done = scrape.series("tencentcloud_partner_refresh_last_success_timestamp_seconds");
            collectors.len() == done.len()
        })
        .await;
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("exporter stops within 10 s")
            .expect("exporter task ends cleanly");
    }
}

/// Polls `condition` every 100 ms until it holds; panics after `within`.
pub async fn eventually<F, Fut>(within: Duration, condition: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !condition().await {
        assert!(Instant::now() < deadline, "condition not met within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Samples of an exposition, keyed by `name{labels}` exactly as written.
#[derive(Debug, Clone)]
pub struct Exposition {
    pub text: String,
    pub samples: BTreeMap<String, f64>,
}

impl Exposition {
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("a sample line has a value");
                (
                    series.to_owned(),
                    value.parse::<f64>().expect("a sample value is a number"),
                )
            })
            .collect();
        Self {
            text: text.to_owned(),
            samples,
        }
    }

    /// The value of one series, by its exact text.
    pub fn get(&self, series: &str) -> Option<f64> {
        self.samples.get(series).copied()
    }

    /// Series of metric `name` (with labels), in order.
    pub fn series(&self, name: &str) -> Vec<(&str, f64)> {
        self.samples
            .iter()
            .filter(|(k, _)| k.split('{').next() == Some(name))
            .map(|(k, v)| (k.as_str(), *v))
            .collect()
    }

    /// The value of `name{account="default",customer_uin="uin"}`.
    pub fn customer(&self, name: &str, uin: u64) -> Option<f64> {
        self.customer_in("default", name, uin)
    }

    /// The value of `name{account="account",customer_uin="uin"}`.
    pub fn customer_in(&self, account: &str, name: &str, uin: u64) -> Option<f64> {
        self.get(&format!("{name}{{account=\"{account}\",customer_uin=\"{uin}\"}}"))
    }

    /// The value of `name{account="account",customer_uin="uin",voucher_id="id"}`.
    pub fn voucher_in(&self, account: &str, name: &str, uin: u64, id: u64) -> Option<f64> {
        self.get(&format!(
            "{name}{{account=\"{account}\",customer_uin=\"{uin}\",voucher_id=\"{id}\"}}"
        ))
    }

    /// The value of `name{account="default",customer_uin="uin",voucher_id="id"}`.
    pub fn voucher(&self, name: &str, uin: u64, id: u64) -> Option<f64> {
        self.voucher_in("default", name, uin, id)
    }
}

impl Exposition {
    /// Asserts that every customer's remaining credit and allocation count,
    /// and every voucher's balance, are exported exactly as `data` holds them.
    pub fn assert_balances_match(&self, data: &Dataset) {
        self.assert_balances_match_in("default", data);
    }

    /// [`Self::assert_balances_match`] for the series of `account`.
    pub fn assert_balances_match_in(&self, account: &str, data: &Dataset) {
        use tencentcloud_partner_exporter::simulator::dataset::usd;
        for c in data.customers.values() {
            let remaining = self.customer_in(account, "tencentcloud_partner_customer_credit_remaining_usd", c.uin);
            assert_eq!(remaining, Some(usd(c.remaining_cents)), "remaining credit of {}", c.uin);
            let allocations = self.customer_in(account, "tencentcloud_partner_customer_credit_allocations", c.uin);
            assert_eq!(
                allocations,
                Some(c.allocations.len() as f64),
                "allocations of {}",
                c.uin
            );
        }
        for v in data.vouchers.values() {
            let remaining = self.voucher_in(
                account,
                "tencentcloud_partner_voucher_remaining_usd",
                v.customer_uin,
                v.id,
            );
            assert_eq!(remaining, Some(usd(v.remaining_cents)), "balance of voucher {}", v.id);
        }
    }
}

impl Exposition {
    /// Asserts that every value the exporter derives from `data` (partner,
    /// customers, allocations, vouchers) is exported exactly, and nothing more.
    pub fn assert_exact(&self, data: &Dataset) {
        use tencentcloud_partner_exporter::simulator::dataset::usd;
        let allocated = data.allocated_cents();
        assert_eq!(
            self.get("tencentcloud_partner_credit_usd{account=\"default\"}"),
            Some(usd(data.partner_total_cents))
        );
        assert_eq!(
            self.get("tencentcloud_partner_credit_allocated_usd{account=\"default\"}"),
            Some(usd(allocated))
        );
        assert_eq!(
            self.get("tencentcloud_partner_credit_remaining_usd{account=\"default\"}"),
            Some(usd(data.partner_total_cents - allocated))
        );
        assert_eq!(
            self.get("tencentcloud_partner_customers_credit_usd{account=\"default\"}"),
            Some(usd(allocated))
        );
        assert_eq!(
            self.get("tencentcloud_partner_customers_credit_remaining_usd{account=\"default\"}"),
            Some(usd(data.customers_remaining_cents()))
        );
        assert_eq!(
            self.get("tencentcloud_partner_customers{account=\"default\"}"),
            Some(data.customers.len() as f64)
        );
        assert_eq!(
            self.series("tencentcloud_partner_customer_credit_usd").len(),
            data.customers.len()
        );

        for c in data.customers.values() {
            assert_eq!(
                self.customer("tencentcloud_partner_customer_credit_usd", c.uin),
                Some(usd(c.credit_cents))
            );
            assert_eq!(
                self.customer("tencentcloud_partner_customer_credit_remaining_usd", c.uin),
                Some(usd(c.remaining_cents))
            );
            assert_eq!(
                self.customer("tencentcloud_partner_customer_credit_expiry_timestamp_seconds", c.uin),
                c.recent_expiry.as_ref().map(china_unix)
            );
            let identify = ["unverified", "individual", "enterprise"][c.identify_type as usize];
            let info = format!(
                "tencentcloud_partner_customer_info{{account=\"default\",customer_uin=\"{}\",remark=\"{}\",customer_type=\"{}\",identify_type=\"{identify}\"}}",
                c.uin,
                escape_label(&c.remark),
                c.customer_type
            );
            assert_eq!(self.get(&info), Some(1.0), "missing {info}");
            assert!(!self.text.contains(&c.name), "names are not exported unless asked for");
            assert!(!self.text.contains(&c.phone), "phone numbers are never exported");
            assert_eq!(
                self.customer("tencentcloud_partner_customer_force_status", c.uin),
                Some(c.force as f64)
            );
            assert_eq!(
                self.customer("tencentcloud_partner_customer_account_status", c.uin),
                Some(c.account_status as f64),
                "account status of {}",
                c.uin
            );
            assert_eq!(
                self.customer("tencentcloud_partner_customer_has_expense", c.uin),
                Some(f64::from(u8::from(c.has_expense())))
            );

            let newest = c.allocations.iter().max_by_key(|a| a.time);
            assert_eq!(
                self.customer("tencentcloud_partner_customer_credit_allocations", c.uin),
                Some(c.allocations.len() as f64)
            );
            assert_eq!(
                self.customer(
                    "tencentcloud_partner_customer_credit_last_allocation_timestamp_seconds",
                    c.uin
                ),
                newest.map(|a| china_unix(&a.time))
            );
            assert_eq!(
                self.customer("tencentcloud_partner_customer_credit_last_allocation_usd", c.uin),
                newest.map(|a| usd(a.credit_cents))
            );
        }

        assert_eq!(
            self.get("tencentcloud_partner_voucher_pool_usd{account=\"default\"}"),
            Some(usd(data.voucher_quota_cents))
        );
        assert_eq!(
            self.get("tencentcloud_partner_voucher_pool_remaining_usd{account=\"default\"}"),
            Some(usd(data.voucher_quota_cents - data.issued_voucher_cents()))
        );
        assert_eq!(
            self.get("tencentcloud_partner_vouchers_issued{account=\"default\"}"),
            Some(data.vouchers.len() as f64)
        );
        let role = ["reseller", "distributor", "second_level_reseller"][data.account_type as usize - 1];
        let info = format!(
            "tencentcloud_partner_info{{account=\"default\",agent_name=\"{}\",role=\"{role}\"}}",
            escape_label(&data.agent_name)
        );
        assert_eq!(self.get(&info), Some(1.0), "missing {info}");

        assert_eq!(
            self.series("tencentcloud_partner_subagent_credit_usd").len(),
            if data.account_type == 2 {
                data.subagents.len()
            } else {
                0
            }
        );
        for a in data.subagents.values().filter(|_| data.account_type == 2) {
            let get = |name: &str| {
                self.get(&format!(
                    "tencentcloud_partner_{name}{{account=\"default\",subagent_uin=\"{}\"}}",
                    a.uin
                ))
            };
            assert_eq!(get("subagent_credit_usd"), Some(usd(a.credit_cents)));
            assert_eq!(
                get("subagent_credit_remaining_usd"),
                Some(usd(a.remaining_credit_cents))
            );
            assert_eq!(get("subagent_voucher_pool_usd"), Some(usd(a.voucher_cents)));
            assert_eq!(
                get("subagent_voucher_pool_remaining_usd"),
                Some(usd(a.remaining_voucher_cents))
            );
            assert_eq!(get("subagent_customers"), Some(a.customers as f64));
            assert!(
                !self.text.contains(&a.email) && !self.text.contains(&a.mobile),
                "no e-mail or mobile"
            );
        }

        // With the bills collector on, every customer's bill for the month it reports.
        let month_start = self.get("tencentcloud_partner_bills_month_start_timestamp_seconds{account=\"default\"}");
        let costs = self.series("tencentcloud_partner_customer_cost_month_to_date_usd");
        match month_start {
            None => assert!(costs.is_empty(), "no costs without a month"),
            Some(start) => {
                let month = chrono::DateTime::from_timestamp(start as i64 + 8 * 3600, 0)
                    .unwrap()
                    .format("%Y-%m")
                    .to_string();
                assert_eq!(costs.len(), data.customers.len());
                for c in data.customers.values() {
                    assert_eq!(
                        self.customer("tencentcloud_partner_customer_cost_month_to_date_usd", c.uin),
                        Some(usd(c.month_cents(&month))),
                        "cost of {} in {month}",
                        c.uin
                    );
                }
            }
        }

        assert!(data.vouchers.len() > 100, "the voucher list spans several pages");
        assert_eq!(
            self.series("tencentcloud_partner_voucher_amount_usd").len(),
            data.vouchers.len()
        );
        for v in data.vouchers.values() {
            let (uin, id) = (v.customer_uin, v.id);
            assert_eq!(
                self.voucher("tencentcloud_partner_voucher_amount_usd", uin, id),
                Some(usd(v.total_cents))
            );
            assert_eq!(
                self.voucher("tencentcloud_partner_voucher_remaining_usd", uin, id),
                Some(usd(v.remaining_cents))
            );
            assert_eq!(
                self.voucher("tencentcloud_partner_voucher_usage_records", uin, id),
                Some(v.usage_records as f64)
            );
            assert_eq!(
                self.voucher("tencentcloud_partner_voucher_expiry_timestamp_seconds", uin, id),
                Some(china_unix(&v.expire_time))
            );
            let info = format!(
                "tencentcloud_partner_voucher_info{{account=\"default\",customer_uin=\"{uin}\",voucher_id=\"{id}\",status=\"{}\",usage=\"{}\",payment_mode=\"{}\",product_scope=\"{}\"}}",
                v.status, v.usage, v.payment_mode, v.product_scope
            );
            assert_eq!(self.get(&info), Some(1.0), "missing {info}");
        }
    }
}

/// The exposition of the exporter binary `binary`, in the Prometheus text format.
pub async fn scrape_binary(binary: &binary::Binary) -> Exposition {
    let body = reqwest::get(binary.url("http", "/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Exposition::parse(&body)
}

/// An HTTP client whose connections come from `address` (any of 127/8):
/// another client, as the exporter counts clients.
pub fn from(address: std::net::Ipv4Addr) -> reqwest::Client {
    tencentcloud_partner_exporter::api::install_crypto_provider();
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::V4(address))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A time string of the simulator (UTC+8) as unix seconds.
pub fn china_unix(t: &NaiveDateTime) -> f64 {
    (t.and_utc().timestamp() - 8 * 3600) as f64
}

/// Escapes a label value as the text format does.
/// The `customer_uin` label of an exposition `series`.
pub fn uin_of(series: &str) -> u64 {
    series
        .split("customer_uin=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|uin| uin.parse().ok())
        .unwrap_or_else(|| panic!("no customer_uin in {series}"))
}

/// A fault that answers the next `times` allocation histories without `Total`.
pub fn histories_without_total(times: u64) -> simulator::Rule {
    let no_total = simulator::Rewrite::new(|response| {
        if let Some(fields) = response.as_object_mut() {
            fields.remove("Total");
        }
    });
    simulator::Rule::always(simulator::Fault::Rewrite(no_total))
        .on("QueryCreditAllocationHistory")
        .times(times)
}

/// A fault that, in the next `walks` walks of the voucher list, lists the
/// first voucher of the first page again in place of its last: a row listed
/// twice, and a listing one short of its total.
pub fn voucher_listed_twice(walks: u64) -> simulator::Rule {
    let twice = simulator::Rewrite::new(|response| {
        if let Some(rows) = response["Data"].as_array_mut()
            && rows.len() > 1
        {
            let last = rows.len() - 1;
            rows[last] = rows[0].clone();
        }
    });
    simulator::Rule::always(simulator::Fault::Rewrite(twice))
        .on("DescribeCustomerVoucherList")
        .asking_for("Page", 1)
        .times(walks)
}

pub fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Runs `promtool check metrics` on `exposition`: whether it passed, and
/// what it said.
pub fn promtool_check(exposition: &str) -> (bool, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool must be installed (Debian package prometheus; scripts/test installs it)");
    child.stdin.take().unwrap().write_all(exposition.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let findings = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), findings)
}
