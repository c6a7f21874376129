//! The real binary: bad command lines and missing credentials end in one
//! clear line and a non-zero exit, never a panic; `--demo` works with no account.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tencentcloud-partner-exporter");

fn exporter(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .env_remove("TENCENTCLOUD_SESSION_TOKEN")
        .stdin(Stdio::null());
    command
}

fn run(args: &[&str]) -> Output {
    exporter(args).output().expect("the binary runs")
}

fn single_error_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "expected one line, got:\n{stderr}");
    assert!(stderr.starts_with("error:"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn every_flag_with_a_bad_value_is_one_line_and_exit_code_2() {
    for args in [
        &["--api.timeout", "soon"][..],
        &["--api.timeout=0s"],
        &["--refresh.partner-interval", "-5m"],
        &["--refresh.customers-interval=often"],
        &["--refresh.allocations-interval=1x"],
        &["--refresh.vouchers-interval="],
        &["--cache.max-age=forever"],
        &["--api.rate-limit-fraction=0"],
        &["--api.rate-limit-fraction=lots"],
        &["--api.endpoint=not a url"],
        &["--api.endpoint=intlpartnersmgt.intl.tencentcloudapi.com"],
        &["--api.timezone=Mars"],
        &["--web.listen-address=nowhere"],
        &["--web.listen-address=127.0.0.1:99999"],
        &["--web.telemetry-path=metrics"],
        &["--customers.uins=123,abc"],
        &["--log.level=loud"],
        &["--log.format=xml"],
        &["--collector.vouchers=maybe"],
        &["--no-such-flag"],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let line = single_error_line(&output);
        assert!(line.contains("--") || line.contains("argument"), "{args:?}: {line}");
    }
}

#[test]
fn missing_credentials_say_which_variables_to_set() {
    // No key anywhere: not in the environment, no files, no profile in HOME,
    // and no metadata service (a closed loopback port stands in for it).
    let home = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let output = exporter(&[
        &format!("--api.metadata-url=http://{closed}/latest"),
        &format!("--web.listen-address={listen}"),
    ])
    .env("HOME", home.path())
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let line = single_error_line(&output);
    assert!(
        line.contains("TENCENTCLOUD_SECRET_ID") && line.contains("--demo"),
        "{line}"
    );
}

#[test]
fn version_names_the_exporter() {
    let output = run(&["--version"]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("tencentcloud-partner-exporter "), "{stdout}");
}

#[test]
fn a_listen_address_in_use_is_one_line_and_exit_code_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("--web.listen-address={}", taken.local_addr().unwrap());
    let output = exporter(&["--demo", &address, "--log.level=error"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let line = single_error_line(&output);
    assert!(line.contains("cannot listen"), "{line}");
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends SIGTERM and returns how long the process took to exit.
pub fn terminate(child: &mut Child) -> Duration {
    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = started + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "no exit within 10 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

#[test]
fn demo_mode_serves_metrics_with_no_account_and_stops_on_sigterm() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let address = format!("--web.listen-address=127.0.0.1:{port}");
    let mut child = Running(
        exporter(&["--demo", &address])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = child.0.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        BufReader::new(stderr).read_to_string(&mut text).unwrap();
        text
    });
    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let fetched = Command::new("curl").args(["-sf", &url]).output().unwrap();
        let text = String::from_utf8_lossy(&fetched.stdout).into_owned();
        if text.contains("tencentcloud_partner_customer_credit_remaining_usd{") {
            break text;
        }
        assert!(Instant::now() < deadline, "demo exported no customer within 20 s");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(body.contains("tencentcloud_partner_credit_usd "));
    assert_process_metrics(&body, child.0.id());
    let took = terminate(&mut child.0);
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
    let log = log.join().unwrap();
    assert!(log.lines().any(|l| l.contains("demo mode")), "{log}");
    assert!(
        BufReader::new(log.as_bytes())
            .lines()
            .all(|l| !l.unwrap().contains("panicked"))
    );
}

/// The process metrics in `body` are those of the process `pid`, as `/proc` shows it.
fn assert_process_metrics(body: &str, pid: u32) {
    let value = |name: &str| -> f64 {
        let line = body.lines().find(|l| l.starts_with(&format!("{name} ")));
        let line = line.unwrap_or_else(|| panic!("no {name}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> f64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let (rss, proc_rss) = (value("process_resident_memory_bytes"), field("VmRSS:") * 1024.0);
    assert!(
        (rss - proc_rss).abs() < proc_rss / 2.0,
        "RSS {rss} served, {proc_rss} in /proc"
    );
    // Blocking threads come and go between the scrape and the look at /proc.
    let (threads, proc_threads) = (value("process_threads"), field("Threads:"));
    assert!(
        threads >= 2.0 && (threads - proc_threads).abs() <= proc_threads / 2.0,
        "{threads} threads, {proc_threads}"
    );
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count() as f64;
    assert!(
        (value("process_open_fds") - fds).abs() <= 4.0,
        "{} fds served, {fds} open",
        value("process_open_fds")
    );
    assert!(value("process_max_fds") >= fds);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = value("process_start_time_seconds");
    assert!(started <= now && started > now - 60.0, "started {started}, now {now}");
    assert!(value("process_cpu_seconds_total") > 0.0);
    assert!(value("process_virtual_memory_bytes") > rss);
}

#[test]
fn an_unreadable_key_file_is_one_line_and_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let id = dir.path().join("secret-id");
    std::fs::write(&id, "AKIDfromfile").unwrap();
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let output = exporter(&[
        &format!("--api.secret-id-file={}", id.display()),
        &format!("--api.secret-key-file={}", dir.path().join("missing-key").display()),
        &format!("--web.listen-address={listen}"),
    ])
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let line = single_error_line(&output);
    assert!(line.contains("missing-key") && line.contains("cannot read"), "{line}");
}

#[test]
fn a_file_without_end_is_refused_in_one_line_not_read_into_memory() {
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let listen = format!("--web.listen-address={listen}");
    for args in [
        vec!["--config.file=/dev/zero"],
        vec!["--demo", "--web.config.file=/dev/zero"],
        vec!["--api.secret-id-file=/dev/zero", "--api.secret-key-file=/dev/zero"],
    ] {
        let output = exporter(&[&args[..], &[listen.as_str()]].concat()).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let line = single_error_line(&output);
        assert!(
            line.contains("/dev/zero") && line.contains("more than 4 MiB"),
            "{args:?}: {line}"
        );
    }
}

#[test]
fn a_bad_web_config_file_is_one_line_and_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cases = [
        (None, "cannot read"),
        (Some("basic_auth_user:\n  alice: x\n"), "basic_auth_user"),
        (Some("basic_auth_users:\n  alice: plaintext\n"), "not a bcrypt hash"),
        (
            Some("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"),
            "server.crt",
        ),
        (
            Some("tls_server_config:\n  max_version: TLS11\n  cert_file: a\n  key_file: b\n"),
            "TLS 1.0 or 1.1",
        ),
        (
            Some("http_server_config:\n  headers:\n    Server: mine\n"),
            "cannot be configured",
        ),
        (Some("basic_auth_users: [\n"), "web configuration"),
    ];
    for (index, (text, expected)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("web-{index}.yml"));
        if let Some(text) = text {
            std::fs::write(&path, text).unwrap();
        }
        let output = exporter(&[
            "--demo",
            &format!("--web.config.file={}", path.display()),
            &format!("--web.listen-address={listen}"),
        ])
        .output()
        .unwrap();
        assert_eq!(output.status.code(), Some(1), "{text:?}");
        let line = single_error_line(&output);
        assert!(
            line.contains("--web.config.file") && line.contains(expected),
            "{text:?}: {line}"
        );
    }
}

#[test]
fn a_bad_accounts_file_is_one_line_and_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let missing_variable = "accounts:\n  - {name: sg, secret_id_env: NO_SUCH_VARIABLE_SET, secret_key_env: NOR_THIS}\n";
    for (text, expected) in [
        (None, "cannot read"),
        (Some("accounts: []\n"), "no account"),
        (Some(missing_variable), "NO_SUCH_VARIABLE_SET is not set"),
        (
            Some("accounts:\n  - {name: 'a/b', secret_id_file: x, secret_key_file: y}\n"),
            "the name must be",
        ),
        (
            Some("accounts:\n  - {name: sg, secret_id_file: missing-id, secret_key_file: missing-key}\n"),
            "missing-id",
        ),
    ] {
        let path = dir.path().join("accounts.yml");
        let _ = std::fs::remove_file(&path);
        if let Some(text) = text {
            std::fs::write(&path, text).unwrap();
        }
        let output = exporter(&[
            &format!("--config.file={}", path.display()),
            &format!("--web.listen-address={listen}"),
        ])
        .output()
        .unwrap();
        assert_eq!(output.status.code(), Some(1), "{text:?}");
        let line = single_error_line(&output);
        assert!(line.contains(expected), "{text:?}: {line}");
    }
    let output = exporter(&["--demo", "--config.file=accounts.yml"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(single_error_line(&output).contains("--demo"));
}
