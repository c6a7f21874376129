//! Several partner accounts (`--config.file`): each account's series carry
//! its name and match its own API's truth, one account failing leaves the
//! other served, and reloads add, change and remove accounts all or nothing.

mod support;

use simulator::Shape;
use std::path::Path;
use std::time::Duration;
use support::{Api, Exporter, Exposition, SECRET_ID, SECRET_KEY, eventually, fast_settings, start_api};
use tencentcloud_partner_exporter::simulator;

fn shape(seed: u64) -> Shape {
    Shape {
        customers: 30,
        vouchers_per_customer: 1.0,
        seed,
    }
}

/// An account entry of the accounts file, reading its key from files in `dir`.
fn account(dir: &Path, name: &str, api: &Api, secret_key: &str) -> String {
    std::fs::write(dir.join(format!("{name}.id")), SECRET_ID).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), secret_key).unwrap();
    format!(
        "  - name: {name}\n    secret_id_file: {name}.id\n    secret_key_file: {name}.key\n    endpoint: {}\n",
        api.endpoint
    )
}

fn write_accounts(dir: &Path, entries: &[String]) -> String {
    let path = dir.join("accounts.yml");
    std::fs::write(&path, format!("accounts:\n{}", entries.concat())).unwrap();
    format!("--config.file={}", path.display())
}

/// How many collectors run without flags (every one but `bills`).
fn enabled_by_default() -> usize {
    use tencentcloud_partner_exporter::{refresh, snapshot::Kind};
    Kind::ALL
        .into_iter()
        .filter(|kind| refresh::defaults(*kind).enabled)
        .count()
}

