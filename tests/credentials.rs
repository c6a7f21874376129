//! A wrong key: the exporter stays up, counts the error, says what to fix
//! once per action, and never prints the secret.

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{Exposition, SECRET_ID, eventually, fast_settings, start_api};
use tencentcloud_partner_exporter::simulator::Shape;

const BIN: &str = env!("CARGO_BIN_EXE_tencentcloud-partner-exporter");
const WRONG_KEY: &str = "WrongSecretKeyThatMustNeverAppearAnywhere";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_counted_and_explained_once_and_never_printed() {
    let shape = Shape {
        customers: 20,
        vouchers_per_customer: 1.0,
        seed: 8,
    };
    let api = start_api(shape, fast_settings()).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(BIN)
        .args([
            &format!("--api.endpoint={}", api.endpoint),
            &format!("--web.listen-address=127.0.0.1:{port}"),
            "--refresh.partner-interval=1s",
            "--refresh.customers-interval=1s",
            "--refresh.vouchers-interval=1s",
            "--log.level=debug",
        ])
        .env("TENCENTCLOUD_SECRET_ID", SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", WRONG_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    let failures =
        "tencentcloud_partner_api_requests_total{action=\"QueryPartnerCredit\",code=\"AuthFailure.SignatureFailure\"}";
    let scrape = || async {
        let body = reqwest::get(&metrics_url).await.ok()?.text().await.ok()?;
        Some(Exposition::parse(&body))
    };
    eventually(Duration::from_secs(15), || async {
        scrape().await.and_then(|s| s.get(failures)).is_some_and(|n| n >= 3.0)
    })
    .await;
    let exposition = scrape().await.unwrap();
    let healthy = reqwest::get(format!("http://127.0.0.1:{port}/-/healthy"))
        .await
        .unwrap();
    assert_eq!(healthy.status(), 200, "a wrong key does not wedge the refresh loops");
    let landing = reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();

    for (what, text) in [
        ("stderr", &stderr),
        ("stdout", &stdout),
        ("/metrics", &exposition.text),
        ("/", &landing),
    ] {
        assert!(!text.contains(WRONG_KEY), "the secret key appears in {what}");
        assert!(
            !text.contains(&WRONG_KEY[..12]),
            "part of the secret key appears in {what}"
        );
    }
    let explained: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("level=error") && l.contains("AuthFailure.SignatureFailure"))
        .collect();
    assert!(
        explained.iter().any(|l| l.contains("TENCENTCLOUD_SECRET_KEY")),
        "hint missing:\n{stderr}"
    );
    let partner_lines = explained
        .iter()
        .filter(|l| l.contains("action=QueryPartnerCredit"))
        .count();
    assert_eq!(partner_lines, 1, "logged once however often it fails:\n{stderr}");
    assert!(!stderr.contains("panicked"));
}
