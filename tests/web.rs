//! `--web.config.file` on the real binary (in demo mode): TLS, mutual TLS,
//! basic auth on every endpoint, headers, the rate limit, and reloads on
//! change, SIGHUP and `POST /-/reload`, checked with reqwest and curl.

mod support;

use reqwest::StatusCode;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::binary::Binary;
use support::pki::{Authority, Issued};

/// Every endpoint the exporter serves.
const ENDPOINTS: [&str; 5] = ["/", "/metrics", "/-/healthy", "/-/ready", "/-/reload"];
/// A low bcrypt cost keeps the tests fast; the timing test uses its own.
const COST: u32 = 4;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    // Write then rename, as an operator's tooling (and Kubernetes) does, so
    // the exporter never reads half a file.
    let temporary = dir.join(format!(".{name}.tmp"));
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, &path).unwrap();
    path
}

fn hash(password: &str, cost: u32) -> String {
    bcrypt::hash(password, cost).unwrap()
}

fn start(config: &Path, extra: &[&str]) -> Binary {
    let flag = format!("--web.config.file={}", config.display());
    let mut args = vec!["--demo", "--log.level=debug", flag.as_str()];
    args.extend_from_slice(extra);
    Binary::start(&args)
}

/// A client that trusts only `ca`, optionally presenting `identity`.
fn client(ca: &str, identity: Option<&Issued>) -> reqwest::Client {
    tencentcloud_partner_exporter::api::install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(10));
    if let Some(identity) = identity {
        builder = builder.identity(identity.identity());
    }
    builder.build().unwrap()
}

fn plain() -> reqwest::Client {
    tencentcloud_partner_exporter::api::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn status(request: reqwest::RequestBuilder) -> StatusCode {
    request.send().await.expect("the request gets an answer").status()
}

async fn body(request: reqwest::RequestBuilder) -> String {
    request
        .send()
        .await
        .expect("the request gets an answer")
        .text()
        .await
        .unwrap()
}

/// A directory with a CA and a server certificate for 127.0.0.1.
struct Site {
    dir: tempfile::TempDir,
    ca: Authority,
}

impl Site {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Authority::new("test CA");
        ca.issue(dir.path(), "server", &["localhost", "127.0.0.1"]);
        ca.write(dir.path(), "ca.crt");
        Self { dir, ca }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn config(&self, text: &str) -> PathBuf {
        write(self.path(), "web.yml", text)
    }
}

/// Relative file names, as an operator copying node_exporter's file writes them.
const TLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

#[tokio::test]
async fn tls_serves_every_endpoint_to_a_client_that_trusts_the_certificate() {
    let site = Site::new();
    let exporter = start(&site.config(TLS), &[]);
    let trusting = client(&site.ca.pem, None);
    let exposition = body(trusting.get(exporter.url("https", "/metrics"))).await;
    assert!(
        exposition.contains("tencentcloud_partner_exporter_build_info{"),
        "{exposition}"
    );
    for path in ["/", "/-/healthy"] {
        assert_eq!(
            status(trusting.get(exporter.url("https", path))).await,
            StatusCode::OK,
            "{path}"
        );
    }
    let stranger = Authority::new("another CA");
    let refused = client(&stranger.pem, None)
        .get(exporter.url("https", "/metrics"))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a client that does not trust the certificate must fail"
    );
    // Plain HTTP gets a short 400, as from Go's servers, not a TLS alert.
    let cleartext = plain().get(exporter.url("http", "/metrics")).send().await.unwrap();
    assert_eq!(cleartext.status(), StatusCode::BAD_REQUEST);
    let said = cleartext.text().await.unwrap();
    assert_eq!(said, "Client sent an HTTP request to an HTTPS server.\n");
    assert!(exporter.log().contains("tls=true"), "{}", exporter.log());
}

