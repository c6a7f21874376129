//! Distributor scale: 10,000 customers and about 50,000 vouchers.
//!
//! `cargo bench --bench scale` starts the simulator in this process, runs the
//! release exporter binary against it to a complete refresh, and reports in
//! one run: start-up to first byte, refresh throughput against the rate-limit
//! floor, memory, scrape cost (sequential and 4 concurrent, plain and gzip),
//! the same body served as a static buffer by a minimal axum handler (the
//! floor), and the same series served by a Python exporter written with
//! Tencent's SDK and prometheus_client (benches/python_exporter.py; needs
//! `pip install tencentcloud-sdk-python-intl-en prometheus_client`).
//!
//! The first refresh is a cold start, nothing on disk, as a new partner meets
//! it: every couple of seconds the exporter is scraped and, for each family,
//! the time until its first series and until it is complete is noted, at the
//! scaled limits as measured and at the documented limits as computed (the
//! calls made by then ÷ each action's limit), beside its floor; every value
//! of every scrape is compared with the simulator's truth, and the allocation
//! series shown are compared with what the quota allows.
//!
//! Then the steady state: the exporter stops, 1 % of the customers get
//! credit, 1 % of the vouchers are charged, five customers are bound and five
//! unbound, and the exporter starts again from `--cache.snapshot-dir`, as it
//! would carry on between two refreshes. For each collector it reports the
//! calls of the first and of the steady-state refresh, the time each would
//! take at the documented limits (calls ÷ limit), and the time measured at
//! the scaled limits; after each, every exported value is compared with the
//! simulator's truth.
//!
//! Environment: BENCH_CUSTOMERS (10000), BENCH_VOUCHERS_PER_CUSTOMER (5),
//! BENCH_RATE_SCALE (20: the simulator's limits and the exporter's
//! --api.rate-limit-fraction, so a refresh that takes an hour at the real
//! limits takes minutes; the floor scales with it), BENCH_SCRAPES (200),
//! BENCH_PUBLISH_INTERVAL_MS (30000, before scaling), BENCH_ARGS (more flags for the exporter, as `--no-collector.allocations`
//! to time the vouchers refresh alone). Every collector runs, `bills` and `spend`
//! included (`--no-collector.bills` in BENCH_ARGS to leave bills out).

use bytes::Bytes;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tencentcloud_partner_exporter::simulator::dataset::usd;
use tencentcloud_partner_exporter::simulator::{Dataset, Settings, Shape, Simulator};

#[allow(dead_code)]
#[path = "../tests/support/binary.rs"]
mod binary;
use binary::{Binary, free_port};

const SECRET_ID: &str = "AKIDbenchmark000000000000000001";
const SECRET_KEY: &str = "BenchmarkSecretKey000000000000001";
const OPENMETRICS: &str = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";

/// Each collector's actions and their documented rate limits (calls/s).
const COLLECTORS: [(&str, &[(&str, f64)]); 9] = [
    ("partner", &[("QueryPartnerCredit", 5.0)]),
    ("customers", &[("QueryCustomersCredit", 5.0)]),
    ("allocations", &[("QueryCreditAllocationHistory", 5.0)]),
    (
        "vouchers",
        &[
            ("DescribeCustomerVoucherList", 20.0),
            ("DescribeCustomerVoucherUsageDetails", 20.0),
        ],
    ),
    ("pool", &[("QueryVoucherPool", 5.0)]),
    ("status", &[("DescribeCustomerInfo", 20.0)]),
    ("subagents", &[("QuerySubAgentsDetailV2", 20.0)]),
    ("bills", &[("DescribeCustomerBillSummary", 1.0)]),
    ("spend", &[("DescribeCustomerBillDetailByDay", 20.0)]),
];

/// A family followed through the cold start: its label, the prefix of its
/// series, how many it has when complete, and the actions it waits on, in
/// order (a collector that reads the customer list waits on that list).
struct Family {
    label: &'static str,
    prefix: &'static str,
    of: Count,
    chain: &'static [(&'static str, f64)],
    /// The calls of each action of `chain` its first series needs at least,
    /// and all of it: `Pages` of a listing, `Items` one per customer or
    /// voucher, `Calls(n)` a fixed number.
    first: &'static [Need],
    whole: &'static [Need],
}

#[derive(Clone, Copy)]
enum Count {
    One,
    Customers,
    Vouchers,
    /// Customers that have spent (`HasExpense` 1): the spend collector's.
    Spenders,
}

#[derive(Clone, Copy)]
enum Need {
    CustomerPages,
    VoucherPages,
    Customers,
    Vouchers,
    Calls(f64),
    /// A number of calls per customer that has spent, plus a few more.
    SpenderDays(f64, f64),
}

const CUSTOMERS_LIST: (&str, f64) = ("QueryCustomersCredit", 5.0);
const VOUCHER_LIST: (&str, f64) = ("DescribeCustomerVoucherList", 20.0);

