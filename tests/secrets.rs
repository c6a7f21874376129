//! The key never leaves the process: a failure-heavy run of the real binary
//! (every fault the simulator has, the key revoked and restored, debug logs in
//! both formats) is searched, log and every endpoint, for the SecretKey and
//! the session token.

mod support;

use simulator::{Fault, Rule, Shape};
use std::time::{Duration, Instant};
use support::binary::Binary;
use support::start_api;
use tencentcloud_partner_exporter::simulator;

const SECRET_ID: &str = "AKIDsecretsearch000000000000001";
const SECRET_KEY: &str = "NeverPrintThisSecretKeyAnywhere77";
const TOKEN: &str = "NeverPrintThisSessionToken0123456789";

fn shape() -> Shape {
    Shape {
        customers: 40,
        vouchers_per_customer: 2.0,
        ..Shape::demo()
    }
}

fn fetch(url: &str) -> String {
    let output = std::process::Command::new("curl")
        .args(["-s", "--max-time", "5", url])
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_output_of_a_failure_heavy_run_contains_the_key() {
    let api = start_api(shape(), support::fast_settings()).await;
    api.sim.add_temporary_key(SECRET_ID, SECRET_KEY, TOKEN);
    let authentication = Fault::Error("AuthFailure.SignatureFailure".into());
    for fault in Fault::every_kind().into_iter().chain([authentication]) {
        api.sim.inject(Rule::always(fault).sometimes(0.04));
    }
    let endpoint = format!("--api.endpoint={}", api.endpoint);
    let env = [
        ("TENCENTCLOUD_SECRET_ID", SECRET_ID),
        ("TENCENTCLOUD_SECRET_KEY", SECRET_KEY),
        ("TENCENTCLOUD_SESSION_TOKEN", TOKEN),
    ];
    let common = [
        endpoint.as_str(),
        "--log.level=debug",
        "--api.rate-limit-fraction=20",
        "--api.timeout=1s",
        "--refresh.partner-interval=1s",
        "--refresh.customers-interval=1s",
        "--refresh.allocations-interval=2s",
        "--refresh.vouchers-interval=2s",
    ];
    let runs: Vec<Binary> = ["--log.format=logfmt", "--log.format=json"]
        .into_iter()
        .map(|format| {
            let mut args = common.to_vec();
            args.push(format);
            Binary::start_with(&args, &env)
        })
        .collect();

    let mut served = String::new();
    let started = Instant::now();
    let mut revoked = false;
    while started.elapsed() < Duration::from_secs(15) {
        // Revoke the key for a while: every call then fails authentication.
        if !revoked && started.elapsed() > Duration::from_secs(5) {
            api.sim.remove_key(SECRET_ID);
            revoked = true;
        }
        if started.elapsed() > Duration::from_secs(10) {
            api.sim.add_temporary_key(SECRET_ID, SECRET_KEY, TOKEN);
        }
        for run in &runs {
            for path in ["/", "/metrics", "/-/healthy", "/-/ready"] {
                served.push_str(&fetch(&run.url("http", path)));
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let logs: String = runs.iter().map(Binary::log).collect();
    assert!(
        logs.contains("AuthFailure"),
        "the run should have failed authentication:\n{logs}"
    );
    assert!(
        served.contains("tencentcloud_partner_api_requests_total"),
        "the endpoints answered"
    );
    for secret in [SECRET_KEY, TOKEN] {
        assert!(!logs.contains(secret), "a secret is in the log");
        assert!(!served.contains(secret), "a secret is in a served page");
    }
    assert!(!logs.contains("panicked"), "{logs}");
}
