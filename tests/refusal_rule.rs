//! The one rule for what the API refuses, on the exporter against the
//! simulator: an item refused alone costs its own value, whatever the code,
//! while the same request succeeds for other items; when every item asked
//! about is refused, however few, the refresh fails and keeps what was
//! served. A voucher that has ended and whose details are refused at two
//! refreshes in a row is not asked again.

mod support;

use std::collections::HashMap;
use std::time::Duration;
use support::{Exporter, Exposition, eventually, fast_settings, start_api};
use tencentcloud_partner_exporter::simulator::{Settings, Shape};

const USAGE_RECORDS: &str = "tencentcloud_partner_voucher_usage_records";
const DETAILS: &str = "DescribeCustomerVoucherUsageDetails";

fn success(scrape: &Exposition, collector: &str) -> Option<f64> {
    scrape.get(&format!(
        "tencentcloud_partner_refresh_success{{account=\"default\",collector=\"{collector}\"}}"
    ))
}

fn refused(scrape: &Exposition, collector: &str, code: &str) -> f64 {
    scrape
        .get(&format!(
            "tencentcloud_partner_refused_items_total{{account=\"default\",collector=\"{collector}\",code=\"{code}\"}}"
        ))
        .unwrap_or(0.0)
}

fn usage_records(scrape: &Exposition, id: u64) -> Option<f64> {
    let needle = format!("voucher_id=\"{id}\"");
    scrape
        .series(USAGE_RECORDS)
        .into_iter()
        .find(|(series, _)| series.contains(&needle))
        .map(|(_, value)| value)
}

/// How many times the usage details of each voucher were asked for.
fn details_asked(api: &support::Api) -> HashMap<u64, usize> {
    let mut asked = HashMap::new();
    for body in api.sim.requests(DETAILS) {
        if let Some(id) = body["VoucherId"].as_u64() {
            *asked.entry(id).or_default() += 1;
        }
    }
    asked
}

/// Withdraws `n` vouchers in use: of one customer (`clustered`, moved to it)
/// or of `n` customers; their ids.
fn withdraw(api: &support::Api, n: usize, clustered: bool, skip: usize) -> Vec<u64> {
    api.sim.with_data(|d| {
        let mut customers = std::collections::HashSet::new();
        let ids: Vec<u64> = d
            .vouchers
            .values()
            .filter(|v| v.status == "Issued" && v.expire_time > tencentcloud_partner_exporter::simulator::china_now())
            .filter(|v| customers.insert(v.customer_uin))
            .skip(skip)
            .take(n)
            .map(|v| v.id)
            .collect();
        let uin = d.vouchers[&ids[0]].customer_uin;
        for id in &ids {
            let voucher = d.vouchers.get_mut(id).unwrap();
            voucher.status = "Invalidated".into();
            if clustered {
                voucher.customer_uin = uin;
            }
        }
        ids
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawn_vouchers_whose_details_are_refused_cost_their_own_values_and_are_asked_twice() {
    let settings = Settings {
        record_requests: true,
        refuse_withdrawn_details: true,
        ..fast_settings()
    };
    let api = start_api(
        Shape {
            customers: 120,
            vouchers_per_customer: 3.0,
            seed: 3131,
        },
        settings,
    )
    .await;
    // At a first start: six withdrawn vouchers of one customer, first in
    // the order the details are read, and six spread over six customers,
    // beside those the dataset withdrew. Each is asked about twice (one
    // refusal may pass), never again.
    let mut withdrawn = withdraw(&api, 6, true, 0);
    withdrawn.extend(withdraw(&api, 6, false, 10));
    let args: Vec<&str> = Exporter::FAST
        .iter()
        .copied()
        .chain(["--refresh.vouchers-interval=1s", "--no-collector.bills"])
        .collect();
    let exporter = Exporter::start(&api, &args).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    let scrape = exporter.scrape().await;
    assert_eq!(success(&scrape, "vouchers"), Some(1.0));
    let data = api.sim.with_data(|d| d.clone());
    let invalidated: Vec<u64> = data
        .vouchers
        .values()
        .filter(|v| v.status == "Invalidated")
        .map(|v| v.id)
        .collect();
    assert!(invalidated.len() > withdrawn.len());
    for voucher in data.vouchers.values() {
        let exported = usage_records(&scrape, voucher.id);
        if voucher.status == "Invalidated" {
            assert_eq!(exported, None, "withdrawn voucher {}", voucher.id);
        } else if exported.is_some() {
            assert_eq!(exported, Some(voucher.usage_records as f64), "voucher {}", voucher.id);
        }
    }
    let counted = refused(&scrape, "vouchers", "FailedOperation");
    assert!(counted >= withdrawn.len() as f64, "{counted}");

    // In steady state: six more withdrawn, of six customers (a voucher does
    // not move between customers once issued). Each is asked about once,
    // keeps the usage count read while it was in use, and the refreshes go on.
    let before = details_asked(&api);
    let later = withdraw(&api, 6, false, 30);
    eventually(Duration::from_secs(30), || async {
        let asked = details_asked(&api);
        later.iter().all(|id| asked.get(id) > before.get(id))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let scrape = exporter.scrape().await;
    assert_eq!(success(&scrape, "vouchers"), Some(1.0));
    let asked = details_asked(&api);
    for id in &withdrawn {
        assert_eq!(asked.get(id), Some(&2), "the details of withdrawn voucher {id}");
    }
    for id in &later {
        let since = asked.get(id).unwrap_or(&0) - before.get(id).unwrap_or(&0);
        assert_eq!(since, 1, "the details of voucher {id} since it was withdrawn");
        let truth = data.vouchers[id].usage_records as f64;
        assert_eq!(usage_records(&scrape, *id), Some(truth), "voucher {id}");
    }
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_customers_who_all_left_fail_the_refresh_and_keep_what_was_served() {
    let api = start_api(
        Shape {
            customers: 20,
            vouchers_per_customer: 1.0,
            seed: 77,
        },
        fast_settings(),
    )
    .await;
    let three: Vec<u64> = api.sim.with_data(|d| d.customers.keys().copied().take(3).collect());
    let list: Vec<String> = three.iter().map(u64::to_string).collect();
    let flag = format!("--customers.uins={}", list.join(","));
    let args: Vec<&str> = Exporter::FAST
        .iter()
        .copied()
        .chain([flag.as_str(), "--refresh.customers-interval=1s"])
        .collect();
    let exporter = Exporter::start(&api, &args).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    let credit = "tencentcloud_partner_customer_credit_remaining_usd";
    assert_eq!(exporter.scrape().await.series(credit).len(), 3);

    api.sim
        .with_data(|d| three.iter().for_each(|uin| drop(d.customers.remove(uin))));
    eventually(Duration::from_secs(30), || async {
        success(&exporter.scrape().await, "customers") == Some(0.0)
    })
    .await;
    let scrape = exporter.scrape().await;
    assert_eq!(scrape.series(credit).len(), 3, "what was served stays");
    assert!(refused(&scrape, "customers", "UnauthorizedOperation.NotCustomerUin") >= 3.0);
    exporter.stop().await;
}
