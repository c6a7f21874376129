//! Soak under faults: `cargo bench --bench soak` (not part of CI).
//!
//! Runs the release exporter against the simulator for SOAK_SECONDS (default
//! 1800) in rounds: a fault phase (30 % InternalError, ServiceBusy, HTTP 502
//! and 503, malformed and truncated bodies, nulls, latency beyond the timeout,
//! on every action) while the simulated balances drift, then a calm phase
//! after which every exported value must equal the simulator's truth. Prints
//! RSS at start and end and the number of wrong values, which must be 0.

use std::time::{Duration, Instant};
use tencentcloud_partner_exporter::simulator::{Dataset, Fault, Rule, Settings, Shape, Simulator};

#[allow(dead_code)]
#[path = "../tests/support/binary.rs"]
mod binary;
use binary::Binary;

const SECRET_ID: &str = "AKIDsoak000000000000000000000001";
const SECRET_KEY: &str = "SoakSecretKey0000000000000000001";

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Values of `text` that differ from the simulator's data.
fn wrong_values(text: &str, data: &Dataset) -> usize {
    let usd = tencentcloud_partner_exporter::simulator::dataset::usd;
    let mut wrong = 0;
    for c in data.customers.values() {
        let series = format!(
            "tencentcloud_partner_customer_credit_remaining_usd{{account=\"default\",customer_uin=\"{}\"}}",
            c.uin
        );
        wrong += usize::from(value(text, &series) != Some(usd(c.remaining_cents)));
        let series = format!(
            "tencentcloud_partner_customer_credit_allocations{{account=\"default\",customer_uin=\"{}\"}}",
            c.uin
        );
        wrong += usize::from(value(text, &series) != Some(c.allocations.len() as f64));
    }
    for v in data.vouchers.values() {
        let series = format!(
            "tencentcloud_partner_voucher_remaining_usd{{account=\"default\",customer_uin=\"{}\",voucher_id=\"{}\"}}",
            v.customer_uin, v.id
        );
        wrong += usize::from(value(text, &series) != Some(usd(v.remaining_cents)));
    }
    wrong
}

fn inject_faults(sim: &Simulator) {
    for fault in Fault::every_kind() {
        // Nine kinds at 3.9 % each: about 30 % of calls fail.
        sim.inject(Rule::always(fault).sometimes(0.039));
    }
}

#[tokio::main]
async fn main() {
    tencentcloud_partner_exporter::api::install_crypto_provider();
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1800);
    let shape = Shape {
        customers: 300,
        vouchers_per_customer: 2.0,
        seed: 77,
    };
    let sim = Simulator::new(
        Dataset::generate(shape),
        Settings {
            rate_limit_scale: Some(10.0),
            ..Settings::default()
        },
    );
    sim.add_key(SECRET_ID, SECRET_KEY);
    let api = sim.spawn().await.unwrap();
    let endpoint = format!("--api.endpoint=http://{api}");
    let exporter = Binary::start_with(
        &[
            &endpoint,
            "--api.rate-limit-fraction=10",
            "--api.timeout=2s",
            "--refresh.partner-interval=5s",
            "--refresh.customers-interval=10s",
            "--refresh.allocations-interval=20s",
            "--refresh.vouchers-interval=20s",
            "--cache.max-age=10m",
            "--log.level=error",
        ],
        &[
            ("TENCENTCLOUD_SECRET_ID", SECRET_ID),
            ("TENCENTCLOUD_SECRET_KEY", SECRET_KEY),
        ],
    );
    let pid = exporter.pid();
    let base = exporter.url("http", "");
    let client = reqwest::Client::new();
    while !client
        .get(format!("{base}/-/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let rss_start = rss_mib(pid);
    println!("ready; RSS {rss_start:.1} MiB; soaking for {seconds} s");

    let started = Instant::now();
    let (mut rounds, mut wrong_total, mut scrapes_failed) = (0, 0, 0);
    let mut rng_state = 1u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        rounds += 1;
        inject_faults(&sim);
        let fault_phase = Instant::now();
        while fault_phase.elapsed() < Duration::from_secs(60) {
            // The partner's customers keep spending while the API misbehaves.
            rng_state = rng_state.wrapping_mul(6364136223846793005).wrapping_add(1);
            sim.with_data(|d| {
                let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(rng_state);
                d.drift(&mut rng, tencentcloud_partner_exporter::simulator::china_now());
            });
            let ok = client
                .get(format!("{base}/metrics"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            scrapes_failed += usize::from(!ok);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // Calm: every collector refreshes at least once more, then compare.
        sim.clear_faults();
        tokio::time::sleep(Duration::from_secs(50)).await;
        let text = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let wrong = sim.with_data(|d| wrong_values(&text, d));
        wrong_total += wrong;
        println!(
            "round {rounds}: {wrong} wrong values, RSS {:.1} MiB, {} s elapsed",
            rss_mib(pid),
            started.elapsed().as_secs()
        );
    }
    let rss_end = rss_mib(pid);
    println!("RSS at start {rss_start:.1} MiB, at end {rss_end:.1} MiB");
    println!("rounds {rounds}, failed scrapes {scrapes_failed}, wrong values {wrong_total}");
    assert_eq!(wrong_total, 0, "values did not converge to the simulator's truth");
    assert_eq!(scrapes_failed, 0, "/metrics failed during faults");
}
