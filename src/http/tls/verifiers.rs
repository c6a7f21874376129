//! Client certificates as the exporter-toolkit checks them, built on rustls:
//! the `client_auth_type` chosen; CAs from `client_ca_file` or `client_ca`,
//! or the system's when neither is set (as Go does); a self-signed CA
//! certificate accepted when it is itself one of those CAs (Go accepts it,
//! webpki does not); `client_allowed_sans`; and each refused certificate
//! logged with its reason at `warn` the first time. Also what is read from a
//! certificate (its names, its expiry). This module never touches the
//! server's own certificate or key.

use super::{Error, invalid};
use rustls::RootCertStore;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// Distinct refused certificates remembered so that each is logged at
/// `warn` once; beyond this many the memory starts again.
const REFUSALS_REMEMBERED: usize = 1024;

/// The verifier for `client_auth_type`, given the configured CAs (`None`:
/// none set; with `NoClientCert` there are none) and `client_allowed_sans`;
/// `None` asks for no certificate.
pub(super) fn client_verifier(
    auth_type: &str,
    cas: Option<Vec<CertificateDer<'static>>>,
    allowed_sans: Option<&[String]>,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, Error> {
    let algorithms = provider.signature_verification_algorithms;
    let mut anchors = Vec::new();
    let verifier: Arc<dyn ClientCertVerifier> = match auth_type {
        "NoClientCert" => {
            return match allowed_sans {
                Some(_) => Err(invalid(
                    "client_allowed_sans needs a client_auth_type that asks for a certificate",
                )),
                None => Ok(None),
            };
        }
        "RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert" => Arc::new(AnyCertificate {
            mandatory: auth_type != "RequestClientCert",
            algorithms,
        }),
        "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert" => {
            anchors = match cas {
                Some(cas) => cas,
                None => system_cas(auth_type)?,
            };
            verified(&anchors, auth_type == "VerifyClientCertIfGiven", provider)?
        }
        other => {
            return Err(invalid(format!(
                "invalid client_auth_type {other:?}: use NoClientCert, RequestClientCert, RequireAnyClientCert, \
                 VerifyClientCertIfGiven or RequireAndVerifyClientCert"
            )));
        }
    };
    Ok(Some(Arc::new(Checked {
        inner: verifier,
        anchors,
        allowed_sans: allowed_sans.map(<[String]>::to_vec),
        refused: Mutex::new(HashSet::new()),
    })))
}

/// The system's CA certificates, which Go verifies client certificates
/// against when no CA is configured.
fn system_cas(auth_type: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        return Err(invalid(format!(
            "client_auth_type {auth_type} verifies client certificates, but neither client_ca_file nor client_ca \
             is set and the system has no CA certificates"
        )));
    }
    Ok(found.certs)
}

/// webpki's verification against `anchors`.
fn verified(
    anchors: &[CertificateDer<'static>],
    optional: bool,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, Error> {
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(anchors.iter().cloned());
    if added == 0 {
        return Err(invalid("no usable CA certificate among the client CAs"));
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    let builder = if optional {
        builder.allow_unauthenticated()
    } else {
        builder
    };
    let inner = builder
        .build()
        .map_err(|e| invalid(format!("cannot verify client certificates: {e}")))?;
    Ok(inner)
}

/// `RequestClientCert` and `RequireAnyClientCert`: a certificate is asked for
/// (and with the second, required) but not checked against any CA. The
/// handshake signature is still checked, so the client holds the key.
#[derive(Debug)]
struct AnyCertificate {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyCertificate {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Whether `certificate` is valid at `now` and, if it limits its uses,
/// allows client authentication, as Go checks a client's chain.
fn usable_for_clients_at(certificate: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    use rustls::CertificateError;
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref())
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = parsed.validity();
    if now < validity.not_before.timestamp() {
        return Err(rustls::Error::InvalidCertificate(CertificateError::NotValidYet));
    }
    if now > validity.not_after.timestamp() {
        return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
    }
    match parsed.extended_key_usage() {
        Ok(None) => Ok(()),
        Ok(Some(usage)) if usage.value.client_auth || usage.value.any => Ok(()),
        _ => Err(rustls::Error::InvalidCertificate(CertificateError::InvalidPurpose)),
    }
}

/// The checks on top of the configured verification, as the toolkit makes
/// them: a certificate that is itself one of the CAs (`anchors`) is
/// accepted, as Go accepts a self-signed `CA:TRUE` client certificate named
/// in `client_ca_file` that webpki refuses as a CA used as an end entity,
/// if it is within its validity and allows client authentication (the
/// handshake signature proves the client holds its key); then the
/// certificate must name one of `client_allowed_sans`. A refused certificate
/// is logged with its reason at `warn` the first time, at `debug` after, so
/// an operator sees why a scraper is turned away without a flood filling
/// the log.
#[derive(Debug)]
struct Checked {
    inner: Arc<dyn ClientCertVerifier>,
    anchors: Vec<CertificateDer<'static>>,
    allowed_sans: Option<Vec<String>>,
    refused: Mutex<HashSet<[u8; 32]>>,
}

impl Checked {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = match self.inner.verify_client_cert(end_entity, intermediates, now) {
            Err(_) if self.anchors.iter().any(|a| a.as_ref() == end_entity.as_ref()) => {
                usable_for_clients_at(end_entity, now).map(|()| ClientCertVerified::assertion())
            }
            other => other,
        }?;
        let Some(allowed) = &self.allowed_sans else {
            return Ok(verified);
        };
        let names = subject_alt_names(end_entity)
            .ok_or(rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        if names.iter().any(|n| allowed.contains(n)) {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn first_refusal(&self, certificate: &CertificateDer<'_>) -> bool {
        let fingerprint: [u8; 32] = Sha256::digest(certificate.as_ref()).into();
        let mut refused = self.refused.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if refused.len() >= REFUSALS_REMEMBERED {
            refused.clear();
        }
        refused.insert(fingerprint)
    }
}

impl ClientCertVerifier for Checked {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity, intermediates, now).inspect_err(|error| {
            let subject = subject(end_entity);
            if self.first_refusal(end_entity) {
                tracing::warn!(%subject, reason = %error, "a client certificate was refused");
            } else {
                tracing::debug!(%subject, reason = %error, "a client certificate was refused again");
            }
        })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A certificate's subject for the log, cut short: it comes from the client.
fn subject(certificate: &CertificateDer<'_>) -> String {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(certificate.as_ref()) else {
        return "(unparsable)".to_owned();
    };
    parsed.subject().to_string().chars().take(200).collect()
}

/// The subject alternative names of a certificate as Go prints them, or
/// `None` if it cannot be parsed.
fn subject_alt_names(certificate: &CertificateDer<'_>) -> Option<Vec<String>> {
    use x509_parser::extensions::GeneralName;
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref()).ok()?;
    let Some(extension) = parsed.subject_alternative_name().ok()? else {
        return Some(Vec::new());
    };
    let names = extension
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(n) | GeneralName::RFC822Name(n) | GeneralName::URI(n) => Some(n.to_string()),
            GeneralName::IPAddress(bytes) => ip_address(bytes).map(|ip| ip.to_string()),
            _ => None,
        })
        .collect();
    Some(names)
}

/// When `certificate` expires, or `None` if it cannot be parsed.
pub(super) fn not_after(certificate: &CertificateDer<'_>) -> Option<std::time::SystemTime> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref()).ok()?;
    let seconds = u64::try_from(parsed.validity().not_after.timestamp()).ok()?;
    std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(seconds))
}

fn ip_address(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => Some(std::net::IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(std::net::IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}
