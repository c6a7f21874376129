//! A first start, as a new partner meets it, on the real binary against the
//! simulator at the documented rate limits, with parts published every
//! second: the voucher list shows whole before any usage details are read,
//! allocations appear closest to running out first, `/-/ready` turns 200
//! long before the slow collectors finish, no scrape ever shows a wrong
//! value, and a restart in the middle goes on where the first run stopped.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};
use support::binary::Binary;
use support::{Api, Exposition, SECRET_ID, SECRET_KEY, china_unix, scrape_binary, start_api};
use tencentcloud_partner_exporter::simulator::dataset::usd;
use tencentcloud_partner_exporter::simulator::{self, Dataset, Fault, Rule, Shape};

const ALLOCATIONS: &str = "tencentcloud_partner_customer_credit_allocations";

/// The simulator at the documented rate limits, keeping every request.
async fn documented_api(customers: usize, seed: u64) -> Api {
    let shape = Shape {
        customers,
        vouchers_per_customer: 4.0,
        seed,
    };
    let settings = simulator::Settings {
        record_requests: true,
        ..Default::default()
    };
    start_api(shape, settings).await
}

fn start(api: &Api, extra: &[&str]) -> Binary {
    let endpoint = format!("--api.endpoint={}", api.endpoint);
    let args: Vec<&str> = [endpoint.as_str(), "--refresh.publish-interval=1s", "--api.timeout=5s"]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    Binary::start_with(
        &args,
        &[
            ("TENCENTCLOUD_SECRET_ID", SECRET_ID),
            ("TENCENTCLOUD_SECRET_KEY", SECRET_KEY),
        ],
    )
}

fn collector(scrape: &Exposition, name: &str, collector: &str) -> Option<f64> {
    scrape.get(&format!(
        "tencentcloud_partner_{name}{{account=\"default\",collector=\"{collector}\"}}"
    ))
}

fn items(scrape: &Exposition, collector: &str, state: &str) -> Option<f64> {
    scrape.get(&format!(
        "tencentcloud_partner_refresh_items{{account=\"default\",collector=\"{collector}\",state=\"{state}\"}}"
    ))
}

async fn ready(exporter: &Binary) -> bool {
    reqwest::get(exporter.url("http", "/-/ready"))
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// The customers in the order a first refresh reads them: the smallest share
/// of credit left first, customers without credit last.
fn by_urgency(data: &Dataset) -> Vec<u64> {
    let share = |credit: i64, remaining: i64| {
        if credit > 0 {
            remaining as f64 / credit as f64
        } else {
            f64::INFINITY
        }
    };
    let mut order: Vec<(f64, u64)> = data
        .customers
        .values()
        .map(|c| (share(c.credit_cents, c.remaining_cents), c.uin))
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    order.into_iter().map(|(_, uin)| uin).collect()
}

/// Every exported value of a customer or voucher that differs from `data`;
/// series not exported yet are not wrong.
fn wrong_values(scrape: &Exposition, data: &Dataset) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut check = |series: String, truth: Option<f64>| {
        if let Some(value) = scrape.get(&series)
            && Some(value) != truth
        {
            wrong.push(format!("{series} = {value}, not {truth:?}"));
        }
    };
    let month = scrape
        .get("tencentcloud_partner_bills_month_start_timestamp_seconds{account=\"default\"}")
        .map(|start| {
            chrono::DateTime::from_timestamp(start as i64 + 8 * 3600, 0)
                .unwrap()
                .format("%Y-%m")
                .to_string()
        });
    for c in data.customers.values() {
        let customer = |name: &str| {
            format!(
                "tencentcloud_partner_{name}{{account=\"default\",customer_uin=\"{}\"}}",
                c.uin
            )
        };
        let newest = c.allocations.iter().max_by_key(|a| a.time);
        check(customer("customer_credit_usd"), Some(usd(c.credit_cents)));
        check(customer("customer_credit_remaining_usd"), Some(usd(c.remaining_cents)));
        check(
            customer("customer_credit_allocations"),
            Some(c.allocations.len() as f64),
        );
        check(
            customer("customer_credit_last_allocation_timestamp_seconds"),
            newest.map(|a| china_unix(&a.time)),
        );
        check(
            customer("customer_credit_last_allocation_usd"),
            newest.map(|a| usd(a.credit_cents)),
        );
        if let Some(month) = &month {
            let cost = c.month_cents(month);
            check(customer("customer_cost_month_to_date_usd"), Some(usd(cost)));
        }
    }
    for v in data.vouchers.values() {
        let voucher = |name: &str| {
            format!(
                "tencentcloud_partner_{name}{{account=\"default\",customer_uin=\"{}\",voucher_id=\"{}\"}}",
                v.customer_uin, v.id
            )
        };
        check(voucher("voucher_amount_usd"), Some(usd(v.total_cents)));
        check(voucher("voucher_remaining_usd"), Some(usd(v.remaining_cents)));
        check(voucher("voucher_usage_records"), Some(v.usage_records as f64));
        check(
            voucher("voucher_expiry_timestamp_seconds"),
            Some(china_unix(&v.expire_time)),
        );
    }
    wrong
}

