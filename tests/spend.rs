//! The spend collector on the real exporter against the simulator: every
//! daily cost exact at every scrape of a first start, yesterday read first
//! for every customer, a restart that reads no day it has, one customer
//! refused costing only its own values, and the day turning at UTC+8
//! midnight by the API's clock.

mod support;

use chrono::{DateTime, Days, NaiveDate};
use std::collections::BTreeSet;
use std::time::Duration;
use support::{Api, Exporter, Exposition, eventually, fast_settings, start_api, uin_of};
use tencentcloud_partner_exporter::simulator::dataset::{Dataset, usd};
use tencentcloud_partner_exporter::simulator::{Fault, Rule, Shape};

const SHAPE: Shape = Shape {
    customers: 60,
    vouchers_per_customer: 0.0,
    seed: 71,
};

const BY_DAY: &str = "DescribeCustomerBillDetailByDay";

fn args() -> Vec<&'static str> {
    Exporter::FAST
        .iter()
        .copied()
        .chain([
            "--refresh.customers-interval=1s",
            "--refresh.status-interval=1s",
            "--no-collector.allocations",
            "--no-collector.vouchers",
        ])
        .collect()
}

/// Fast, and every request kept to look at.
fn recording() -> tencentcloud_partner_exporter::simulator::Settings {
    tencentcloud_partner_exporter::simulator::Settings {
        record_requests: true,
        ..fast_settings()
    }
}

/// The bill day the exposition's costs are for.
fn day_of(scrape: &Exposition) -> Option<NaiveDate> {
    let start = scrape.get("tencentcloud_partner_spend_today_start_timestamp_seconds{account=\"default\"}")?;
    Some(DateTime::from_timestamp(start as i64 + 8 * 3600, 0)?.date_naive())
}

/// Checks every spend value served against `data` for the day it is for,
/// and says which customers have all three.
fn exact(scrape: &Exposition, data: &Dataset) -> Result<BTreeSet<u64>, String> {
    let Some(today) = day_of(scrape) else {
        return Ok(BTreeSet::new());
    };
    let day = |back: u64| today - Days::new(back);
    let mut complete = BTreeSet::new();
    for c in data.customers.values() {
        let week: i64 = (1..=7).map(|back| c.day_cents(day(back))).sum();
        let expected = [
            ("today", usd(c.day_cents(today))),
            ("yesterday", usd(c.day_cents(day(1)))),
            ("7d", usd(week)),
        ];
        let mut all = true;
        for (name, value) in expected {
            match scrape.customer(&format!("tencentcloud_partner_customer_cost_{name}_usd"), c.uin) {
                Some(served) if served != value => {
                    return Err(format!("{} cost {name} on {today}: served {served}, is {value}", c.uin));
                }
                Some(_) => {}
                None => all = false,
            }
        }
        if all {
            complete.insert(c.uin);
        }
    }
    Ok(complete)
}

fn spenders(data: &Dataset) -> BTreeSet<u64> {
    data.customers
        .values()
        .filter(|c| c.has_expense())
        .map(|c| c.uin)
        .collect()
}

