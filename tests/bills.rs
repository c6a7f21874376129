//! The bills collector on the real exporter against the simulator: exact
//! month-to-date costs, a bill read again only where the customer's credit or
//! vouchers moved, and every bill read again when the API's month turns.

mod support;

use chrono::{Datelike, NaiveDate};
use std::time::Duration;
use support::{Api, Exporter, eventually, fast_settings, start_api};
use tencentcloud_partner_exporter::simulator::dataset::usd;
use tencentcloud_partner_exporter::simulator::{Fault, Rule, Shape};

const SHAPE: Shape = Shape {
    customers: 60,
    vouchers_per_customer: 2.0,
    seed: 53,
};

const BILL_SUMMARY: &str = "DescribeCustomerBillSummary";

fn args() -> Vec<&'static str> {
    Exporter::FAST
        .iter()
        .copied()
        .chain([
            "--collector.bills",
            "--refresh.partner-interval=1s",
            "--refresh.customers-interval=1s",
            "--refresh.vouchers-interval=1s",
            "--refresh.status-interval=1s",
        ])
        .collect()
}

fn bill_calls(api: &Api) -> u64 {
    api.sim.stats().get(BILL_SUMMARY).map_or(0, |s| s.calls - s.throttled)
}

/// Has the first customer list take a second, so that the vouchers are
/// published before any bill is read: a bill read before them is read again
/// once they are (what was left on them when it was read is not known, so
/// neither is whether it was spent since), which would blur the counts.
fn vouchers_first(api: &Api) {
    api.sim.inject(
        Rule::always(Fault::Latency(Duration::from_secs(1)))
            .on("QueryCustomersCredit")
            .times(1),
    );
}

