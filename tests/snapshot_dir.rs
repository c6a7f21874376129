//! `--cache.snapshot-dir` on the real binary: a restart serves the last
//! values at once, even while the API fails; files that are corrupt, foreign,
//! from the future or too old are logged and ignored, never fatal.

mod support;

use simulator::{Fault, Rule, Shape};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::binary::Binary;
use support::{Exposition, SECRET_ID, SECRET_KEY, start_api};
use tencentcloud_partner_exporter::simulator;

fn shape() -> Shape {
    Shape {
        customers: 60,
        vouchers_per_customer: 1.5,
        ..Shape::demo()
    }
}

fn start(endpoint: &str, dir: &Path) -> Binary {
    Binary::start_with(
        &[
            &format!("--api.endpoint={endpoint}"),
            &format!("--cache.snapshot-dir={}", dir.display()),
            "--api.rate-limit-fraction=20",
            "--api.timeout=1s",
            "--cache.max-age=1h",
        ],
        &[
            ("TENCENTCLOUD_SECRET_ID", SECRET_ID),
            ("TENCENTCLOUD_SECRET_KEY", SECRET_KEY),
        ],
    )
}

fn get(exporter: &Binary, path: &str) -> (u16, String) {
    let output = std::process::Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "5",
            "-w",
            "\n%{http_code}",
            &exporter.url("http", path),
        ])
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "000"));
    (code.parse().unwrap_or(0), body.to_owned())
}