/// The UINs whose allocation series a scrape shows.
fn with_allocations(scrape: &Exposition) -> HashSet<u64> {
    scrape
        .series(ALLOCATIONS)
        .iter()
        .filter_map(|(series, _)| series.split("customer_uin=\"").nth(1)?.split('"').next()?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_shows_what_it_has_read_and_never_a_wrong_value() {
    let api = documented_api(40, 41).await;
    // The first usage details answer slowly: the listing must not wait for them.
    api.sim.inject(
        Rule::always(Fault::Latency(Duration::from_secs(2)))
            .on("DescribeCustomerVoucherUsageDetails")
            .times(16),
    );
    let data = api.sim.with_data(|d| d.clone());
    let order = by_urgency(&data);
    let exporter = start(&api, &["--collector.bills"]);

    let started = Instant::now();
    let mut listing_before_details = false;
    let mut allocation_counts = BTreeMap::new();
    let mut ready_while_bills_ran = None;
    let mut bills_progress_seen = false;
    let mut scrapes = 0;
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "the first start did not complete:\n{}",
            exporter.log()
        );
        let is_ready = ready(&exporter).await;
        let scrape = scrape_binary(&exporter).await;
        scrapes += 1;
        let wrong = wrong_values(&scrape, &data);
        assert!(
            wrong.is_empty(),
            "scrape {scrapes}: {} wrong values:\n{}",
            wrong.len(),
            wrong.join("\n")
        );

        let amounts = scrape.series("tencentcloud_partner_voucher_remaining_usd").len();
        let usage = scrape.series("tencentcloud_partner_voucher_usage_records").len();
        if amounts == data.vouchers.len() && usage == 0 {
            listing_before_details = true;
        }
        assert!(
            amounts == 0 || amounts == data.vouchers.len(),
            "the listing is published whole: {amounts}"
        );

        // Allocations appear closest to running out first: whatever is shown
        // is among the first of the order, give or take the reads in flight.
        let shown = with_allocations(&scrape);
        let within = &order[..(shown.len() + 8).min(order.len())];
        assert!(
            shown.iter().all(|uin| within.contains(uin)),
            "scrape {scrapes}: {} allocation series, not the most urgent customers",
            shown.len()
        );
        allocation_counts.entry(shown.len()).or_insert(scrapes);

        let bills_done = collector(&scrape, "refresh_success", "bills") == Some(1.0);
        if let (Some(read), Some(due)) = (items(&scrape, "bills", "read"), items(&scrape, "bills", "due")) {
            bills_progress_seen |= due == 40.0 && read > 0.0 && read < due;
        }
        if is_ready && ready_while_bills_ran.is_none() {
            ready_while_bills_ran = Some(!bills_done);
        }
        let all_done = ["allocations", "vouchers", "bills"]
            .iter()
            .all(|c| collector(&scrape, "refresh_success", c) == Some(1.0));
        if all_done {
            scrape.assert_exact(&data);
            break;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(
        listing_before_details,
        "no scrape showed the listing before the usage details"
    );
    let partial: Vec<&usize> = allocation_counts.keys().filter(|n| **n > 0 && **n < 40).collect();
    assert!(
        partial.len() >= 3,
        "allocations shown in parts as they were read: {allocation_counts:?}"
    );
    assert_eq!(
        ready_while_bills_ran,
        Some(true),
        "/-/ready turns 200 before the bills (40 s at 1/s) are read"
    );
    assert!(
        bills_progress_seen,
        "tencentcloud_partner_refresh_items shows the bills as they are read"
    );
    // Every two publish intervals, a line says how far the first refresh has come.
    let log = exporter.log();
    let progress = log
        .lines()
        .filter(|l| l.contains("first refresh under way") && l.contains("collector=bills"))
        .count();
    assert!(progress >= 5, "{progress} progress lines for the 40 s of bills:\n{log}");
    assert!(log.contains("due=40") && log.contains("left="), "{log}");
    exporter.stop();
}

/// The `ClientUin` of every history read with page 1, and the voucher of
/// every usage-details call.
fn items_read(api: &Api) -> (Vec<u64>, Vec<u64>) {
    let histories = api
        .sim
        .requests("QueryCreditAllocationHistory")
        .iter()
        .filter(|r| r["Page"] == 1)
        .filter_map(|r| r["ClientUin"].as_u64())
        .collect();
    let vouchers = api
        .sim
        .requests("DescribeCustomerVoucherUsageDetails")
        .iter()
        .filter_map(|r| r["VoucherId"].as_u64())
        .collect();
    (histories, vouchers)
}

fn assert_each_once(read: &[u64], expected: usize, what: &str) {
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    read.iter().for_each(|id| *counts.entry(*id).or_default() += 1);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{what} read more than once: {twice:?}");
    assert_eq!(counts.len(), expected, "every {what} read");
}

fn snapshot_dir_arg(dir: &Path) -> String {
    format!("--cache.snapshot-dir={}", dir.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_a_first_start_reads_no_item_twice() {
    let api = documented_api(60, 43).await;
    let data = api.sim.with_data(|d| d.clone());
    let dir = tempfile::tempdir().unwrap();
    let snapshot_dir = snapshot_dir_arg(dir.path());
    let first = start(&api, &[&snapshot_dir]);
    // Stop once some, not all, histories are read: 60 take 12 s at 5/s.
    let started = Instant::now();
    loop {
        let shown = with_allocations(&scrape_binary(&first).await).len();
        if (15..45).contains(&shown) {
            break;
        }
        assert!(
            shown < 45 && started.elapsed() < Duration::from_secs(60),
            "{shown} shown"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = first.stop();
    assert!(status.success(), "{status:?}");
    let (histories, _) = items_read(&api);
    assert!(
        histories.len() < 60,
        "stopped in the middle: {} histories read",
        histories.len()
    );

    let second = start(&api, &[&snapshot_dir]);
    assert!(ready(&second).await, "what the first run published is served at once");
    let restored = with_allocations(&scrape_binary(&second).await).len();
    assert!(
        restored >= histories.len().saturating_sub(1),
        "{restored} restored of {} read",
        histories.len()
    );
    let started = Instant::now();
    loop {
        let scrape = scrape_binary(&second).await;
        let wrong = wrong_values(&scrape, &data);
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        if ["allocations", "vouchers"]
            .iter()
            .all(|c| collector(&scrape, "refresh_success", c) == Some(1.0))
        {
            scrape.assert_exact(&data);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{}", second.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (histories, vouchers) = items_read(&api);
    assert_each_once(&histories, data.customers.len(), "customer's history");
    assert_each_once(&vouchers, data.vouchers.len(), "voucher's usage details");
    second.stop();
}
