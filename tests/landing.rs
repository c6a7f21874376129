//! The landing page as a person sees it: rendered by headless Chromium, with a
//! screenshot taken and the rendered text checked. Chromium comes from the
//! Debian package `chromium` (installed by `scripts/test`); without it this
//! test fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::{Exporter, fast_settings, start_api};
use tencentcloud_partner_exporter::simulator::{Fault, Rule, Shape};

fn chromium(profile: &Path, args: &[&str]) -> std::process::Output {
    let binary = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("chromium must be installed (Debian package chromium; scripts/test installs it)");
    let output = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The screenshots in docs/ are the ones these tests take: `scripts/reference`
/// (`UPDATE_REFERENCE=1`) writes them there.
fn for_the_docs(png: &[u8], name: &str) {
    if std::env::var_os("UPDATE_REFERENCE").is_some() {
        std::fs::write(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join(name), png).unwrap();
    }
}

/// Every screenshot these tests take for the docs is shown where the page
/// is described.
#[test]
fn the_screenshots_are_shown_in_the_docs() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let text: String = std::fs::read_dir(&docs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    for name in ["landing.png", "landing-first-start.png"] {
        assert!(docs.join(name).exists(), "docs/{name}: run scripts/reference");
        assert!(text.contains(&format!("]({name})")), "no document shows docs/{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_page_renders_status_calls_and_customers_closest_to_running_out() {
    let shape = Shape {
        customers: 40,
        vouchers_per_customer: 1.0,
        seed: 13,
    };
    let api = start_api(shape, fast_settings()).await;
    // A few throttled calls, so the page has something to show in that column.
    api.sim.inject(
        Rule::always(Fault::Error("RequestLimitExceeded".into()))
            .on("QueryCustomersCredit")
            .times(2),
    );
    let exporter = Exporter::start(&api, Exporter::FAST).await;
    exporter.wait_refreshed(Duration::from_secs(60)).await;

    let url = exporter.url("/");
    let profile = tempfile::tempdir().unwrap();
    let (dom, shot) = tokio::task::spawn_blocking({
        let profile = profile.path().to_owned();
        move || {
            let dom = chromium(&profile, &["--dump-dom", &url]);
            let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("landing.png");
            let _ = std::fs::remove_file(&shot);
            chromium(
                &profile,
                &[
                    "--window-size=1200,1100",
                    &format!("--screenshot={}", shot.display()),
                    &url,
                ],
            );
            (String::from_utf8_lossy(&dom.stdout).into_owned(), shot)
        }
    })
    .await
    .unwrap();

    let png = std::fs::read(&shot).expect("chromium wrote a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "screenshot of {} bytes",
        png.len()
    );
    for_the_docs(&png, "landing.png");

    for text in [
        "Tencent Cloud Partner Exporter",
        "Collectors",
        "API calls since start",
        "QueryCustomersCredit",
    ] {
        assert!(dom.contains(text), "rendered page lacks {text:?}");
    }
    for collector in ["partner", "customers", "allocations", "vouchers"] {
        assert!(dom.contains(&format!("<td>{collector}</td>")), "no row for {collector}");
    }
    // QueryCustomersCredit: one page of 40 customers, after two throttled answers.
    let row = "<tr><td>default</td><td>QueryCustomersCredit</td><td class=\"num\">3</td><td class=\"num warn\">2</td>";
    assert!(dom.contains(row), "{dom}");

    // The five customers with the smallest share of credit left, in order.
    let expected: Vec<String> = api.sim.with_data(|d| {
        let mut with_credit: Vec<(f64, u64)> = d
            .customers
            .values()
            .filter(|c| c.credit_cents > 0)
            .map(|c| (c.remaining_cents as f64 / c.credit_cents as f64, c.uin))
            .collect();
        with_credit.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        with_credit
            .iter()
            .take(5)
            .map(|(_, uin)| format!("<td>{uin}</td>"))
            .collect()
    });
    let section = dom.split("Customers closest to running out").nth(1).unwrap();
    let mut position = 0;
    for uin in &expected {
        let found = section[position..]
            .find(uin.as_str())
            .unwrap_or_else(|| panic!("{uin} missing or out of order"));
        position += found;
    }
    // Each with its days left at the pace of the 7 days before today.
    let today = api.sim.china_now().date();
    for (uin, days) in api.sim.with_data(|d| {
        d.customers
            .values()
            .map(|c| {
                let week: i64 = (1..=7).map(|back| c.day_cents(today - chrono::Days::new(back))).sum();
                let days = if week > 0 {
                    format!("{:.1}", c.remaining_cents as f64 / (week as f64 / 7.0))
                } else {
                    "–".to_owned()
                };
                (format!("<td>{}</td>", c.uin), days)
            })
            .collect::<Vec<_>>()
    }) {
        if !expected.contains(&uin) {
            continue;
        }
        let row = section[section.find(&uin).unwrap()..].split("</tr>").next().unwrap();
        assert!(row.ends_with(&format!("<td class=\"num\">{days}</td>")), "{row}");
    }
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_page_shows_the_progress_of_a_first_refresh() {
    let shape = Shape {
        customers: 120,
        vouchers_per_customer: 1.0,
        seed: 19,
    };
    // The documented limits: 120 bills at one a second take two minutes.
    let api = start_api(shape, tencentcloud_partner_exporter::simulator::Settings::default()).await;
    let exporter = Exporter::start(&api, &["--collector.bills", "--refresh.publish-interval=1s"]).await;
    exporter.wait_ready(Duration::from_secs(60)).await;
    let bills_read = "tencentcloud_partner_refresh_items{account=\"default\",collector=\"bills\",state=\"read\"}";
    support::eventually(Duration::from_secs(60), || async {
        exporter.scrape().await.get(bills_read).is_some_and(|read| read >= 5.0)
    })
    .await;

    let url = exporter.url("/");
    let profile = tempfile::tempdir().unwrap();
    let (dom, shot) = tokio::task::spawn_blocking({
        let profile = profile.path().to_owned();
        move || {
            let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("landing-first-start.png");
            let _ = std::fs::remove_file(&shot);
            chromium(
                &profile,
                &[
                    "--window-size=1200,900",
                    &format!("--screenshot={}", shot.display()),
                    &url,
                ],
            );
            let dom = chromium(&profile, &["--dump-dom", &url]);
            (String::from_utf8_lossy(&dom.stdout).into_owned(), shot)
        }
    })
    .await
    .unwrap();
    let png = std::fs::read(&shot).expect("chromium wrote a screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "{} bytes", png.len());
    for_the_docs(&png, "landing-first-start.png");

    let row = dom
        .split("<tr>")
        .find(|row| row.contains("<td>bills</td>"))
        .expect("a row for bills");
    assert!(row.contains("first refresh"), "{row}");
    assert!(row.contains("role=\"progressbar\""), "a progress bar: {row}");
    assert!(row.contains("aria-valuemax=\"120\""), "120 bills due: {row}");
    assert!(row.contains(" of 120 · ") && row.contains(" left</span>"), "{row}");
    exporter.stop().await;
}
