//! The HTTP endpoints over a real socket: content negotiation, compression,
//! a custom path, and crowds. Probes, reload and the landing page are tested
//! without a socket, in `src/http/tests.rs`.

mod support;

use std::time::Duration;
use support::{Exporter, fast_settings, start_api};
use tencentcloud_partner_exporter::simulator::Shape;

const SHAPE: Shape = Shape {
    customers: 30,
    vouchers_per_customer: 1.0,
    seed: 3,
};

fn plain_client() -> reqwest::Client {
    // Without automatic decompression, to see what the server sends.
    reqwest::Client::builder().no_gzip().build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_openmetrics_to_prometheus_and_text_to_others_gzipped_on_request() {
    let api = start_api(SHAPE, fast_settings()).await;
    let exporter = Exporter::start(&api, Exporter::FAST).await;
    exporter.wait_refreshed(Duration::from_secs(30)).await;
    let client = plain_client();

    let prometheus_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let om = client
        .get(exporter.url("/metrics"))
        .header("Accept", prometheus_accept)
        .send()
        .await
        .unwrap();
    assert!(
        om.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let body = om.text().await.unwrap();
    assert!(body.ends_with("# EOF\n"));
    assert!(body.contains("# UNIT tencentcloud_partner_credit_usd usd"));

    let text = client.get(exporter.url("/metrics")).send().await.unwrap();
    assert!(
        text.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let plain = text.text().await.unwrap();
    assert!(!plain.contains("# EOF"));

    let gz = client
        .get(exporter.url("/metrics"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let compressed = gz.bytes().await.unwrap();
    assert!(
        compressed.len() * 3 < plain.len(),
        "{} bytes gzipped of {}",
        compressed.len(),
        plain.len()
    );

    // q=0 refuses, for the format and the coding alike, on both formats.
    let ask = |accept: &'static str, encoding: &'static str| {
        client
            .get(exporter.url("/metrics"))
            .header("Accept", accept)
            .header("Accept-Encoding", encoding)
            .send()
    };
    for (accept, encoding, format, gzip) in [
        (
            prometheus_accept,
            "gzip;q=0, identity",
            "application/openmetrics-text",
            false,
        ),
        (
            prometheus_accept,
            "identity;q=0.5, gzip;q=0.9",
            "application/openmetrics-text",
            true,
        ),
        (
            "application/openmetrics-text;q=0, text/plain",
            "gzip",
            "text/plain",
            true,
        ),
        ("text/plain", "gzip;q=0", "text/plain", false),
    ] {
        let response = ask(accept, encoding).await.unwrap();
        let headers = response.headers().clone();
        let what = format!("Accept: {accept}; Accept-Encoding: {encoding}");
        assert!(headers["content-type"].to_str().unwrap().starts_with(format), "{what}");
        assert_eq!(headers.get("content-encoding").is_some(), gzip, "{what}");
        let body = response.bytes().await.unwrap();
        assert_eq!(
            body.starts_with(b"\x1f\x8b"),
            gzip,
            "{what}: the body is what the headers say"
        );
        if gzip && format == "text/plain" {
            // Stitched from blocks compressed at publication: the same text.
            let mut text = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text).unwrap();
            let values = |text: &str| -> Vec<String> {
                text.lines()
                    .filter(|l| l.starts_with("tencentcloud_partner_customer_"))
                    .map(str::to_owned)
                    .collect()
            };
            assert!(!text.contains("# UNIT") && !text.contains("# EOF"), "{what}");
            assert_eq!(values(&text), values(&plain), "{what}");
            assert!(values(&text).len() > 30);
        }
    }
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_telemetry_path_moves_the_metrics() {
    let api = start_api(SHAPE, fast_settings()).await;
    let exporter = Exporter::start(&api, &["--web.telemetry-path=/partner-metrics"]).await;
    let moved = reqwest::get(exporter.url("/partner-metrics")).await.unwrap();
    assert_eq!(moved.status(), 200);
    assert_eq!(reqwest::get(exporter.url("/metrics")).await.unwrap().status(), 404);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_of_scrapers_and_clients_that_never_read_leave_the_exporter_responsive() {
    use tokio::io::AsyncWriteExt;
    let api = start_api(SHAPE, fast_settings()).await;
    let exporter = Exporter::start(&api, Exporter::FAST).await;
    exporter.wait_refreshed(Duration::from_secs(30)).await;

    // Clients that send a request and never read the answer.
    let mut silent = Vec::new();
    for _ in 0..50 {
        let mut stream = tokio::net::TcpStream::connect(exporter.addr).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        silent.push(stream);
    }
    // And a crowd scraping all at once.
    let client = plain_client();
    let crowd: Vec<_> = (0..300)
        .map(|_| {
            let (client, url) = (client.clone(), exporter.url("/metrics"));
            tokio::spawn(async move { client.get(url).send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for request in crowd {
        let status = request.await.unwrap().unwrap_or(0);
        *statuses.entry(status).or_insert(0) += 1;
    }
    assert!(statuses.keys().all(|s| *s == 200 || *s == 503), "{statuses:?}");
    assert!(statuses.get(&200).copied().unwrap_or(0) > 0, "{statuses:?}");

    let started = std::time::Instant::now();
    let healthy = client.get(exporter.url("/-/healthy")).send().await.unwrap();
    assert_eq!(healthy.status(), 200);
    let scrape = exporter.scrape().await;
    assert!(
        scrape
            .get("tencentcloud_partner_customers{account=\"default\"}")
            .is_some()
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    drop(silent);
    exporter.stop().await;
}
