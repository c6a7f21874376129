//! `promtool check metrics` on a scrape of the exporter finds nothing to say.
//! promtool comes from the Debian package `prometheus`; `scripts/test`
//! installs it. Without it this test fails rather than skips.

mod support;

use std::time::Duration;
use support::{Exporter, fast_settings, promtool_check, start_api};
use tencentcloud_partner_exporter::simulator::Shape;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_finds_nothing_to_complain_about() {
    let shape = Shape {
        customers: 120,
        vouchers_per_customer: 1.0,
        seed: 4,
    };
    let api = start_api(shape, fast_settings()).await;
    let exporter = Exporter::start(&api, &[Exporter::FAST[0], Exporter::FAST[1], "--customer.export-names"]).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    let scrape = exporter.scrape().await;
    assert!(scrape.series("tencentcloud_partner_voucher_info").len() > 50);
    let (ok, findings) = promtool_check(&scrape.text);
    assert!(ok && findings.trim().is_empty(), "promtool check metrics:\n{findings}");
    exporter.stop().await;
}

#[test]
fn promtool_is_not_silent_about_a_bad_exposition() {
    // Proves the check above can fail: a counter without _total and no HELP.
    let (ok, findings) = promtool_check("# TYPE bad_counter counter\nbad_counter 1\n");
    assert!(!ok || !findings.trim().is_empty());
}
