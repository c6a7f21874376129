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
    let failures = "tencentcloud_partner_api_requests_total{account=\"default\",action=\"QueryPartnerCredit\",code=\"AuthFailure.SignatureFailure\"}";
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_files_are_read_again_when_a_rotated_key_is_written() {
    let shape = Shape {
        customers: 10,
        vouchers_per_customer: 0.0,
        seed: 6,
    };
    let api = start_api(shape, fast_settings()).await;
    let dir = tempfile::tempdir().unwrap();
    let (id_file, key_file) = (dir.path().join("secret-id"), dir.path().join("secret-key"));
    std::fs::write(&id_file, format!("{SECRET_ID}\n")).unwrap();
    std::fs::write(&key_file, format!("{}\n", support::SECRET_KEY)).unwrap();
    let args = [
        format!("--api.secret-id-file={}", id_file.display()),
        format!("--api.secret-key-file={}", key_file.display()),
        "--refresh.partner-interval=1s".into(),
        "--no-collector.allocations".into(),
        "--no-collector.vouchers".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let exporter = support::Exporter::start_with_env(&api, &args, |_| None).await;
    exporter.wait_refreshed(Duration::from_secs(20)).await;

    // The key is rotated in CAM and the mounted Secret is updated.
    api.sim.add_key("AKIDrotated0000000000000000000002", "RotatedSecretKey");
    api.sim.remove_key(SECRET_ID);
    std::fs::write(&id_file, "AKIDrotated0000000000000000000002").unwrap();
    std::fs::write(&key_file, "RotatedSecretKey").unwrap();
    eventually(Duration::from_secs(10), || async {
        api.sim
            .calls_by_key()
            .get("AKIDrotated0000000000000000000002")
            .copied()
            .unwrap_or(0)
            >= 2
    })
    .await;
    let scrape = exporter.scrape().await;
    assert_eq!(
        scrape.get("tencentcloud_partner_refresh_success{account=\"default\",collector=\"partner\"}"),
        Some(1.0)
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instance_role_key_is_used_and_renewed_before_it_expires() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let shape = Shape {
        customers: 10,
        vouchers_per_customer: 0.0,
        seed: 6,
    };
    let api = start_api(shape, fast_settings()).await;
    for n in 0..100 {
        api.sim.add_temporary_key(
            &format!("AKIDrole{n:04}"),
            &format!("role-key-{n}"),
            &format!("role-token-{n}"),
        );
    }
    // A fake CVM metadata service handing out keys that expire 302 s from now:
    // two seconds short of the renewal margin, so each is renewed quickly.
    let fetches = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new()
        .route(
            "/latest/meta-data/cam/security-credentials/",
            axum::routing::get(|| async { "partner-exporter-role" }),
        )
        .route(
            "/latest/meta-data/cam/security-credentials/partner-exporter-role",
            axum::routing::get({
                let fetches = fetches.clone();
                move || async move {
                    let n = fetches.fetch_add(1, Ordering::SeqCst);
                    let expires = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs()
                        + 302;
                    axum::Json(serde_json::json!({
                        "TmpSecretId": format!("AKIDrole{n:04}"), "TmpSecretKey": format!("role-key-{n}"),
                        "Token": format!("role-token-{n}"), "ExpiredTime": expires, "Code": "Success"
                    }))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metadata = format!("--api.metadata-url=http://{}/latest", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().display().to_string();
    let exporter = support::Exporter::start_with_env(
        &api,
        &[
            metadata.as_str(),
            "--refresh.partner-interval=1s",
            "--no-collector.allocations",
            "--no-collector.vouchers",
        ],
        move |name| (name == "HOME").then(|| home_path.clone()),
    )
    .await;
    exporter.wait_refreshed(Duration::from_secs(20)).await;
    eventually(Duration::from_secs(15), || async {
        api.sim
            .calls_by_key()
            .keys()
            .filter(|k| k.starts_with("AKIDrole"))
            .count()
            >= 3
    })
    .await;
    assert!(fetches.load(Ordering::SeqCst) >= 3, "the key was renewed");
    let scrape = exporter.scrape().await;
    assert!(!scrape.text.contains("AuthFailure"), "every call carried a valid token");
    exporter.stop().await;
}
