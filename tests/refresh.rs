//! Refresh semantics: whole snapshots or nothing, removal, and expiry.

mod support;

use std::time::Duration;
use support::{Exporter, Exposition, eventually, fast_settings, start_api};
use tencentcloud_partner_exporter::simulator::{Fault, Rule, Shape, dataset::usd};

const SHAPE: Shape = Shape {
    customers: 250,
    vouchers_per_customer: 1.0,
    seed: 21,
};

/// Only the partner and customers collectors, customers refreshed every second.
const CUSTOMERS_EVERY_SECOND: &[&str] = &[
    "--refresh.customers-interval=1s",
    "--no-collector.allocations",
    "--no-collector.vouchers",
];

fn args(extra: &[&'static str]) -> Vec<&'static str> {
    Exporter::FAST.iter().copied().chain(extra.iter().copied()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_refresh_keeps_the_last_complete_snapshot() {
    let api = start_api(SHAPE, fast_settings()).await;
    let exporter = Exporter::start(&api, &args(CUSTOMERS_EVERY_SECOND)).await;
    exporter.wait_refreshed(Duration::from_secs(30)).await;
    let (first, last) = api.sim.with_data(|d| {
        let uins: Vec<u64> = d.customers.keys().copied().collect();
        (uins[0], uins[uins.len() - 1])
    });
    let before = exporter.scrape().await;
    let old_remaining = before
        .customer("tencentcloud_partner_customer_credit_remaining_usd", first)
        .unwrap();

    // The next walk gets its first page, then fails for good on the second.
    api.sim.inject(
        Rule::always(Fault::Error("FailedOperation".into()))
            .on("QueryCustomersCredit")
            .after(1),
    );
    api.sim.with_data(|d| {
        d.customers.get_mut(&first).unwrap().remaining_cents += 1;
        d.customers.remove(&last);
    });
    let failed = "tencentcloud_partner_refresh_success{account=\"default\",collector=\"customers\"}";
    eventually(Duration::from_secs(10), || async {
        exporter.scrape().await.get(failed) == Some(0.0)
    })
    .await;

    let during = exporter.scrape().await;
    assert_eq!(
        during.customer("tencentcloud_partner_customer_credit_remaining_usd", first),
        Some(old_remaining)
    );
    assert!(
        during
            .customer("tencentcloud_partner_customer_credit_usd", last)
            .is_some()
    );
    assert_eq!(during.series("tencentcloud_partner_customer_credit_usd").len(), 250);
    assert!(
        during
            .get("tencentcloud_partner_api_requests_total{account=\"default\",action=\"QueryCustomersCredit\",code=\"FailedOperation\"}")
            .unwrap()
            >= 1.0
    );

    // Once the API recovers, the next complete walk replaces the snapshot.
    api.sim.clear_faults();
    eventually(Duration::from_secs(10), || async {
        exporter.scrape().await.get(failed) == Some(1.0)
    })
    .await;
    let after = exporter.scrape().await;
    assert_eq!(
        after.customer("tencentcloud_partner_customer_credit_remaining_usd", first),
        Some(old_remaining + 0.01)
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_customer_disappears_after_the_next_complete_refresh() {
    let api = start_api(SHAPE, fast_settings()).await;
    let exporter = Exporter::start(
        &api,
        &args(&[
            "--refresh.customers-interval=1s",
            "--refresh.allocations-interval=1s",
            "--refresh.vouchers-interval=1s",
        ]),
    )
    .await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    let (gone, voucher) = api.sim.with_data(|d| {
        let v = d.vouchers.values().next().unwrap().clone();
        (v.customer_uin, v.id)
    });
    let before = exporter.scrape().await;
    assert!(
        before
            .customer("tencentcloud_partner_customer_credit_usd", gone)
            .is_some()
    );
    assert!(
        before
            .voucher("tencentcloud_partner_voucher_amount_usd", gone, voucher)
            .is_some()
    );

    api.sim.with_data(|d| {
        d.customers.remove(&gone);
        d.vouchers.retain(|_, v| v.customer_uin != gone);
    });
    let needle = format!("customer_uin=\"{gone}\"");
    eventually(Duration::from_secs(20), || async {
        !exporter.scrape().await.text.contains(&needle)
    })
    .await;
    let after = exporter.scrape().await;
    assert_eq!(
        after.get("tencentcloud_partner_customers{account=\"default\"}"),
        Some(249.0)
    );
    assert_eq!(after.series("tencentcloud_partner_customer_credit_usd").len(), 249);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_older_than_max_age_are_no_longer_exported() {
    let api = start_api(SHAPE, fast_settings()).await;
    let exporter = Exporter::start(
        &api,
        &args(&[
            "--refresh.partner-interval=1s",
            "--refresh.customers-interval=1s",
            "--cache.max-age=2s",
            "--no-collector.allocations",
            "--no-collector.vouchers",
        ]),
    )
    .await;
    exporter.wait_refreshed(Duration::from_secs(30)).await;
    let before = exporter.scrape().await;
    let last_success = before
        .get("tencentcloud_partner_refresh_last_success_timestamp_seconds{account=\"default\",collector=\"customers\"}")
        .unwrap();

    // The API goes away: every call now fails.
    api.sim.inject(Rule::always(Fault::Error("FailedOperation".into())));
    eventually(Duration::from_secs(10), || async {
        exporter
            .scrape()
            .await
            .get("tencentcloud_partner_customers{account=\"default\"}")
            .is_none()
    })
    .await;
    let during = exporter.scrape().await;
    assert!(during.series("tencentcloud_partner_customer_credit_usd").is_empty());
    assert_eq!(during.get("tencentcloud_partner_credit_usd{account=\"default\"}"), None);
    // The outage shows as a stale last-success time, not as frozen values.
    let stale = during
        .get("tencentcloud_partner_refresh_last_success_timestamp_seconds{account=\"default\",collector=\"customers\"}")
        .unwrap();
    assert!(stale <= last_success + 1.5, "no success during the outage");
    assert_eq!(
        during.get("tencentcloud_partner_refresh_success{account=\"default\",collector=\"customers\"}"),
        Some(0.0)
    );

    api.sim.clear_faults();
    let expected = api.sim.with_data(|d| usd(d.partner_total_cents));
    eventually(Duration::from_secs(10), || async {
        exporter
            .scrape()
            .await
            .get("tencentcloud_partner_credit_usd{account=\"default\"}")
            == Some(expected)
    })
    .await;
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_faults_are_survived_without_losing_values() {
    let api = start_api(SHAPE, fast_settings()).await;
    for fault in [
        Fault::Error("InternalError".into()),
        Fault::Error("OperationDenied.ServiceBusy".into()),
        Fault::Status(502),
        Fault::Malformed,
        Fault::Truncated,
        Fault::Reset,
    ] {
        api.sim.inject(Rule::always(fault).sometimes(0.05));
    }
    let exporter = Exporter::start(&api, &args(&[])).await;
    exporter.wait_refreshed(Duration::from_secs(90)).await;
    let data = api.sim.with_data(|d| d.clone());
    let scrape = exporter.scrape().await;
    scrape.assert_balances_match(&data);
    for code in ["InternalError", "HTTP502", "MalformedResponse", "NetworkError"] {
        let failures: f64 = scrape
            .series("tencentcloud_partner_api_requests_total")
            .iter()
            .filter(|(k, _)| k.contains(&format!("code=\"{code}\"")))
            .map(|(_, v)| v)
            .sum();
        assert!(failures > 0.0, "no {code} counted");
    }
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_fields_leave_series_out_instead_of_exporting_zero() {
    let api = start_api(SHAPE, fast_settings()).await;
    api.sim.inject(Rule::always(Fault::Nulls).on("QueryPartnerCredit"));
    let exporter = Exporter::start(&api, &args(&["--no-collector.allocations", "--no-collector.vouchers"])).await;
    exporter.wait_refreshed(Duration::from_secs(30)).await;
    let scrape = exporter.scrape().await;
    assert_eq!(
        scrape.get("tencentcloud_partner_refresh_success{account=\"default\",collector=\"partner\"}"),
        Some(1.0)
    );
    assert_eq!(scrape.get("tencentcloud_partner_credit_usd{account=\"default\"}"), None);
    assert_eq!(
        scrape.get("tencentcloud_partner_credit_remaining_usd{account=\"default\"}"),
        None
    );
    assert_eq!(
        scrape.get("tencentcloud_partner_customers{account=\"default\"}"),
        Some(250.0)
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_listing_answered_with_nulls_keeps_the_last_list() {
    let api = start_api(SHAPE, fast_settings()).await;
    let exporter = Exporter::start(&api, &args(CUSTOMERS_EVERY_SECOND)).await;
    exporter.wait_refreshed(Duration::from_secs(30)).await;
    // "Total": null, "Data": null — which must not read as "no customers".
    api.sim.inject(Rule::always(Fault::Nulls).on("QueryCustomersCredit"));
    let failed = "tencentcloud_partner_refresh_success{account=\"default\",collector=\"customers\"}";
    eventually(Duration::from_secs(10), || async {
        exporter.scrape().await.get(failed) == Some(0.0)
    })
    .await;
    let during = exporter.scrape().await;
    assert_eq!(
        during.get("tencentcloud_partner_customers{account=\"default\"}"),
        Some(250.0)
    );
    assert_eq!(during.series("tencentcloud_partner_customer_credit_usd").len(), 250);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_the_refresh_within_about_one_interval() {
    let api = start_api(SHAPE, fast_settings()).await;
    let exporter = Exporter::start(
        &api,
        &args(&[
            "--refresh.partner-interval=2s",
            "--no-collector.customers",
            "--no-collector.status",
            "--no-collector.allocations",
            "--no-collector.vouchers",
            "--no-collector.spend",
        ]),
    )
    .await;
    exporter.wait_refreshed(Duration::from_secs(30)).await;
    let success = "tencentcloud_partner_refresh_success{account=\"default\",collector=\"partner\"}";
    assert_eq!(exporter.scrape().await.get(success), Some(1.0));

    // Every call now fails with a retryable error. Ten retries with backoff
    // up to 10 s would take over a minute; a call retries for one interval.
    api.sim.reset_stats();
    api.sim.inject(Rule::always(Fault::Status(502)));
    let started = std::time::Instant::now();
    eventually(Duration::from_secs(60), || async {
        exporter.scrape().await.get(success) == Some(0.0)
    })
    .await;
    let shown_after = started.elapsed();
    // The next tick (up to 2 s), one interval of retries (2 s), and the
    // attempt under way when it ran out (at most --api.timeout, 2 s).
    assert!(
        shown_after < Duration::from_secs(8),
        "the outage showed only after {shown_after:?}"
    );
    let retried = api.sim.stats().get("QueryPartnerCredit").map_or(0, |s| s.calls);
    assert!(
        retried >= 3,
        "the call was retried within its interval ({retried} calls)"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependent_collector_keeps_its_interval_and_refreshes_soon_only_for_a_list_that_concerns_it() {
    let api = start_api(
        Shape {
            customers: 20,
            vouchers_per_customer: 1.0,
            seed: 2121,
        },
        fast_settings(),
    )
    .await;
    let args: Vec<&str> = Exporter::FAST
        .iter()
        .copied()
        .chain(["--refresh.customers-interval=1s", "--refresh.allocations-interval=1h"])
        .collect();
    let exporter = Exporter::start(&api, &args).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    let refreshed = |scrape: &Exposition| {
        scrape.get("tencentcloud_partner_refresh_last_success_timestamp_seconds{account=\"default\",collector=\"allocations\"}")
    };
    let first = refreshed(&exporter.scrape().await);
    // Customer lists every second, none that changes a credit: the
    // allocations wait for their hour.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(refreshed(&exporter.scrape().await), first);
    // A credit allocated: the next list concerns them.
    let uin = api.sim.with_data(|d| {
        let uin = *d.customers.keys().next().unwrap();
        let now = tencentcloud_partner_exporter::simulator::china_now();
        d.allocate(uin, 5_000, now);
        uin
    });
    eventually(Duration::from_secs(20), || async {
        refreshed(&exporter.scrape().await) > first
    })
    .await;
    let truth = api.sim.with_data(|d| d.customers[&uin].allocations.len() as f64);
    let allocations = "tencentcloud_partner_customer_credit_allocations";
    assert_eq!(exporter.scrape().await.customer(allocations, uin), Some(truth));
    exporter.stop().await;
}
