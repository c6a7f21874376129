//! A full refresh against a simulator that enforces the documented limits
//! exactly, in a sliding one-second window.

mod support;

use std::time::Duration;
use support::{Exporter, start_api};
use tencentcloud_partner_exporter::simulator::{Settings, Shape};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_refresh_at_the_documented_limits_is_rarely_throttled_and_exact() {
    let shape = Shape {
        customers: 50,
        vouchers_per_customer: 2.0,
        seed: 17,
    };
    let api = start_api(shape, Settings::default()).await;
    let exporter = Exporter::start(&api, &["--api.rate-limit-fraction=1"]).await;
    exporter.wait_refreshed(Duration::from_secs(120)).await;

    let stats = api.sim.stats();
    let (calls, throttled) = stats.values().fold((0, 0), |(c, t), s| (c + s.calls, t + s.throttled));
    for (action, s) in &stats {
        // Rarely: at most 1 %, or one call. The limiter keeps 2 % below the
        // limit, but a request leaves a few milliseconds after its slot, and
        // on a loaded machine one of a hundred can land in the previous
        // window (seen in CI: 1 of 92). A throttled call is retried.
        assert!(
            s.throttled * 100 <= s.calls || s.throttled <= 1,
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

    let data = api.sim.with_data(|d| d.clone());
    exporter.scrape().await.assert_balances_match(&data);
    exporter.stop().await;
}
