//! An in-process fake of the `intlpartnersmgt` API, for `--demo` and for the
//! tests. It verifies TC3 signatures, paginates, enforces each action's rate
//! limit in a sliding one-second window and answers like Tencent, errors
//! included. Faults can be injected. It shares only the signing functions with
//! the client: its answers are built from its own [`Dataset`], field by field.

mod answers;
pub mod dataset;
pub mod faults;
mod settings;

pub use dataset::{Dataset, Shape};
pub use faults::{Fault, Rewrite, Rule};
pub use settings::Settings;

use crate::api::{self, signing};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use rand::RngExt;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How far a request timestamp may be from the simulator's clock, as Tencent allows.
const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// Calls seen for one action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionStats {
    /// Every call that reached the simulator, throttled ones included.
    pub calls: u64,
    /// Calls answered with `RequestLimitExceeded`.
    pub throttled: u64,
}

/// A running simulated API; clones share state.
#[derive(Clone)]
pub struct Simulator {
    shared: Arc<Backend>,
}

struct Backend {
    settings: Settings,
    data: Mutex<Dataset>,
    /// SecretId → (SecretKey, session token required with it).
    keys: Mutex<HashMap<String, (String, Option<String>)>>,
    /// Authenticated calls per SecretId.
    calls_by_key: Mutex<BTreeMap<String, u64>>,
    windows: Mutex<HashMap<String, VecDeque<Instant>>>,
    faults: Mutex<Vec<Rule>>,
    stats: Mutex<BTreeMap<String, ActionStats>>,
    /// Answered requests (action, body), when `Settings::record_requests`.
    recorded: Mutex<Vec<(String, serde_json::Value)>>,
    requests: AtomicU64,
    /// Seconds the simulated API's clock is ahead of this host's.
    clock_offset: AtomicI64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Simulator {
    /// A simulator answering from `data`.
    pub fn new(data: Dataset, settings: Settings) -> Self {
        Self {
            shared: Arc::new(Backend {
                data: Mutex::new(data),
                keys: Mutex::default(),
                calls_by_key: Mutex::default(),
                windows: Mutex::default(),
                faults: Mutex::default(),
                stats: Mutex::default(),
                recorded: Mutex::default(),
                requests: AtomicU64::new(0),
                clock_offset: AtomicI64::new(settings.clock_offset_secs),
                settings,
            }),
        }
    }

    /// Accepts requests signed with this key pair.
    pub fn add_key(&self, secret_id: &str, secret_key: &str) {
        lock(&self.shared.keys).insert(secret_id.into(), (secret_key.into(), None));
    }

    /// Accepts requests signed with this temporary key pair and carrying `token`.
    pub fn add_temporary_key(&self, secret_id: &str, secret_key: &str, token: &str) {
        lock(&self.shared.keys).insert(secret_id.into(), (secret_key.into(), Some(token.into())));
    }

    /// Stops accepting a key, as deleting it in CAM does.
    pub fn remove_key(&self, secret_id: &str) {
        lock(&self.shared.keys).remove(secret_id);
    }

    /// Authenticated calls so far, by SecretId.
    pub fn calls_by_key(&self) -> BTreeMap<String, u64> {
        lock(&self.shared.calls_by_key).clone()
    }

    /// Reads or changes the data the API answers from.
    pub fn with_data<R>(&self, f: impl FnOnce(&mut Dataset) -> R) -> R {
        f(&mut lock(&self.shared.data))
    }

    /// Adds a fault rule; rules are tried in the order added.
    pub fn inject(&self, rule: Rule) {
        lock(&self.shared.faults).push(rule);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Moves the simulated API's clock to `secs` ahead of this host's
    /// (negative: behind), as a month turning or a drifting host would.
    pub fn set_clock_offset(&self, secs: i64) {
        self.shared.clock_offset.store(secs, Ordering::Relaxed);
    }

    /// The simulated API's clock in UTC+8, the zone of its time strings.
    pub fn china_now(&self) -> NaiveDateTime {
        china_now() + chrono::Duration::seconds(self.shared.clock_offset.load(Ordering::Relaxed))
    }

    /// Calls seen so far, by action.
    pub fn stats(&self) -> BTreeMap<String, ActionStats> {
        lock(&self.shared.stats).clone()
    }

    /// The bodies of the requests of `action` answered so far (throttled
    /// ones left out), when the settings ask to record them.
    pub fn requests(&self, action: &str) -> Vec<serde_json::Value> {
        lock(&self.shared.recorded)
            .iter()
            .filter(|(a, _)| a == action)
            .map(|(_, body)| body.clone())
            .collect()
    }

    /// Forgets the calls seen so far.
    pub fn reset_stats(&self) {
        lock(&self.shared.stats).clear();
    }

    /// The simulator as an axum router (one `POST /`).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", axum::routing::post(handle))
            .with_state(self.shared.clone())
    }

    /// Serves on `127.0.0.1` at a free port until the runtime stops; returns the address.
    pub async fn spawn(&self) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let router = self.router();
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "simulator stopped");
            }
        });
        Ok(addr)
    }

    /// Lets the simulated customers spend and be topped up, every `period`, forever.
    pub fn spawn_drift(&self, period: Duration) {
        let sim = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let now = sim.china_now();
                let mut rng = rand::rng();
                sim.with_data(|data| data.drift(&mut rng, now));
            }
        });
    }
}