/// Waits until the exporter's every value matches the simulator's data.
async fn wait_exact(api: &Api, exporter: &Exporter) {
    eventually(Duration::from_secs(60), || async {
        let data = api.sim.with_data(|d| d.clone());
        let scrape = exporter.scrape().await;
        std::panic::catch_unwind(|| scrape.assert_exact(&data)).is_ok()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bill_is_read_again_only_where_credit_or_vouchers_moved() {
    let api = start_api(SHAPE, fast_settings()).await;
    vouchers_first(&api);
    let exporter = Exporter::start(&api, &args()).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    wait_exact(&api, &exporter).await;
    exporter.scrape().await.assert_exact(&api.sim.with_data(|d| d.clone()));
    assert_eq!(
        bill_calls(&api),
        SHAPE.customers as u64,
        "one call per customer at first"
    );

    // Three customers spend, one of them past its credit; a fourth pays with a voucher.
    let now = api.sim.china_now();
    let (spenders, voucher_payer) = api.sim.with_data(|d| {
        let solvent: Vec<u64> = d
            .customers
            .values()
            .filter(|c| c.remaining_cents > 5_000 && c.account_status == 0)
            .map(|c| c.uin)
            .take(3)
            .collect();
        d.spend(solvent[0], 1_234, now);
        d.spend(solvent[1], 4_321, now);
        let broke = d.customers[&solvent[2]].remaining_cents + 10_000;
        d.spend(solvent[2], broke, now);
        let voucher = d
            .vouchers
            .values()
            .find(|v| v.status == "Issued" && v.remaining_cents > 100 && !solvent.contains(&v.customer_uin))
            .map(|v| (v.id, v.customer_uin))
            .unwrap();
        d.spend_voucher(voucher.0, 100);
        (solvent, voucher.1)
    });
    let before = bill_calls(&api);
    wait_exact(&api, &exporter).await;
    // Several more customer lists later, nothing else has been read.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let data = api.sim.with_data(|d| d.clone());
    let scrape = exporter.scrape().await;
    scrape.assert_exact(&data);
    assert_eq!(
        bill_calls(&api) - before,
        4,
        "the bills of {spenders:?} and {voucher_payer} only"
    );
    let broke = &data.customers[&spenders[2]];
    assert_eq!((broke.remaining_cents, broke.account_status), (0, 2));
    assert_eq!(
        scrape.customer("tencentcloud_partner_customer_account_status", broke.uin),
        Some(2.0),
        "spending past its credit put the customer in arrears"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bill_is_read_again_when_the_month_turns() {
    let api = start_api(SHAPE, fast_settings()).await;
    vouchers_first(&api);
    let exporter = Exporter::start(&api, &args()).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    wait_exact(&api, &exporter).await;
    let this_month = api.sim.china_now().date().with_day(1).unwrap();
    let next_month = NaiveDate::from_ymd_opt(this_month.year(), this_month.month(), 28).unwrap() + chrono::Days::new(5);
    let next_month = next_month.with_day(1).unwrap().and_hms_opt(0, 30, 0).unwrap();
    let calls_before = bill_calls(&api);

    // Half an hour into the next month by the API's clock, two customers
    // have already spent.
    let uins: Vec<u64> = api.sim.with_data(|d| {
        let uins: Vec<u64> = d.customers.keys().copied().take(2).collect();
        d.spend(uins[0], 250, next_month);
        d.spend(uins[1], 99, next_month);
        uins
    });
    api.sim
        .set_clock_offset((next_month - api.sim.china_now()).num_seconds());
    let month_start = (next_month.and_utc().timestamp() - 30 * 60 - 8 * 3600) as f64;
    eventually(Duration::from_secs(60), || async {
        let scrape = exporter.scrape().await;
        scrape.get("tencentcloud_partner_bills_month_start_timestamp_seconds{account=\"default\"}") == Some(month_start)
    })
    .await;
    wait_exact(&api, &exporter).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let scrape = exporter.scrape().await;
    scrape.assert_exact(&api.sim.with_data(|d| d.clone()));
    assert_eq!(
        scrape.customer("tencentcloud_partner_customer_cost_month_to_date_usd", uins[0]),
        Some(usd(250))
    );
    // The two spenders' balances moved too: still one read each.
    assert_eq!(
        bill_calls(&api) - calls_before,
        SHAPE.customers as u64,
        "every customer's bill once for the new month"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_or_voucher_the_api_no_longer_knows_costs_its_own_value_not_the_refresh() {
    let api = start_api(SHAPE, fast_settings()).await;
    api.sim.inject(
        Rule::always(Fault::Error("ResourceNotFound.CustomerNotExist".into()))
            .on(BILL_SUMMARY)
            .times(1),
    );
    api.sim.inject(
        Rule::always(Fault::Error("InvalidParameterValue.VoucherNotExist".into()))
            .on("DescribeCustomerVoucherUsageDetails")
            .times(1),
    );
    let args: Vec<&str> = Exporter::FAST
        .iter()
        .copied()
        .chain([
            "--collector.bills",
            "--refresh.customers-interval=5s",
            "--refresh.vouchers-interval=5s",
        ])
        .collect();
    let exporter = Exporter::start(&api, &args).await;
    exporter.wait_refreshed(Duration::from_secs(30)).await;
    let scrape = exporter.scrape().await;
    let data = api.sim.with_data(|d| d.clone());
    for collector in ["bills", "vouchers"] {
        let success = format!("tencentcloud_partner_refresh_success{{account=\"default\",collector=\"{collector}\"}}");
        assert_eq!(
            scrape.get(&success),
            Some(1.0),
            "{collector} refreshed at the first try"
        );
    }
    assert_eq!(
        scrape
            .series("tencentcloud_partner_customer_cost_month_to_date_usd")
            .len(),
        data.customers.len() - 1,
        "the customer the API did not know has no cost yet"
    );
    assert_eq!(
        scrape.series("tencentcloud_partner_voucher_usage_records").len(),
        data.vouchers.len() - 1,
        "the voucher without details has no usage count yet"
    );
    assert_eq!(
        scrape.series("tencentcloud_partner_voucher_remaining_usd").len(),
        data.vouchers.len(),
        "but its listed balance"
    );
    // The next refreshes ask again, and everything is exact.
    wait_exact(&api, &exporter).await;
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bills_read_before_a_failed_refresh_are_not_read_again() {
    let api = start_api(SHAPE, fast_settings()).await;
    // The 21st bill call fails with an error no retry can fix.
    api.sim.inject(
        Rule::always(Fault::Error("FailedOperation".into()))
            .on(BILL_SUMMARY)
            .after(20)
            .times(1),
    );
    vouchers_first(&api);
    let exporter = Exporter::start(&api, &args()).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    wait_exact(&api, &exporter).await;
    // 60 bills and the failed call; a read cut short by the failure (2 run at
    // once) may be made again.
    let calls = bill_calls(&api);
    assert!(
        (61..=62).contains(&calls),
        "{calls} bill calls: the 20 read before the failure were read again"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bill_read_before_the_vouchers_were_known_is_read_again_once_they_are() {
    let api = start_api(
        SHAPE,
        tencentcloud_partner_exporter::simulator::Settings {
            record_requests: true,
            ..fast_settings()
        },
    )
    .await;
    // The vouchers' first walk waits 3 s; the bills are read meanwhile.
    api.sim.inject(
        Rule::always(Fault::Latency(Duration::from_secs(3)))
            .on("DescribeCustomerVoucherList")
            .times(1),
    );
    let payer = api.sim.with_data(|d| {
        d.vouchers
            .values()
            .find(|v| v.status == "Issued" && v.remaining_cents > 500)
            .map(|v| (v.id, v.customer_uin))
            .unwrap()
    });
    let exporter = Exporter::start(&api, &args()).await;
    let payer_bill_read = || {
        api.sim
            .requests(BILL_SUMMARY)
            .iter()
            .any(|r| r["CustomerUin"].as_u64() == Some(payer.1))
    };
    eventually(Duration::from_secs(10), || async { payer_bill_read() }).await;
    // Spent on a voucher after its bill was read, before the vouchers'
    // first walk sees it: the bill grows, the credit does not move.
    api.sim.with_data(|d| {
        d.spend_voucher(payer.0, 500);
        let today = api.sim.china_now().date();
        *d.customers.get_mut(&payer.1).unwrap().daily.entry(today).or_default() += 500;
    });
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    wait_exact(&api, &exporter).await;
    exporter.stop().await;
}