#[tokio::test]
async fn required_client_certificates_must_chain_to_the_configured_ca() {
    let site = Site::new();
    let scraper = site.ca.issue(site.path(), "scraper", &["scraper.example"]);
    let rogue = Authority::new("rogue CA").issue(site.path(), "rogue", &["scraper.example"]);
    let config = format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n");
    let exporter = start(&site.config(&config), &[]);
    let url = exporter.url("https", "/metrics");
    assert_eq!(
        status(client(&site.ca.pem, Some(&scraper)).get(&url)).await,
        StatusCode::OK
    );
    assert!(
        client(&site.ca.pem, None).get(&url).send().await.is_err(),
        "no certificate"
    );
    assert!(
        client(&site.ca.pem, Some(&rogue)).get(&url).send().await.is_err(),
        "certificate of another CA"
    );
}

#[tokio::test]
async fn client_allowed_sans_narrow_which_certificates_get_in() {
    let site = Site::new();
    let allowed = site.ca.issue(site.path(), "prometheus", &["prometheus.monitoring.svc"]);
    let other = site.ca.issue(site.path(), "other", &["other.example"]);
    let config = format!(
        "{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  client_allowed_sans: [prometheus.monitoring.svc]\n"
    );
    let exporter = start(&site.config(&config), &[]);
    let url = exporter.url("https", "/metrics");
    assert_eq!(
        status(client(&site.ca.pem, Some(&allowed)).get(&url)).await,
        StatusCode::OK
    );
    assert!(client(&site.ca.pem, Some(&other)).get(&url).send().await.is_err());
}

#[tokio::test]
async fn basic_auth_guards_every_endpoint_and_answers_401_with_a_challenge() {
    let site = Site::new();
    let config = format!(
        "{TLS}basic_auth_users:\n  prometheus: {}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n",
        hash("correct horse", COST)
    );
    let exporter = start(&site.config(&config), &[]);
    let client = client(&site.ca.pem, None);
    for path in ENDPOINTS {
        let url = exporter.url("https", path);
        let attempts = [
            ("no credentials", client.get(&url)),
            (
                "wrong password",
                client.get(&url).basic_auth("prometheus", Some("wrong")),
            ),
            (
                "unknown user",
                client.get(&url).basic_auth("grafana", Some("correct horse")),
            ),
            (
                "empty password",
                client.get(&url).basic_auth("prometheus", None::<&str>),
            ),
        ];
        for (what, request) in attempts {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}, {what}");
            assert_eq!(response.headers()["www-authenticate"], "Basic", "{path}, {what}");
            assert_eq!(
                response.headers()["x-frame-options"],
                "deny",
                "{path}, {what}: headers on a 401 too"
            );
        }
        let response = client
            .get(&url)
            .basic_auth("prometheus", Some("correct horse"))
            .send()
            .await
            .unwrap();
        assert_ne!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff", "{path}");
    }
}

