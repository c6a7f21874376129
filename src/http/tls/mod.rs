//! `tls_server_config` of the web configuration file: the exporter-toolkit's
//! fields turned into a rustls server configuration: the certificate and
//! key, here; Go's names for versions, suites and curves, in [`names`]; client
//! certificates, in [`verifiers`]. What rustls cannot do (TLS 1.0 and 1.1,
//! CBC suites, P-521) is left out with a warning, never silently, and a list
//! that leaves nothing is refused.

mod names;
mod verifiers;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// Why a `tls_server_config` cannot be used. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("tls_server_config: {0}")]
    Invalid(String),
    #[error("tls_server_config: cannot read {path}: {cause}")]
    Read { path: PathBuf, cause: std::io::Error },
}

pub(super) fn invalid(message: impl Into<String>) -> Error {
    Error::Invalid(message.into())
}

/// `tls_server_config` as written. Empty strings count as unset, as in the toolkit.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    cert: Option<String>,
    /// An inline private key: never printed, not even by Debug.
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    client_ca: Option<String>,
    #[serde(default)]
    cert_file: Option<PathBuf>,
    #[serde(default)]
    key_file: Option<PathBuf>,
    #[serde(default)]
    client_auth_type: Option<String>,
    #[serde(default)]
    client_ca_file: Option<PathBuf>,
    #[serde(default)]
    cipher_suites: Vec<String>,
    #[serde(default)]
    curve_preferences: Vec<String>,
    #[serde(default)]
    min_version: Option<String>,
    #[serde(default)]
    max_version: Option<String>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    client_allowed_sans: Option<Vec<String>>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("client_ca_file", &self.client_ca_file)
            .field("client_auth_type", &self.client_auth_type)
            .field("key", &self.key.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

fn set(text: &Option<String>) -> Option<&str> {
    text.as_deref().filter(|t| !t.is_empty())
}

fn set_path(path: &Option<PathBuf>) -> Option<&Path> {
    path.as_deref().filter(|p| !p.as_os_str().is_empty())
}

/// Where a piece of PEM comes from, for loading and for error messages.
enum Pem<'a> {
    File(&'a Path),
    Inline(&'a str, &'static str),
}

impl Pem<'_> {
    fn bytes(&self) -> Result<Vec<u8>, Error> {
        match self {
            Pem::File(path) => {
                crate::local_file::read(path, crate::local_file::SETTINGS).map_err(|cause| Error::Read {
                    path: path.to_path_buf(),
                    cause,
                })
            }
            Pem::Inline(text, _) => Ok(text.as_bytes().to_vec()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Pem::File(path) => path.display().to_string(),
            Pem::Inline(_, field) => format!("the inline {field}"),
        }
    }
}

impl Settings {
    /// Whether any TLS field is set: then TLS is on, and must be complete.
    pub fn is_enabled(&self) -> bool {
        [&self.cert, &self.key, &self.client_ca, &self.client_auth_type]
            .iter()
            .any(|t| set(t).is_some())
            || [&self.cert_file, &self.key_file, &self.client_ca_file]
                .iter()
                .any(|p| set_path(p).is_some())
    }

    /// Whether a client must present a certificate to connect.
    pub fn requires_client_certificate(&self) -> bool {
        matches!(
            set(&self.client_auth_type),
            Some("RequireAnyClientCert" | "RequireAndVerifyClientCert")
        )
    }

    /// The settings with relative file names resolved against `base`.
    pub fn relative_to(mut self, base: &Path) -> Self {
        for path in [&mut self.cert_file, &mut self.key_file, &mut self.client_ca_file] {
            if let Some(p) = path.as_mut().filter(|p| p.is_relative() && !p.as_os_str().is_empty()) {
                *p = base.join(&*p);
            }
        }
        self
    }

    /// The files the settings read, to watch for rotation.
    pub fn files(&self) -> Vec<PathBuf> {
        [&self.cert_file, &self.key_file, &self.client_ca_file]
            .into_iter()
            .filter_map(|p| set_path(p).map(Path::to_path_buf))
            .collect()
    }

    fn certificate(&self) -> Result<Pem<'_>, Error> {
        match (set_path(&self.cert_file), set(&self.cert)) {
            (Some(path), _) => Ok(Pem::File(path)),
            (None, Some(text)) => Ok(Pem::Inline(text, "cert")),
            (None, None) => Err(invalid("missing one of cert or cert_file")),
        }
    }

    fn key(&self) -> Result<Pem<'_>, Error> {
        match (set_path(&self.key_file), set(&self.key)) {
            (Some(path), _) => Ok(Pem::File(path)),
            (None, Some(text)) => Ok(Pem::Inline(text, "key")),
            (None, None) => Err(invalid("missing one of key or key_file")),
        }
    }

    fn client_ca(&self) -> Option<Pem<'_>> {
        match (set_path(&self.client_ca_file), set(&self.client_ca)) {
            (Some(path), _) => Some(Pem::File(path)),
            (None, Some(text)) => Some(Pem::Inline(text, "client_ca")),
            (None, None) => None,
        }
    }

    /// The rustls configuration these settings describe, offering HTTP/2 by
    /// ALPN when `http2`.
    pub fn server_config(&self, http2: bool) -> Result<Built, Error> {
        let mut warnings = Vec::new();
        let min = names::version(set(&self.min_version).unwrap_or("TLS12"), "min_version")?;
        let max = names::version(set(&self.max_version).unwrap_or("TLS13"), "max_version")?;
        let versions = names::versions(min, max, &mut warnings)?;
        let provider = Arc::new(self.provider(&mut warnings)?);
        if let Some(refusal) = http2.then(|| names::http2_refusal(&self.cipher_suites, min)).flatten() {
            return Err(refusal);
        }
        let certificate = self.certificate()?;
        let key_source = self.key()?;
        let chain = certificates(&certificate)?;
        let expires = chain.first().and_then(verifiers::not_after);
        let key = private_key(&key_source)?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| invalid(format!("the cipher suites and versions leave nothing to speak: {e}")))?;
        let auth_type = set(&self.client_auth_type).unwrap_or("NoClientCert");
        if let Some(ca) = self.client_ca() {
            // An unreadable CA file is named first, as the toolkit names it.
            ca.bytes()?;
        }
        if auth_type == "NoClientCert" && self.client_ca().is_some() {
            return Err(invalid(
                "client CAs are configured without a client_auth_type that uses them",
            ));
        }
        let cas = self.client_ca().map(|ca| certificates(&ca)).transpose()?;
        let builder = match verifiers::client_verifier(auth_type, cas, self.client_allowed_sans.as_deref(), &provider)?
        {
            Some(verifier) => builder.with_client_cert_verifier(verifier),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| invalid(format!("{} and {}: {e}", certificate.describe(), key_source.describe())))?;
        config.ignore_client_order = self.prefer_server_cipher_suites.unwrap_or(true);
        config.alpn_protocols = if http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        Ok(Built {
            config,
            expires,
            warnings,
        })
    }

    /// ring's provider narrowed to the configured cipher suites and curves.
    fn provider(&self, warnings: &mut Vec<String>) -> Result<CryptoProvider, Error> {
        let mut provider = rustls::crypto::ring::default_provider();
        if !self.cipher_suites.is_empty() {
            provider.cipher_suites = names::cipher_suites(&provider.cipher_suites, &self.cipher_suites, warnings)?;
        }
        if !self.curve_preferences.is_empty() {
            provider.kx_groups = names::curves(&provider.kx_groups, &self.curve_preferences, warnings)?;
        }
        Ok(provider)
    }
}