/// Scrapes every 100 ms, checking every value, until every customer in
/// `expected` has all three and no other customer has any.
async fn every_scrape_exact_until_complete(api: &Api, exporter: &Exporter, expected: &BTreeSet<u64>) {
    eventually(Duration::from_secs(90), || async {
        let data = api.sim.with_data(|d| d.clone());
        let scrape = exporter.scrape().await;
        let complete = exact(&scrape, &data).unwrap_or_else(|wrong| panic!("{wrong}"));
        let exported: BTreeSet<u64> = scrape
            .series("tencentcloud_partner_customer_cost_today_usd")
            .iter()
            .map(|(series, _)| uin_of(series))
            .collect();
        &complete == expected && &exported == expected
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_serves_every_cost_exact_and_reads_yesterday_first() {
    let api = start_api(SHAPE, recording()).await;
    let exporter = Exporter::start(&api, &args()).await;
    let data = api.sim.with_data(|d| d.clone());
    let spenders = spenders(&data);
    assert!(spenders.len() < data.customers.len(), "some customers never spent");
    every_scrape_exact_until_complete(&api, &exporter, &spenders).await;
    // Yesterday came first, for every customer read, before any other day.
    let requests = api.sim.requests(BY_DAY);
    let yesterday = (api.sim.china_now().date() - Days::new(1))
        .format("%Y-%m-%d")
        .to_string();
    let first_other = requests
        .iter()
        .position(|r| r["Date"] != yesterday.as_str())
        .unwrap_or(requests.len());
    let read_first: BTreeSet<u64> = requests[..first_other]
        .iter()
        .filter_map(|r| r["CustomerUin"].as_u64())
        .collect();
    assert!(read_first.is_superset(&spenders), "{first_other} first requests");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reads_no_day_it_has() {
    let api = start_api(SHAPE, recording()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = format!("--cache.snapshot-dir={}", dir.path().display());
    let mut with_store = args();
    with_store.push(&store);
    let exporter = Exporter::start(&api, &with_store).await;
    let data = api.sim.with_data(|d| d.clone());
    every_scrape_exact_until_complete(&api, &exporter, &spenders(&data)).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    exporter.stop().await;
    let before = api.sim.requests(BY_DAY).len();

    let exporter = Exporter::start(&api, &with_store).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    every_scrape_exact_until_complete(&api, &exporter, &spenders(&data)).await;
    let after = api.sim.requests(BY_DAY);
    assert!(before > 0 && after.len() >= before);
    let today = api.sim.china_now().date().format("%Y-%m-%d").to_string();
    let complete_days_read: Vec<_> = after[before..].iter().filter(|r| r["Date"] != today.as_str()).collect();
    assert!(complete_days_read.is_empty(), "read again: {complete_days_read:?}");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_customer_refused_loses_only_its_own_values() {
    let api = start_api(SHAPE, recording()).await;
    let data = api.sim.with_data(|d| d.clone());
    let mut expected = spenders(&data);
    let refused = *expected.iter().nth(3).unwrap();
    expected.remove(&refused);
    api.sim.inject(
        Rule::always(Fault::Error("InvalidParameterValue.CustomerUin".into()))
            .on(BY_DAY)
            .asking_for("CustomerUin", refused),
    );
    let exporter = Exporter::start(&api, &args()).await;
    every_scrape_exact_until_complete(&api, &exporter, &expected).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    let scrape = exporter.scrape().await;
    let series = "tencentcloud_partner_refused_items_total{account=\"default\",collector=\"spend\",code=\"InvalidParameterValue.CustomerUin\"}";
    assert!(scrape.get(series).is_some_and(|n| n >= 1.0), "{}", scrape.text);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_day_turns_at_midnight_utc8_by_the_apis_clock() {
    let api = start_api(SHAPE, recording()).await;
    // The API's clock 25 s before the next midnight in UTC+8, whatever
    // this host's clock and zone.
    let now = api.sim.china_now();
    let midnight = (now.date() + Days::new(1)).and_hms_opt(0, 0, 0).unwrap();
    api.sim.set_clock_offset((midnight - now).num_seconds() - 25);
    let before = api.sim.china_now().date();
    let exporter = Exporter::start(&api, &args()).await;
    let data = api.sim.with_data(|d| d.clone());
    let spenders = spenders(&data);
    every_scrape_exact_until_complete(&api, &exporter, &spenders).await;
    assert_eq!(day_of(&exporter.scrape().await), Some(before));
    // Past midnight: every value is for the new day, exact at every scrape
    // on the way, yesterday now the day that was today.
    eventually(Duration::from_secs(90), || async {
        let scrape = exporter.scrape().await;
        let complete = exact(&scrape, &data).unwrap_or_else(|wrong| panic!("{wrong}"));
        day_of(&scrape) == Some(before + Days::new(1)) && complete == spenders
    })
    .await;
    exporter.stop().await;
}
