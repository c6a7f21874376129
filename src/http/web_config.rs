//! The web configuration file (`--web.config.file`) in the format of the
//! Prometheus exporter-toolkit, so an operator can copy the `web-config.yml`
//! of node_exporter over: `tls_server_config`, `basic_auth_users` (bcrypt),
//! `http_server_config` (`http2`, `headers`) and `rate_limit`. This module
//! reads and validates the file into a [`WebConfig`] ready to serve with; it
//! never serves a request itself.
//!
//! Errors name files and fields, never their contents: the file can hold a
//! private key inline.

use crate::http::tls;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use crate::config::file::Error;

/// What the file is, in error messages.
const WHAT: &str = "web configuration";

/// The file as written; every field the exporter-toolkit knows, and no other
/// (an unknown field is a typo that would otherwise leave an endpoint open).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    tls_server_config: Option<tls::Settings>,
    #[serde(default)]
    http_server_config: Option<HttpServerConfig>,
    #[serde(default)]
    rate_limit: Option<RateLimit>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpServerConfig {
    #[serde(default = "yes")]
    http2: bool,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimit {
    #[serde(default)]
    burst: u32,
    #[serde(default)]
    interval: Option<String>,
}

/// Response headers an operator may set, and the values allowed where the
/// header has a fixed set: the exporter-toolkit's list, kept identical so the
/// same file means the same thing everywhere in the Prometheus ecosystem.
const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// A global request rate limit: `burst` requests, one more every `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRate {
    pub burst: u32,
    pub interval: Duration,
}

/// A validated web configuration. The default serves plain HTTP to anyone.
#[derive(Clone, Default)]
pub struct WebConfig {
    /// TLS for new connections; `None` serves plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// User name → bcrypt hash; empty means no authentication.
    pub users: Arc<BTreeMap<String, String>>,
    /// Added to every response, the 401s included.
    pub headers: HeaderMap,
    pub rate_limit: Option<RequestRate>,
    /// Whether TLS requires a client certificate.
    pub client_certificates: bool,
    /// When the server's certificate expires, with TLS.
    pub certificate_expires: Option<std::time::SystemTime>,
    /// Whether the file sets nothing at all: empty, comments only, or `{}`.
    pub blank: bool,
    /// What the file asks for and is not offered, said at `warn` on each load.
    pub warnings: Vec<String>,
    /// The configuration file and every file it names, so a change to a
    /// rotated certificate is noticed like a change to the file itself.
    pub files: Vec<PathBuf>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("rate_limit", &self.rate_limit)
            .field("files", &self.files)
            .finish()
    }
}

impl WebConfig {
    /// Reads and validates the file at `path`; relative file names in it are
    /// relative to its directory, as in the exporter-toolkit.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let invalid = |message: String| crate::config::file::invalid(path, WHAT, message);
        let file: File = crate::config::file::read_yaml(path, WHAT)?;
        let blank = file.tls_server_config.is_none()
            && file.http_server_config.is_none()
            && file.rate_limit.is_none()
            && file.basic_auth_users.is_none();
        let base = path.parent().unwrap_or(Path::new("."));
        let mut files = vec![path.to_owned()];
        let http = file.http_server_config.unwrap_or(HttpServerConfig {
            http2: true,
            headers: BTreeMap::new(),
        });
        let client_certificates = file
            .tls_server_config
            .as_ref()
            .is_some_and(|settings| settings.is_enabled() && settings.requires_client_certificate());
        let mut warnings = Vec::new();
        let (tls, certificate_expires) = match file.tls_server_config {
            Some(settings) if settings.is_enabled() => {
                let settings = settings.relative_to(base);
                files.extend(settings.files());
                let built = settings.server_config(http.http2).map_err(|e| invalid(e.to_string()))?;
                warnings = built.warnings;
                (Some(Arc::new(built.config)), built.expires)
            }
            _ => (None, None),
        };
        let users = file.basic_auth_users.unwrap_or_default();
        for (user, hash) in &users {
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(invalid(format!(
                    "basic_auth_users: the password of {user:?} is not a bcrypt hash"
                )));
            }
        }
        Ok(Self {
            tls,
            users: Arc::new(users),
            headers: headers(&http.headers).map_err(invalid)?,
            rate_limit: file
                .rate_limit
                .map(request_rate)
                .transpose()
                .map_err(invalid)?
                .flatten(),
            client_certificates,
            certificate_expires,
            blank,
            files,
            warnings,
        })
    }

    /// Why this configuration may not replace `running` on reload, if it
    /// would weaken it: a file caught empty mid-write (`cat x > web.yml`), a
    /// template that rendered nothing (unless the running one set nothing
    /// either), or an edit that drops TLS, client certificates or every
    /// user. Serving with less takes a restart.
    pub fn weakens(&self, running: &WebConfig) -> Option<&'static str> {
        if self.blank && !running.blank {
            Some("the file sets nothing (empty, or comments only); a reload never turns TLS or authentication off")
        } else if running.tls.is_some() && self.tls.is_none() {
            Some("it would turn TLS off; that takes a restart")
        } else if running.client_certificates && !self.client_certificates {
            Some("it would stop requiring client certificates; that takes a restart")
        } else if running.requires_auth() && !self.requires_auth() {
            Some("it would remove every user of basic_auth_users; that takes a restart")
        } else {
            None
        }
    }

    /// Whether requests must carry a user and password.
    pub fn requires_auth(&self) -> bool {
        !self.users.is_empty()
    }
}

