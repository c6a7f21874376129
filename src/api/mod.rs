//! The only code that talks to Tencent Cloud: signs each call, keeps to each
//! action's rate limit, retries what is worth retrying and reports every
//! attempt to an [`Observer`]. It knows nothing of Prometheus or of collectors.

pub mod actions;
mod bounded;
pub mod credentials;
pub mod decode;
mod envelope;
pub mod error;
pub mod rate_limit;
pub mod signing;

pub use actions::Action;
pub use credentials::{Credentials, Provider};
pub use error::Error;

use backon::{ExponentialBuilder, Retryable};
use envelope::decode_envelope;
use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use url::Url;

/// The API version every action of this exporter belongs to.
pub const VERSION: &str = "2022-09-28";
/// The production endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://intlpartnersmgt.intl.tencentcloudapi.com";
const CONTENT_TYPE: &str = "application/json";
/// Who is calling, as Tencent's SDKs say who they are (`SDK_PYTHON_3.1.193`);
/// the SDKs accept only `[0-9a-zA-Z-_ ,;.]` here.
const REQUEST_CLIENT: &str = concat!("tencentcloud-partner-exporter_", env!("CARGO_PKG_VERSION"));

/// Sees every HTTP attempt the client makes; the exporter's self-metrics hook in here.
pub trait Observer: Send + Sync {
    /// One attempt of `action` ended with `code` (`Success` or an error code) after `elapsed`.
    fn observe(&self, action: &'static str, code: &str, elapsed: Duration);
    /// A field of an answer to `action` had a value of an unexpected type and
    /// was read as absent; `field` is its name in Tencent's SDK model, as
    /// `RemainingAmount` (whether at the top or in the items of `Data`).
    fn decode_error(&self, action: &'static str, field: &str);
}

/// Reads `body` as the client reads an answer's bytes: the envelope, then
/// each action's decoder in turn. The fuzz targets' way in; how many actions
/// read it.
pub fn read_as_every_answer(body: &[u8]) -> usize {
    decode_envelope(body).map_or(0, |answer| actions::decode_as_every_action(&answer))
}

/// Makes ring the process's TLS crypto provider, for the API client and the
/// HTTP server alike. reqwest and rustls are built without a default one so
/// that the binary carries ring only; installing it again is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An observer that ignores everything, for tools and tests that need no metrics.
pub struct NoObserver;
impl Observer for NoObserver {
    fn observe(&self, _: &'static str, _: &str, _: Duration) {}
    fn decode_error(&self, _: &'static str, _: &str) {}
}

/// How failed attempts are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// First backoff; it doubles up to `max_delay`, with full jitter.
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Ten retries from 200 ms up to 10 s: a call fails for good only after
    /// about a minute of trouble, and at a 30 % error rate one call in half a
    /// million fails all eleven attempts.
    fn default() -> Self {
        Self {
            max_retries: 10,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// Where and how to call the API.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub endpoint: Url,
    /// Sent as `X-TC-Region` when set; older endpoints require it.
    pub region: Option<String>,
    pub timeout: Duration,
    /// Share of each documented rate limit this exporter may use.
    pub rate_limit_fraction: f64,
    pub retry: RetryPolicy,
}

/// A signed, rate-limited, retrying client of `intlpartnersmgt`.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    settings: Settings,
    /// The `Host` header reqwest will send, which is also the one we sign.
    host: String,
    credentials: Provider,
    limiters: rate_limit::Limiters,
    observer: Arc<dyn Observer>,
    /// Non-retryable codes already logged at error level, so a broken key
    /// yields one clear line per action rather than one per refresh.
    reported: Mutex<HashSet<(&'static str, String)>>,
    /// Fields already logged for an unexpected type, once per action and field.
    odd_fields: Mutex<HashSet<(&'static str, String)>>,
    /// Seconds to add to the local clock when signing: learnt from the `Date`
    /// header of an `AuthFailure.SignatureExpire` answer.
    clock_offset: AtomicI64,
    /// Seconds the API's clock is ahead of the local one, from the `Date`
    /// header of its latest answer: what [`Client::now`] adds. Signing keeps
    /// to the local clock until the API rejects it.
    api_offset: AtomicI64,
}

impl Client {
    /// Builds a client; fails only when the endpoint has no host or TLS cannot start.
    pub fn new(settings: Settings, credentials: Provider, observer: Arc<dyn Observer>) -> Result<Self, Error> {
        install_crypto_provider();
        let host = match (settings.endpoint.host_str(), settings.endpoint.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(Error::Network(format!("endpoint {} has no host", settings.endpoint))),
        };
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            // A signed call is answered where it was sent, or fails as the
            // redirect it got: a signature is never sent to another host.
            .redirect(reqwest::redirect::Policy::none())
            // Never asked for nor inflated: a compressed answer is malformed,
            // and a small body cannot become gigabytes.
            .no_gzip()
            .no_brotli()
            .no_deflate()
            .no_zstd()
            .user_agent(concat!("tencentcloud-partner-exporter/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Network(e.to_string()))?;
        let limiters = rate_limit::Limiters::new(actions::ALL, settings.rate_limit_fraction);
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                settings,
                host,
                credentials,
                limiters,
                observer,
                reported: Mutex::default(),
                odd_fields: Mutex::default(),
                clock_offset: AtomicI64::new(0),
                api_offset: AtomicI64::new(0),
            }),
        })
    }

    /// The API's time as this client knows it, in unix seconds: the local
    /// clock, corrected by the `Date` header of the API's latest answer.
    pub fn now(&self) -> i64 {
        unix_now() + self.inner.api_offset.load(Ordering::Relaxed)
    }

    /// How far apart this client spaces calls of `A`: its documented limit
    /// scaled by `--api.rate-limit-fraction`.
    pub fn pace<A: Action>(&self) -> Duration {
        rate_limit::interval(A::RATE_LIMIT, self.inner.settings.rate_limit_fraction)
    }

    /// Calls `A` with `request`, waiting for the rate limiter before every
    /// attempt and retrying retryable failures with exponential backoff.
    pub async fn call<A: Action>(&self, request: &A::Request) -> Result<A::Response, Error> {
        self.call_within::<A>(request, None, |_| {}).await
    }

    /// The endpoint's host (and port, when not the default), as it is
    /// signed: what a log line names.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// [`Client::call`], but retries only while the next attempt would start
    /// within `budget` of the first: a collector refreshing every minute
    /// learns of an outage within about a minute, not after every retry.
    /// `retrying` hears of each failed attempt that is retried, as it fails.
    pub async fn call_within<A: Action>(
        &self,
        request: &A::Request,
        budget: Option<Duration>,
        retrying: impl Fn(&Error),
    ) -> Result<A::Response, Error> {
        let body = serde_json::to_vec(request).expect("request types serialize to JSON");
        let retry = self.inner.settings.retry;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(retry.min_delay)
            .with_max_delay(retry.max_delay)
            .with_max_times(retry.max_retries)
            .with_jitter();
        let deadline = budget.map(|budget| tokio::time::Instant::now() + budget);
        let result = (|| self.attempt::<A>(&body))
            .retry(backoff)
            .when(Error::is_retryable)
            .adjust(|_, delay| match deadline {
                Some(deadline) => delay.filter(|d| tokio::time::Instant::now() + *d < deadline),
                None => delay,
            })
            .notify(|error, after| {
                tracing::debug!(action = A::NAME, %error, retry_in = ?after, "retrying API call");
                retrying(error);
            })
            .await;
        self.report(A::NAME, &result);
        result
    }

    async fn attempt<A: Action>(&self, body: &[u8]) -> Result<A::Response, Error> {
        let inner = &*self.inner;
        inner.limiters.acquire(A::NAME).await;
        let started = Instant::now();
        let result = self
            .send(A::NAME, body)
            .await
            .and_then(|value| decode::decode::<A::Response>(&value));
        let code = match &result {
            Ok(_) => "Success".into(),
            Err(error) => error.code(),
        };
        inner.observer.observe(A::NAME, &code, started.elapsed());
        let (response, odd_fields) = result?;
        for field in odd_fields {
            self.report_odd_field(A::NAME, field);
        }
        Ok(response)
    }

    /// Counts a field read as absent for its type, and logs it (with its
    /// path, as `Data.RemainingAmount`) the first time. The rest of the answer
    /// stands: one odd value must not cost a refresh.
    fn report_odd_field(&self, action: &'static str, path: String) {
        let inner = &*self.inner;
        let name = path.rsplit('.').next().unwrap_or(&path);
        inner.observer.decode_error(action, name);
        let first = inner
            .odd_fields
            .lock()
            .expect("odd field set is never poisoned")
            .insert((action, path.clone()));
        if first {
            tracing::warn!(
                action,
                field = path,
                "the API answered a field with a value that cannot mean what the field does (a type other than the \
                 SDK's, an amount out of range, a time in another format); exporting it as absent (counted in \
                 tencentcloud_partner_api_decode_errors_total; logged once)"
            );
        }
    }

    /// One signed POST; returns the `Response` object of a successful answer.
    async fn send(&self, action: &'static str, body: &[u8]) -> Result<serde_json::Value, Error> {
        let inner = &*self.inner;
        let timestamp = unix_now() + inner.clock_offset.load(Ordering::Relaxed);
        let signed = signing::Request {
            host: &inner.host,
            content_type: CONTENT_TYPE,
            body,
            timestamp,
        };
        let credentials = &inner.credentials.current(&inner.http).await?;
        let authorization = signing::authorization(&credentials.secret_id, credentials.secret_key(), &signed);
        let mut request = inner
            .http
            .post(inner.settings.endpoint.clone())
            .header("Content-Type", CONTENT_TYPE)
            .header("Authorization", authorization)
            .header("X-TC-Action", action)
            .header("X-TC-Version", VERSION)
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("X-TC-Language", "en-US")
            .header("X-TC-RequestClient", REQUEST_CLIENT)
            .body(body.to_vec());
        if let Some(region) = &inner.settings.region {
            request = request.header("X-TC-Region", region);
        }
        if let Some(token) = credentials.token() {
            request = request.header("X-TC-Token", token);
        }
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let server_time = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok());
        if let Some(server) = server_time.and_then(|t| t.duration_since(UNIX_EPOCH).ok()) {
            inner
                .api_offset
                .store(server.as_secs() as i64 - unix_now(), Ordering::Relaxed);
        }
        let status = response.status();
        if !status.is_success() {
            return Err(Error::Status(status.as_u16()));
        }
        let cut_short = |e: reqwest::Error| {
            if e.is_timeout() {
                self.transport_error(e)
            } else {
                Error::Decode(format!("body cut short: {}", e.without_url()))
            }
        };
        let bytes = bounded::read(response, bounded::MAX_ANSWER, cut_short).await?;
        match decode_envelope(&bytes) {
            Err(Error::Api { code, .. }) if code == "AuthFailure.SignatureExpire" && server_time.is_some() => {
                Err(self.correct_clock(server_time.expect("checked above"), timestamp))
            }
            other => other,
        }
    }

    /// Learns the API's time from a `Date` header after a signature was
    /// rejected as expired, and signs with it from then on. Tencent's SDKs stop
    /// here; an exporter left running on a drifting VM should not.
    fn correct_clock(&self, server_time: SystemTime, signed_at: i64) -> Error {
        let server = server_time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let local = unix_now();
        let offset = server - local;
        let previous = self.inner.clock_offset.swap(offset, Ordering::Relaxed);
        if (offset - previous).abs() > 1 {
            tracing::warn!(
                offset_secs = offset,
                signed_at,
                "the API rejected a signature as expired: the local clock is {offset} s off Tencent's; \
                 signing with Tencent's time from now on. Synchronise this host's clock (NTP)"
            );
        }
        Error::ClockSkew { offset_secs: offset }
    }

    fn transport_error(&self, error: reqwest::Error) -> Error {
        if error.is_timeout() {
            Error::Timeout(self.inner.settings.timeout)
        } else {
            // The URL is the endpoint, which the operator knows; the error chain
            // carries the cause (refused, reset, DNS) that they need.
            let error = error.without_url();
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            Error::Network(message)
        }
    }

    /// Logs a final failure that retrying cannot fix once, with the hint the
    /// operator needs; a success of the same action re-arms the message. A
    /// refusal of the one item asked about is the refresh runtime's to judge
    /// and log (`refresh::refusals`), not an error to fix.
    fn report<T>(&self, action: &'static str, result: &Result<T, Error>) {
        let mut reported = self.inner.reported.lock().expect("report set is never poisoned");
        match result {
            Ok(_) => reported.retain(|(a, _)| *a != action),
            Err(error) if error.is_about_the_subject() => {
                tracing::debug!(action, %error, "the API refused the item asked about");
            }
            Err(error) if !error.is_retryable() => {
                if reported.insert((action, error.code().into_owned())) {
                    tracing::error!(
                        action,
                        %error,
                        hint = error.operator_hint().unwrap_or("see the error message"),
                        "API call rejected; it will not succeed until this is fixed"
                    );
                }
            }
            Err(_) => {}
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_client_uses_only_characters_tencents_sdks_accept() {
        assert!(REQUEST_CLIENT.starts_with("tencentcloud-partner-exporter_"));
        assert!(
            REQUEST_CLIENT
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_ ,;.".contains(c)),
            "{REQUEST_CLIENT}"
        );
    }
}
