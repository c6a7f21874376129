//! Who is about to stop and what the partner is exposed to: account status,
//! forced suspension, the voucher pool and second-level resellers, on the
//! real exporter against the simulator.

mod support;

use std::time::Duration;
use support::binary::Binary;
use support::{Exporter, SECRET_ID, SECRET_KEY, eventually, fast_settings, scrape_binary, start_api};
use tencentcloud_partner_exporter::simulator::{Fault, Rule, Shape};

const SHAPE: Shape = Shape {
    customers: 120,
    vouchers_per_customer: 1.0,
    seed: 41,
};

fn args(extra: &[&'static str]) -> Vec<&'static str> {
    Exporter::FAST.iter().copied().chain(extra.iter().copied()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distributor_gets_every_new_series_exactly_and_no_personal_data() {
    let api = start_api(SHAPE, fast_settings()).await;
    let exporter = Exporter::start(&api, &args(&[])).await;
    exporter.wait_refreshed(Duration::from_secs(30)).await;
    let data = api.sim.with_data(|d| d.clone());
    assert_eq!(data.account_type, 2, "the simulated partner is a distributor");
    assert!(
        data.customers.values().any(|c| c.account_status == 2),
        "someone is in arrears"
    );
    assert!(data.customers.values().any(|c| c.force == 2), "someone is suspended");
    let scrape = exporter.scrape().await;
    scrape.assert_exact(&data);
    assert_eq!(
        scrape.series("tencentcloud_partner_subagent_credit_usd").len(),
        data.subagents.len()
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reseller_has_no_subagent_series_and_is_ready() {
    let api = start_api(SHAPE, fast_settings()).await;
    api.sim.with_data(|d| d.account_type = 1);
    let exporter = Exporter::start(&api, &args(&[])).await;
    exporter.wait_refreshed(Duration::from_secs(30)).await;
    let scrape = exporter.scrape().await;
    assert!(scrape.series("tencentcloud_partner_subagent_credit_usd").is_empty());
    assert_eq!(
        scrape.get("tencentcloud_partner_refresh_success{account=\"default\",collector=\"subagents\"}"),
        Some(1.0)
    );
    assert_eq!(
        scrape.get(
            "tencentcloud_partner_info{account=\"default\",agent_name=\"Simulated Partner Ltd\",role=\"reseller\"}"
        ),
        Some(1.0)
    );
    let asked = api.sim.stats().get("QuerySubAgentsDetailV2").map_or(0, |s| s.calls);
    assert_eq!(asked, 0, "a reseller's second-level resellers are not asked for");
    let data = api.sim.with_data(|d| d.clone());
    scrape.assert_exact(&data);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_for_one_collector_leaves_the_others_and_is_logged_once() {
    let api = start_api(SHAPE, fast_settings()).await;
    api.sim
        .inject(Rule::always(Fault::Error("UnauthorizedOperation.CamNoAuth".into())).on("DescribeCustomerInfo"));
    let exporter = Binary::start_with(
        &[
            &format!("--api.endpoint={}", api.endpoint),
            "--api.rate-limit-fraction=20",
            "--api.timeout=2s",
            "--refresh.customers-interval=1s",
            "--refresh.status-interval=1s",
        ],
        &[
            ("TENCENTCLOUD_SECRET_ID", SECRET_ID),
            ("TENCENTCLOUD_SECRET_KEY", SECRET_KEY),
        ],
    );
    let scrape = || scrape_binary(&exporter);
    let success = |collector: &str| {
        format!("tencentcloud_partner_refresh_success{{account=\"default\",collector=\"{collector}\"}}")
    };
    eventually(Duration::from_secs(30), || async {
        let s = scrape().await;
        s.get(&success("status")) == Some(0.0) && s.get(&success("vouchers")) == Some(1.0)
    })
    .await;
    // Several refreshes of the status collector later.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let s = scrape().await;
    for collector in ["partner", "customers", "allocations", "vouchers", "pool", "subagents"] {
        assert_eq!(s.get(&success(collector)), Some(1.0), "{collector} is unaffected");
    }
    assert!(s.series("tencentcloud_partner_customer_account_status").is_empty());
    s.assert_balances_match(&api.sim.with_data(|d| d.clone()));
    let log = exporter.log();
    let rejected = log
        .lines()
        .filter(|l| l.contains("DescribeCustomerInfo") && l.contains("rejected"))
        .count();
    assert_eq!(rejected, 1, "logged once:\n{log}");
}

/// The `since` series of every customer, by UIN.
fn since_of(scrape: &support::Exposition, name: &str) -> std::collections::BTreeMap<u64, f64> {
    scrape
        .series(name)
        .into_iter()
        .map(|(series, value)| (support::uin_of(series), value))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrears_and_suspensions_keep_their_first_sight_across_a_restart_and_end_when_settled() {
    const ARREARS: &str = "tencentcloud_partner_customer_arrears_since_timestamp_seconds";
    const SUSPENDED: &str = "tencentcloud_partner_customer_suspended_since_timestamp_seconds";
    let api = start_api(SHAPE, fast_settings()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = format!("--cache.snapshot-dir={}", dir.path().display());
    let flags = args(&[
        "--refresh.status-interval=1s",
        "--refresh.customers-interval=1s",
        "--no-collector.spend",
    ]);
    let mut with_store: Vec<&str> = flags.clone();
    with_store.push(&store);
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let exporter = Exporter::start(&api, &with_store).await;
    exporter.wait_refreshed(Duration::from_secs(30)).await;
    let data = api.sim.with_data(|d| d.clone());
    let in_arrears: Vec<u64> = data
        .customers
        .values()
        .filter(|c| c.account_status == 2)
        .map(|c| c.uin)
        .collect();
    let suspended: Vec<u64> = data
        .customers
        .values()
        .filter(|c| c.force == 2)
        .map(|c| c.uin)
        .collect();
    assert!(!in_arrears.is_empty() && !suspended.is_empty());
    let scrape = exporter.scrape().await;
    let (arrears, suspensions) = (since_of(&scrape, ARREARS), since_of(&scrape, SUSPENDED));
    assert_eq!(arrears.keys().copied().collect::<Vec<_>>(), in_arrears);
    assert_eq!(suspensions.keys().copied().collect::<Vec<_>>(), suspended);
    assert!(
        arrears
            .values()
            .chain(suspensions.values())
            .all(|&t| t >= started.floor() - 1.0)
    );
    // Refreshes keep the first sight.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let scrape = exporter.scrape().await;
    assert_eq!(since_of(&scrape, ARREARS), arrears);
    assert_eq!(since_of(&scrape, SUSPENDED), suspensions);
    exporter.stop().await;

    // So does a restart, through the snapshot directory.
    let exporter = Exporter::start(&api, &with_store).await;
    exporter.wait_refreshed(Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let scrape = exporter.scrape().await;
    assert_eq!(since_of(&scrape, ARREARS), arrears);
    assert_eq!(since_of(&scrape, SUSPENDED), suspensions);

    // Settled and lifted: gone.
    let (settled, lifted) = (in_arrears[0], suspended[0]);
    api.sim.with_data(|d| {
        d.customers.get_mut(&settled).unwrap().account_status = 0;
        d.customers.get_mut(&lifted).unwrap().force = 0;
    });
    eventually(Duration::from_secs(20), || async {
        let scrape = exporter.scrape().await;
        !since_of(&scrape, ARREARS).contains_key(&settled) && !since_of(&scrape, SUSPENDED).contains_key(&lifted)
    })
    .await;
    let scrape = exporter.scrape().await;
    assert_eq!(since_of(&scrape, ARREARS).len(), in_arrears.len() - 1);
    assert_eq!(since_of(&scrape, SUSPENDED).len(), suspended.len() - 1);
    exporter.stop().await;
}
