//! A host clock 10 minutes off: Tencent answers AuthFailure.SignatureExpire;
//! the exporter learns the API's time from the answer's Date header and keeps
//! working, with the rejection counted.

mod support;

use std::time::Duration;
use support::{Exporter, fast_settings, start_api};
use tencentcloud_partner_exporter::simulator::{Settings, Shape};

const SHAPE: Shape = Shape {
    customers: 40,
    vouchers_per_customer: 1.0,
    seed: 19,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_ten_minutes_off_either_way_is_corrected_from_the_date_header() {
    for offset in [600, -600] {
        let settings = Settings {
            clock_offset_secs: offset,
            ..fast_settings()
        };
        let api = start_api(SHAPE, settings).await;
        let exporter = Exporter::start(&api, Exporter::FAST).await;
        exporter.wait_refreshed(Duration::from_secs(30)).await;
        let scrape = exporter.scrape().await;
        let data = api.sim.with_data(|d| d.clone());
        scrape.assert_balances_match(&data);
        let expired: f64 = scrape
            .series("tencentcloud_partner_api_requests_total")
            .iter()
            .filter(|(k, _)| k.contains("code=\"AuthFailure.SignatureExpire\""))
            .map(|(_, v)| v)
            .sum();
        assert!(expired >= 1.0, "clock {offset:+} s: the first rejection is counted");
        assert!(
            expired <= 8.0,
            "clock {offset:+} s: {expired} rejections; the correction should stop them"
        );
        exporter.stop().await;
    }
}