/// What the spend collector reads: one bill day of one customer a call.
const BY_DAY: (&str, f64) = ("DescribeCustomerBillDetailByDay", 20.0);

const FAMILIES: [Family; 9] = [
    Family {
        label: "partner credit",
        prefix: "tencentcloud_partner_credit_remaining_usd{",
        of: Count::One,
        chain: &[("QueryPartnerCredit", 5.0)],
        first: &[Need::Calls(1.0)],
        whole: &[Need::Calls(1.0)],
    },
    Family {
        label: "every customer's credit",
        prefix: "tencentcloud_partner_customer_credit_remaining_usd{",
        of: Count::Customers,
        chain: &[CUSTOMERS_LIST],
        first: &[Need::CustomerPages],
        whole: &[Need::CustomerPages],
    },
    Family {
        label: "every voucher's remaining amount",
        prefix: "tencentcloud_partner_voucher_remaining_usd{",
        of: Count::Vouchers,
        chain: &[VOUCHER_LIST],
        first: &[Need::VoucherPages],
        whole: &[Need::VoucherPages],
    },
    Family {
        label: "voucher usage records",
        prefix: "tencentcloud_partner_voucher_usage_records{",
        of: Count::Vouchers,
        chain: &[VOUCHER_LIST, ("DescribeCustomerVoucherUsageDetails", 20.0)],
        first: &[Need::VoucherPages, Need::Calls(1.0)],
        whole: &[Need::VoucherPages, Need::Vouchers],
    },
    Family {
        label: "customers' allocations",
        prefix: "tencentcloud_partner_customer_credit_allocations{",
        of: Count::Customers,
        chain: &[CUSTOMERS_LIST, ("QueryCreditAllocationHistory", 5.0)],
        first: &[Need::CustomerPages, Need::Calls(1.0)],
        whole: &[Need::CustomerPages, Need::Customers],
    },
    Family {
        label: "customers' account status",
        prefix: "tencentcloud_partner_customer_account_status{",
        of: Count::Customers,
        chain: &[CUSTOMERS_LIST, ("DescribeCustomerInfo", 20.0)],
        first: &[Need::CustomerPages, Need::Calls(1.0)],
        whole: &[Need::CustomerPages, Need::Calls(f64::NAN)],
    },
    Family {
        label: "customers' bills",
        prefix: "tencentcloud_partner_customer_cost_month_to_date_usd{",
        of: Count::Customers,
        chain: &[CUSTOMERS_LIST, ("DescribeCustomerBillSummary", 1.0)],
        first: &[Need::CustomerPages, Need::Calls(1.0)],
        whole: &[Need::CustomerPages, Need::Customers],
    },
    // Yesterday first, for every customer that spends.
    Family {
        label: "customers' cost yesterday",
        prefix: "tencentcloud_partner_customer_cost_yesterday_usd{",
        of: Count::Spenders,
        chain: &[CUSTOMERS_LIST, BY_DAY],
        first: &[Need::CustomerPages, Need::Calls(1.0)],
        whole: &[Need::CustomerPages, Need::SpenderDays(1.0, 0.0)],
    },
    // Then today, then the 6 older days customer by customer: the first
    // whole week after yesterday and today of everyone and one customer's 6.
    Family {
        label: "customers' cost over 7 days",
        prefix: "tencentcloud_partner_customer_cost_7d_usd{",
        of: Count::Spenders,
        chain: &[CUSTOMERS_LIST, BY_DAY],
        first: &[Need::CustomerPages, Need::SpenderDays(2.0, 6.0)],
        whole: &[Need::CustomerPages, Need::SpenderDays(8.0, 0.0)],
    },
];

impl Family {
    /// Seconds at the documented limits for the calls `stats` counts.
    fn at_limits(&self, stats: &Stats) -> f64 {
        self.chain
            .iter()
            .map(|(action, limit)| stats.get(*action).map_or(0, |s| s.calls - s.throttled) as f64 / limit)
            .sum()
    }

    /// Seconds at the documented limits for the calls `needs` asks for.
    fn floor(&self, needs: &[Need], size: Size) -> f64 {
        let Size {
            customers,
            vouchers,
            spenders,
        } = size;
        self.chain
            .iter()
            .zip(needs)
            .map(|((_, limit), need)| {
                let calls = match need {
                    Need::CustomerPages => customers.div_ceil(100) as f64,
                    Need::VoucherPages => vouchers.div_ceil(100) as f64,
                    Need::Customers => customers as f64,
                    Need::Vouchers => vouchers as f64,
                    // DescribeCustomerInfo: 20 customers a call.
                    Need::Calls(n) if n.is_nan() => customers.div_ceil(20) as f64,
                    Need::Calls(n) => *n,
                    Need::SpenderDays(per, more) => spenders as f64 * per + more,
                };
                calls / limit
            })
            .sum()
    }