fn headers(configured: &BTreeMap<String, String>) -> Result<HeaderMap, String> {
    let mut out = HeaderMap::new();
    for (name, value) in configured {
        let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| n == name) else {
            return Err(format!("http_server_config: header {name:?} cannot be configured"));
        };
        if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            return Err(format!(
                "http_server_config: {name} must be one of {allowed:?}, not {value:?}"
            ));
        }
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("http_server_config: {name} has a value that cannot be sent"))?;
        let name = HeaderName::from_bytes(name.as_bytes()).expect("every allowed header name is valid");
        out.insert(name, value);
    }
    Ok(out)
}

/// The rate limit `limit` sets: none when its interval is zero or left out,
/// the exporter-toolkit's way of turning it off. A burst of zero admits one
/// request per interval: Go's limiter would admit none at all, which no
/// operator means by writing an interval.
fn request_rate(limit: RateLimit) -> Result<Option<RequestRate>, String> {
    let interval = match limit.interval.as_deref() {
        None => Duration::ZERO,
        Some(text) => humantime::parse_duration(text)
            .map_err(|e| format!("rate_limit: interval {text:?} is not a duration: {e}"))?,
    };
    if interval.is_zero() {
        return Ok(None);
    }
    Ok(Some(RequestRate {
        burst: limit.burst.max(1),
        interval,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<WebConfig, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(&path, text).unwrap();
        WebConfig::load(&path)
    }

    fn message(text: &str) -> String {
        load(text).expect_err("the file should be refused").to_string()
    }

    #[test]
    fn an_empty_file_serves_plain_http_to_anyone() {
        let config = load("").unwrap();
        assert!(config.tls.is_none());
        assert!(!config.requires_auth());
        assert!(config.headers.is_empty());
    }

    #[test]
    fn users_need_bcrypt_hashes() {
        let config =
            load("basic_auth_users:\n  alice: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n").unwrap();
        assert!(config.requires_auth());
        assert!(message("basic_auth_users:\n  alice: plaintext\n").contains("\"alice\" is not a bcrypt hash"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(message("basic_auth_user:\n  alice: x\n").contains("basic_auth_user"));
        assert!(message("tls_server_config:\n  certfile: a\n").contains("certfile"));
    }

    #[test]
    fn only_the_toolkits_headers_and_values_are_allowed() {
        let config = load("http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\n").unwrap();
        assert_eq!(config.headers["x-frame-options"], "deny");
        assert_eq!(config.headers["strict-transport-security"], "max-age=31536000");
        assert!(message("http_server_config:\n  headers:\n    X-Frame-Options: allow\n").contains("must be one of"));
        assert!(message("http_server_config:\n  headers:\n    Server: mine\n").contains("cannot be configured"));
    }

    #[test]
    fn a_rate_limit_with_a_zero_or_missing_interval_is_off_and_a_zero_burst_is_one() {
        let config = load("rate_limit:\n  burst: 5\n  interval: 1s\n").unwrap();
        assert_eq!(
            config.rate_limit,
            Some(RequestRate {
                burst: 5,
                interval: Duration::from_secs(1)
            })
        );
        for one in [
            "rate_limit:\n  burst: 0\n  interval: 1s\n",
            "rate_limit:\n  interval: 1s\n",
        ] {
            assert_eq!(load(one).unwrap().rate_limit.unwrap().burst, 1, "{one}");
        }
        for off in [
            "rate_limit:\n  burst: 5\n",
            "rate_limit:\n  burst: 0\n  interval: 0\n",
            "rate_limit:\n  burst: 5\n  interval: 0s\n",
            "rate_limit:\n  burst: 5\n  interval: 0\n",
            "rate_limit: {}\n",
        ] {
            assert_eq!(load(off).unwrap().rate_limit, None, "{off}");
        }
        assert!(message("rate_limit:\n  burst: 5\n  interval: soon\n").contains("not a duration"));
    }

    #[test]
    fn tls_needs_both_a_certificate_and_a_key() {
        assert!(message("tls_server_config:\n  cert_file: server.crt\n").contains("key_file"));
        assert!(message("tls_server_config:\n  key_file: server.key\n").contains("cert_file"));
    }

    #[test]
    fn tls_file_names_are_relative_to_the_configuration() {
        let error = message("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
        assert!(error.contains("server.crt"), "{error}");
        assert!(error.contains('/'), "the path should be resolved: {error}");
    }

    proptest::proptest! {
        #[test]
        fn no_web_configuration_file_panics(text in "(tls_server_config|basic_auth_users|http_server_config|rate_limit|headers|cert_file|key|[ :\\-\\[\\]{}\\n]|[a-zA-Z0-9$./]{1,12}){0,40}") {
            let _ = load(&text);
        }
    }
}
