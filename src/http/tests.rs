//! The router without a socket: probes, reload and the landing page, from
//! collector statuses set by hand.

use super::*;
use crate::account::{Account, Accounts};
use crate::refresh::{Phase, Status};
use crate::snapshot::Kind;
use axum::http::Request;
use std::sync::Mutex;
use std::time::SystemTime;
use tower::ServiceExt;

/// A reload that answers what the test says, and counts its calls.
struct Scripted {
    answer: Result<(), String>,
    calls: Mutex<u32>,
}

impl Scripted {
    fn answering(answer: Result<(), String>) -> Arc<Self> {
        Arc::new(Self {
            answer,
            calls: Mutex::new(0),
        })
    }
}

impl Reload for Scripted {
    fn reload(&self) -> futures::future::BoxFuture<'_, Result<(), String>> {
        *self.calls.lock().unwrap() += 1;
        Box::pin(std::future::ready(self.answer.clone()))
    }
}

/// One status per collector, none refreshed yet.
fn statuses() -> Vec<Arc<Status>> {
    Kind::ALL
        .iter()
        .map(|kind| Arc::new(Status::new(*kind, Duration::from_secs(60))))
        .collect()
}

fn state(accounts: Vec<Account>, reloader: Arc<Scripted>, lifecycle: bool) -> AppState {
    let served = Accounts::default();
    served.store(Arc::new(accounts.into_iter().map(Arc::new).collect()));
    AppState {
        metrics: Arc::new(Metrics::new(
            served.clone(),
            Box::new(crate::refresh::metrics::RefreshMetrics(served.clone())),
            crate::refresh::counters(),
        )),
        accounts: served,
        telemetry_path: "/metrics".into(),
        demo: false,
        guard: Arc::new(guard::Guard::new(web_config::WebConfig::default(), false)),
        reloader,
        lifecycle,
    }
}

/// The status code and body of `method path`.
async fn call(state: AppState, method: &str, path: &str) -> (StatusCode, String) {
    let request = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
    let response = router(state).oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn ready_once_every_collector_of_one_account_has_refreshed() {
    let statuses = statuses();
    let account = Account::idle("default", statuses.clone());
    let state = state(vec![account], Scripted::answering(Ok(())), false);
    let (code, body) = call(state.clone(), "GET", "/-/ready").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        "Not ready: waiting for the first refresh of partner, customers, allocations, vouchers, pool, status, subagents, bills, spend\n"
    );
    for status in &statuses[..3] {
        status.restored(SystemTime::now(), true);
    }
    let (_, body) = call(state.clone(), "GET", "/-/ready").await;
    assert_eq!(
        body,
        "Not ready: waiting for the first refresh of vouchers, pool, status, subagents, bills, spend\n"
    );
    for status in &statuses[3..] {
        status.restored(SystemTime::now(), true);
    }
    assert_eq!(call(state, "GET", "/-/ready").await, (StatusCode::OK, "Ready\n".into()));
}

#[tokio::test]
async fn one_ready_account_makes_the_exporter_ready_and_names_say_whose_collector() {
    let ready = statuses();
    ready.iter().for_each(|s| s.restored(SystemTime::now(), true));
    let waiting = statuses();
    let state = state(
        vec![Account::idle("a", waiting.clone()), Account::idle("b", ready)],
        Scripted::answering(Ok(())),
        false,
    );
    assert_eq!(call(state.clone(), "GET", "/-/ready").await.0, StatusCode::OK);
    waiting[0].set_phase(Phase::Stopped);
    let (code, body) = call(state, "GET", "/-/healthy").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        "Unhealthy: refresh task stopped or silent for three intervals: a/partner\n"
    );
}

#[tokio::test]
async fn healthy_while_tasks_wait_or_refresh_unhealthy_once_one_stops() {
    let statuses = statuses();
    let state = state(
        vec![Account::idle("default", statuses.clone())],
        Scripted::answering(Ok(())),
        false,
    );
    statuses[2].set_phase(Phase::Waiting);
    statuses[3].set_phase(Phase::Refreshing);
    assert_eq!(
        call(state.clone(), "GET", "/-/healthy").await,
        (StatusCode::OK, "Healthy\n".into())
    );
    statuses[3].set_phase(Phase::Stopped);
    let (code, body) = call(state, "GET", "/-/healthy").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.ends_with(": vouchers\n"), "{body}");
}

/// A collector the API has not answered a minute after the start is named
/// in `/-/healthy`'s body, with why, still with 200: a restart would not help.
#[tokio::test(start_paused = true)]
async fn healthy_names_the_collectors_the_api_has_not_answered_a_minute_after_start() {
    let statuses = statuses();
    let state = state(
        vec![Account::idle("default", statuses.clone())],
        Scripted::answering(Ok(())),
        false,
    );
    statuses[0].call_failed("network: connection refused".into());
    statuses[1].call_answered();
    statuses[2].set_phase(Phase::Waiting);
    assert_eq!(
        call(state.clone(), "GET", "/-/healthy").await,
        (StatusCode::OK, "Healthy\n".into()),
        "not within the first minute"
    );
    tokio::time::advance(crate::refresh::STARTING).await;
    let (code, body) = call(state, "GET", "/-/healthy").await;
    assert_eq!(code, StatusCode::OK);
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "Healthy",
            "No answer from the API a minute or more after start:",
            "  partner: network: connection refused"
        ]
    );
    assert!(
        lines[3..]
            .iter()
            .all(|l| !l.contains("customers") && !l.contains("allocations")),
        "{body}"
    );
}