    fn expected(&self, size: Size) -> usize {
        match self.of {
            Count::One => 1,
            Count::Customers => size.customers,
            Count::Vouchers => size.vouchers,
            Count::Spenders => size.spenders,
        }
    }
}

/// How large the partner is.
#[derive(Clone, Copy)]
struct Size {
    customers: usize,
    vouchers: usize,
    /// Customers that have spent: those the spend collector reads.
    spenders: usize,
}

type Stats = std::collections::BTreeMap<String, tencentcloud_partner_exporter::simulator::ActionStats>;

/// When a family showed its first series and when it was complete: seconds
/// measured, and seconds at the documented limits.
#[derive(Default, Clone, Copy)]
struct Seen {
    first: Option<(f64, f64)>,
    whole: Option<(f64, f64)>,
}

/// Between two refreshes: 1 % of the customers get credit, another 1 %
/// spend, 1 % of the vouchers are charged, five customers are bound and five
/// unbound.
fn churn(data: &mut Dataset) {
    let now = tencentcloud_partner_exporter::simulator::china_now();
    let uins: Vec<u64> = data.customers.keys().copied().collect();
    for uin in uins.iter().step_by(100) {
        data.allocate(*uin, 10_000, now);
    }
    for uin in uins.iter().skip(37).step_by(100) {
        data.spend(*uin, 1_500, now);
    }
    let used: Vec<(u64, i64)> = data
        .vouchers
        .values()
        .filter(|v| v.remaining_cents > 0)
        .step_by(100)
        .map(|v| (v.id, v.remaining_cents.min(500)))
        .collect();
    for (id, cents) in used {
        data.spend_voucher(id, cents);
    }
    for uin in uins.iter().skip(50).step_by(1000).take(5) {
        data.customers.remove(uin);
        data.vouchers.retain(|_, v| v.customer_uin != *uin);
    }
    let newest = *uins.last().unwrap();
    for i in 1..=5 {
        let mut customer = data.customers[&uins[1]].clone();
        customer.uin = newest + 7 * i;
        customer.association_time = now;
        data.customers.insert(customer.uin, customer);
    }
}

/// Exported values that differ from `data`: every customer's credit, credit
/// left and number of allocations, every voucher's face value, balance and
/// usage records, and no series for what `data` does not hold.
fn mismatches(text: &str, data: &Dataset) -> usize {
    check(text, data, true)
}

/// Exported values that differ from `data`, where `missing` says whether a
/// series not exported (yet) counts as one.
fn check(text: &str, data: &Dataset, missing: bool) -> usize {
    let samples: HashMap<&str, f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series, value.parse().ok()?))
        })
        .collect();
    let get = |name: &str, labels: String| {
        samples
            .get(format!("tencentcloud_partner_{name}{{account=\"default\",{labels}}}").as_str())
            .copied()
    };
    // A series not exported yet is wrong only when `missing` says so. The
    // first few wrong values are shown, to tell a stale one from a wrong one.
    let shown = std::cell::Cell::new(0);
    let differs = |name: &str, labels: String, truth: f64| {
        let value = get(name, labels.clone());
        let wrong = match value {
            None => missing,
            Some(value) => value != truth,
        };
        if wrong && shown.get() < 5 {
            shown.set(shown.get() + 1);
            eprintln!("wrong value: {name}{{{labels}}} is {value:?}, the simulator holds {truth}");
        }
        usize::from(wrong)
    };
    let mut wrong = 0;
    for c in data.customers.values() {
        let labels = || format!("customer_uin=\"{}\"", c.uin);
        wrong += differs("customer_credit_usd", labels(), usd(c.credit_cents));
        wrong += differs("customer_credit_remaining_usd", labels(), usd(c.remaining_cents));
        wrong += differs("customer_credit_allocations", labels(), c.allocations.len() as f64);
    }
    let exported = exported_vouchers(data);
    for v in exported.iter() {
        let labels = || format!("customer_uin=\"{}\",voucher_id=\"{}\"", v.customer_uin, v.id);
        wrong += differs("voucher_amount_usd", labels(), usd(v.total_cents));
        wrong += differs("voucher_remaining_usd", labels(), usd(v.remaining_cents));
        wrong += differs("voucher_usage_records", labels(), v.usage_records as f64);
    }
    // With the bills collector on, every customer's cost this month.
    if samples
        .keys()
        .any(|k| k.starts_with("tencentcloud_partner_customer_cost_month_to_date_usd{"))
    {
        let month = tencentcloud_partner_exporter::simulator::china_now()
            .format("%Y-%m")
            .to_string();
        for c in data.customers.values() {
            let cost = usd(c.month_cents(&month));
            let labels = format!("customer_uin=\"{}\"", c.uin);
            wrong += differs("customer_cost_month_to_date_usd", labels, cost);
        }
    }
    // With the spend collector on, every complete day's cost as exported.
    let today = tencentcloud_partner_exporter::simulator::china_now().date();
    for c in data.customers.values() {
        let labels = || format!("customer_uin=\"{}\"", c.uin);
        if get("customer_cost_yesterday_usd", labels()).is_some() {
            wrong += differs(
                "customer_cost_yesterday_usd",
                labels(),
                usd(c.day_cents(today - chrono::Days::new(1))),
            );
        }
        if get("customer_cost_7d_usd", labels()).is_some() {
            let week: i64 = (1..=7).map(|back| c.day_cents(today - chrono::Days::new(back))).sum();
            wrong += differs("customer_cost_7d_usd", labels(), usd(week));
        }
    }
    if !missing {
        return wrong;
    }
    let count = |prefix: &str| samples.keys().filter(|k| k.starts_with(prefix)).count();
    wrong += count("tencentcloud_partner_customer_credit_usd{").abs_diff(data.customers.len());
    wrong += count("tencentcloud_partner_customer_credit_allocations{").abs_diff(data.customers.len());
    wrong += count("tencentcloud_partner_voucher_remaining_usd{").abs_diff(exported.len());
    wrong
}

