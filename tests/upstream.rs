//! A hostile upstream against the real binary: an answer that streams without
//! end, a compression bomb, a redirect to another host and a slow drip of
//! bytes. Each costs one failed call, counted in
//! `tencentcloud_partner_api_requests_total` under a code of its own and
//! logged, never the process's memory or a signature sent elsewhere.

mod support;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::Response;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::binary::Binary;

/// An upstream on a loopback port answering every request with `answer`,
/// on a thread of its own; counts the requests it got.
fn upstream(answer: fn() -> Response) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicU64::new(0));
    let counted = requests.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum::Router::new().fallback(move || {
                counted.fetch_add(1, Ordering::Relaxed);
                async move { answer() }
            });
            axum::serve(listener, app).await.unwrap();
        });
    });
    (addr, requests)
}

fn healthy() -> Response {
    let body = r#"{"Response":{"TotalCredit":1000.5,"AllocatedCredit":400,"RemainingCredit":600.5,
        "CustomerTotalCredit":400,"CustomerRemainingCredit":150,"RequestId":"healthy"}}"#;
    Response::new(Body::from(body))
}

/// 200, then JSON that never ends.
fn endless() -> Response {
    let start = futures::stream::once(async { Ok::<_, Infallible>(Bytes::from_static(br#"{"Response":{"Data":["#)) });
    static ITEMS: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    let chunk = ITEMS.get_or_init(|| Bytes::from(b"1,".repeat(32 * 1024))).clone();
    let items = futures::stream::repeat_with(move || Ok(chunk.clone()));
    Response::new(Body::from_stream(futures::StreamExt::chain(start, items)))
}

/// A gzip body of about 128 KiB that inflates to 128 MiB of zeros.
fn bomb() -> Response {
    static BOMB: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    let body = BOMB.get_or_init(|| {
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..128 {
            gzip.write_all(&zeros).unwrap();
        }
        Bytes::from(gzip.finish().unwrap())
    });
    Response::builder()
        .header(header::CONTENT_ENCODING, "gzip")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.clone()))
        .unwrap()
}

/// 200, then a byte every half second.
fn drip() -> Response {
    let bytes = futures::stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        Some((Ok::<_, Infallible>(Bytes::from_static(b" ")), ()))
    });
    Response::new(Body::from_stream(bytes))
}

/// The exporter with the partner collector alone, refreshing every second,
/// against `endpoint`.
fn exporter(endpoint: SocketAddr) -> Binary {
    let endpoint = format!("--api.endpoint=http://{endpoint}");
    let mut args = vec![endpoint.as_str(), "--refresh.partner-interval=1s", "--api.timeout=2s"];
    let others = [
        "customers",
        "allocations",
        "vouchers",
        "pool",
        "status",
        "subagents",
        "spend",
    ];
    let off: Vec<String> = others.iter().map(|c| format!("--no-collector.{c}")).collect();
    args.extend(off.iter().map(String::as_str));
    Binary::start_with(
        &args,
        &[
            ("TENCENTCLOUD_SECRET_ID", "AKIDupstream"),
            ("TENCENTCLOUD_SECRET_KEY", "upstream-key"),
        ],
    )
}

/// QueryPartnerCredit's calls so far that ended with `code`.
fn calls(exporter: &Binary, code: &str) -> f64 {
    let metrics = Command::new("curl")
        .args(["-sf", &exporter.url("http", "/metrics")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&metrics.stdout).into_owned();
    let series = format!(
        "tencentcloud_partner_api_requests_total{{account=\"default\",action=\"QueryPartnerCredit\",code=\"{code}\"}} "
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0.0, |v| v.parse().unwrap())
}

/// Waits until `n` calls ended with `code`.
fn wait_for_calls(exporter: &Binary, code: &str, n: f64, within: Duration) {
    let deadline = Instant::now() + within;
    while calls(exporter, code) < n {
        assert!(
            Instant::now() < deadline,
            "fewer than {n} calls ended with {code}; log:\n{}",
            exporter.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The process's peak resident memory in MiB.
fn peak_mib(exporter: &Binary) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", exporter.pid())).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

/// The peak RSS of an exporter after a few calls to a healthy upstream.
fn healthy_peak() -> f64 {
    let (addr, _) = upstream(healthy);
    let exporter = exporter(addr);
    wait_for_calls(&exporter, "Success", 4.0, Duration::from_secs(20));
    peak_mib(&exporter)
}

/// An exporter against `answer` once `n` of its calls ended with `code`,
/// its peak RSS checked against one's against a healthy upstream.
fn with_flat_memory(answer: fn() -> Response, code: &str, n: f64) -> Binary {
    let healthy = healthy_peak();
    let (addr, _) = upstream(answer);
    let exporter = exporter(addr);
    wait_for_calls(&exporter, code, n, Duration::from_secs(30));
    let peak = peak_mib(&exporter);
    assert!(
        peak < healthy + 50.0,
        "peak RSS {peak:.1} MiB, {healthy:.1} against a healthy upstream"
    );
    exporter
}

#[test]
fn an_endless_answer_is_cut_off_and_counted_and_memory_stays_flat() {
    let exporter = with_flat_memory(endless, "ResponseTooLarge", 4.0);
    exporter.wait_for_log("larger than", Duration::from_secs(10));
    assert_eq!(calls(&exporter, "Success"), 0.0);
}

#[test]
fn a_compression_bomb_is_read_as_sent_and_refused() {
    bomb(); // compressed before the exporter asks, within its timeout
    let exporter = with_flat_memory(bomb, "MalformedResponse", 2.0);
    exporter.wait_for_log("malformed response", Duration::from_secs(10));
}

#[test]
fn a_redirect_is_not_followed_and_no_signature_leaves() {
    let (elsewhere, reached) = upstream(healthy);
    static LOCATION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LOCATION.set(format!("http://localhost:{}/", elsewhere.port())).unwrap();
    let (addr, _) = upstream(|| {
        Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header(header::LOCATION, LOCATION.get().unwrap().as_str())
            .body(Body::empty())
            .unwrap()
    });
    let exporter = exporter(addr);
    wait_for_calls(&exporter, "HTTP307", 2.0, Duration::from_secs(30));
    assert_eq!(
        reached.load(Ordering::Relaxed),
        0,
        "a signed call followed the redirect"
    );
    exporter.wait_for_log("307", Duration::from_secs(10));
}

#[test]
fn a_slow_drip_ends_in_a_timeout() {
    let (addr, _) = upstream(drip);
    let exporter = exporter(addr);
    wait_for_calls(&exporter, "Timeout", 1.0, Duration::from_secs(30));
    exporter.wait_for_log("timed out", Duration::from_secs(10));
}