/// The current wall-clock time in UTC+8, the zone of the API's time strings.
pub fn china_now() -> NaiveDateTime {
    (chrono::Utc::now() + chrono::Duration::hours(8)).naive_utc()
}

pub(crate) struct ApiError {
    code: std::borrow::Cow<'static, str>,
    message: String,
}

pub(crate) fn fail(code: impl Into<std::borrow::Cow<'static, str>>, message: impl Into<String>) -> ApiError {
    ApiError {
        code: code.into(),
        message: message.into(),
    }
}

/// Answers one call and dates the answer with the simulated API's clock, as
/// Tencent's `Date` header does.
async fn handle(State(shared): State<Arc<Backend>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut response = respond(&shared, &headers, &body).await;
    let offset = shared.clock_offset.load(Ordering::Relaxed);
    let now = std::time::SystemTime::now() + Duration::from_secs(offset.max(0) as u64)
        - Duration::from_secs((-offset).max(0) as u64);
    if let Ok(date) = axum::http::HeaderValue::from_str(&httpdate::fmt_http_date(now)) {
        response.headers_mut().insert(axum::http::header::DATE, date);
    }
    response
}

async fn respond(shared: &Arc<Backend>, headers: &HeaderMap, body: &Bytes) -> Response {
    let request_id = format!(
        "sim-{:08x}-{:04x}",
        shared.requests.fetch_add(1, Ordering::Relaxed),
        rand::rng().random::<u16>()
    );
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let action = header("x-tc-action").to_owned();
    let result = match authenticate(shared, headers, body) {
        Err(e) => Err(e),
        Ok(()) if header("x-tc-version") != api::VERSION => {
            Err(fail("NoSuchVersion", "The requested version does not exist"))
        }
        Ok(()) => match throttle(shared, &action) {
            Err(e) => Err(e),
            Ok(()) => {
                if shared.settings.record_requests {
                    let request = serde_json::from_slice(body).unwrap_or_default();
                    lock(&shared.recorded).push((action.clone(), request));
                }
                return answer_with_faults(shared, &action, body, request_id).await;
            }
        },
    };
    match result {
        Ok(()) => unreachable!("successful requests returned above"),
        Err(error) => error_response(&error, &request_id),
    }
}

fn error_response(error: &ApiError, request_id: &str) -> Response {
    axum::Json(json!({"Response": {"Error": {"Code": error.code, "Message": error.message}, "RequestId": request_id}}))
        .into_response()
}

fn authenticate(shared: &Backend, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let auth = header("authorization")
        .and_then(signing::parse_authorization)
        .ok_or_else(|| {
            fail(
                "AuthFailure.InvalidAuthorization",
                "Authorization is not a valid TC3 header",
            )
        })?;
    let (key, token) = lock(&shared.keys)
        .get(&auth.secret_id)
        .cloned()
        .ok_or_else(|| fail("AuthFailure.SecretIdNotFound", "The SecretId is not found"))?;
    if token.is_some() && header("x-tc-token") != token.as_deref() {
        return Err(fail(
            "AuthFailure.TokenFailure",
            "The token of the temporary credentials is invalid",
        ));
    }
    let timestamp: i64 = header("x-tc-timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| fail("AuthFailure.InvalidAuthorization", "X-TC-Timestamp is missing"))?;
    let now = chrono::Utc::now().timestamp() + shared.clock_offset.load(Ordering::Relaxed);
    if (timestamp - now).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(fail(
            "AuthFailure.SignatureExpire",
            format!("Signature expired. Timestamp {timestamp} is too far from the server time {now}"),
        ));
    }
    if auth.service != signing::SERVICE || auth.date != signing::scope_date(timestamp) {
        return Err(fail("AuthFailure.SignatureFailure", "Credential scope does not match"));
    }
    let request = signing::Request {
        host: header("host").unwrap_or_default(),
        content_type: header("content-type").unwrap_or_default(),
        body,
        timestamp,
    };
    if auth.signed_headers != signing::SIGNED_HEADERS || signing::signature(&key, &request) != auth.signature {
        return Err(fail(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. Please check your signature is correct.",
        ));
    }
    *lock(&shared.calls_by_key).entry(auth.secret_id).or_default() += 1;
    Ok(())
}

