//! What stands before every handler when a web configuration file is given:
//! the request rate limit (429), the configured response headers, and basic
//! authentication (401 with `WWW-Authenticate`). It holds the active web
//! configuration, swapped whole on reload; it never reads files.
//!
//! Passwords are checked by [`super::passwords`], so that a wrong one
//! costs its sender and not the scraper. The guard stands outside the
//! router's limit on concurrent requests, so a flood of wrong passwords
//! does not take the scraper's place there either.

use super::passwords::{FAILURE_MEMORY, Passwords, Verdict};
use super::web_config::WebConfig;
use arc_swap::ArcSwap;
use axum::extract::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

/// Paths that answer without credentials when the operator allows probes in.
const PROBE_PATHS: [&str; 2] = ["/-/healthy", "/-/ready"];

/// A web configuration in force, with what serving it needs.
pub struct Active {
    pub config: WebConfig,
    limiter: Option<DefaultDirectRateLimiter>,
}

impl Active {
    fn new(config: WebConfig) -> Self {
        let limiter = config.rate_limit.map(|rate| {
            let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
            let quota = Quota::with_period(rate.interval).expect("validated above zero");
            RateLimiter::direct(quota.allow_burst(burst))
        });
        Self { config, limiter }
    }
}

/// The guard's state, shared by every connection.
pub struct Guard {
    active: ArcSwap<Active>,
    /// Lets `/-/healthy` and `/-/ready` answer without credentials.
    open_probes: bool,
    passwords: Passwords,
}

impl Guard {
    pub fn new(config: WebConfig, open_probes: bool) -> Self {
        Self {
            active: ArcSwap::from_pointee(Active::new(config)),
            open_probes,
            passwords: Passwords::default(),
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
}

/// The address of the client that sent `request`; unspecified when the
/// router is called without a connection (its tests).
fn client_of(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip())
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
    let verdict = if open {
        Verdict::Granted
    } else {
        match basic_credentials(&request) {
            Some((user, password)) => {
                let users = &active.config.users;
                guard
                    .passwords
                    .check(users, client_of(&request), &user, &password)
                    .await
            }
            None => Verdict::Refused,
        }
    };
    let response = if verdict == Verdict::Granted {
        next.run(request).await
    } else if verdict == Verdict::NotChecked {
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many wrong credentials; try again later\n",
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(FAILURE_MEMORY.as_secs()));
        response
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
    fn basic_credentials_split_at_the_first_colon() {
        let request = Request::builder()
            .header("authorization", "basic YWxpY2U6cGE6c3M=")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(basic_credentials(&request), Some(("alice".into(), "pa:ss".into())));
    }
}