/// The vouchers the exporter is to export: not those that ended (used up,
/// expired or withdrawn) longer than `--vouchers.ended-retention` (30 days by
/// default) ago. A voucher ends no later than its expiry, so one the churn
/// used up after its expiry date ended then, and is left out.
fn exported_vouchers(data: &Dataset) -> Vec<&tencentcloud_partner_exporter::simulator::dataset::Voucher> {
    let retained_since = tencentcloud_partner_exporter::simulator::china_now() - chrono::Days::new(30);
    data.vouchers
        .values()
        .filter(|v| !matches!(v.status.as_str(), "Used" | "Expired" | "Invalidated") || v.expire_time >= retained_since)
        .collect()
}

/// Seconds as `42 s`, `7.5 min` or `1.1 h`.
fn human(seconds: f64) -> String {
    match seconds {
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7200.0 => format!("{:.1} min", s / 60.0),
        s => format!("{:.1} h", s / 3600.0),
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// (VmHWM, VmRSS) in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// CPU seconds (user + system) the process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of /proc/PID/stat; 12 and 13 after the comm.
    (ticks(11) + ticks(12)) / 100.0
}

#[derive(Debug, Clone, Copy)]
struct Latency {
    p50_ms: f64,
    p99_ms: f64,
}

/// What the classic text scrapers (curl, vmagent set for text) send.
const CLASSIC_TEXT: &str = "text/plain;version=0.0.4";

async fn measure(url: &str, accept: &'static str, gzip: bool, n: usize, concurrency: usize) -> Latency {
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let per_task = n.div_ceil(concurrency);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url) = (client.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                let mut request = client.get(&url).header("Accept", accept);
                if gzip {
                    request = request.header("Accept-Encoding", "gzip");
                }
                let started = Instant::now();
                let body = request.send().await.unwrap().bytes().await.unwrap();
                samples.push(started.elapsed().as_secs_f64() * 1000.0);
                assert!(!body.is_empty());
            }
            samples
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_by(f64::total_cmp);
    let at = |q: f64| all[((all.len() as f64 - 1.0) * q).round() as usize];
    Latency {
        p50_ms: at(0.5),
        p99_ms: at(0.99),
    }
}

