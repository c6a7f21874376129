//! `tls_server_config` of the web configuration file: the exporter-toolkit's
//! fields turned into a rustls server configuration. It owns the mapping of
//! Go's names (client auth types, cipher suites, curves, versions) to rustls;
//! what rustls cannot do (TLS 1.0 and 1.1, CBC suites, P-521) is refused by
//! name rather than silently weakened or ignored.

use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{NamedGroup, RootCertStore, ServerConfig};
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::client_auth;

/// Why a `tls_server_config` cannot be used. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("tls_server_config: {0}")]
    Invalid(String),
    #[error("tls_server_config: cannot read {path}: {cause}")]
    Read { path: PathBuf, cause: std::io::Error },
}

fn invalid(message: impl Into<String>) -> Error {
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
    pub fn server_config(&self, http2: bool) -> Result<(ServerConfig, Option<SystemTime>), Error> {
        let provider = Arc::new(self.provider()?);
        let versions = self.versions()?;
        let certificate = self.certificate()?;
        let key_source = self.key()?;
        let chain = certificates(&certificate)?;
        let expires = chain.first().and_then(super::client_auth::not_after);
        let key = private_key(&key_source)?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| invalid(format!("the cipher suites and versions leave nothing to speak: {e}")))?;
        let builder = match self.client_verifier(&provider)? {
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
        Ok((config, expires))
    }

    /// ring's provider narrowed to the configured cipher suites and curves.
    fn provider(&self) -> Result<CryptoProvider, Error> {
        let mut provider = rustls::crypto::ring::default_provider();
        if !self.cipher_suites.is_empty() {
            provider.cipher_suites = cipher_suites(&provider.cipher_suites, &self.cipher_suites)?;
        }
        if !self.curve_preferences.is_empty() {
            provider.kx_groups = curves(&provider.kx_groups, &self.curve_preferences)?;
        }
        Ok(provider)
    }

    fn versions(&self) -> Result<Vec<&'static SupportedProtocolVersion>, Error> {
        let min = version(set(&self.min_version).unwrap_or("TLS12"), "min_version")?;
        let max = version(set(&self.max_version).unwrap_or("TLS13"), "max_version")?;
        let versions: Vec<_> = [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, version)| version)
            .collect();
        if versions.is_empty() {
            return Err(invalid("min_version is above max_version"));
        }
        Ok(versions)
    }

    fn client_verifier(&self, provider: &CryptoProvider) -> Result<Option<Arc<dyn ClientCertVerifier>>, Error> {
        let algorithms = provider.signature_verification_algorithms;
        let roots = self.client_ca().map(|ca| roots(&ca)).transpose()?;
        let verified = |roots: Option<RootCertStore>, optional: bool| -> Result<Arc<dyn ClientCertVerifier>, Error> {
            let roots = roots.ok_or_else(|| {
                invalid("client_auth_type that verifies certificates needs client_ca_file or client_ca")
            })?;
            let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::new(provider.clone()));
            let builder = if optional {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder
                .build()
                .map_err(|e| invalid(format!("cannot verify client certificates: {e}")))
        };
        let verifier: Option<Arc<dyn ClientCertVerifier>> = match set(&self.client_auth_type).unwrap_or("NoClientCert")
        {
            "NoClientCert" if roots.is_some() => {
                return Err(invalid(
                    "client CAs are configured without a client_auth_type that uses them",
                ));
            }
            "NoClientCert" => None,
            "RequestClientCert" => Some(Arc::new(client_auth::AnyCertificate {
                mandatory: false,
                algorithms,
            })),
            "RequireAnyClientCert" | "RequireClientCert" => Some(Arc::new(client_auth::AnyCertificate {
                mandatory: true,
                algorithms,
            })),
            "VerifyClientCertIfGiven" => Some(verified(roots, true)?),
            "RequireAndVerifyClientCert" => Some(verified(roots, false)?),
            other => {
                return Err(invalid(format!(
                    "invalid client_auth_type {other:?}: use NoClientCert, RequestClientCert, RequireAnyClientCert, \
                     VerifyClientCertIfGiven or RequireAndVerifyClientCert"
                )));
            }
        };
        match (verifier, &self.client_allowed_sans) {
            (Some(inner), Some(allowed)) => Ok(Some(Arc::new(client_auth::AllowedSans {
                inner,
                allowed: allowed.clone(),
            }))),
            (None, Some(_)) => Err(invalid(
                "client_allowed_sans needs a client_auth_type that asks for a certificate",
            )),
            (verifier, None) => Ok(verifier),
        }
    }
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

