//! No count from outside is a bound: on the exporter against the simulator,
//! a customer list whose `Total` lies is read no further than its pages
//! justify and fails that refresh, counted; a row listed twice is dropped
//! and counted, and the list is published. A refresh that runs past its
//! deadline publishes what it read and fails.

mod support;

use serde_json::Value;
use std::time::Duration;
use support::{Exporter, Exposition, eventually, fast_settings, start_api};
use tencentcloud_partner_exporter::simulator::{Fault, Rewrite, Rule, Settings, Shape};

const LISTING: &str = "QueryCustomersCredit";
const CREDIT: &str = "tencentcloud_partner_customer_credit_remaining_usd";

fn anomalies(scrape: &Exposition, anomaly: &str) -> f64 {
    scrape
        .get(&format!(
            "tencentcloud_partner_listing_anomalies_total{{account=\"default\",collector=\"customers\",anomaly=\"{anomaly}\"}}"
        ))
        .unwrap_or(0.0)
}

fn success(scrape: &Exposition) -> Option<f64> {
    scrape.get("tencentcloud_partner_refresh_success{account=\"default\",collector=\"customers\"}")
}

async fn exporter_of_250_customers() -> (support::Api, Exporter) {
    let api = start_api(
        Shape {
            customers: 250,
            vouchers_per_customer: 1.0,
            seed: 909,
        },
        Settings {
            record_requests: true,
            ..fast_settings()
        },
    )
    .await;
    let args: Vec<&str> = Exporter::FAST
        .iter()
        .copied()
        .chain(["--refresh.customers-interval=1s"])
        .collect();
    let exporter = Exporter::start(&api, &args).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    (api, exporter)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_total_of_a_billion_costs_a_few_pages_and_fails_the_refresh_while_it_lasts() {
    let (api, exporter) = exporter_of_250_customers().await;
    let before = api.sim.requests(LISTING).len();
    api.sim.inject(
        Rule::always(Fault::Rewrite(Rewrite::new(|response: &mut Value| {
            response["Total"] = Value::from(1_000_000_000_u64)
        })))
        .on(LISTING)
        .times(1),
    );
    let refreshed = |scrape: &Exposition| {
        scrape.get(
            "tencentcloud_partner_refresh_last_success_timestamp_seconds{account=\"default\",collector=\"customers\"}",
        )
    };
    let last = refreshed(&exporter.scrape().await);
    // One answer's lie costs a walk read again (its Total fell under the
    // first page's), not the ten million pages it claims.
    eventually(Duration::from_secs(20), || async {
        refreshed(&exporter.scrape().await) > last.map(|t| t + 1.5)
    })
    .await;
    let scrape = exporter.scrape().await;
    assert_eq!(success(&scrape), Some(1.0));
    assert_eq!(scrape.series(CREDIT).len(), 250);
    let during = api.sim.requests(LISTING).len() - before;
    assert!(during < 20, "{during} calls");

    // Lying at every answer: every refresh fails, within a few calls each.
    api.sim.inject(
        Rule::always(Fault::Rewrite(Rewrite::new(|response: &mut Value| {
            response["Total"] = Value::from(1_000_000_000_u64)
        })))
        .on(LISTING),
    );
    eventually(Duration::from_secs(20), || async {
        success(&exporter.scrape().await) == Some(0.0)
    })
    .await;
    assert!(anomalies(&exporter.scrape().await, "total_unreachable") >= 1.0);
    let before = api.sim.requests(LISTING).len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let calls = api.sim.requests(LISTING).len() - before;
    assert!(calls < 30, "{calls} calls in 3 s of one-second refreshes");
    assert_eq!(exporter.scrape().await.series(CREDIT).len(), 250);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_listed_twice_is_dropped_and_counted_and_the_list_published() {
    let (api, exporter) = exporter_of_250_customers().await;
    // The second page repeats the first row of the first in place of one of its own.
    api.sim.inject(
        Rule::always(Fault::Rewrite(Rewrite::new(|response: &mut Value| {
            if let Some(rows) = response["Data"].as_array_mut()
                && rows.len() == 100
            {
                rows[99] = rows[0].clone();
            }
        })))
        .on(LISTING)
        .after(1),
    );
    eventually(Duration::from_secs(20), || async {
        anomalies(&exporter.scrape().await, "duplicate_rows") >= 1.0
    })
    .await;
    let scrape = exporter.scrape().await;
    assert_eq!(success(&scrape), Some(1.0));
    let listed = scrape.series(CREDIT).len();
    assert!((247..=250).contains(&listed), "{listed}");
    assert!(anomalies(&scrape, "short_of_total") >= 1.0);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_past_its_deadline_publishes_what_it_read_and_fails() {
    // 80 bills, 2 calls at once, each answered after 3 s: 2 minutes, where
    // the deadline is twice the 30 s interval and
    // twice their 4 s at the pace of the limit.
    let api = start_api(
        Shape {
            customers: 80,
            vouchers_per_customer: 0.5,
            seed: 8080,
        },
        fast_settings(),
    )
    .await;
    api.sim
        .inject(Rule::always(Fault::Latency(Duration::from_secs(3))).on("DescribeCustomerBillSummary"));
    let args = [
        Exporter::FAST[0],
        "--api.timeout=5s",
        "--collector.bills",
        "--refresh.bills-interval=30s",
    ];
    let exporter = Exporter::start(&api, &args).await;
    let bills_success = |scrape: &Exposition| {
        scrape.get("tencentcloud_partner_refresh_success{account=\"default\",collector=\"bills\"}")
    };
    eventually(Duration::from_secs(90), || async {
        bills_success(&exporter.scrape().await) == Some(0.0)
    })
    .await;
    let scrape = exporter.scrape().await;
    let read = scrape
        .series("tencentcloud_partner_customer_cost_month_to_date_usd")
        .len();
    assert!((20..80).contains(&read), "what it read is published: {read} of 80");
    let landing = reqwest::get(exporter.url("/")).await.unwrap().text().await.unwrap();
    assert!(landing.contains("deadline"), "the landing page says why");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_whose_refreshes_run_out_of_time_is_unhealthy_until_one_ends_in_time() {
    // 1,000 customers, a page every 25 s, four at once: the walk needs 75 s
    // and its refresh has 60. Page reads are no progress: three intervals
    // (6 s) after the start, and through the refresh that follows the one
    // that ran out of time, `/-/healthy` says the collector is stuck.
    let api = start_api(
        Shape {
            customers: 1_000,
            vouchers_per_customer: 0.1,
            seed: 6060,
        },
        fast_settings(),
    )
    .await;
    api.sim
        .inject(Rule::always(Fault::Latency(Duration::from_secs(25))).on(LISTING));
    let args = [
        Exporter::FAST[0],
        "--api.timeout=30s",
        "--refresh.customers-interval=2s",
    ];
    let exporter = Exporter::start(&api, &args).await;
    let healthy = || async {
        let response = reqwest::get(exporter.url("/-/healthy")).await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    assert_eq!(healthy().await.0, 200, "healthy while the first pages are under way");
    eventually(Duration::from_secs(20), || async { healthy().await.0 == 503 }).await;
    let (_, body) = healthy().await;
    assert!(body.contains("customers"), "{body}");
    eventually(Duration::from_secs(80), || async {
        success(&exporter.scrape().await) == Some(0.0)
    })
    .await;
    let landing = reqwest::get(exporter.url("/")).await.unwrap().text().await.unwrap();
    assert!(landing.contains("deadline"), "the landing page says why");
    // The next refresh starts at once and makes no more progress.
    for _ in 0..8 {
        assert_eq!(healthy().await.0, 503, "a new refresh is no progress");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // Once the pages come quickly, the next refresh ends in time.
    api.sim.clear_faults();
    eventually(Duration::from_secs(120), || async { healthy().await.0 == 200 }).await;
    exporter.stop().await;
}
