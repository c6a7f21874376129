//! A full refresh against a simulator that enforces the documented limits
//! exactly, in a sliding one-second window.

mod support;

use std::time::Duration;
use support::{Exporter, start_api};
use tencentcloud_partner_exporter::simulator::{Settings, Shape, dataset::usd};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_refresh_at_the_documented_limits_is_rarely_throttled_and_exact() {
    let shape = Shape {
        customers: 50,
        vouchers_per_customer: 2.0,
        seed: 17,
    };
    let api = start_api(shape, Settings::default()).await;
    let exporter = Exporter::start(&api, &["--api.rate-limit-fraction=1"]).await;
    exporter.wait_ready(Duration::from_secs(120)).await;

    let stats = api.sim.stats();
    let (calls, throttled) = stats.values().fold((0, 0), |(c, t), s| (c + s.calls, t + s.throttled));
    for (action, s) in &stats {
        assert!(
            s.throttled * 100 <= s.calls,
            "{action}: {} of {} calls throttled",
            s.throttled,
            s.calls
        );
    }
    assert!(
        stats["DescribeCustomerVoucherUsageDetails"].calls >= 50,
        "vouchers were read one by one"
    );
    eprintln!("{calls} calls, {throttled} throttled");

    let scrape = exporter.scrape().await;
    let data = api.sim.with_data(|d| d.clone());
    for c in data.customers.values() {
        assert_eq!(
            scrape.customer("tencentcloud_partner_customer_credit_remaining_usd", c.uin),
            Some(usd(c.remaining_cents))
        );
        assert_eq!(
            scrape.customer("tencentcloud_partner_customer_credit_allocations", c.uin),
            Some(c.allocations.len() as f64)
        );
    }
    for v in data.vouchers.values() {
        assert_eq!(
            scrape.voucher("tencentcloud_partner_voucher_remaining_usd", v.customer_uin, v.id),
            Some(usd(v.remaining_cents))
        );
    }
    exporter.stop().await;
}