async fn start(api: &Api, config: &str, extra: &[&str]) -> Exporter {
    let mut args = vec![config, "--api.rate-limit-fraction=20", "--api.timeout=2s"];
    args.extend_from_slice(extra);
    Exporter::start_with_env(api, &args, |_| None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_are_served_side_by_side_each_with_its_own_values() {
    let (sg, hk) = (
        start_api(shape(1), fast_settings()).await,
        start_api(shape(2), fast_settings()).await,
    );
    let dir = tempfile::tempdir().unwrap();
    let config = write_accounts(
        dir.path(),
        &[
            account(dir.path(), "reseller-sg", &sg, SECRET_KEY),
            account(dir.path(), "distributor-hk", &hk, SECRET_KEY),
        ],
    );
    let exporter = start(&sg, &config, &[]).await;
    let ready = "tencentcloud_partner_refresh_success";
    eventually(Duration::from_secs(60), || async {
        let scrape = exporter.scrape().await;
        scrape.series(ready).len() == 2 * enabled_by_default() && scrape.series(ready).iter().all(|(_, v)| *v == 1.0)
    })
    .await;
    let scrape = exporter.scrape().await;
    scrape.assert_balances_match_in("reseller-sg", &sg.sim.with_data(|d| d.clone()));
    scrape.assert_balances_match_in("distributor-hk", &hk.sim.with_data(|d| d.clone()));
    for series in scrape.samples.keys() {
        let own = series.contains("build_info")
            || series.contains("_config_")
            || series.contains("snapshot_write")
            || series.contains("label_values_cut")
            || series.contains("_web_certificate_")
            || series.starts_with("process_");
        assert!(own || series.contains("account=\""), "{series} has no account label");
    }
    // Each family is described once, with the samples of both accounts under it.
    let text = &scrape.text;
    let helps: Vec<&str> = text.lines().filter(|l| l.starts_with("# HELP ")).collect();
    let unique: std::collections::BTreeSet<&str> = helps.iter().copied().collect();
    assert_eq!(helps.len(), unique.len(), "a family is described twice");
    let (clean, findings) = support::promtool_check(text);
    assert!(clean, "promtool check metrics: {findings}");
    // Each account spends its own API's quota only.
    assert!(sg.sim.stats().values().map(|s| s.calls).sum::<u64>() > 0);
    assert!(hk.sim.stats().values().map(|s| s.calls).sum::<u64>() > 0);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_with_a_bad_key_does_not_disturb_the_other() {
    let (good, bad) = (
        start_api(shape(3), fast_settings()).await,
        start_api(shape(4), fast_settings()).await,
    );
    let dir = tempfile::tempdir().unwrap();
    let config = write_accounts(
        dir.path(),
        &[
            account(dir.path(), "good", &good, SECRET_KEY),
            account(dir.path(), "revoked", &bad, "not-the-key"),
        ],
    );
    let exporter = start(&good, &config, &[]).await;
    exporter.wait_ready(Duration::from_secs(60)).await;
    let failed = "tencentcloud_partner_refresh_success{account=\"revoked\",collector=\"partner\"}";
    eventually(Duration::from_secs(30), || async {
        exporter.scrape().await.get(failed) == Some(0.0)
    })
    .await;
    let scrape = exporter.scrape().await;
    scrape.assert_balances_match_in("good", &good.sim.with_data(|d| d.clone()));
    assert!(
        scrape
            .series("tencentcloud_partner_customer_credit_usd")
            .iter()
            .all(|(s, _)| s.contains("account=\"good\""))
    );
    let auth_failures: f64 = scrape
        .series("tencentcloud_partner_api_requests_total")
        .iter()
        .filter(|(s, _)| s.contains("account=\"revoked\"") && s.contains("AuthFailure"))
        .map(|(_, v)| v)
        .sum();
    assert!(
        auth_failures > 0.0,
        "the revoked account's failures are counted under its name"
    );
    let page = reqwest::get(exporter.url("/")).await.unwrap().text().await.unwrap();
    assert!(
        page.contains("revoked") && page.contains("good"),
        "the landing page lists both accounts"
    );
    exporter.stop().await;
}

async fn reload(exporter: &Exporter) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(exporter.url("/-/reload"))
        .send()
        .await
        .unwrap()
        .status()
}

fn accounts_of(scrape: &Exposition) -> std::collections::BTreeSet<String> {
    scrape
        .series("tencentcloud_partner_customers")
        .iter()
        .filter_map(|(s, _)| s.split("account=\"").nth(1)?.split('"').next().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_add_and_remove_accounts_and_a_bad_file_keeps_them() {
    let (one, two) = (
        start_api(shape(5), fast_settings()).await,
        start_api(shape(6), fast_settings()).await,
    );
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (
        account(dir.path(), "first", &one, SECRET_KEY),
        account(dir.path(), "second", &two, SECRET_KEY),
    );
    let config = write_accounts(dir.path(), std::slice::from_ref(&first));
    let exporter = start(&one, &config, &["--web.enable-lifecycle"]).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    assert_eq!(accounts_of(&exporter.scrape().await), ["first".to_owned()].into());

    write_accounts(dir.path(), &[first.clone(), second.clone()]);
    assert_eq!(reload(&exporter).await, reqwest::StatusCode::OK);
    eventually(Duration::from_secs(30), || async {
        accounts_of(&exporter.scrape().await).len() == 2
    })
    .await;

    write_accounts(dir.path(), std::slice::from_ref(&second));
    assert_eq!(reload(&exporter).await, reqwest::StatusCode::OK);
    assert_eq!(
        accounts_of(&exporter.scrape().await),
        ["second".to_owned()].into(),
        "a removed account's series go at once"
    );
    let text = exporter.scrape_text().await;
    let left: Vec<&str> = text.lines().filter(|line| line.contains("account=\"first\"")).collect();
    assert!(
        left.is_empty(),
        "no series of the removed account, its API calls' and counters' included: {left:?}"
    );

    std::fs::write(dir.path().join("accounts.yml"), "accounts:\n  - name: broken\n").unwrap();
    assert_eq!(reload(&exporter).await, reqwest::StatusCode::INTERNAL_SERVER_ERROR);
    let scrape = exporter.scrape().await;
    assert_eq!(
        accounts_of(&scrape),
        ["second".to_owned()].into(),
        "the running accounts stay"
    );
    assert_eq!(
        scrape.get("tencentcloud_partner_config_last_reload_successful"),
        Some(0.0)
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_during_a_refresh_waits_for_the_old_tasks_before_the_new_call_the_api() {
    // The documented limits, in the simulator and the exporter: 60 allocation
    // histories take 12 s at 5 a second.
    let api = start_api(
        Shape {
            customers: 60,
            vouchers_per_customer: 1.0,
            seed: 31,
        },
        simulator::Settings {
            record_requests: true,
            ..Default::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let entry = account(dir.path(), "only", &api, SECRET_KEY);
    let config = write_accounts(dir.path(), std::slice::from_ref(&entry));
    let args = [config.as_str(), "--api.timeout=5s", "--web.enable-lifecycle"];
    let exporter = Exporter::start_with_env(&api, &args, |_| None).await;
    let histories = || api.sim.requests("QueryCreditAllocationHistory").len();
    eventually(Duration::from_secs(30), || async { histories() >= 10 }).await;
    // Mid-refresh, the account changes: its tasks restart.
    let changed = format!("{entry}    timeout: 4s\n");
    write_accounts(dir.path(), &[changed]);
    assert_eq!(reload(&exporter).await, reqwest::StatusCode::OK);
    eventually(Duration::from_secs(60), || async {
        let scrape = exporter.scrape().await;
        scrape.get("tencentcloud_partner_refresh_success{account=\"only\",collector=\"allocations\"}") == Some(1.0)
    })
    .await;
    let throttled = api
        .sim
        .stats()
        .get("QueryCreditAllocationHistory")
        .map_or(0, |s| s.throttled);
    assert!(
        throttled <= 1,
        "{throttled} calls over the documented limit across the reload"
    );

    // A reload that fails changes no metric: not the changed account's pace,
    // and no series of an account it did not start.
    let paced = |scrape: &Exposition| {
        scrape.get(
            "tencentcloud_partner_api_rate_limit_requests_per_second{account=\"only\",action=\"QueryCreditAllocationHistory\"}",
        )
    };
    assert_eq!(paced(&exporter.scrape().await), Some(5.0));
    let slower = format!("{entry}    rate_limit_fraction: 0.5\n");
    let newcomer = account(dir.path(), "newcomer", &api, SECRET_KEY);
    // The last account's key files are missing: it fails as it is started,
    // after the two before it were prepared.
    let keyless = "  - name: keyless\n    secret_id_file: missing.id\n    secret_key_file: missing.key\n".to_owned();
    write_accounts(dir.path(), &[slower, newcomer, keyless]);
    assert_eq!(reload(&exporter).await, reqwest::StatusCode::INTERNAL_SERVER_ERROR);
    let scrape = exporter.scrape().await;
    assert_eq!(paced(&scrape), Some(5.0));
    assert!(
        !scrape.text.contains("account=\"newcomer\""),
        "no series of an account not started"
    );
    exporter.stop().await;
}