fn documented_limit(action: &str) -> Option<u32> {
    api::actions::ALL
        .iter()
        .find(|(name, _)| *name == action)
        .map(|(_, limit)| *limit)
}

/// Counts the call and rejects it when its action already had its limit of
/// calls in the last second.
fn throttle(shared: &Backend, action: &str) -> Result<(), ApiError> {
    let mut stats = lock(&shared.stats);
    let entry = stats.entry(action.to_owned()).or_default();
    entry.calls += 1;
    let (Some(scale), Some(limit)) = (shared.settings.rate_limit_scale, documented_limit(action)) else {
        return Ok(());
    };
    let allowed = ((f64::from(limit) * scale).floor() as usize).max(1);
    let now = Instant::now();
    let mut windows = lock(&shared.windows);
    let window = windows.entry(action.to_owned()).or_default();
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
    {
        window.pop_front();
    }
    if window.len() >= allowed {
        entry.throttled += 1;
        return Err(fail(
            "RequestLimitExceeded",
            "Your current request times exceeds the limit. Please try again later.",
        ));
    }
    window.push_back(now);
    Ok(())
}

fn pick_fault(shared: &Backend, action: &str, body: &[u8]) -> Option<Fault> {
    let mut rules = lock(&shared.faults);
    let mut rng = rand::rng();
    for rule in rules.iter_mut() {
        if rule.matches(action, body) && rule.skip > 0 {
            rule.skip -= 1;
            continue;
        }
        if rule.matches(action, body) && rng.random_bool(rule.probability.clamp(0.0, 1.0)) {
            if let Some(n) = rule.remaining.as_mut() {
                *n -= 1;
            }
            return Some(rule.fault.clone());
        }
    }
    None
}

async fn answer_with_faults(shared: &Backend, action: &str, body: &[u8], request_id: String) -> Response {
    let fault = pick_fault(shared, action, body);
    if let Some(Fault::Latency(delay)) = fault {
        tokio::time::sleep(delay).await;
    }
    let answer = match fault {
        Some(Fault::Error(code)) => {
            return error_response(&fail(code, "Injected by the simulator"), &request_id);
        }
        Some(Fault::Status(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            return (status, "<html><body>upstream error</body></html>").into_response();
        }
        Some(Fault::Malformed) => return "<html><body>502 Bad Gateway</body></html>".into_response(),
        // A body that fails before its first byte makes the server drop the
        // connection before the response head is flushed: the client sees
        // the connection closed with no answer.
        Some(Fault::Reset) => {
            let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
            return axum::body::Body::from_stream(futures::stream::once(async move { Err::<Bytes, _>(reset) }))
                .into_response();
        }
        _ => answer(shared, action, body),
    };
    let mut response = match answer {
        Ok(fields) => fields,
        Err(error) => return error_response(&error, &request_id),
    };
    if let (Some(Fault::Nulls), Some(object)) = (&fault, response.as_object_mut()) {
        object.values_mut().for_each(|v| *v = Value::Null);
    }
    if let Some(Fault::Rewrite(rewrite)) = &fault {
        rewrite.apply(&mut response);
    }
    response["RequestId"] = json!(request_id);
    let text = json!({ "Response": response }).to_string();
    if let Some(Fault::Truncated) = fault {
        return text[..text.len() / 2].to_owned().into_response();
    }
    ([("content-type", "application/json")], text).into_response()
}

fn answer(shared: &Backend, action: &str, body: &[u8]) -> Result<Value, ApiError> {
    let body: Value =
        serde_json::from_slice(body).map_err(|_| fail("InvalidParameter", "The request body is not valid JSON"))?;
    if documented_limit(action).is_none() {
        // Every action answered here is declared by the client, and so
        // checked against its SDK model by the conformance tests.
        return Err(fail("InvalidAction", format!("The action {action} does not exist")));
    }
    let data = lock(&shared.data);
    answers::answer(
        action,
        answers::Call {
            body: &body,
            data: &data,
            settings: &shared.settings,
            now: china_now() + chrono::Duration::seconds(shared.clock_offset.load(Ordering::Relaxed)),
        },
    )
}
