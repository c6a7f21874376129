//! `--customers.thresholds-file` on the exporter against the simulator: the
//! thresholds of the customers an entry matches (first match wins), read
//! again when the file changes, and a bad file refused with the last good
//! one kept.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use support::{Exporter, Exposition, eventually, fast_settings, start_api, uin_of};
use tencentcloud_partner_exporter::simulator::Shape;

const SHAPE: Shape = Shape {
    customers: 30,
    vouchers_per_customer: 0.0,
    seed: 83,
};

const RELOAD: &str = "tencentcloud_partner_config_last_reload_successful";

fn write(path: &Path, text: &str) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

/// (customer, threshold) → value, as served.
fn thresholds(scrape: &Exposition) -> BTreeMap<(u64, String), f64> {
    scrape
        .series("tencentcloud_partner_customer_threshold")
        .into_iter()
        .map(|(series, value)| {
            let name = series.split("threshold=\"").nth(1).unwrap().split('"').next().unwrap();
            ((uin_of(series), name.to_owned()), value)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_are_served_for_the_customers_matched_reloaded_and_a_bad_file_is_refused() {
    let api = start_api(SHAPE, fast_settings()).await;
    let data = api.sim.with_data(|d| d.clone());
    // One customer by UIN, whose remark the pattern also matches: its own
    // entry comes first and wins.
    let remarks: BTreeMap<u64, String> = data.customers.values().map(|c| (c.uin, c.remark.clone())).collect();
    let matched: Vec<u64> = remarks
        .iter()
        .filter(|(_, r)| r.starts_with("customer-2"))
        .map(|(u, _)| *u)
        .collect();
    assert!(matched.len() >= 2, "{remarks:?}");
    let own = matched[0];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("thresholds.yml");
    write(
        &file,
        &format!(
            "customers:\n  - uin: {own}\n    credit_remaining_ratio: 0.5\n    credit_days_left: 30\n  \
             - remark: \"^customer-2\"\n    credit_remaining_ratio: 0.02\n"
        ),
    );
    let flag = format!("--customers.thresholds-file={}", file.display());
    let args: Vec<&str> = Exporter::FAST.iter().copied().chain([flag.as_str()]).collect();
    let exporter = Exporter::start(&api, &args).await;
    exporter.wait_ready(Duration::from_secs(30)).await;
    let mut expected = BTreeMap::from([
        ((own, "credit_remaining_ratio".to_owned()), 0.5),
        ((own, "credit_days_left".to_owned()), 30.0),
    ]);
    for uin in &matched[1..] {
        expected.insert((*uin, "credit_remaining_ratio".to_owned()), 0.02);
    }
    assert_eq!(thresholds(&exporter.scrape().await), expected);

    // Changed on disk: read again within a few seconds.
    write(&file, "customers:\n  - remark: east\n    credit_days_left: 5\n");
    let east: BTreeMap<(u64, String), f64> = remarks
        .iter()
        .filter(|(_, r)| r.contains("east"))
        .map(|(u, _)| ((*u, "credit_days_left".to_owned()), 5.0))
        .collect();
    assert!(!east.is_empty());
    eventually(Duration::from_secs(10), || async {
        thresholds(&exporter.scrape().await) == east
    })
    .await;

    // A bad file: refused, said once, the last good one kept.
    write(&file, "customers:\n  - uin: 1\n    credit_remaining_ratio: 7\n");
    eventually(Duration::from_secs(10), || async {
        exporter.scrape().await.get(RELOAD) == Some(0.0)
    })
    .await;
    assert_eq!(thresholds(&exporter.scrape().await), east);
    exporter.stop().await;
}

#[test]
fn a_bad_thresholds_file_stops_the_start_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("thresholds.yml");
    std::fs::write(&file, "customers:\n  - remark: \"(\"\n    credit_days_left: 3\n").unwrap();
    let output = std::process::Command::new(support::binary::BIN)
        .args([
            "--demo",
            &format!("--customers.thresholds-file={}", file.display()),
            "--web.listen-address=127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let said = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = said.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{said}");
    assert!(
        errors[0].contains("--customers.thresholds-file") && errors[0].contains("customers[0]"),
        "{said}"
    );
}
