//! One item costs one value, never a collector: on the exporter against the
//! simulator, a customer or an answer the API refuses alone is left out and
//! counted while the rest is published; a refusal of the whole request fails
//! the refresh and keeps what was served; a listing that grows while it is
//! walked settles; an empty customer list is read again before it is
//! believed; a history without `Total` is no count.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use support::{Exporter, Exposition, eventually, fast_settings, histories_without_total, start_api, uin_of};
use tencentcloud_partner_exporter::simulator::{Fault, Rewrite, Rule, Settings, Shape};

fn shape(customers: usize) -> Shape {
    Shape {
        customers,
        vouchers_per_customer: 2.0,
        seed: 2020,
    }
}

fn refused(scrape: &Exposition, collector: &str, code: &str) -> f64 {
    scrape
        .get(&format!(
            "tencentcloud_partner_refused_items_total{{account=\"default\",collector=\"{collector}\",code=\"{code}\"}}"
        ))
        .unwrap_or(0.0)
}

fn success(scrape: &Exposition, collector: &str) -> Option<f64> {
    scrape.get(&format!(
        "tencentcloud_partner_refresh_success{{account=\"default\",collector=\"{collector}\"}}"
    ))
}

fn customers_with(scrape: &Exposition, name: &str) -> usize {
    scrape.series(name).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_customer_who_left_costs_its_own_value_among_120_uins() {
    let api = start_api(shape(130), fast_settings()).await;
    let mut uins: Vec<u64> = api.sim.with_data(|d| d.customers.keys().copied().take(119).collect());
    let stranger = 4_000_000_001;
    uins.insert(60, stranger);
    let list: Vec<String> = uins.iter().map(u64::to_string).collect();
    let flag = format!("--customers.uins={}", list.join(","));
    let args: Vec<&str> = Exporter::FAST.iter().copied().chain([flag.as_str()]).collect();
    let exporter = Exporter::start(&api, &args).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;

    let scrape = exporter.scrape().await;
    assert_eq!(success(&scrape, "customers"), Some(1.0));
    assert_eq!(
        customers_with(&scrape, "tencentcloud_partner_customer_credit_remaining_usd"),
        119
    );
    assert_eq!(
        scrape.customer("tencentcloud_partner_customer_credit_remaining_usd", stranger),
        None
    );
    let data = api.sim.with_data(|d| d.clone());
    for uin in uins.iter().filter(|&&u| u != stranger) {
        let truth = tencentcloud_partner_exporter::simulator::dataset::usd(data.customers[uin].remaining_cents);
        assert_eq!(
            scrape.customer("tencentcloud_partner_customer_credit_remaining_usd", *uin),
            Some(truth)
        );
    }
    assert!(refused(&scrape, "customers", "UnauthorizedOperation.NotCustomerUin") >= 1.0);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_unbound_during_a_first_allocations_read_costs_its_own_history() {
    // QueryCreditAllocationHistory at half its documented limit: the first
    // read of 40 histories takes 16 s.
    let api = start_api(
        shape(40),
        Settings {
            rate_limit_scale: Some(0.5),
            record_requests: true,
            ..Default::default()
        },
    )
    .await;
    let args = [
        "--api.rate-limit-fraction=0.5",
        "--api.timeout=2s",
        "--refresh.customers-interval=1h",
        "--refresh.allocations-interval=1h",
    ];
    let exporter = Exporter::start(&api, &args).await;
    let items_read = |scrape: &Exposition| {
        scrape
            .get("tencentcloud_partner_refresh_items{account=\"default\",collector=\"allocations\",state=\"read\"}")
            .unwrap_or(0.0)
    };
    eventually(Duration::from_secs(60), || async {
        items_read(&exporter.scrape().await) >= 5.0
    })
    .await;
    // A customer whose history has not been asked for yet leaves.
    let asked: Vec<u64> = api
        .sim
        .requests("QueryCreditAllocationHistory")
        .iter()
        .filter_map(|r| r["ClientUin"].as_u64())
        .collect();
    let gone = api.sim.with_data(|d| {
        let uin = *d.customers.keys().rev().find(|u| !asked.contains(u)).unwrap();
        d.customers.remove(&uin);
        uin
    });
    eventually(Duration::from_secs(60), || async {
        success(&exporter.scrape().await, "allocations") == Some(1.0)
    })
    .await;
    let scrape = exporter.scrape().await;
    assert_eq!(
        customers_with(&scrape, "tencentcloud_partner_customer_credit_allocations"),
        39
    );
    assert_eq!(
        scrape.customer("tencentcloud_partner_customer_credit_allocations", gone),
        None
    );
    assert_eq!(refused(&scrape, "allocations", "InvalidParameterValue.InvalidUin"), 1.0);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voucher_list_that_grows_at_every_page_settles() {
    // 300 vouchers, 3 pages at the documented 20 a second, and a voucher
    // issued every 20 ms: one before each page.
    let api = start_api(
        Shape {
            customers: 100,
            vouchers_per_customer: 3.0,
            seed: 7,
        },
        Settings::default(),
    )
    .await;
    let first_total = api.sim.with_data(|d| d.vouchers.len());
    let issuing = Arc::new(AtomicBool::new(true));
    let issuer = {
        let (sim, issuing) = (api.sim.clone(), issuing.clone());
        tokio::spawn(async move {
            while issuing.load(Ordering::Relaxed) {
                sim.with_data(|d| {
                    let mut voucher = d.vouchers.values().next_back().unwrap().clone();
                    voucher.id += 1;
                    d.vouchers.insert(voucher.id, voucher);
                });
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let args = ["--api.timeout=2s", "--no-collector.allocations"];
    let exporter = Exporter::start(&api, &args).await;
    eventually(Duration::from_secs(60), || async {
        success(&exporter.scrape().await, "vouchers") == Some(1.0)
    })
    .await;
    issuing.store(false, Ordering::Relaxed);
    issuer.await.unwrap();
    let scrape = exporter.scrape().await;
    let listed = scrape.series("tencentcloud_partner_voucher_remaining_usd").len();
    assert!(
        listed >= first_total,
        "every voucher of the walk's first total, {first_total}: {listed}"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_refused_for_every_customer_fails_the_refresh_and_keeps_the_bills_served() {
    let api = start_api(shape(40), fast_settings()).await;
    let args: Vec<&str> = Exporter::FAST
        .iter()
        .copied()
        .chain([
            "--collector.bills",
            "--refresh.customers-interval=1s",
            "--refresh.bills-interval=5s",
        ])
        .collect();
    let exporter = Exporter::start(&api, &args).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    let before = exporter.scrape().await;
    let costs = before
        .series("tencentcloud_partner_customer_cost_month_to_date_usd")
        .len();
    assert_eq!(costs, 40, "every bill read in the first refresh");
    // The bills read before the vouchers were first published are read
    // again once: that is over before the month is refused.
    let bill_calls = || {
        api.sim
            .stats()
            .get("DescribeCustomerBillSummary")
            .map_or(0, |s| s.calls)
    };
    let mut last = bill_calls();
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let now = bill_calls();
        if now == last {
            break;
        }
        last = now;
    }

    api.sim
        .inject(Rule::always(Fault::Error("InvalidParameterValue.Month".into())).on("DescribeCustomerBillSummary"));
    // Twenty customers spend: their bills are due again, and every one is refused.
    let now = api.sim.china_now();
    api.sim.with_data(|d| {
        let uins: Vec<u64> = d.customers.keys().copied().take(20).collect();
        for uin in uins {
            d.spend(uin, 100, now);
        }
    });
    eventually(Duration::from_secs(60), || async {
        success(&exporter.scrape().await, "bills") == Some(0.0)
    })
    .await;
    let after = exporter.scrape().await;
    assert_eq!(
        after
            .series("tencentcloud_partner_customer_cost_month_to_date_usd")
            .len(),
        40,
        "the last bills stay served"
    );
    let refusals = refused(&after, "bills", "InvalidParameterValue.Month");
    assert!((6.0..=20.0).contains(&refusals), "stopped after a few: {refusals}");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_empty_customer_list_between_two_full_ones_removes_nothing() {
    let api = start_api(shape(50), fast_settings()).await;
    let args: Vec<&str> = Exporter::FAST
        .iter()
        .copied()
        .chain(["--refresh.customers-interval=1s"])
        .collect();
    let exporter = Exporter::start(&api, &args).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    let empty = Rewrite::new(|response| {
        response["Total"] = 0.into();
        response["Data"] = serde_json::json!([]);
    });
    api.sim
        .inject(Rule::always(Fault::Rewrite(empty)).on("QueryCustomersCredit").times(1));
    let rechecks = |scrape: &Exposition| {
        scrape
            .get("tencentcloud_partner_customer_list_rechecks_total{account=\"default\"}")
            .unwrap_or(0.0)
    };
    // Scraped all along, through the empty answer and the next refresh.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let scrape = exporter.scrape().await;
        assert_eq!(
            scrape.series("tencentcloud_partner_customer_credit_usd").len(),
            50,
            "no customer vanishes"
        );
        if rechecks(&scrape) >= 1.0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the empty list was never read");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_without_total_is_that_customers_failed_read_not_a_count() {
    let api = start_api(shape(30), fast_settings()).await;
    api.sim.inject(histories_without_total(1));
    let exporter = Exporter::start(&api, Exporter::FAST).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    let scrape = exporter.scrape().await;
    assert_eq!(success(&scrape, "allocations"), Some(1.0));
    assert_eq!(refused(&scrape, "allocations", "IncompleteAnswer"), 1.0);
    // The 29 others are exact; the one left out has no count, not 0 or 1.
    let data = api.sim.with_data(|d| d.clone());
    let counts = scrape.series("tencentcloud_partner_customer_credit_allocations");
    assert_eq!(counts.len(), 29);
    for (series, count) in counts {
        let uin = uin_of(series);
        assert_eq!(count, data.customers[&uin].allocations.len() as f64, "{series}");
    }
    exporter.stop().await;
}