#[tokio::test]
async fn reload_needs_the_lifecycle_flag_and_reports_the_reloaders_answer() {
    let reloader = Scripted::answering(Ok(()));
    let closed = state(vec![], reloader.clone(), false);
    assert_eq!(call(closed, "POST", "/-/reload").await.0, StatusCode::FORBIDDEN);
    assert_eq!(*reloader.calls.lock().unwrap(), 0);

    let open = state(vec![], reloader.clone(), true);
    assert_eq!(
        call(open, "POST", "/-/reload").await,
        (StatusCode::OK, "Configuration reloaded\n".into())
    );
    assert_eq!(*reloader.calls.lock().unwrap(), 1);

    let failing = state(vec![], Scripted::answering(Err("--config.file: bad".into())), true);
    assert_eq!(
        call(failing, "PUT", "/-/reload").await,
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to reload config: --config.file: bad\n".into()
        )
    );
}

#[tokio::test]
async fn landing_page_links_the_endpoints_and_states_each_collector() {
    let statuses = statuses();
    statuses[0].set_phase(Phase::Stopped);
    statuses[2].set_phase(Phase::Waiting);
    // A first refresh 1,234 customers into 10,000, at 5 a second.
    statuses[3].set_phase(Phase::Refreshing);
    statuses[3].items_due(10_000, 0.2);
    (0..1234).for_each(|_| statuses[3].item_read());
    // A later refresh: no bar.
    statuses[4].published(SystemTime::now(), true);
    statuses[4].set_phase(Phase::Refreshing);
    statuses[4].items_due(10, 0.05);
    let state = state(
        vec![Account::idle("default", statuses)],
        Scripted::answering(Ok(())),
        false,
    );
    let (code, html) = call(state, "GET", "/").await;
    assert_eq!(code, StatusCode::OK);
    for needle in [
        "href=\"/metrics\"",
        "href=\"/-/healthy\"",
        "href=\"/-/ready\"",
        "<td class=bad>stopped</td>",
        "<td class=idle>starting</td>",
        "<td class=idle>waiting for customers</td>",
        "<td class=idle>first refresh</td>",
        "aria-valuemax=10000 aria-valuenow=1234><div style=\"width:12.3%\">",
        "1,234 of 10,000 · 12 % · about 29m 13s left",
        "<td class=idle>refreshing</td><td><span class=idle>0 of 10</span>",
    ] {
        assert!(html.contains(needle), "landing page lacks {needle}:\n{html}");
    }
    assert_eq!(
        html.matches("role=progressbar").count(),
        1,
        "a bar only for a first refresh"
    );
}

/// An encoder that holds the publication of a snapshot until the test, or a
/// watchdog ten seconds on, lets it go.
mod held_encoder {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Condvar, Mutex};

    pub static STARTED: AtomicBool = AtomicBool::new(false);
    pub static BY_WATCHDOG: AtomicBool = AtomicBool::new(false);
    static RELEASED: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

    pub fn encode(
        snapshot: &crate::snapshot::Snapshot,
        encoder: &mut prometheus_client::encoding::DescriptorEncoder,
        scope: crate::metrics::table::Scope<'_>,
    ) -> std::fmt::Result {
        STARTED.store(true, Ordering::SeqCst);
        let (lock, released) = &RELEASED;
        let mut done = lock.lock().unwrap();
        while !*done {
            done = released.wait(done).unwrap();
        }
        crate::refresh::encode(snapshot, encoder, scope)
    }

    pub fn release() {
        *RELEASED.0.lock().unwrap() = true;
        RELEASED.1.notify_all();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn scrapes_and_probes_answer_while_a_snapshot_is_being_encoded() {
    use crate::cache::Snapshots;
    use crate::metrics::exposition::Renderer;
    use crate::snapshot::{PartnerSnapshot, Snapshot};
    use std::sync::atomic::Ordering;
    let statuses = statuses();
    let snapshots = Snapshots::new(Renderer::new("default", false, held_encoder::encode));
    let partner = statuses[0].clone();
    let state = state(
        vec![Account::idle_with("default", statuses, snapshots.clone())],
        Scripted::answering(Ok(())),
        false,
    );
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(10));
        held_encoder::BY_WATCHDOG.store(true, Ordering::SeqCst);
        held_encoder::release();
    });
    // One worker thread: an encoding on it would hold every request.
    let publication = tokio::spawn({
        let snapshots = snapshots.clone();
        async move {
            let snapshot = Snapshot::Partner(PartnerSnapshot {
                total: Some(42.0),
                ..Default::default()
            });
            crate::refresh::publish::serve(&snapshots, &partner, Arc::new(snapshot), Duration::from_secs(60), false)
                .await
        }
    });
    while !held_encoder::STARTED.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (code, body) = call(state.clone(), "GET", "/metrics").await;
    assert_eq!(code, StatusCode::OK);
    assert!(!body.contains("tencentcloud_partner_credit_usd"), "not published yet");
    assert_eq!(call(state.clone(), "GET", "/-/healthy").await.0, StatusCode::OK);
    assert_eq!(call(state.clone(), "GET", "/").await.0, StatusCode::OK);
    assert!(
        !held_encoder::BY_WATCHDOG.load(Ordering::SeqCst),
        "the requests waited for the encoding"
    );
    held_encoder::release();
    publication.await.unwrap().expect("published");
    let (_, body) = call(state, "GET", "/metrics").await;
    assert!(
        body.contains("tencentcloud_partner_credit_usd{account=\"default\"} 42.0"),
        "{body}"
    );
}
