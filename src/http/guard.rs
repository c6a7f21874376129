//! What stands before every handler when a web configuration file is given:
//! the request rate limit (429), the configured response headers, and basic
//! authentication (401 with `WWW-Authenticate`). It holds the active web
//! configuration, swapped whole on reload; it never reads files.
//!
//! Password checks cost a bcrypt verification each, so, as in the
//! exporter-toolkit, they run one at a time off the async workers and their
//! outcome is remembered under a digest of (user, hash, password): a scraper
//! pays once, not every 15 seconds. An unknown user is checked against a
//! hash of the same cost as the real ones, so timing does not tell which
//! users exist.

use super::web_config::WebConfig;
use arc_swap::ArcSwap;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use std::num::NonZeroU32;
use std::sync::Arc;

/// Paths that answer without credentials when the operator allows probes in.
const PROBE_PATHS: [&str; 2] = ["/-/healthy", "/-/ready"];
/// Outcomes of password checks remembered; a scraper needs one.
const REMEMBERED_CHECKS: u64 = 1024;

/// A web configuration in force, with what serving it needs.
pub struct Active {
    pub config: WebConfig,
    limiter: Option<DefaultDirectRateLimiter>,
    /// A hash of a random password at the users' highest cost, checked for
    /// unknown users.
    decoy: Option<String>,
}

impl Active {
    fn new(config: WebConfig) -> Self {
        let limiter = config.rate_limit.map(|rate| {
            let burst = NonZeroU32::new(rate.burst).expect("validated above zero");
            let quota = Quota::with_period(rate.interval).expect("validated above zero");
            RateLimiter::direct(quota.allow_burst(burst))
        });
        let decoy = config
            .users
            .values()
            .filter_map(|h| h.parse::<bcrypt::HashParts>().ok())
            .map(|h| h.get_cost())
            .max()
            .map(|cost| {
                let password = format!("{:032x}", rand::random::<u128>());
                bcrypt::hash(password, cost).expect("a cost read from a valid hash is valid")
            });
        Self { config, limiter, decoy }
    }
}

/// The guard's state, shared by every connection.
pub struct Guard {
    active: ArcSwap<Active>,
    /// Lets `/-/healthy` and `/-/ready` answer without credentials.
    open_probes: bool,
    checks: moka::sync::Cache<[u8; 32], bool>,
    bcrypt: tokio::sync::Mutex<()>,
}

impl Guard {
    pub fn new(config: WebConfig, open_probes: bool) -> Self {
        Self {
            active: ArcSwap::from_pointee(Active::new(config)),
            open_probes,
            checks: moka::sync::Cache::new(REMEMBERED_CHECKS),
            bcrypt: tokio::sync::Mutex::new(()),
        }
    }

    /// Puts `config` in force for every request from now on.
    pub fn replace(&self, config: WebConfig) {
        self.active.store(Arc::new(Active::new(config)));
    }

    /// The configuration in force.
    pub fn active(&self) -> Arc<Active> {
        self.active.load_full()
    }

    /// Whether `user` and `password` are a configured pair.
    async fn check(&self, active: &Active, user: &str, password: &str) -> bool {
        let (hash, known) = match active.config.users.get(user) {
            Some(hash) => (hash.clone(), true),
            None => match &active.decoy {
                Some(decoy) => (decoy.clone(), false),
                None => return false,
            },
        };
        let key = digest(user, &hash, password);
        if let Some(outcome) = self.checks.get(&key) {
            return outcome && known;
        }
        let _one_at_a_time = self.bcrypt.lock().await;
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        self.checks.insert(key, matches);
        matches && known
    }
}

fn digest(user: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    for part in [user, hash, password] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    digest.finalize().into()
}

/// The user and password of a `Basic` Authorization header.
fn basic_credentials(request: &Request) -> Option<(String, String)> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// The middleware: rate limit, headers, then credentials.
pub async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let active = guard.active();
    if let Some(limiter) = &active.limiter
        && limiter.check().is_err()
    {
        return with_headers(
            &active,
            (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n").into_response(),
        );
    }
    let open = !active.config.requires_auth() || (guard.open_probes && PROBE_PATHS.contains(&request.uri().path()));
    let allowed = open
        || match basic_credentials(&request) {
            Some((user, password)) => guard.check(&active, &user, &password).await,
            None => false,
        };
    let response = if allowed {
        next.run(request).await
    } else {
        let mut response = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        response
    };
    with_headers(&active, response)
}

fn with_headers(active: &Active, mut response: Response) -> Response {
    for (name, value) in &active.config.headers {
        response.headers_mut().insert(name, value.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_do_not_collide_on_where_the_colon_falls() {
        assert_ne!(digest("a:b", "h", "c"), digest("a", "h", "b:c"));
    }

    #[test]
    fn basic_credentials_split_at_the_first_colon() {
        let request = Request::builder()
            .header("authorization", "basic YWxpY2U6cGE6c3M=")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(basic_credentials(&request), Some(("alice".into(), "pa:ss".into())));
    }
}
