//! Values the API cannot mean are never exported: on the exporter against
//! the simulator, a negative balance, 1e308 USD and a time string in another
//! format are decode errors of their fields, counted and left out, and a
//! voucher's details do not override its listing with such a value. A time
//! in RFC 3339 is read. An allocation history whose `Total` its pages do not
//! hold is no count.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::{Exporter, Exposition, eventually, fast_settings, start_api};
use tencentcloud_partner_exporter::simulator::{Fault, Rewrite, Rule, Shape};

fn decode_errors(scrape: &Exposition, action: &str, field: &str) -> f64 {
    scrape
        .get(&format!(
            "tencentcloud_partner_api_decode_errors_total{{account=\"default\",action=\"{action}\",field=\"{field}\"}}"
        ))
        .unwrap_or(0.0)
}

fn voucher_remaining(scrape: &Exposition, id: u64) -> Option<f64> {
    let needle = format!("voucher_id=\"{id}\"");
    scrape
        .series("tencentcloud_partner_voucher_remaining_usd")
        .into_iter()
        .find(|(series, _)| series.contains(&needle))
        .map(|(_, value)| value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_the_api_cannot_mean_and_unreadable_times_are_counted_never_exported() {
    let api = start_api(
        Shape {
            customers: 12,
            vouchers_per_customer: 2.0,
            seed: 1212,
        },
        fast_settings(),
    )
    .await;
    let (uins, voucher) = api.sim.with_data(|d| {
        let uins: Vec<u64> = d.customers.keys().copied().take(4).collect();
        let voucher = d.vouchers.values().find(|v| v.status == "Issued").unwrap().clone();
        (uins, voucher)
    });
    let [negative, huge, rfc3339, epoch] = [uins[0], uins[1], uins[2], uins[3]];
    api.sim.inject(
        Rule::always(Fault::Rewrite(Rewrite::new(move |response: &mut Value| {
            for row in response["Data"].as_array_mut().into_iter().flatten() {
                let uin = row["ClientUin"].as_u64();
                if uin == Some(negative) {
                    row["RemainingCredit"] = json!(-5.0);
                } else if uin == Some(huge) {
                    row["RemainingCredit"] = json!(1e308);
                } else if uin == Some(rfc3339) {
                    row["RecentExpiry"] = json!("2030-01-02T03:04:05+08:00");
                } else if uin == Some(epoch) {
                    row["RecentExpiry"] = json!("1893524645");
                }
            }
        })))
        .on("QueryCustomersCredit"),
    );
    let id = voucher.id;
    api.sim.inject(
        Rule::always(Fault::Rewrite(Rewrite::new(move |response: &mut Value| {
            if response["VoucherId"].as_u64() == Some(id) {
                response["RemainAmount"] = json!(-99.0);
            }
        })))
        .on("DescribeCustomerVoucherUsageDetails"),
    );
    let exporter = Exporter::start(&api, Exporter::FAST).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    let action = "QueryCustomersCredit";
    eventually(Duration::from_secs(20), || async {
        decode_errors(
            &exporter.scrape().await,
            "DescribeCustomerVoucherUsageDetails",
            "RemainAmount",
        ) >= 1.0
    })
    .await;
    let scrape = exporter.scrape().await;
    let remaining = "tencentcloud_partner_customer_credit_remaining_usd";
    assert_eq!(scrape.customer(remaining, negative), None, "a negative balance");
    assert_eq!(scrape.customer(remaining, huge), None, "1e308 USD");
    assert!(decode_errors(&scrape, action, "RemainingCredit") >= 2.0);
    let expiry = "tencentcloud_partner_customer_credit_expiry_timestamp_seconds";
    assert_eq!(scrape.customer(expiry, rfc3339), Some(1_893_524_645.0));
    assert_eq!(scrape.customer(expiry, epoch), None);
    assert!(decode_errors(&scrape, action, "RecentExpiry") >= 1.0);
    // The listing's balance stands where the details' cannot be meant.
    let listed = tencentcloud_partner_exporter::simulator::dataset::usd(voucher.remaining_cents);
    assert_eq!(voucher_remaining(&scrape, id), Some(listed));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allocation_history_whose_total_its_pages_do_not_hold_is_no_count() {
    let api = start_api(
        Shape {
            customers: 12,
            vouchers_per_customer: 1.0,
            seed: 1313,
        },
        fast_settings(),
    )
    .await;
    let liar = api.sim.with_data(|d| *d.customers.keys().next().unwrap());
    // Every answer about one customer's history claims 10^15 records; its
    // pages hold what they hold.
    api.sim.inject(
        Rule::always(Fault::Rewrite(Rewrite::new(|response: &mut Value| {
            response["Total"] = json!(1_000_000_000_000_000_u64);
        })))
        .on("QueryCreditAllocationHistory")
        .asking_for("ClientUin", liar),
    );
    let exporter = Exporter::start(&api, Exporter::FAST).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    let scrape = exporter.scrape().await;
    let allocations = "tencentcloud_partner_customer_credit_allocations";
    assert_eq!(scrape.customer(allocations, liar), None, "10^15 is no count");
    assert_eq!(scrape.series(allocations).len(), 11, "the others are counted");
    let refused = scrape.get(
        "tencentcloud_partner_refused_items_total{account=\"default\",collector=\"allocations\",code=\"IncompleteAnswer\"}",
    );
    assert!(refused.is_some_and(|n| n >= 1.0), "{refused:?}");
    exporter.stop().await;
}
