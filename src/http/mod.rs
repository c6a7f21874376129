//! The exporter's HTTP interface: `/` (landing page), the telemetry path,
//! `/-/healthy`, `/-/ready` and `/-/reload`, behind the web configuration's
//! guard, served plain or over TLS. Every handler reads memory only; none
//! calls the API.

pub mod connections;
pub mod guard;
mod landing;
mod passwords;
pub mod server;
pub mod tls;
pub mod web_config;

use crate::metrics::{Format, Metrics};
use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::convert::Infallible;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;

/// Content type of the OpenMetrics text format.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the Prometheus text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The longest any request may take before the exporter answers 408.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests handled at once; more are answered 503 at once rather than queued,
/// so a crowd of scrapers cannot pile up work or memory behind the limit.
const MAX_CONCURRENT_REQUESTS: usize = 64;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub metrics: Arc<Metrics>,
    /// The accounts served: their statuses and snapshots.
    pub accounts: crate::account::Accounts,
    pub telemetry_path: String,
    /// Shown on the landing page so a demo run says what it is.
    pub demo: bool,
    /// The web configuration's guard, put before every handler.
    pub guard: Arc<guard::Guard>,
    /// Reloads the configuration for `POST /-/reload`.
    pub reloader: Arc<dyn Reload>,
    /// Whether `/-/reload` may be used (`--web.enable-lifecycle`).
    pub lifecycle: bool,
}

/// What `POST /-/reload` calls: the exporter's reloader, or a test's stand-in.
pub trait Reload: Send + Sync {
    /// Reads the configuration files again and puts them in force; the error
    /// says why the running configuration was kept.
    fn reload(&self) -> futures::future::BoxFuture<'_, Result<(), String>>;
}

/// The exporter's router; its tests (`http/tests.rs`) call it without a socket.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(landing::page))
        .route(&state.telemetry_path, get(metrics))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload).put(reload))
        .layer(CompressionLayer::new().gzip(true))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(
            tower::ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    (StatusCode::SERVICE_UNAVAILABLE, "Too many concurrent requests\n")
                }))
                .load_shed()
                .concurrency_limit(MAX_CONCURRENT_REQUESTS),
        )
        // Outermost: credentials are checked before a request takes a place
        // among the concurrent ones, so wrong ones cannot crowd out the scraper.
        .layer(axum::middleware::from_fn_with_state(state.guard.clone(), guard::guard))
        .with_state(state)
}

/// Serves OpenMetrics to scrapers that ask for it (Prometheus does), and the
/// classic text format to everyone else (curl, older scrapers), gzipped on
/// request from the blocks compressed at publication: neither format is
/// compressed again at a scrape.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let format = if accepts(&headers, header::ACCEPT, "application/openmetrics-text") {
        Format::OpenMetrics
    } else {
        Format::Text
    };
    let gzip = accepts(&headers, header::ACCEPT_ENCODING, "gzip");
    let chunks = state.metrics.scrape(format, gzip);
    let length: usize = chunks.iter().map(|c| c.len()).sum();
    let body = Body::from_stream(futures::stream::iter(chunks.into_iter().map(Ok::<_, Infallible>)));
    let content_type = match format {
        Format::OpenMetrics => OPENMETRICS,
        Format::Text => PROMETHEUS_TEXT,
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// Whether the `name` headers accept `what` (a media type or a coding) by
/// name, with a quality above zero: `gzip;q=0` refuses gzip.
fn accepts(headers: &HeaderMap, name: header::HeaderName, what: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|entry| {
            let mut parts = entry.split(';').map(str::trim);
            let value = parts.next()?;
            let quality = parts
                .filter_map(|p| p.split_once('='))
                .find(|(key, _)| key.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, q)| q.trim().parse::<f32>().ok())?;
            Some((value, quality))
        })
        .any(|(value, quality)| value.eq_ignore_ascii_case(what) && quality > 0.0)
}

async fn healthy(State(state): State<AppState>) -> Response {
    let unhealthy = failing(&state, |s| !s.is_healthy());
    if unhealthy.is_empty() {
        // Alive, as liveness means: a restart would not bring an answer.
        let mut body = "Healthy\n".to_owned();
        let silent = named(&state, crate::refresh::Status::not_answered);
        if !silent.is_empty() {
            body.push_str("No answer from the API a minute or more after start:\n");
            for (collector, why) in silent {
                let _ = writeln!(body, "  {collector}: {why}");
            }
        }
        (StatusCode::OK, body).into_response()
    } else {
        let message = format!(
            "Unhealthy: refresh task stopped or silent for three intervals: {}\n",
            unhealthy.join(", ")
        );
        (StatusCode::SERVICE_UNAVAILABLE, message).into_response()
    }
}

/// Ready once one account has refreshed (or restored) every collector: one
/// account with a bad key must not take the others' series off the air.
async fn ready(State(state): State<AppState>) -> Response {
    if state.accounts.load().iter().any(|a| a.is_ready()) {
        return (StatusCode::OK, "Ready\n").into_response();
    }
    let waiting = failing(&state, |s| !s.is_ready());
    let message = format!("Not ready: waiting for the first refresh of {}\n", waiting.join(", "));
    (StatusCode::SERVICE_UNAVAILABLE, message).into_response()
}

/// The collectors for which `fails` holds, named as messages name them:
/// with their account when there are several.
fn failing(state: &AppState, fails: impl Fn(&crate::refresh::Status) -> bool) -> Vec<String> {
    let all = named(state, |s| fails(s).then_some(()));
    all.into_iter().map(|(name, ())| name).collect()
}

/// What `of` says of each collector that it says something of, with the
/// collector named as messages name it.
fn named<T>(state: &AppState, of: impl Fn(&crate::refresh::Status) -> Option<T>) -> Vec<(String, T)> {
    let accounts = state.accounts.load();
    let several = accounts.len() > 1;
    accounts
        .iter()
        .flat_map(|a| a.statuses.iter().map(move |s| (&a.name, s)))
        .filter_map(|(account, s)| {
            let name = if several {
                format!("{account}/{}", s.kind)
            } else {
                s.kind.name().to_owned()
            };
            Some((name, of(s)?))
        })
        .collect()
}

/// Re-reads the configuration files, as Prometheus's `/-/reload` does.
async fn reload(State(state): State<AppState>) -> Response {
    if !state.lifecycle {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.\n").into_response();
    }
    match state.reloader.reload().await {
        Ok(()) => (StatusCode::OK, "Configuration reloaded\n").into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {error}\n"),
        )
            .into_response(),
    }
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
