//! The router without a socket: probes, reload and the landing page, from
//! collector statuses set by hand.

use super::*;
use crate::account::{Account, Accounts};
use crate::collectors::{Phase, Status};
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
            Box::new(crate::collectors::task::RefreshMetrics(served.clone())),
            crate::collectors::counters(),
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
        "Not ready: waiting for the first refresh of partner, customers, allocations, vouchers, pool, status, subagents, bills\n"
    );
    for status in &statuses[..3] {
        status.restored(SystemTime::now());
    }
    let (_, body) = call(state.clone(), "GET", "/-/ready").await;
    assert_eq!(
        body,
        "Not ready: waiting for the first refresh of vouchers, pool, status, subagents, bills\n"
    );
    for status in &statuses[3..] {
        status.restored(SystemTime::now());
    }
    assert_eq!(call(state, "GET", "/-/ready").await, (StatusCode::OK, "Ready\n".into()));
}

#[tokio::test]
async fn one_ready_account_makes_the_exporter_ready_and_names_say_whose_collector() {
    let ready = statuses();
    ready.iter().for_each(|s| s.restored(SystemTime::now()));
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
    statuses[3].set_phase(Phase::Refreshing);
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
        "<td class=idle>refreshing</td>",
    ] {
        assert!(html.contains(needle), "landing page lacks {needle}:\n{html}");
    }
}
