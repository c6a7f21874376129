//! What a newcomer sees in the first minute, on the real binary: the log
//! gives the address to open, says when each collector's first refresh
//! completes and when the exporter is ready; with the endpoint unreachable,
//! the first failed call is logged at once, naming the endpoint and the
//! reason, and the landing page shows it while the call is retried.

mod support;

use std::time::Duration;
use support::binary::{Binary, free_port};
use support::{SECRET_ID, SECRET_KEY, fast_settings, start_api};
use tencentcloud_partner_exporter::simulator::Shape;

const KEY: &[(&str, &str)] = &[
    ("TENCENTCLOUD_SECRET_ID", SECRET_ID),
    ("TENCENTCLOUD_SECRET_KEY", SECRET_KEY),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_says_where_to_look_when_each_first_refresh_completes_and_when_ready() {
    let shape = Shape {
        customers: 30,
        vouchers_per_customer: 1.0,
        seed: 5,
    };
    let api = start_api(shape, fast_settings()).await;
    let exporter = Binary::start_with(
        &[
            &format!("--api.endpoint={}", api.endpoint),
            "--api.rate-limit-fraction=20",
        ],
        KEY,
    );
    exporter.wait_for_log("message=\"ready:", Duration::from_secs(60));
    let log = exporter.log();
    let port = exporter.addr.port();
    assert!(
        log.contains(&format!(
            "listening: open http://127.0.0.1:{port}/ (metrics at /metrics)"
        )),
        "{log}"
    );
    for collector in [
        "partner",
        "customers",
        "allocations",
        "vouchers",
        "pool",
        "status",
        "subagents",
        "spend",
    ] {
        let line = log
            .lines()
            .find(|l| l.contains("first refresh complete") && l.contains(&format!("collector={collector} ")))
            .unwrap_or_else(|| panic!("no line says {collector}'s first refresh completed:\n{log}"));
        assert!(line.contains("took="), "{line}");
    }
    let ready = log.lines().position(|l| l.contains("message=\"ready:")).unwrap();
    assert_eq!(
        log.lines().filter(|l| l.contains("message=\"ready:")).count(),
        1,
        "once"
    );
    let listening = log.lines().position(|l| l.contains("listening: open")).unwrap();
    assert!(listening < ready, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_named_at_once_in_the_log_and_on_the_page() {
    // Nothing listens there: every call is refused.
    let endpoint = format!("127.0.0.1:{}", free_port());
    let exporter = Binary::start_with(&[&format!("--api.endpoint=http://{endpoint}")], KEY);
    exporter.wait_for_log("API call failed", Duration::from_secs(10));
    let log = exporter.log();
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("API call failed")).collect();
    let partner = failed
        .iter()
        .find(|l| l.contains("collector=partner "))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(partner.contains("level=warn"), "{partner}");
    assert!(partner.contains(&format!("endpoint={endpoint}")), "{partner}");
    assert!(partner.to_lowercase().contains("connection refused"), "{partner}");
    let page = reqwest::get(exporter.url("http", "/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let row = page
        .split("<tr>")
        .find(|r| r.contains("<td>partner</td>"))
        .expect("a row for partner");
    assert!(
        row.to_lowercase().contains("connection refused"),
        "the page shows why: {row}"
    );
    // Retried, not logged again for each attempt.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = exporter.log();
    let partner_lines = again
        .lines()
        .filter(|l| l.contains("API call failed") && l.contains("collector=partner "))
        .count();
    assert_eq!(partner_lines, 1, "{again}");
    let healthy = reqwest::get(exporter.url("http", "/-/healthy")).await.unwrap();
    assert_eq!(healthy.status(), 200, "alive: a restart would not bring an answer");
}