#[tokio::test]
async fn probes_can_be_let_in_without_credentials_when_the_operator_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "web.yml",
        &format!("basic_auth_users:\n  prometheus: {}\n", hash("secret", COST)),
    );
    let exporter = start(&config, &["--web.probes-without-auth"]);
    let client = plain();
    assert_eq!(
        status(client.get(exporter.url("http", "/-/healthy"))).await,
        StatusCode::OK
    );
    assert_ne!(
        status(client.get(exporter.url("http", "/-/ready"))).await,
        StatusCode::UNAUTHORIZED
    );
    for path in ["/", "/metrics", "/-/reload"] {
        assert_eq!(
            status(client.get(exporter.url("http", path))).await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
}

/// Times `attempts` requests, each with a password never tried before (so
/// no remembered outcome answers it), and returns the median.
async fn median_rejection(client: &reqwest::Client, url: &str, user: &str, attempts: usize) -> Duration {
    let mut times = Vec::new();
    for attempt in 0..attempts {
        let started = Instant::now();
        let response = client
            .get(url)
            .basic_auth(user, Some(format!("guess-{user}-{attempt}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        times.push(started.elapsed());
    }
    times.sort();
    times[attempts / 2]
}

/// The exporter with one user, `prometheus`, password `secret`, hashed at
/// cost 10 as `htpasswd -B` makes it; the directory of its configuration.
fn prometheus_with_password_at_cost_10() -> (tempfile::TempDir, Binary) {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "web.yml",
        &format!("basic_auth_users:\n  prometheus: {}\n", hash("secret", 10)),
    );
    let exporter = start(&config, &[]);
    (dir, exporter)
}

#[tokio::test]
async fn an_unknown_user_takes_as_long_to_refuse_as_a_wrong_password() {
    let (_dir, exporter) = prometheus_with_password_at_cost_10();
    let (client, url) = (plain(), exporter.url("http", "/metrics"));
    let known = median_rejection(&client, &url, "prometheus", 7).await;
    let unknown = median_rejection(&client, &url, "nobody", 7).await;
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(
        (0.5..2.0).contains(&ratio),
        "refusing an unknown user took {unknown:?}, a wrong password {known:?}: timing tells users apart"
    );
    // The same wrong guess again is answered from memory, without bcrypt.
    let started = Instant::now();
    let response = client
        .get(&url)
        .basic_auth("prometheus", Some("guess-prometheus-0"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        started.elapsed() < known,
        "a repeated guess should not cost a bcrypt check"
    );
}

#[test]
fn curl_speaks_tls_mutual_tls_and_basic_auth() {
    let site = Site::new();
    let scraper = site.ca.issue(site.path(), "scraper", &["scraper.example"]);
    let config = format!(
        "{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\nbasic_auth_users:\n  prometheus: {}\n",
        hash("s3cret", COST)
    );
    let exporter = start(&site.config(&config), &[]);
    let url = exporter.url("https", "/metrics");
    let ca = site.path().join("ca.crt");
    let curl = |extra: &[&str]| {
        let output = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&ca)
            .args(extra)
            .arg(&url)
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let (cert, key) = (scraper.cert.to_str().unwrap(), scraper.key.to_str().unwrap());
    assert_eq!(curl(&["--cert", cert, "--key", key, "-u", "prometheus:s3cret"]), "200");
    assert_eq!(curl(&["--cert", cert, "--key", key, "-u", "prometheus:wrong"]), "401");
    assert_eq!(curl(&["--cert", cert, "--key", key]), "401");
    assert_eq!(
        curl(&["-u", "prometheus:s3cret"]),
        "000",
        "no client certificate: no TLS session"
    );
}

#[tokio::test]
async fn a_changed_file_is_reloaded_and_a_bad_one_keeps_the_running_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let users = |user: &str| format!("basic_auth_users:\n  {user}: {}\n", hash("pw", COST));
    let config = write(dir.path(), "web.yml", &users("alice"));
    let exporter = start(&config, &[]);
    let client = plain();
    let url = exporter.url("http", "/metrics");
    let as_user = |user: &'static str| client.get(&url).basic_auth(user, Some("pw"));
    assert_eq!(status(as_user("alice")).await, StatusCode::OK);

    write(dir.path(), "web.yml", &users("bob"));
    support::eventually(Duration::from_secs(10), || async {
        status(as_user("bob")).await == StatusCode::OK
    })
    .await;
    assert_eq!(status(as_user("alice")).await, StatusCode::UNAUTHORIZED);

    write(dir.path(), "web.yml", "basic_auth_users:\n  carol: not-a-hash\n");
    exporter.wait_for_log("configuration reload failed", Duration::from_secs(10));
    assert!(exporter.log().contains("\\\"carol\\\" is not a bcrypt hash") || exporter.log().contains("carol"));
    assert_eq!(
        status(as_user("bob")).await,
        StatusCode::OK,
        "the running configuration stays"
    );
    let exposition = body(as_user("bob")).await;
    assert!(
        exposition.contains("tencentcloud_partner_config_last_reload_successful 0"),
        "{exposition}"
    );

    // Fixed, and reloaded by SIGHUP at once rather than at the next check.
    write(dir.path(), "web.yml", &users("carol"));
    exporter.signal("HUP");
    exporter.wait_for_log("SIGHUP", Duration::from_secs(5));
    support::eventually(Duration::from_secs(10), || async {
        status(as_user("carol")).await == StatusCode::OK
    })
    .await;
    let exposition = body(as_user("carol")).await;
    assert!(
        exposition.contains("tencentcloud_partner_config_last_reload_successful 1"),
        "{exposition}"
    );
}

#[tokio::test]
async fn a_rotated_certificate_is_served_on_the_same_listener() {
    let site = Site::new();
    let exporter = start(&site.config(TLS), &[]);
    let url = exporter.url("https", "/-/healthy");
    assert_eq!(status(client(&site.ca.pem, None).get(&url)).await, StatusCode::OK);
    let renewed = Authority::new("renewed CA");
    let staging = tempfile::tempdir().unwrap();
    let issued = renewed.issue(staging.path(), "server", &["127.0.0.1"]);
    write(site.path(), "server.key", &issued.key_pem);
    write(site.path(), "server.crt", &issued.cert_pem);
    let new_client = client(&renewed.pem, None);
    support::eventually(Duration::from_secs(10), || async {
        new_client
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
}

#[tokio::test]
async fn post_reload_needs_the_lifecycle_flag_and_reports_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "web.yml", "");
    let locked = start(&config, &[]);
    let client = plain();
    assert_eq!(
        status(client.post(locked.url("http", "/-/reload"))).await,
        StatusCode::FORBIDDEN
    );

    let open = start(&config, &["--web.enable-lifecycle"]);
    assert_eq!(status(client.post(open.url("http", "/-/reload"))).await, StatusCode::OK);
    assert_eq!(
        status(client.get(open.url("http", "/-/reload"))).await,
        StatusCode::METHOD_NOT_ALLOWED
    );
    write(dir.path(), "web.yml", "tls_server_config:\n  cert_file: missing.crt\n");
    let response = client.post(open.url("http", "/-/reload")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let message = response.text().await.unwrap();
    assert!(message.contains("key_file"), "{message}");
    let exposition = body(client.get(open.url("http", "/metrics"))).await;
    assert!(
        exposition.contains("tencentcloud_partner_config_last_reload_successful 0"),
        "{exposition}"
    );
}

#[tokio::test]
async fn the_rate_limit_answers_429_beyond_the_burst() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "web.yml", "rate_limit:\n  burst: 3\n  interval: 1m\n");
    let exporter = start(&config, &[]);
    let client = plain();
    let url = exporter.url("http", "/-/healthy");
    for _ in 0..3 {
        assert_eq!(status(client.get(&url)).await, StatusCode::OK);
    }
    assert_eq!(status(client.get(&url)).await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_example_web_configuration_works_as_documented() {
    let site = Site::new();
    let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/web-config.yml")).unwrap();
    std::fs::create_dir(site.path().join("tls")).unwrap();
    site.ca.issue(&site.path().join("tls"), "tls", &["127.0.0.1"]);
    let exporter = start(&site.config(&example), &[]);
    let client = client(&site.ca.pem, None);
    let url = exporter.url("https", "/metrics");
    let response = client
        .get(&url)
        .basic_auth("prometheus", Some("change-me"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-frame-options"], "deny");
    assert_eq!(status(client.get(&url)).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_reload_never_turns_tls_or_authentication_off() {
    let site = Site::new();
    let secured = format!("{TLS}basic_auth_users:\n  prometheus: {}\n", hash("pw", COST));
    let config = site.config(&secured);
    let exporter = start(&config, &[]);
    let tls = client(&site.ca.pem, None);
    let scrape = || {
        tls.get(exporter.url("https", "/metrics"))
            .basic_auth("prometheus", Some("pw"))
    };
    assert_eq!(status(scrape()).await, StatusCode::OK);
    let weaker = [
        (
            "emptied in place, as `cat x > web.yml` does",
            String::new(),
            "sets nothing",
        ),
        ("comments only", "# rendered by a template\n".to_owned(), "sets nothing"),
        (
            "without TLS",
            format!("basic_auth_users:\n  prometheus: {}\n", hash("pw", COST)),
            "TLS off",
        ),
        ("without users", TLS.to_owned(), "every user"),
    ];
    for (what, text, why) in weaker {
        // Written in place, not renamed: what a full disk or a non-atomic
        // write leaves.
        let told = || exporter.log().lines().filter(|l| l.contains(why)).count();
        let before = told();
        std::fs::write(&config, &text).unwrap();
        support::eventually(Duration::from_secs(10), || async { told() > before }).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            status(plain().get(exporter.url("http", "/metrics"))).await,
            StatusCode::BAD_REQUEST,
            "{what}: plain HTTP is still refused"
        );
        assert_eq!(
            status(tls.get(exporter.url("https", "/metrics"))).await,
            StatusCode::UNAUTHORIZED,
            "{what}: credentials are still required"
        );
        let exposition = body(scrape()).await;
        assert!(
            exposition.contains("tencentcloud_partner_config_last_reload_successful 0"),
            "{what}: the reload is reported failed"
        );
        assert!(
            exporter
                .log()
                .lines()
                .any(|l| l.contains("level=error") && l.contains(why)),
            "{what}: logged at error"
        );
        // Restored, the file reloads again.
        std::fs::write(&config, &secured).unwrap();
        support::eventually(Duration::from_secs(10), || async {
            body(scrape())
                .await
                .contains("tencentcloud_partner_config_last_reload_successful 1")
        })
        .await;
    }
}

/// Sends wrong passwords for `user` from `client` until `until`, each new,
/// at most one every 20 ms: 100 of these send 5,000 a second, and the test's
/// own clients share the exporter's 2 cores (an attacker's CPU is not).
async fn guess(client: reqwest::Client, url: String, user: &'static str, until: Instant) -> usize {
    let mut sent = 0;
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    while Instant::now() < until {
        pace.tick().await;
        let password = format!("{:x}", rand::random::<u64>());
        let response = client.get(&url).basic_auth(user, Some(password)).send().await;
        if let Ok(response) = response {
            assert_ne!(response.status(), StatusCode::OK, "a wrong password got in");
        }
        sent += 1;
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_passwords_from_a_crowd_do_not_slow_the_scraper() {
    // About 0.1 s of a core for each password checked.
    let (_dir, exporter) = prometheus_with_password_at_cost_10();
    let url = exporter.url("http", "/metrics");
    let scrape = |client: &reqwest::Client| client.get(&url).basic_auth("prometheus", Some("secret")).send();
    // Prometheus scrapes as usual when the flood begins.
    let scraper = support::from(std::net::Ipv4Addr::new(127, 0, 0, 1));
    assert_eq!(scrape(&scraper).await.unwrap().status(), StatusCode::OK);
    let until = Instant::now() + Duration::from_secs(20);
    // 100 clients: half from one address, half each from its own.
    let crowd: Vec<_> = (0..100_u8)
        .map(|n| {
            let address = if n < 50 {
                std::net::Ipv4Addr::new(127, 0, 1, 1)
            } else {
                std::net::Ipv4Addr::new(127, 0, 2, n)
            };
            tokio::spawn(guess(support::from(address), url.clone(), "prometheus", until))
        })
        .collect();
    let mut times = Vec::new();
    while Instant::now() < until {
        let started = Instant::now();
        let response = scrape(&scraper).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "scrape {} under the flood",
            times.len() + 1
        );
        response.bytes().await.unwrap();
        times.push(started.elapsed());
        if times.len() == 8 {
            // A second scraper, never seen before, is checked among the crowd.
            let started = Instant::now();
            let newcomer = support::from(std::net::Ipv4Addr::new(127, 0, 0, 2));
            assert_eq!(scrape(&newcomer).await.unwrap().status(), StatusCode::OK);
            let first = started.elapsed();
            assert!(
                first < Duration::from_secs(3),
                "a new scraper's first check took {first:?}"
            );
        }
        tokio::time::sleep(Duration::from_secs(1).saturating_sub(started.elapsed())).await;
    }
    let mut sent = 0;
    for guesser in crowd {
        sent += guesser.await.unwrap();
    }
    times.sort();
    let p99 = times[(times.len() * 99).div_ceil(100) - 1];
    assert!(times.len() >= 12, "{} scrapes", times.len());
    assert!(
        p99 < Duration::from_secs(1),
        "scrape p99 {p99:?} under {sent} wrong passwords"
    );
    eprintln!("{} scrapes, p99 {p99:?}, under {sent} wrong passwords", times.len());
}

#[tokio::test]
async fn an_expired_certificate_is_warned_about_and_its_expiry_exported() {
    let site = Site::new();
    site.ca.issue_valid(
        site.path(),
        "server",
        &["127.0.0.1"],
        Some(((2020, 1, 1), (2021, 1, 1))),
    );
    let exporter = start(&site.config(TLS), &[]);
    exporter.wait_for_log("the TLS certificate served has expired", Duration::from_secs(5));
    assert!(
        exporter
            .log()
            .lines()
            .any(|l| l.contains("level=warn") && l.contains("has expired")),
        "{}",
        exporter.log()
    );
    // Served still (the operator decides), and its expiry exported; a client
    // that checks dates refuses it.
    tencentcloud_partner_exporter::api::install_crypto_provider();
    let insecure = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let exposition = body(insecure.get(exporter.url("https", "/metrics"))).await;
    assert!(
        exposition.contains("tencentcloud_partner_web_certificate_expiry_timestamp_seconds 1609459200"),
        "{exposition}"
    );
    assert!(
        client(&site.ca.pem, None)
            .get(exporter.url("https", "/metrics"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_hashed_at_a_high_cost_costs_only_its_own_logins() {
    // A hash of cost 16 (about 6 s a check here, 25 s at 18), made from one
    // of cost 4: its digest is of no password, the time a check takes is
    // what counts.
    let slow = hash("unknown", 4).replacen("$04$", "$16$", 1);
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "web.yml",
        &format!(
            "basic_auth_users:\n  slow: {slow}\n  prometheus: {}\n",
            hash("secret", COST)
        ),
    );
    let started = Instant::now();
    let exporter = start(&config, &[]);
    let client = plain();
    let url = exporter.url("http", "/metrics");
    // Serving at once: no hash is made at the highest user's cost at start.
    assert_eq!(status(client.get(&url)).await, StatusCode::UNAUTHORIZED);
    let serving = started.elapsed();
    assert!(serving < Duration::from_secs(3), "first answer after {serving:?}");
    // The slow user's check, and an unknown user's, under way...
    // From other addresses: one client may have only 2 checks under way.
    let slow_login = tokio::spawn(status(
        support::from(std::net::Ipv4Addr::new(127, 0, 0, 2))
            .get(&url)
            .basic_auth("slow", Some("guess")),
    ));
    let unknown = tokio::spawn(status(
        support::from(std::net::Ipv4Addr::new(127, 0, 0, 3))
            .get(&url)
            .basic_auth("nobody", Some("guess")),
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ...do not hold up the scraper's.
    let asked = Instant::now();
    assert_eq!(
        status(client.get(&url).basic_auth("prometheus", Some("secret"))).await,
        StatusCode::OK
    );
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(1), "a good login took {took:?}");
    assert_eq!(unknown.await.unwrap(), StatusCode::UNAUTHORIZED);
    assert!(
        unknown_is_quick(&client, &url).await,
        "an unknown user costs the decoy's 0.1 s, not cost 16"
    );
    slow_login.abort();
}

/// Whether refusing an unknown user takes under a second.
async fn unknown_is_quick(client: &reqwest::Client, url: &str) -> bool {
    let asked = Instant::now();
    let refused = status(client.get(url).basic_auth("nobody-else", Some("guess"))).await == StatusCode::UNAUTHORIZED;
    refused && asked.elapsed() < Duration::from_secs(1)
}