fn roots(pem: &Pem<'_>) -> Result<RootCertStore, Error> {
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(certificates(pem)?);
    if added == 0 {
        return Err(invalid(format!("no usable CA certificate in {}", pem.describe())));
    }
    Ok(store)
}

fn version(name: &str, field: &str) -> Result<u8, Error> {
    match name {
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        "TLS10" | "TLS11" => Err(invalid(format!(
            "{field} {name} is not offered: TLS 1.0 and 1.1 are broken and rustls does not speak them; use TLS12 or TLS13"
        ))),
        other => Err(invalid(format!("unknown {field} {other:?}: use TLS12 or TLS13"))),
    }
}

/// The TLS 1.2 suites named (Go's names), in that order, after every TLS 1.3
/// suite: Go does not let TLS 1.3 suites be configured, and neither do we.
fn cipher_suites(available: &[SupportedCipherSuite], names: &[String]) -> Result<Vec<SupportedCipherSuite>, Error> {
    let mut chosen: Vec<SupportedCipherSuite> = available
        .iter()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        .copied()
        .collect();
    for name in names {
        if name.starts_with("TLS_AES_") || name == "TLS_CHACHA20_POLY1305_SHA256" {
            continue;
        }
        // Go also accepts the ChaCha20 suites without the _SHA256 ending.
        let canonical = if name.ends_with("_CHACHA20_POLY1305") {
            format!("{name}_SHA256")
        } else {
            name.clone()
        };
        let Some(suite) = available
            .iter()
            .find(|s| s.suite().as_str() == Some(canonical.as_str()))
        else {
            let offered: Vec<&str> = available
                .iter()
                .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
                .filter_map(|s| s.suite().as_str())
                .collect();
            return Err(invalid(format!(
                "cipher suite {name} is not offered; the TLS 1.2 suites offered are {}",
                offered.join(", ")
            )));
        };
        if !chosen.contains(suite) {
            chosen.push(*suite);
        }
    }
    Ok(chosen)
}

fn curves(
    available: &[&'static dyn SupportedKxGroup],
    names: &[String],
) -> Result<Vec<&'static dyn SupportedKxGroup>, Error> {
    names
        .iter()
        .map(|name| {
            let group = match name.as_str() {
                "X25519" => NamedGroup::X25519,
                "CurveP256" => NamedGroup::secp256r1,
                "CurveP384" => NamedGroup::secp384r1,
                other => {
                    return Err(invalid(format!(
                        "curve {other} is not offered: use X25519, CurveP256 or CurveP384"
                    )));
                }
            };
            available
                .iter()
                .find(|g| g.name() == group)
                .copied()
                .ok_or_else(|| invalid(format!("curve {name} is not offered")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Settings {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn versions_are_go_names_and_old_ones_are_refused() {
        let all = settings("cert_file: a").versions().unwrap();
        assert_eq!(all.len(), 2);
        let only13 = settings("min_version: TLS13").versions().unwrap();
        assert_eq!(only13, vec![&rustls::version::TLS13]);
        let old = settings("min_version: TLS10").versions().unwrap_err().to_string();
        assert!(old.contains("TLS 1.0 and 1.1"), "{old}");
        assert!(settings("min_version: TLS13\nmax_version: TLS12").versions().is_err());
    }

    #[test]
    fn cipher_suites_take_go_names_and_refuse_what_rustls_lacks() {
        let provider = settings("cipher_suites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305, TLS_AES_128_GCM_SHA256]")
            .provider()
            .unwrap();
        let names: Vec<_> = provider
            .cipher_suites
            .iter()
            .filter_map(|s| s.suite().as_str())
            .collect();
        assert!(names.contains(&"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"));
        assert!(!names.contains(&"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"));
        assert!(names.contains(&"TLS13_AES_256_GCM_SHA384"), "TLS 1.3 suites stay on");
        let cbc = settings("cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]")
            .provider()
            .unwrap_err();
        assert!(cbc.to_string().contains("TLS_RSA_WITH_AES_128_CBC_SHA is not offered"));
    }

    #[test]
    fn curves_take_go_names() {
        let provider = settings("curve_preferences: [CurveP384, X25519]").provider().unwrap();
        let groups: Vec<_> = provider.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(groups, vec![NamedGroup::secp384r1, NamedGroup::X25519]);
        assert!(settings("curve_preferences: [CurveP521]").provider().is_err());
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
            .map(|(config, _)| config)
            .unwrap_err()
            .to_string();
        assert!(!error.contains("SECRET-PRIVATE-KEY"), "{error}");
        assert!(error.contains("inline"), "{error}");
    }
}
