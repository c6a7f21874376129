//! API credentials. The secret key is wrapped so that no `Debug`, `Display` or
//! log line can print it; only the signer exposes it.

use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// A Tencent Cloud API key pair, with the session token of temporary credentials.
#[derive(Clone)]
pub struct Credentials {
    /// The public half, sent in every `Authorization` header; safe to log.
    pub secret_id: String,
    secret_key: SecretString,
    /// Sent as `X-TC-Token`; as sensitive as the key, so never printed either.
    token: Option<SecretString>,
}

impl Credentials {
    /// Builds credentials from a key pair and an optional session token.
    pub fn new(secret_id: impl Into<String>, secret_key: impl Into<String>, token: Option<String>) -> Self {
        Self {
            secret_id: secret_id.into(),
            secret_key: SecretString::from(secret_key.into()),
            token: token.filter(|t| !t.is_empty()).map(SecretString::from),
        }
    }

    /// The secret key, for the signer only.
    pub(crate) fn secret_key(&self) -> &str {
        self.secret_key.expose_secret()
    }

    /// The session token, for the `X-TC-Token` header only.
    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_ref().map(|t| t.expose_secret())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"***")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret_key_or_token() {
        let credentials = Credentials::new("AKIDpublic", "very-secret-key", Some("session-token".into()));
        let printed = format!("{credentials:?} {credentials:#?}");
        assert!(printed.contains("AKIDpublic"));
        assert!(!printed.contains("very-secret-key"));
        assert!(!printed.contains("session-token"));
    }
}
