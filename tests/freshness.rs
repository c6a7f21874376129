//! Reading only what changed, on the exporter against the simulator: usage
//! details only for new and changed vouchers, allocation histories only for
//! customers whose credit moved, the full sweep for what that cannot see,
//! and exact values after every phase.

mod support;

use std::time::Duration;
use support::{Exporter, Exposition, eventually, fast_settings, start_api};
use tencentcloud_partner_exporter::simulator::dataset::usd;
use tencentcloud_partner_exporter::simulator::{Fault, Rewrite, Rule, Shape};

const SHAPE: Shape = Shape {
    customers: 120,
    vouchers_per_customer: 2.0,
    seed: 31,
};

const DETAILS: &str = "DescribeCustomerVoucherUsageDetails";
const HISTORY: &str = "QueryCreditAllocationHistory";

fn args(extra: &[&'static str]) -> Vec<&'static str> {
    Exporter::FAST.iter().copied().chain(extra.iter().copied()).collect()
}

fn calls(api: &support::Api, action: &str) -> u64 {
    api.sim.stats().get(action).map_or(0, |s| s.calls)
}

/// When `collector` last completed a refresh.
async fn last_success(exporter: &Exporter, collector: &str) -> f64 {
    let series = format!(
        "tencentcloud_partner_refresh_last_success_timestamp_seconds{{account=\"default\",collector=\"{collector}\"}}"
    );
    exporter.scrape().await.get(&series).unwrap_or(0.0)
}

/// Waits for two more complete refreshes of `collector`: the second started
/// after this was called.
async fn two_refreshes(exporter: &Exporter, collector: &str) {
    for _ in 0..2 {
        let before = last_success(exporter, collector).await;
        eventually(Duration::from_secs(30), || async {
            last_success(exporter, collector).await > before
        })
        .await;
    }
}

fn vouchers_match(scrape: &Exposition, api: &support::Api) -> bool {
    api.sim.with_data(|d| {
        d.vouchers.values().all(|v| {
            scrape.voucher("tencentcloud_partner_voucher_remaining_usd", v.customer_uin, v.id)
                == Some(usd(v.remaining_cents))
                && scrape.voucher("tencentcloud_partner_voucher_usage_records", v.customer_uin, v.id)
                    == Some(v.usage_records as f64)
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_details_are_read_only_for_new_and_changed_vouchers() {
    let api = start_api(SHAPE, fast_settings()).await;
    let exporter = Exporter::start(
        &api,
        &args(&["--refresh.vouchers-interval=1s", "--refresh.pool-interval=1s"]),
    )
    .await;
    exporter.wait_refreshed(Duration::from_secs(30)).await;
    let vouchers = api.sim.with_data(|d| d.vouchers.len() as u64);
    two_refreshes(&exporter, "vouchers").await;
    assert_eq!(
        calls(&api, DETAILS),
        vouchers,
        "the first refresh reads every voucher, later ones none"
    );

    api.sim.reset_stats();
    let (spent, invalidated, new) = api.sim.with_data(|d| {
        let issued: Vec<u64> = d
            .vouchers
            .values()
            .filter(|v| v.status == "Issued" && v.remaining_cents > 100)
            .map(|v| v.id)
            .collect();
        for id in &issued[..3] {
            d.spend_voucher(*id, 100);
        }
        // A status change alone: the balance stays.
        d.vouchers.get_mut(&issued[3]).unwrap().status = "Invalidated".into();
        let mut voucher = d.vouchers[&issued[4]].clone();
        voucher.id = d.vouchers.keys().max().unwrap() + 1;
        d.vouchers.insert(voucher.id, voucher.clone());
        (issued[..3].to_vec(), issued[3], voucher.id)
    });
    eventually(Duration::from_secs(30), || async {
        vouchers_match(&exporter.scrape().await, &api)
    })
    .await;
    two_refreshes(&exporter, "vouchers").await;
    two_refreshes(&exporter, "pool").await;
    assert_eq!(
        calls(&api, DETAILS),
        5,
        "details read for {spent:?} (used), {invalidated} (status) and {new} (new) only"
    );
    assert!(
        calls(&api, "DescribeCustomerVoucherList") >= 4,
        "the listing is read every refresh"
    );
    let scrape = exporter.scrape().await;
    let data = api.sim.with_data(|d| d.clone());
    scrape.assert_exact(&data);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_the_listing_and_the_details_disagree_the_details_win_and_it_is_counted() {
    let api = start_api(SHAPE, fast_settings()).await;
    let (uin, id, truth) = api.sim.with_data(|d| {
        let v = d.vouchers.values().find(|v| v.remaining_cents > 0).unwrap();
        (v.customer_uin, v.id, usd(v.remaining_cents))
    });
    api.sim.inject(
        Rule::always(Fault::Rewrite(Rewrite::new(move |response| {
            for item in response["Data"].as_array_mut().into_iter().flatten() {
                if item["VoucherId"] == id.to_string().as_str() || item["VoucherId"] == id {
                    let listed = item["RemainingAmount"].as_f64().unwrap();
                    item["RemainingAmount"] = (listed + 1.0).into();
                }
            }
        })))
        .on("DescribeCustomerVoucherList"),
    );
    let exporter = Exporter::start(
        &api,
        &args(&["--refresh.vouchers-interval=1s", "--no-collector.allocations"]),
    )
    .await;
    exporter.wait_refreshed(Duration::from_secs(30)).await;
    two_refreshes(&exporter, "vouchers").await;
    let scrape = exporter.scrape().await;
    assert_eq!(
        scrape.voucher("tencentcloud_partner_voucher_remaining_usd", uin, id),
        Some(truth)
    );
    // Counted when the details were read, not again while nothing changes.
    assert_eq!(
        scrape.get("tencentcloud_partner_voucher_amount_mismatches_total{account=\"default\"}"),
        Some(1.0)
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_a_snapshot_dir_does_not_read_unchanged_details_again() {
    let api = start_api(SHAPE, fast_settings()).await;
    let dir = tempfile::tempdir().unwrap();
    let snapshot_dir = format!("--cache.snapshot-dir={}", dir.path().display());
    let flags: Vec<&str> = args(&[
        "--refresh.vouchers-interval=1s",
        "--refresh.customers-interval=1s",
        "--refresh.allocations-interval=1s",
    ])
    .into_iter()
    .chain([snapshot_dir.as_str()])
    .collect();
    let exporter = Exporter::start(&api, &flags).await;
    exporter.wait_refreshed(Duration::from_secs(30)).await;
    two_refreshes(&exporter, "vouchers").await;
    two_refreshes(&exporter, "allocations").await;
    exporter.stop().await;

    api.sim.reset_stats();
    let exporter = Exporter::start(&api, &flags).await;
    exporter.wait_refreshed(Duration::from_secs(30)).await;
    two_refreshes(&exporter, "vouchers").await;
    two_refreshes(&exporter, "allocations").await;
    assert_eq!(
        calls(&api, DETAILS),
        0,
        "every voucher's details came from the snapshot"
    );
    assert_eq!(calls(&api, HISTORY), 0, "every history came from the snapshot");
    let data = api.sim.with_data(|d| d.clone());
    exporter.scrape().await.assert_exact(&data);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_are_read_only_for_customers_whose_credit_moved() {
    let api = start_api(SHAPE, fast_settings()).await;
    let exporter = Exporter::start(
        &api,
        &args(&[
            "--refresh.customers-interval=1s",
            "--refresh.allocations-interval=1s",
            // Long enough that the sweep owes no customer during the test.
            "--refresh.allocations-full-interval=10000h",
            "--no-collector.vouchers",
        ]),
    )
    .await;
    exporter.wait_refreshed(Duration::from_secs(30)).await;
    two_refreshes(&exporter, "allocations").await;

    api.sim.reset_stats();
    let topped_up: Vec<u64> = api.sim.with_data(|d| {
        let now = tencentcloud_partner_exporter::simulator::china_now();
        let uins: Vec<u64> = d
            .customers
            .values()
            .filter(|c| !c.allocations.is_empty())
            .map(|c| c.uin)
            .take(3)
            .collect();
        for uin in &uins {
            d.allocate(*uin, 12_345, now);
        }
        uins
    });
    // The allocations collector reads only the customers whose credit moved.
    eventually(Duration::from_secs(30), || async {
        let scrape = exporter.scrape().await;
        api.sim.with_data(|d| {
            topped_up.iter().all(|uin| {
                scrape.customer("tencentcloud_partner_customer_credit_allocations", *uin)
                    == Some(d.customers[uin].allocations.len() as f64)
            })
        })
    })
    .await;
    two_refreshes(&exporter, "allocations").await;
    // Page 1 of 100 records gives the new Total and, for a history that
    // short, every record: one call for each customer topped up, none for
    // the others.
    assert_eq!(calls(&api, HISTORY), 3);
    let scrape = exporter.scrape().await;
    api.sim.with_data(|d| {
        for c in d.customers.values() {
            assert_eq!(
                scrape.customer("tencentcloud_partner_customer_credit_allocations", c.uin),
                Some(c.allocations.len() as f64),
                "allocations of {}",
                c.uin
            );
        }
    });
    for uin in &topped_up {
        assert_eq!(
            scrape.customer("tencentcloud_partner_customer_credit_last_allocation_usd", *uin),
            Some(123.45)
        );
    }
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_sweep_catches_a_top_up_and_an_equal_reclaim() {
    let api = start_api(SHAPE, fast_settings()).await;
    let exporter = Exporter::start(
        &api,
        &args(&[
            "--refresh.customers-interval=1s",
            "--refresh.allocations-interval=1s",
            "--refresh.allocations-full-interval=6s",
        ]),
    )
    .await;
    exporter.wait_refreshed(Duration::from_secs(30)).await;
    two_refreshes(&exporter, "allocations").await;
    let uin = api.sim.with_data(|d| {
        let now = tencentcloud_partner_exporter::simulator::china_now();
        let uin = *d.customers.keys().nth(7).unwrap();
        // The customer's Credit ends where it started.
        d.allocate(uin, 50_000, now - chrono::Duration::seconds(1));
        d.allocate(uin, -50_000, now);
        uin
    });
    let expected = api.sim.with_data(|d| d.customers[&uin].allocations.len() as f64);
    eventually(Duration::from_secs(30), || async {
        exporter
            .scrape()
            .await
            .customer("tencentcloud_partner_customer_credit_allocations", uin)
            == Some(expected)
    })
    .await;
    let data = api.sim.with_data(|d| d.clone());
    exporter.scrape().await.assert_exact(&data);
    exporter.stop().await;
}
