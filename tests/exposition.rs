//! The exported values, compared exactly with the simulated partner's data,
//! for a partner whose customer list spans three pages.

mod support;

use std::time::Duration;
use support::{Exporter, china_unix, fast_settings, start_api};
use tencentcloud_partner_exporter::simulator::{Settings, Shape, dataset::usd};

const SHAPE: Shape = Shape {
    customers: 250,
    vouchers_per_customer: 1.0,
    seed: 11,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_every_value_of_a_multi_page_partner_exactly() {
    let api = start_api(SHAPE, fast_settings()).await;
    let exporter = Exporter::start(&api, Exporter::FAST).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    let scrape = exporter.scrape().await;
    let data = api.sim.with_data(|d| d.clone());

    scrape.assert_exact(&data);

    for collector in ["partner", "customers", "allocations", "vouchers"] {
        assert_eq!(
            scrape.get(&format!(
                "tencentcloud_partner_refresh_success{{account=\"default\",collector=\"{collector}\"}}"
            )),
            Some(1.0)
        );
    }
    // Three pages of 100 customers, read once: the walk saw a stable listing.
    let stats = api.sim.stats();
    assert_eq!(stats["QueryCustomersCredit"].calls, 3);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_the_newest_allocation_whatever_the_record_order_in_two_calls_at_most() {
    for oldest_first in [true, false] {
        let settings = Settings {
            allocations_oldest_first: oldest_first,
            ..fast_settings()
        };
        let shape = Shape {
            customers: 120,
            vouchers_per_customer: 0.0,
            seed: 5,
        };
        let api = start_api(shape, settings).await;
        let exporter = Exporter::start(&api, &[Exporter::FAST[0], Exporter::FAST[1], "--no-collector.vouchers"]).await;
        exporter.wait_refreshed(Duration::from_secs(60)).await;
        let scrape = exporter.scrape().await;
        let data = api.sim.with_data(|d| d.clone());
        assert!(data.customers.values().any(|c| c.allocations.len() > 100));
        for c in data.customers.values() {
            let newest = c.allocations.iter().max_by_key(|a| a.time).map(|a| china_unix(&a.time));
            assert_eq!(
                scrape.customer(
                    "tencentcloud_partner_customer_credit_last_allocation_timestamp_seconds",
                    c.uin
                ),
                newest,
                "customer {} with {} allocations, oldest first: {oldest_first}",
                c.uin,
                c.allocations.len()
            );
        }
        let calls = api.sim.stats()["QueryCreditAllocationHistory"].calls;
        assert!(calls <= 2 * 120, "{calls} calls for 120 customers");
        exporter.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uin_list_mode_reads_only_the_listed_customers_in_batches_of_fifty() {
    let shape = Shape {
        customers: 120,
        vouchers_per_customer: 1.0,
        seed: 9,
    };
    let api = start_api(shape, fast_settings()).await;
    let (uins, data) = api
        .sim
        .with_data(|d| (d.customers.keys().copied().take(60).collect::<Vec<_>>(), d.clone()));
    let list = format!(
        "--customers.uins={}",
        uins.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
    );
    let exporter = Exporter::start(&api, &[Exporter::FAST[0], Exporter::FAST[1], list.as_str()]).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    let scrape = exporter.scrape().await;
    assert_eq!(
        scrape.get("tencentcloud_partner_customers{account=\"default\"}"),
        Some(60.0)
    );
    assert_eq!(scrape.series("tencentcloud_partner_customer_credit_usd").len(), 60);
    for uin in &uins {
        let c = &data.customers[uin];
        assert_eq!(
            scrape.customer("tencentcloud_partner_customer_credit_remaining_usd", *uin),
            Some(usd(c.remaining_cents))
        );
    }
    let stats = api.sim.stats();
    assert_eq!(stats["QueryCreditByUinList"].calls, 2, "60 UINs make two batches");
    assert!(!stats.contains_key("QueryCustomersCredit"));
    let listed: std::collections::HashSet<u64> = uins.iter().copied().collect();
    for (series, _) in scrape.series("tencentcloud_partner_voucher_amount_usd") {
        let uin = support::uin_of(series);
        assert!(
            listed.contains(&uin),
            "voucher of an unlisted customer exported: {series}"
        );
    }
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remark_of_100_kb_is_cut_to_1024_bytes_with_a_marker_and_counted() {
    let api = start_api(SHAPE, fast_settings()).await;
    let uin = api.sim.with_data(|d| {
        let customer = d.customers.values_mut().next().unwrap();
        customer.remark = "très long ".repeat(10_000);
        customer.uin
    });
    let exporter = Exporter::start(&api, Exporter::FAST).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    let text = exporter.scrape_text().await;
    let line = text
        .lines()
        .find(|l| l.starts_with("tencentcloud_partner_customer_info{") && l.contains(&format!("\"{uin}\"")))
        .expect("the customer is exported");
    let remark = line.split("remark=\"").nth(1).unwrap().split('"').next().unwrap();
    assert!(remark.len() <= 1024, "{} bytes", remark.len());
    assert!(remark.ends_with("…[cut]"), "{remark}");
    assert!(remark.starts_with("très long très long"));
    let cut = text
        .lines()
        .find_map(|l| l.strip_prefix("tencentcloud_partner_label_values_cut_total "))
        .and_then(|v| v.parse::<f64>().ok());
    assert!(cut.is_some_and(|n| n >= 1.0), "counted: {cut:?}");
    exporter.stop().await;
}
