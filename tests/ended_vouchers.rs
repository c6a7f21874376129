//! Ended vouchers age out: on the exporter against the simulator, a voucher
//! used up, expired or withdrawn is exported for `--vouchers.ended-retention`
//! after it ended and then left out, its usage details never read; a refresh
//! walks the vouchers in use, and reads by its id one that left them.

mod support;

use chrono::Duration as Days;
use std::time::Duration;
use support::{Exporter, eventually, fast_settings, start_api};
use tencentcloud_partner_exporter::simulator::{self, Fault, Rule, Shape};

const INFO: &str = "tencentcloud_partner_voucher_info";
const REMAINING: &str = "tencentcloud_partner_voucher_remaining_usd";

/// The status label of `id`'s `voucher_info` series, if it is exported.
fn status_of(scrape: &support::Exposition, id: u64) -> Option<String> {
    let needle = format!("voucher_id=\"{id}\"");
    scrape
        .series(INFO)
        .into_iter()
        .find(|(series, _)| series.contains(&needle))
        .map(|(series, _)| {
            let start = series.find("status=\"").expect("voucher_info has a status") + 8;
            series[start..].split('"').next().unwrap_or_default().to_string()
        })
}

/// A partner with one voucher that expired 40 days ago, one used up whose
/// expiry was 10 days ago, and the rest as generated; their ids, in that order.
async fn partner_with_ended_vouchers() -> (support::Api, u64, u64) {
    let api = start_api(
        Shape {
            customers: 40,
            vouchers_per_customer: 2.0,
            seed: 4040,
        },
        simulator::Settings {
            record_requests: true,
            ..fast_settings()
        },
    )
    .await;
    let now = api.sim.china_now();
    let (expired, used) = api.sim.with_data(|d| {
        let mut ids = d.vouchers.keys().copied();
        let (expired, used) = (ids.next().unwrap(), ids.next().unwrap());
        let v = d.vouchers.get_mut(&expired).unwrap();
        v.status = "Expired".into();
        v.expire_time = now - Days::days(40);
        let v = d.vouchers.get_mut(&used).unwrap();
        v.status = "Used".into();
        v.remaining_cents = 0;
        v.expire_time = now - Days::days(10);
        (expired, used)
    });
    (api, expired, used)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voucher_ended_beyond_the_retention_is_left_out_and_its_details_never_read() {
    let (api, expired, used) = partner_with_ended_vouchers().await;
    let exporter = Exporter::start(&api, Exporter::FAST).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;

    let scrape = exporter.scrape().await;
    let listed = api.sim.with_data(|d| d.vouchers.len());
    assert_eq!(
        scrape.series(REMAINING).len(),
        listed - 1,
        "every voucher but the one expired 40 days ago"
    );
    assert_eq!(status_of(&scrape, expired), None);
    assert_eq!(
        status_of(&scrape, used).as_deref(),
        Some("Used"),
        "ended 10 days ago, within 30"
    );
    let details_of = |id: u64| {
        api.sim
            .requests("DescribeCustomerVoucherUsageDetails")
            .iter()
            .filter(|body| body["VoucherId"] == id)
            .count()
    };
    assert_eq!(details_of(expired), 0, "no usage details read for a voucher aged out");
    assert_eq!(details_of(used), 1);
    exporter.stop().await;

    // A shorter retention, about 5 days, leaves out the one used up 10 days
    // ago too, and every other voucher that ended before. It ends at 21:00 in
    // China, half a day from the generated expiries (09:00).
    let now = support::china_unix(&api.sim.china_now());
    let day = 86_400.0;
    let boundary = ((now - 5.0 * day - 13.0 * 3600.0) / day).round() * day + 13.0 * 3600.0;
    let retention = format!("--vouchers.ended-retention={}s", (now - boundary).round());
    let exporter = Exporter::start(&api, &[Exporter::FAST[0], retention.as_str()]).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    let scrape = exporter.scrape().await;
    let kept = api.sim.with_data(|d| {
        let in_use = |v: &&simulator::dataset::Voucher| v.status == "Issued";
        let recent = |v: &&simulator::dataset::Voucher| support::china_unix(&v.expire_time) > boundary;
        d.vouchers.values().filter(|v| in_use(v) || recent(v)).count()
    });
    assert!(
        kept < listed - 2,
        "the shorter retention leaves out more than the two set up"
    );
    assert_eq!(scrape.series(REMAINING).len(), kept, "{retention}");
    assert_eq!(status_of(&scrape, used), None);
    exporter.stop().await;
}

/// The exporter against `api`, refreshing the vouchers every second, once
/// it has refreshed everything.
async fn refreshing_every_second(api: &support::Api) -> Exporter {
    let args: Vec<&str> = Exporter::FAST
        .iter()
        .copied()
        .chain(["--refresh.vouchers-interval=1s"])
        .collect();
    let exporter = Exporter::start(api, &args).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    exporter
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vouchers_in_use_are_walked_and_one_that_ended_is_read_by_its_id() {
    let (api, _, _) = partner_with_ended_vouchers().await;
    let exporter = refreshing_every_second(&api).await;
    let in_use = api.sim.with_data(|d| {
        let v = d
            .vouchers
            .values()
            .find(|v| v.status == "Issued" && v.remaining_cents > 0)
            .unwrap();
        v.id
    });
    assert_eq!(status_of(&exporter.scrape().await, in_use).as_deref(), Some("Issued"));

    // Used up between two refreshes: it leaves the vouchers in use.
    api.sim.with_data(|d| {
        let v = d.vouchers.get_mut(&in_use).unwrap();
        v.status = "Used".into();
        v.remaining_cents = 0;
    });
    eventually(Duration::from_secs(30), || async {
        status_of(&exporter.scrape().await, in_use).as_deref() == Some("Used")
    })
    .await;
    let scrape = exporter.scrape().await;
    let uin = api.sim.with_data(|d| d.vouchers[&in_use].customer_uin);
    assert_eq!(scrape.voucher(REMAINING, uin, in_use), Some(0.0));

    let listings = api.sim.requests("DescribeCustomerVoucherList");
    let walks_of = |status: Option<&str>| {
        listings
            .iter()
            .filter(|body| body["Page"] == 1 && body.get("VoucherId").is_none())
            .filter(|body| body.get("VoucherStatus").and_then(|s| s.as_str()) == status)
            .count()
    };
    assert_eq!(walks_of(None), 1, "every voucher walked once, at the start");
    assert!(walks_of(Some("Issued")) >= 1, "then the vouchers in use");
    let by_id = listings
        .iter()
        .filter(|body| body.get("VoucherId").is_some_and(|id| *id == in_use));
    assert_eq!(by_id.count(), 1, "the voucher that left them read once by its id");
    // Still exported the next refreshes, carried as it was.
    let walks = walks_of(Some("Issued"));
    eventually(Duration::from_secs(30), || async {
        let listings = api.sim.requests("DescribeCustomerVoucherList");
        let issued = listings
            .iter()
            .filter(|body| body["Page"] == 1 && body.get("VoucherStatus").is_some_and(|s| s == "Issued"))
            .count();
        issued > walks + 1
    })
    .await;
    let scrape = exporter.scrape().await;
    assert_eq!(status_of(&scrape, in_use).as_deref(), Some("Used"));
    let listed = api.sim.with_data(|d| d.vouchers.len());
    assert_eq!(scrape.series(REMAINING).len(), listed - 1);
    exporter.stop().await;
}

const REFUSED: &str = "InvalidParameterValue.VoucherId";

/// Refreshes of the vouchers as they go once eight vouchers in use are used
/// up, the first seven all of one customer (`one_customer`) or of seven, and
/// the API refuses the reads of those seven by their ids, or of every id
/// (`every_id`): the exporter, what it served, the seven vouchers and the eighth.
async fn seven_refused_by_their_ids(one_customer: bool, every_id: bool) -> (support::Api, Exporter, Vec<u64>, u64) {
    // Eight pages of vouchers: eight that leave those in use are read by
    // their ids, cheaper than a walk of every page.
    let shape = Shape {
        customers: 200,
        vouchers_per_customer: 4.0,
        seed: 4141,
    };
    let settings = simulator::Settings {
        record_requests: true,
        ..fast_settings()
    };
    let api = start_api(shape, settings).await;
    let mut eight: Vec<u64> = api.sim.with_data(|d| {
        // One voucher of each of eight customers, the first seven then moved
        // to the first's.
        let mut customers = std::collections::HashSet::new();
        let in_use = d
            .vouchers
            .values()
            .filter(|v| v.status == "Issued" && v.remaining_cents > 0);
        let ids: Vec<u64> = in_use
            .filter(|v| customers.insert(v.customer_uin))
            .map(|v| v.id)
            .take(8)
            .collect();
        let uin = d.vouchers[&ids[0]].customer_uin;
        for id in ids.iter().take(7).filter(|_| one_customer) {
            d.vouchers.get_mut(id).unwrap().customer_uin = uin;
        }
        ids
    });
    let eighth = eight.pop().unwrap();
    let seven = eight;
    assert!(api.sim.with_data(|d| d.vouchers.len()) > 700);
    let exporter = refreshing_every_second(&api).await;
    assert_eq!(vouchers_success(&exporter.scrape().await), Some(1.0));

    let by_id = || Rule::always(Fault::Error(REFUSED.into())).on("DescribeCustomerVoucherList");
    if every_id {
        api.sim.inject(by_id().asking("VoucherId"));
    }
    for id in &seven {
        api.sim.inject(by_id().asking_for("VoucherId", *id));
    }
    api.sim.with_data(|d| {
        for id in seven.iter().chain([&eighth]) {
            let v = d.vouchers.get_mut(id).unwrap();
            v.status = "Used".into();
            v.remaining_cents = 0;
        }
    });
    (api, exporter, seven, eighth)
}

fn vouchers_success(scrape: &support::Exposition) -> Option<f64> {
    scrape.get("tencentcloud_partner_refresh_success{account=\"default\",collector=\"vouchers\"}")
}

fn refused(scrape: &support::Exposition) -> f64 {
    scrape
        .get(&format!(
            "tencentcloud_partner_refused_items_total{{account=\"default\",collector=\"vouchers\",code=\"{REFUSED}\"}}"
        ))
        .unwrap_or(0.0)
}

/// How many walks of every voucher (no `VoucherStatus`, no `VoucherId`) began.
fn walks_of_every_voucher(api: &support::Api) -> usize {
    api.sim
        .requests("DescribeCustomerVoucherList")
        .iter()
        .filter(|body| body.get("VoucherId").is_none() && body.get("VoucherStatus").is_none() && body["Page"] == 1)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vouchers_refused_by_their_ids_are_settled_by_a_walk_of_every_voucher() {
    for (one_customer, every_id) in [(true, false), (false, false), (false, true)] {
        let (api, exporter, seven, eighth) = seven_refused_by_their_ids(one_customer, every_id).await;
        let walks = walks_of_every_voucher(&api);
        // Seven vouchers refused by their ids, clustered under one customer
        // or spread over seven, or every voucher asked by its id: the walk
        // of every voucher lists them as they are, and the refresh goes on.
        eventually(Duration::from_secs(30), || async {
            // Used up, or left out when its expiry was before the retention.
            let scrape = exporter.scrape().await;
            let ended = |id: &u64| status_of(&scrape, *id).is_none_or(|status| status == "Used");
            seven.iter().chain([&eighth]).all(ended)
        })
        .await;
        let scrape = exporter.scrape().await;
        assert_eq!(vouchers_success(&scrape), Some(1.0), "{one_customer} {every_id}");
        assert!(refused(&scrape) >= 1.0, "{}", refused(&scrape));
        assert!(
            walks_of_every_voucher(&api) > walks,
            "settled by a walk of every voucher"
        );
        // Ended, they are not read by their ids again.
        let by_id = |api: &support::Api| {
            let requests = api.sim.requests("DescribeCustomerVoucherList");
            requests.iter().filter(|body| body.get("VoucherId").is_some()).count()
        };
        let before = by_id(&api);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(by_id(&api), before, "{one_customer} {every_id}");
        assert_eq!(vouchers_success(&exporter.scrape().await), Some(1.0));
        exporter.stop().await;
    }
}

#[test]
fn the_generated_partner_has_no_voucher_near_the_default_retention() {
    let data = simulator::Dataset::generate(Shape {
        customers: 200,
        vouchers_per_customer: 5.0,
        seed: 1,
    });
    let now = simulator::china_now();
    for v in data.vouchers.values().filter(|v| v.status != "Issued") {
        assert!(
            v.expire_time >= now - Days::days(21),
            "voucher {} expired {}",
            v.id,
            v.expire_time
        );
    }
}

/// The exporter against `api`, walking every voucher at every refresh (each
/// second), with an ended voucher kept for `retention` and its snapshots in `dir`.
async fn walking_every_voucher(api: &support::Api, retention: &str, dir: &std::path::Path) -> Exporter {
    let retention = format!("--vouchers.ended-retention={retention}");
    let dir = format!("--cache.snapshot-dir={}", dir.display());
    let args: Vec<&str> = Exporter::FAST
        .iter()
        .copied()
        .chain([
            "--refresh.vouchers-interval=1s",
            "--refresh.vouchers-full-interval=1s",
            "--refresh.customers-interval=1s",
            retention.as_str(),
            dir.as_str(),
        ])
        .collect();
    let exporter = Exporter::start(api, &args).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    exporter
}

/// Ends `n` vouchers in use whose expiry is a week or more away, of
/// customers with no other voucher ended; their ids.
fn use_up(api: &support::Api, n: usize) -> Vec<u64> {
    let soon = api.sim.china_now() + Days::days(7);
    api.sim.with_data(|d| {
        let ids: Vec<u64> = d
            .vouchers
            .values()
            .filter(|v| v.status == "Issued" && v.expire_time > soon)
            .map(|v| v.id)
            .take(n)
            .collect();
        for id in &ids {
            let v = d.vouchers.get_mut(id).unwrap();
            v.status = "Used".into();
            v.remaining_cents = 0;
        }
        ids
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voucher_that_aged_out_stays_out_through_walks_of_every_voucher_and_a_restart() {
    let (api, _, _) = partner_with_ended_vouchers().await;
    let dir = tempfile::tempdir().unwrap();
    let exporter = walking_every_voucher(&api, "3s", dir.path()).await;
    let used = use_up(&api, 1)[0];
    eventually(Duration::from_secs(20), || async {
        status_of(&exporter.scrape().await, used).as_deref() == Some("Used")
    })
    .await;
    // Exported for the retention after it ended, then left out.
    eventually(Duration::from_secs(20), || async {
        status_of(&exporter.scrape().await, used).is_none()
    })
    .await;
    let details = || {
        let asked = api.sim.requests("DescribeCustomerVoucherUsageDetails");
        asked.iter().filter(|body| body["VoucherId"] == used).count()
    };
    let asked = details();
    // Every voucher is walked each second: it stays out.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(status_of(&exporter.scrape().await, used), None, "back after a walk");
    }
    exporter.stop().await;
    // And after a restart from the snapshots kept on disk.
    let exporter = walking_every_voucher(&api, "3s", dir.path()).await;
    for _ in 0..4 {
        assert_eq!(status_of(&exporter.scrape().await, used), None, "back after a restart");
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert_eq!(details(), asked, "its usage details are not read again");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_who_leaves_takes_its_ended_vouchers_at_the_next_refresh() {
    let (api, _, _) = partner_with_ended_vouchers().await;
    let args: Vec<&str> = Exporter::FAST
        .iter()
        .copied()
        .chain(["--refresh.vouchers-interval=1s", "--refresh.customers-interval=1s"])
        .collect();
    let exporter = Exporter::start(&api, &args).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;
    // A customer with two ended vouchers leaves; the ended ones stay
    // listed, as Tencent keeps every voucher ever issued.
    let soon = api.sim.china_now() + Days::days(7);
    let (leaver, two) = api.sim.with_data(|d| {
        let far = |v: &&simulator::dataset::Voucher| v.status == "Issued" && v.expire_time > soon;
        let mut by_customer: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
        for v in d.vouchers.values().filter(far) {
            by_customer.entry(v.customer_uin).or_default().push(v.id);
        }
        let (leaver, ids) = by_customer.into_iter().find(|(_, ids)| ids.len() >= 2).unwrap();
        for id in &ids[..2] {
            let v = d.vouchers.get_mut(id).unwrap();
            v.status = "Used".into();
            v.remaining_cents = 0;
        }
        (leaver, [ids[0], ids[1]])
    });
    eventually(Duration::from_secs(20), || async {
        let scrape = exporter.scrape().await;
        two.iter().all(|id| status_of(&scrape, *id).as_deref() == Some("Used"))
    })
    .await;
    api.sim.with_data(|d| drop(d.customers.remove(&leaver)));
    eventually(Duration::from_secs(20), || async {
        let scrape = exporter.scrape().await;
        two.iter().all(|id| status_of(&scrape, *id).is_none())
    })
    .await;
    exporter.stop().await;
}