/// A server configuration ready to serve, with what the operator should know.
pub struct Built {
    pub config: ServerConfig,
    /// When the server's certificate expires.
    pub expires: Option<SystemTime>,
    /// What was asked for and is not offered (TLS 1.1, CBC suites, P-521).
    pub warnings: Vec<String>,
}

fn certificates(pem: &Pem<'_>) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bytes = pem.bytes()?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| invalid(format!("{} is not valid PEM", pem.describe())))?;
    if chain.is_empty() {
        return Err(invalid(format!("no certificate in {}", pem.describe())));
    }
    Ok(chain)
}

fn private_key(pem: &Pem<'_>) -> Result<PrivateKeyDer<'static>, Error> {
    let bytes = pem.bytes()?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| invalid(format!("no private key in {}", pem.describe())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Settings {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn tls_is_enabled_as_the_toolkit_decides() {
        assert!(!settings("{}").is_enabled(), "empty");
        assert!(!settings("min_version: TLS12\nprefer_server_cipher_suites: true").is_enabled());
        assert!(settings("cert_file: server.crt\nkey_file: server.key").is_enabled());
        assert!(settings("cert: c\nkey: k").is_enabled());
        assert!(settings("client_ca_file: client_ca.crt").is_enabled());
        assert!(settings("client_auth_type: RequireAndVerifyClientCert").is_enabled());
    }

    #[test]
    fn debug_never_shows_an_inline_key() {
        let text = format!("{:?}", settings("key: SECRET-PRIVATE-KEY\ncert: c"));
        assert!(!text.contains("SECRET-PRIVATE-KEY"), "{text}");
    }

    #[test]
    fn an_inline_key_that_is_not_pem_is_named_not_shown() {
        let error = settings("cert: not-pem\nkey: SECRET-PRIVATE-KEY")
            .server_config(true)
            .map(|built| built.config)
            .unwrap_err()
            .to_string();
        assert!(!error.contains("SECRET-PRIVATE-KEY"), "{error}");
        assert!(error.contains("inline"), "{error}");
    }
}
