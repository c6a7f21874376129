//! Slow and hostile clients against the real binary (in demo mode): a
//! slowloris trickle of headers, a huge header, crowds of scrapers and
//! clients that never read. The exporter must cut them off, keep answering
//! everyone else, and keep its memory flat.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::binary::Binary;

fn demo() -> Binary {
    Binary::start(&["--demo", "--log.level=warn"])
}

/// A scrape over a fresh connection, with its status code.
fn scrape(exporter: &Binary) -> Result<u16, String> {
    let mut stream = TcpStream::connect(exporter.addr).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: exporter\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(|e| e.to_string())?;
    let head = String::from_utf8_lossy(&response[..response.len().min(12)]).into_owned();
    head.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {head:?}"))
}

/// Whether the server has closed `stream`: reads until end of stream, for
/// at most `within`.
fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut sink = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn a_slowloris_client_is_cut_off_while_others_are_served() {
    let exporter = demo();
    let mut slow = TcpStream::connect(exporter.addr).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: exporter\r\n").unwrap();
    let started = Instant::now();
    let cut_off = loop {
        // One more header byte a second: never a complete request head.
        if slow.write_all(b"X").is_err() {
            break started.elapsed();
        }
        slow.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut byte = [0u8; 1024];
        match slow.read(&mut byte) {
            Ok(_) => break started.elapsed(),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break started.elapsed(),
            Err(_) => {}
        }
        assert_eq!(scrape(&exporter), Ok(200), "others are served meanwhile");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the trickle was never cut off"
        );
    };
    assert!(cut_off < Duration::from_secs(15), "cut off after {cut_off:?}");
}

#[test]
fn a_huge_request_header_gets_431_and_nothing_else() {
    let exporter = demo();
    let mut stream = TcpStream::connect(exporter.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let huge = "a".repeat(1024 * 1024);
    let request = format!("GET /metrics HTTP/1.1\r\nHost: exporter\r\nX-Huge: {huge}\r\n\r\n");
    // The server may answer and close before reading it all: a write error is fine.
    let _ = stream.write_all(request.as_bytes());
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let head = String::from_utf8_lossy(&response);
    assert!(
        head.is_empty() || head.starts_with("HTTP/1.1 431"),
        "expected 431 or a closed connection, got {:?}",
        &head[..head.len().min(100)]
    );
    assert_eq!(scrape(&exporter), Ok(200));
}

#[test]
fn a_crowd_of_scrapers_gets_answers_not_hangs() {
    let exporter = demo();
    let crowd: Vec<_> = (0..200)
        .map(|_| {
            let addr = exporter.addr;
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                stream
                    .write_all(b"GET /metrics HTTP/1.1\r\nHost: exporter\r\nConnection: close\r\n\r\n")
                    .unwrap();
                let mut response = Vec::new();
                stream.read_to_end(&mut response).map(|_| response)
            })
        })
        .collect();
    for client in crowd {
        let response = client.join().unwrap().expect("every scraper gets an answer in time");
        let head = String::from_utf8_lossy(&response[..12.min(response.len())]).into_owned();
        assert!(
            head == "HTTP/1.1 200" || head == "HTTP/1.1 503",
            "only success or a quick 503: {head:?}"
        );
    }
    assert_eq!(scrape(&exporter), Ok(200));
}

#[test]
fn clients_that_never_read_are_dropped_and_memory_stays_flat() {
    let exporter = demo();
    assert_eq!(scrape(&exporter), Ok(200));
    let before = exporter.rss_kib();
    let mut stalled: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut stream = TcpStream::connect(exporter.addr).unwrap();
            // Asked for over and over on one connection and never read.
            for _ in 0..20 {
                stream
                    .write_all(b"GET /metrics HTTP/1.1\r\nHost: exporter\r\n\r\n")
                    .unwrap();
            }
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    for _ in 0..5 {
        assert_eq!(scrape(&exporter), Ok(200), "others are served meanwhile");
    }
    let during = exporter.rss_kib();
    assert!(
        during < before + 64 * 1024,
        "RSS grew from {before} KiB to {during} KiB with 300 stalled clients"
    );
    // Each is dropped by the write-stall or idle timeout; a client reading
    // now finds the end of the stream after what was already sent.
    std::thread::sleep(Duration::from_secs(35));
    for stream in stalled.iter_mut().step_by(30) {
        assert!(
            closed_by_server(stream, Duration::from_secs(10)),
            "a client that never read was still connected after 35 s"
        );
    }
    assert_eq!(scrape(&exporter), Ok(200));
}

#[test]
fn a_crowd_of_idle_connections_beyond_the_open_file_limit_does_not_lock_the_probes_out() {
    // 1,024 files, soft and hard: the exporter cannot raise it, and caps its
    // connections below it. 1,100 connections that never send a request,
    // reopened as they are closed, while probes come and go.
    let exporter = Binary::start_with_open_file_limit(&["--demo", "--log.level=warn"], 1024);
    let hard = rustix_free_limit();
    assert!(
        hard >= 2400,
        "the test needs room for its own 1,100 sockets: hard limit {hard}"
    );
    let mut idle: Vec<TcpStream> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut probes = Vec::new();
    while Instant::now() < deadline {
        idle.retain_mut(|stream| {
            stream.set_nonblocking(true).unwrap();
            let mut byte = [0u8; 1];
            !matches!(stream.read(&mut byte), Ok(0))
        });
        while idle.len() < 1100 {
            match TcpStream::connect(exporter.addr) {
                Ok(stream) => idle.push(stream),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let answered = probe(&exporter);
        probes.push((answered, started.elapsed()));
        std::thread::sleep(Duration::from_millis(200));
    }
    let failed: Vec<_> = probes
        .iter()
        .filter(|(ok, took)| !ok || *took > Duration::from_secs(1))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} probes failed or took over 1 s: {failed:?}",
        failed.len(),
        probes.len()
    );
    let log = exporter.log();
    let accept_warnings = log.lines().filter(|l| l.contains("cannot accept")).count();
    assert!(accept_warnings <= 2, "accept errors are logged once per 10 s:\n{log}");
}

/// `/-/healthy` over a fresh connection: whether it answered 200.
fn probe(exporter: &Binary) -> bool {
    let Ok(mut stream) = TcpStream::connect(exporter.addr) else {
        return false;
    };
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    if write!(
        stream,
        "GET /-/healthy HTTP/1.1\r\nHost: exporter\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    response.starts_with(b"HTTP/1.1 200")
}

/// Raises this test process's own open-file limit to its hard limit, which
/// it returns.
fn rustix_free_limit() -> u64 {
    tencentcloud_partner_exporter::http::connections::raise_open_file_limit().unwrap_or(0)
}

#[test]
fn sigterm_with_a_request_half_sent_stops_at_once() {
    let exporter = demo();
    let mut half = TcpStream::connect(exporter.addr).unwrap();
    write!(half, "GET /metrics HTTP/1.1\r\nHost: exp").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    assert!(exporter.stop().success());
    // Before, it waited out the 4 s drain for a request that does not exist.
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "stopped after {took:?}");
}

#[test]
fn sigterm_during_start_up_is_a_clean_stop() {
    // Before its accounts have started: the handler is installed first thing.
    let mut child = std::process::Command::new(support::binary::BIN)
        .args(["--demo", "--web.listen-address=127.0.0.1:0"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