async fn exposition(url: &str) -> String {
    reqwest::Client::new()
        .get(url)
        .header("Accept", OPENMETRICS)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Serves `plain` at /plain and `gz` at /gzip from memory: the physical floor.
async fn static_floor(plain: Bytes, gz: Bytes) -> String {
    use axum::http::header;
    let app = axum::Router::new()
        .route(
            "/plain",
            axum::routing::get(move || {
                let body = plain.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        body,
                    )
                }
            }),
        )
        .route(
            "/gzip",
            axum::routing::get(move || {
                let body = gz.clone();
                async move { ([(header::CONTENT_ENCODING, "gzip")], body) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn python_available() -> bool {
    Command::new("python3")
        .args(["-c", "import prometheus_client, tencentcloud.common.common_client"])
        .status()
        .is_ok_and(|s| s.success())
}

/// What one scrape of a cold start shows.
struct Scraped {
    text: String,
    /// Series of each of [`FAMILIES`].
    shown: Vec<usize>,
    /// Whether every collector that runs (`--no-collector.bills` in
    /// BENCH_ARGS leaves one out) has completed a refresh.
    complete: bool,
    /// Values different from the truth, when it was given.
    wrong: Option<usize>,
}

impl Scraped {
    fn of(text: String, truth: Option<&Dataset>) -> Self {
        let shown = FAMILIES
            .iter()
            .map(|family| text.matches(family.prefix).count())
            .collect();
        let complete = COLLECTORS.iter().all(|(collector, _)| {
            let series = |family: &str| {
                sample(
                    &text,
                    &format!("tencentcloud_partner_{family}{{account=\"default\",collector=\"{collector}\"}}"),
                )
            };
            series("refresh_interval_seconds").is_none() || series("refresh_last_success_timestamp_seconds").is_some()
        });
        let wrong = truth.map(|data| check(&text, data, false));
        Self {
            text,
            shown,
            complete,
            wrong,
        }
    }
}

/// Follows a cold start until every collector has completed a refresh:
/// each family's first and complete series and `/-/ready` at every scrape,
/// every value of a scrape every few seconds, and how far the allocation
/// series shown trail the quota. Returns those, the scrapes whose values were
/// checked, and the worst lag.
async fn cold_start(
    sim: &Simulator,
    client: &reqwest::Client,
    exporter: &Binary,
    started: Instant,
    scale: f64,
    size: Size,
) -> (Vec<Seen>, (f64, f64), usize, usize, f64) {
    let customers = size.customers;
    let base = format!("http://{}", exporter.addr);
    let mut seen = vec![Seen::default(); FAMILIES.len()];
    let mut ready_after = None;
    let (mut wrong, mut worst_lag) = (0, 0.0_f64);
    let mut listed_at = None;
    let (mut next_check, mut checked, mut failed_scrapes) = (0.0, 0, 0);
    loop {
        let ready = client
            .get(format!("{base}/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        let scraped = client
            .get(format!("{base}/metrics"))
            .header("Accept", OPENMETRICS)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        let text = match scraped {
            Ok(response) => response.text().await,
            Err(error) => Err(error),
        };
        let text = match text {
            Ok(text) => text,
            Err(error) => {
                let log = exporter.log();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                eprintln!(
                    "a scrape failed: {error}; the exporter's log ends:\n{}",
                    tail.join("\n")
                );
                failed_scrapes += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        let stats = sim.stats();
        let t = started.elapsed().as_secs_f64();
        if ready && ready_after.is_none() {
            ready_after = Some(t);
        }
        // Every value is checked every few seconds, the counts at every
        // scrape. Both read tens of megabytes: they run on a thread of their
        // own, on a copy of the simulator's truth taken as the scrape is
        // read, so that the simulator, whose data this would otherwise hold
        // locked and whose workers it would hold busy, answers the exporter
        // meanwhile as it always does.
        let checks = t >= next_check;
        let truth = checks.then(|| sim.with_data(|d| d.clone()));
        let scraped = tokio::task::spawn_blocking(move || Scraped::of(text, truth.as_ref()))
            .await
            .unwrap();
        if let Some(found) = scraped.wrong {
            wrong = wrong.max(found);
            checked += 1;
            next_check = t + 3.0;
        }
        for ((family, seen), &shown) in FAMILIES.iter().zip(seen.iter_mut()).zip(&scraped.shown) {
            let at = Some((t, family.at_limits(&stats)));
            if shown > 0 && seen.first.is_none() {
                seen.first = at;
            }
            if shown >= family.expected(size) && seen.whole.is_none() {
                seen.whole = at;
            }
        }
        if listed_at.is_none() && seen[1].whole.is_some() {
            listed_at = Some(t);
        }
        if let Some(listed) = listed_at {
            let shown = scraped.shown[4];
            let allowed = ((t - listed) * 5.0 * 0.98 * scale).min(customers as f64);
            if allowed >= customers as f64 / 10.0 && shown < customers {
                worst_lag = worst_lag.max(allowed / shown.max(1) as f64);
            }
        }
        if scraped.complete {
            let truth = sim.with_data(|d| d.clone());
            let found = tokio::task::spawn_blocking(move || check(&scraped.text, &truth, false))
                .await
                .unwrap();
            wrong = wrong.max(found);
            // Ready once every collector published: the last of their first
            // series, at the documented limits (usage records come with the
            // vouchers' listing, the 7-day costs after the spend collector's
            // first part, yesterday's).
            let later = ["voucher usage records", "customers' cost over 7 days"];
            let real = FAMILIES
                .iter()
                .zip(&seen)
                .filter(|(family, _)| !later.contains(&family.label))
                .filter_map(|(_, seen)| Some(seen.first?.1))
                .fold(0.0, f64::max);
            let ready = (ready_after.unwrap_or(f64::NAN), real);
            if failed_scrapes > 0 {
                eprintln!("{failed_scrapes} scrapes failed during the cold start");
            }
            return (seen, ready, wrong, checked + 1, worst_lag);
        }
        // Often while first series are still to come; then, to leave the
        // cores to the refreshes, every 2 s.
        let firsts = ready_after.is_some() && seen.iter().all(|s| s.first.is_some());
        let pause = if firsts { 2000 } else { 250 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

#[tokio::main]
async fn main() {
    tencentcloud_partner_exporter::api::install_crypto_provider();
    let customers: usize = env_or("BENCH_CUSTOMERS", 10_000);
    let per_customer: f64 = env_or("BENCH_VOUCHERS_PER_CUSTOMER", 5.0);
    let scale: f64 = env_or("BENCH_RATE_SCALE", 20.0);
    let scrapes: usize = env_or("BENCH_SCRAPES", 200);
    let shape = Shape {
        customers,
        vouchers_per_customer: per_customer,
        seed: 2026,
    };
    let sim = Simulator::new(
        tencentcloud_partner_exporter::simulator::Dataset::generate(shape),
        Settings {
            rate_limit_scale: Some(scale),
            ..Settings::default()
        },
    );
    sim.add_key(SECRET_ID, SECRET_KEY);
    let vouchers = sim.with_data(|d| d.vouchers.len());
    let spenders = sim.with_data(|d| d.customers.values().filter(|c| c.has_expense()).count());
    let size = Size {
        customers,
        vouchers,
        spenders,
    };
    let api = sim.spawn().await.unwrap();
    eprintln!("simulator: {customers} customers, {vouchers} vouchers, limits x{scale}");

    let started = Instant::now();
    let snapshot_dir = tempfile::tempdir().unwrap();
    let extra_args: Vec<String> = std::env::var("BENCH_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    // The publications follow the scaled limits, as the rest of the clock does.
    let publish_ms: f64 = env_or("BENCH_PUBLISH_INTERVAL_MS", 30_000.0);
    let publish_interval = format!("--refresh.publish-interval={}ms", (publish_ms / scale) as u64);
    let start_exporter = || {
        Binary::start_with(
            &[
                &format!("--api.endpoint=http://{api}"),
                &format!("--api.rate-limit-fraction={scale}"),
                &format!("--cache.snapshot-dir={}", snapshot_dir.path().display()),
                "--refresh.partner-interval=6h",
                "--refresh.customers-interval=6h",
                "--refresh.allocations-interval=6h",
                "--refresh.vouchers-interval=6h",
                "--refresh.pool-interval=6h",
                "--refresh.status-interval=6h",
                "--refresh.subagents-interval=6h",
                "--refresh.bills-interval=6h",
                &publish_interval,
                "--collector.bills",
                "--cache.max-age=24h",
                "--log.level=warn",
            ]
            .into_iter()
            .chain(extra_args.iter().map(String::as_str))
            .collect::<Vec<_>>(),
            &[
                ("TENCENTCLOUD_SECRET_ID", SECRET_ID),
                ("TENCENTCLOUD_SECRET_KEY", SECRET_KEY),
            ],
        )
    };
    let exporter = start_exporter();
    let (pid, port) = (exporter.pid(), exporter.addr.port());
    let base = format!("http://127.0.0.1:{port}");
    // Start-up to the first byte of /metrics, before any refresh completes.
    let first_byte = loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            stream
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut byte = [0u8; 1];
            if stream.read(&mut byte).unwrap_or(0) == 1 {
                break started.elapsed();
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    eprintln!("first byte after {first_byte:?}; waiting for a complete refresh");

    let client = reqwest::Client::new();
    let (cold, ready_after, wrong_at_cold_start, cold_scrapes, allocations_lag) =
        cold_start(&sim, &client, &exporter, started, scale, size).await;
    let refreshed_after = started.elapsed();
    let text = exposition(&format!("{base}/metrics")).await;
    let first_mismatches = sim.with_data(|d| mismatches(&text, d));
    let series = text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count();
    let stats = sim.stats();
    let (peak_after_refresh, _) = memory(pid);

    // Refresh throughput against the floor: calls needed / rate limit.
    let calls = |action: &str| stats.get(action).map(|s| (s.calls, s.throttled)).unwrap_or((0, 0));
    let mut refresh_rows = Vec::new();
    for (collector, actions) in COLLECTORS {
        let wall = sample(
            &text,
            &format!("tencentcloud_partner_refresh_duration_seconds{{account=\"default\",collector=\"{collector}\"}}"),
        )
        .unwrap_or(f64::NAN);
        let (mut total, mut throttled, mut floor) = (0, 0, 0.0);
        for (action, limit) in actions {
            let (c, t) = calls(action);
            total += c;
            throttled += t;
            floor += (c - t) as f64 / (limit * scale);
        }
        refresh_rows.push((collector, total, throttled, wall, floor));
    }

    // Scrape cost.
    let plain_body = Bytes::from(text.clone());
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let gz_body = raw
        .get(format!("{base}/metrics"))
        .header("Accept", OPENMETRICS)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let floor_base = static_floor(plain_body.clone(), gz_body.clone()).await;
    let mut scrape_rows = Vec::new();
    for (label, accept, gzip, concurrency) in [
        ("plain", OPENMETRICS, false, 1),
        ("gzip", OPENMETRICS, true, 1),
        ("classic text, gzip", CLASSIC_TEXT, true, 1),
        ("plain, 4 concurrent", OPENMETRICS, false, 4),
        ("gzip, 4 concurrent", OPENMETRICS, true, 4),
    ] {
        let cpu_before = cpu_seconds(pid);
        let ours = measure(&format!("{base}/metrics"), accept, gzip, scrapes, concurrency).await;
        let cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000.0 / scrapes as f64;
        let floor_path = if gzip { "/gzip" } else { "/plain" };
        let floor = measure(&format!("{floor_base}{floor_path}"), accept, gzip, scrapes, concurrency).await;
        scrape_rows.push((label, ours, floor, cpu_ms));
    }
    let (peak, rss) = memory(pid);
    assert!(exporter.stop().success(), "the exporter stops cleanly");

    // The steady state: 1 % churn, then one refresh of each collector, warm
    // from the snapshots of the first run.
    sim.with_data(churn);
    sim.reset_stats();
    let restarted = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let exporter = start_exporter();
    let base = format!("http://127.0.0.1:{}", exporter.addr.port());
    let steady_text = loop {
        let text = exposition(&format!("{base}/metrics")).await;
        let refreshed = COLLECTORS.iter().all(|(collector, _)| {
            let enabled = |text: &str| {
                sample(
                    text,
                    &format!(
                        "tencentcloud_partner_refresh_interval_seconds{{account=\"default\",collector=\"{collector}\"}}"
                    ),
                )
                .is_some()
            };
            !enabled(&text)
                || sample(
                &text,
                &format!(
                    "tencentcloud_partner_refresh_last_success_timestamp_seconds{{account=\"default\",collector=\"{collector}\"}}"
                ),
            )
                .is_some_and(|at| at >= restarted)
        });
        if refreshed {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let steady_stats = sim.stats();
    let steady_mismatches = sim.with_data(|d| mismatches(&steady_text, d));
    let mut steady_rows = Vec::new();
    for ((collector, actions), first) in COLLECTORS.iter().zip(&refresh_rows) {
        let steady_calls: u64 = actions
            .iter()
            .map(|(action, _)| steady_stats.get(*action).map_or(0, |s| s.calls))
            .sum();
        let at_limits =
            |stats: &std::collections::BTreeMap<String, tencentcloud_partner_exporter::simulator::ActionStats>| {
                actions
                    .iter()
                    .map(|(action, limit)| stats.get(*action).map_or(0, |s| s.calls) as f64 / limit)
                    .sum::<f64>()
            };
        let measured = |text: &str| {
            sample(
                text,
                &format!(
                    "tencentcloud_partner_refresh_duration_seconds{{account=\"default\",collector=\"{collector}\"}}"
                ),
            )
            .unwrap_or(f64::NAN)
        };
        steady_rows.push((
            *collector,
            first.1,
            at_limits(&stats),
            measured(&text),
            steady_calls,
            at_limits(&steady_stats),
            measured(&steady_text),
        ));
    }
    drop(exporter);

    // The Python alternative, against a simulator of the same data without rate limits.
    let python = if python_available() {
        let unlimited = Simulator::new(
            tencentcloud_partner_exporter::simulator::Dataset::generate(shape),
            Settings {
                rate_limit_scale: None,
                ..Settings::default()
            },
        );
        unlimited.add_key(SECRET_ID, SECRET_KEY);
        let api = unlimited.spawn().await.unwrap();
        let port = free_port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/python_exporter.py");
        eprintln!("starting the Python exporter (it loads every page first)");
        let mut py = Killed(
            Command::new("python3")
                .args([script, &port.to_string(), &api.to_string()])
                .env("TENCENTCLOUD_SECRET_ID", SECRET_ID)
                .env("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let stdout = py.0.stdout.take().unwrap();
        let ready = tokio::task::spawn_blocking(move || BufReader::new(stdout).lines().next().is_some())
            .await
            .unwrap();
        assert!(ready, "the Python exporter did not start");
        let url = format!("http://127.0.0.1:{port}/metrics");
        let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
        let py_series = body.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count();
        let latency = measure(&url, OPENMETRICS, false, 10, 1).await;
        Some((latency, py_series))
    } else {
        eprintln!(
            "python3 with prometheus_client and tencentcloud-sdk-python-intl-en not found: skipping the comparison"
        );
        None
    };

    // Report.
    let mut out = String::new();
    use std::fmt::Write;
    let _ = writeln!(
        out,
        "Dataset: {customers} customers, {vouchers} vouchers; rate limits x{scale} (simulator and --api.rate-limit-fraction).\n"
    );
    let _ = writeln!(out, "| measure | value |\n|---|---|");
    let _ = writeln!(out, "| series exported | {series} |");
    let _ = writeln!(
        out,
        "| /metrics body, plain | {:.1} MB |",
        plain_body.len() as f64 / 1e6
    );
    let _ = writeln!(out, "| /metrics body, gzip | {:.1} MB |", gz_body.len() as f64 / 1e6);
    let _ = writeln!(
        out,
        "| start-up to first byte of /metrics | {:.1} ms |",
        first_byte.as_secs_f64() * 1000.0
    );
    let _ = writeln!(
        out,
        "| start-up to every collector's first complete refresh | {:.1} s |",
        refreshed_after.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| peak RSS after the first refresh | {peak_after_refresh:.1} MiB |"
    );
    let _ = writeln!(out, "| peak RSS after all scrapes | {peak:.1} MiB |");
    let _ = writeln!(
        out,
        "| RSS at the end | {rss:.1} MiB ({:.0} bytes per series) |",
        rss * 1024.0 * 1024.0 / series as f64
    );
    let _ = writeln!(
        out,
        "\nCold start, nothing on disk, every collector on, scraped every 250 ms until every family has shown its first series, then every 2 s: `/-/ready` 200 after {:.1} s at x{scale} ({} at the documented limits, the last collector's first series); values different from the simulator's truth, every value of {cold_scrapes} scrapes checked (one every 3 s): {wrong_at_cold_start}; allocation series shown, worst moment once 10 % of the customers could have been read: {allocations_lag:.2}× behind the quota's floor.\n",
        ready_after.0,
        human(ready_after.1)
    );
    let _ = writeln!(
        out,
        "| family | first series at x{scale} | at the documented limits | its floor | complete at x{scale} | at the documented limits | its floor | × floor |\n|---|---|---|---|---|---|---|---|"
    );
    for (family, seen) in FAMILIES.iter().zip(&cold) {
        let cell = |t: Option<(f64, f64)>| match t {
            Some((measured, real)) => (format!("{measured:.1} s"), human(real)),
            None => ("-".into(), "-".into()),
        };
        let (first_measured, first_real) = cell(seen.first);
        let (whole_measured, whole_real) = cell(seen.whole);
        let whole_floor = family.floor(family.whole, size);
        let _ = writeln!(
            out,
            "| {} | {first_measured} | {first_real} | {} | {whole_measured} | {whole_real} | {} | {:.2} |",
            family.label,
            human(family.floor(family.first, size)),
            human(whole_floor),
            seen.whole.map_or(f64::NAN, |(_, real)| real / whole_floor),
        );
    }
    let _ = writeln!(
        out,
        "\n| collector | calls | throttled | full refresh | floor (calls ÷ limit) | × floor |\n|---|---|---|---|---|---|"
    );
    for (collector, total, throttled, wall, floor) in &refresh_rows {
        let _ = writeln!(
            out,
            "| {collector} | {total} | {throttled} ({:.2} %) | {wall:.2} s | {floor:.2} s | {:.3} |",
            100.0 * *throttled as f64 / (*total).max(1) as f64,
            wall / floor
        );
    }
    let _ = writeln!(
        out,
        "\n| collector | first refresh: calls | at the documented limits | measured at x{scale} | steady state (1 % churn): calls | at the documented limits | measured at x{scale} |\n|---|---|---|---|---|---|---|"
    );
    for (collector, first_calls, first_real, first_measured, calls, real, measured) in &steady_rows {
        let _ = writeln!(
            out,
            "| {collector} | {first_calls} | {} | {first_measured:.2} s | {calls} | {} | {measured:.2} s |",
            human(*first_real),
            human(*real)
        );
    }
    let _ = writeln!(
        out,
        "\nValues different from the simulator's truth: {first_mismatches} after the first refresh, {steady_mismatches} after the steady-state refresh."
    );
    let _ = writeln!(
        out,
        "\n| scrape ({scrapes} each) | p50 | p99 | CPU per scrape | static floor p50 | floor p99 | p99 × floor |\n|---|---|---|---|---|---|---|"
    );
    for (label, ours, floor, cpu_ms) in &scrape_rows {
        let _ = writeln!(
            out,
            "| {label} | {:.2} ms | {:.2} ms | {cpu_ms:.2} ms | {:.2} ms | {:.2} ms | {:.2} |",
            ours.p50_ms,
            ours.p99_ms,
            floor.p50_ms,
            floor.p99_ms,
            ours.p99_ms / floor.p99_ms
        );
    }
    if let Some((latency, py_series)) = python {
        let ours = scrape_rows[0].1;
        let _ = writeln!(
            out,
            "\n| Python (SDK + prometheus_client), 10 scrapes | p50 {:.0} ms | p99 {:.0} ms | {py_series} series | ours is {:.0}× faster at p50, {:.0}× at p99 |",
            latency.p50_ms,
            latency.p99_ms,
            latency.p50_ms / ours.p50_ms,
            latency.p99_ms / ours.p99_ms
        );
    }
    println!("{out}");
    let report = concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench-scale.md");
    let _ = std::fs::write(report, &out);
    eprintln!("report written to {report}");
}