fn wait_ready(exporter: &Binary, within: Duration) {
    let deadline = Instant::now() + within;
    while get(exporter, "/-/ready").0 != 200 {
        assert!(
            Instant::now() < deadline,
            "not ready within {within:?}:\n{}",
            exporter.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The exported customer, voucher and partner values, without the
/// exporter's own metrics (which restart from zero).
fn values(scrape: &Exposition) -> Vec<(String, f64)> {
    scrape
        .samples
        .iter()
        .filter(|(series, _)| !series.contains("_total{"))
        .filter(|(series, _)| {
            series.contains("customer_")
                || series.contains("voucher_")
                || series.starts_with("tencentcloud_partner_credit")
        })
        .map(|(series, value)| (series.clone(), *value))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_serves_the_last_values_at_once_while_the_api_is_down() {
    let api = start_api(shape(), support::fast_settings()).await;
    let dir = tempfile::tempdir().unwrap();
    let first = start(&api.endpoint, dir.path());
    wait_ready(&first, Duration::from_secs(60));
    let before = Exposition::parse(&get(&first, "/metrics").1);
    assert!(values(&before).len() > 200, "a full exposition before the restart");
    assert!(first.stop().success());

    // The API is down: nothing the second run serves can come from it.
    api.sim.inject(Rule::always(Fault::Error("InternalError".into())));
    let second = start(&api.endpoint, dir.path());
    wait_ready(&second, Duration::from_secs(2));
    let after = Exposition::parse(&get(&second, "/metrics").1);
    assert_eq!(values(&after), values(&before), "the same values after the restart");
    for collector in ["partner", "customers", "allocations", "vouchers"] {
        let series = format!(
            "tencentcloud_partner_refresh_last_success_timestamp_seconds{{account=\"default\",collector=\"{collector}\"}}"
        );
        let (was, is) = (before.get(&series).unwrap(), after.get(&series).unwrap());
        assert!(
            (was - is).abs() < 0.01,
            "{collector}: the age of the snapshot is kept ({was} then {is})"
        );
    }
    assert!(
        second.log().contains("serving the snapshot kept on disk"),
        "{}",
        second.log()
    );
}

/// Rewrites the snapshot file of `collector` through `edit`, as a file of
/// the version before checksums, which is read without one.
fn edit(dir: &Path, collector: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("default").join(format!("{collector}.json"));
    let mut file: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    file["version"] = 1.into();
    file.as_object_mut().unwrap().remove("sha256");
    edit(&mut file);
    std::fs::write(&path, file.to_string()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_foreign_future_and_old_files_are_ignored_with_the_reason() {
    let api = start_api(shape(), support::fast_settings()).await;
    let dir = tempfile::tempdir().unwrap();
    let first = start(&api.endpoint, dir.path());
    wait_ready(&first, Duration::from_secs(60));
    assert!(first.stop().success());

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    std::fs::write(
        dir.path().join("default/customers.json"),
        "{\"format\": \"tencentcloud-partner-exp",
    )
    .unwrap();
    edit(dir.path(), "partner", |f| f["taken_at"] = (now + 3600.0).into());
    edit(dir.path(), "vouchers", |f| f["taken_at"] = (now - 7200.0).into());
    edit(dir.path(), "allocations", |f| f["version"] = 999.into());
    // Every other collector's file is of another version.
    for entry in std::fs::read_dir(dir.path().join("default")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let collector = name.strip_suffix(".json").unwrap_or_default();
        if !["", "customers", "partner", "vouchers", "allocations"].contains(&collector) {
            edit(dir.path(), collector, |f| f["version"] = 999.into());
        }
    }

    api.sim.inject(Rule::always(Fault::Error("InternalError".into())));
    let mut second = start(&api.endpoint, dir.path());
    second.wait_for_log("allocations", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(500));
    let log = second.log();
    for (collector, reason) in [
        ("customers", "is not a snapshot file"),
        ("partner", "in the future"),
        ("vouchers", "older than the maximum age"),
        ("allocations", "version 999"),
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains("ignoring the snapshot") && l.contains(collector) && l.contains(reason)),
            "{collector}: expected {reason:?} in:\n{log}"
        );
    }
    assert!(second.is_running(), "a bad snapshot file is never fatal");
    let (status, _) = get(&second, "/-/ready");
    assert_eq!(status, 503, "nothing usable was restored");
    let scrape = Exposition::parse(&get(&second, "/metrics").1);
    assert!(values(&scrape).is_empty(), "nothing is served from an ignored file");
}

fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("default"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".tmp"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_one_digit_changed_is_ignored_and_the_others_served() {
    let api = start_api(shape(), support::fast_settings()).await;
    let dir = tempfile::tempdir().unwrap();
    let first = start(&api.endpoint, dir.path());
    wait_ready(&first, Duration::from_secs(60));
    let before = Exposition::parse(&get(&first, "/metrics").1);
    assert!(first.stop().success());

    // One digit of one customer's credit, as a bad disk or a hand would.
    let path = dir.path().join("default/customers.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let at = text.find("\"credit\":").expect("a credit in the snapshot") + "\"credit\":".len();
    let digit = text[at..].find(|c: char| c.is_ascii_digit()).unwrap() + at;
    let changed = if &text[digit..=digit] == "7" { "8" } else { "7" };
    std::fs::write(&path, format!("{}{changed}{}", &text[..digit], &text[digit + 1..])).unwrap();

    api.sim.inject(Rule::always(Fault::Error("InternalError".into())));
    let second = start(&api.endpoint, dir.path());
    second.wait_for_log("does not match its checksum", Duration::from_secs(5));
    let after = Exposition::parse(&get(&second, "/metrics").1);
    let credit = "tencentcloud_partner_credit_usd{account=\"default\"}";
    assert_eq!(after.get(credit), before.get(credit), "an untouched file is served");
    assert!(
        after.series("tencentcloud_partner_customer_credit_usd").is_empty(),
        "nothing of the altered file is served"
    );
}

#[test]
fn a_second_exporter_on_the_same_directory_fails_to_start_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let flag = format!("--cache.snapshot-dir={}", dir.path().display());
    let first = Binary::start(&["--demo", &flag]);
    // Listening comes before the accounts start: their directories are
    // locked once it says so.
    first.wait_for_log("listening", Duration::from_secs(20));
    let mut second = std::process::Command::new(support::binary::BIN)
        .args(["--demo", &flag, "--web.listen-address=127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while second.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!("the second exporter is still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = second.wait_with_output().unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    let errors: Vec<_> = stderr
        .lines()
        .filter(|l| l.contains("in use by another process"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(first.stop().success(), "the first goes on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_fail_or_are_killed_leave_no_temporary_file() {
    let api = start_api(shape(), support::fast_settings()).await;
    let dir = tempfile::tempdir().unwrap();
    let args = [
        format!("--api.endpoint={}", api.endpoint),
        format!("--cache.snapshot-dir={}", dir.path().display()),
        "--api.rate-limit-fraction=20".to_owned(),
        "--refresh.vouchers-interval=1s".to_owned(),
        "--refresh.customers-interval=1s".to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env = [
        ("TENCENTCLOUD_SECRET_ID", SECRET_ID),
        ("TENCENTCLOUD_SECRET_KEY", SECRET_KEY),
    ];
    // A disk with room for 8 KiB a file: the larger snapshots cannot be kept.
    let full = Binary::start_with_file_size_limit(&args, &env, 8);
    full.wait_for_log("cannot keep the snapshot on disk", Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(3));
    assert!(temporaries(dir.path()).is_empty(), "{:?}", temporaries(dir.path()));
    assert!(
        dir.path().join("default/partner.json").exists(),
        "small snapshots are kept"
    );
    drop(full);

    // Killed while it writes, every 1 s refresh writing: a temporary file
    // may be left, and one is planted for sure; the next start sweeps both.
    let mut killed = Binary::start_with(&args, &env);
    std::thread::sleep(Duration::from_millis(2500));
    killed.signal("KILL");
    while killed.is_running() {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::write(dir.path().join("default/.vouchers.json.99999.0.tmp"), "half").unwrap();
    let next = Binary::start_with(&args, &env);
    next.wait_for_log("removed the temporary file", Duration::from_secs(5));
    assert!(temporaries(dir.path()).is_empty(), "{:?}", temporaries(dir.path()));
    let log = next.log();
    let stopped = next.stop();
    assert!(stopped.success(), "{stopped:?}:\n{log}");
}
