//! Go's names for TLS versions, cipher suites and curves, as the
//! exporter-toolkit takes them, mapped to what rustls offers. A name Go does
//! not know is refused, as the toolkit refuses it. A name Go knows that
//! rustls cannot speak (TLS 1.0 and 1.1, the CBC suites, P-521) is left out
//! with a warning, which only ever narrows what is offered; when nothing of
//! a list is left, the configuration is refused. This module only reads
//! names: it builds no server configuration.

use super::{Error, invalid};
use rustls::crypto::SupportedKxGroup;
use rustls::{NamedGroup, SupportedCipherSuite, SupportedProtocolVersion};

/// Go's `tls.CipherSuites()`: the names the exporter-toolkit accepts. Go's
/// insecure suites (RC4, 3DES, RSA key exchange) are unknown to the toolkit.
const GO_SUITES: [&str; 13] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// The suites Go's HTTP/2 server insists on when a TLS 1.2 suite list is
/// given (RFC 7540, section 9.2.2).
const HTTP2_SUITES: [&str; 2] = [
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
];

/// Go's curve names.
const GO_CURVES: [&str; 4] = ["CurveP256", "CurveP384", "CurveP521", "X25519"];

/// A TLS version as a number: 10 for TLS 1.0 up to 13 for TLS 1.3.
pub(super) fn version(name: &str, field: &str) -> Result<u8, Error> {
    match name {
        "TLS10" => Ok(10),
        "TLS11" => Ok(11),
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        other => Err(invalid(format!(
            "unknown TLS version {other:?} for {field}: use TLS12 or TLS13"
        ))),
    }
}

/// The versions rustls speaks between `min` and `max`, with a warning when
/// `min` asks for TLS 1.0 or 1.1.
pub(super) fn versions(
    min: u8,
    max: u8,
    warnings: &mut Vec<String>,
) -> Result<Vec<&'static SupportedProtocolVersion>, Error> {
    if max < 12 {
        return Err(invalid(
            "max_version allows only TLS 1.0 or 1.1, which are broken and not offered; use TLS12 or TLS13",
        ));
    }
    if min > max {
        return Err(invalid("min_version is above max_version"));
    }
    if min < 12 {
        warnings.push(
            "tls_server_config: TLS 1.0 and 1.1 are broken and not offered; TLS 1.2 is the lowest version served"
                .to_owned(),
        );
    }
    Ok([(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
        .into_iter()
        .filter(|(v, _)| (min..=max).contains(v))
        .map(|(_, version)| version)
        .collect())
}

/// The TLS 1.2 suites named, in that order, after every TLS 1.3 suite: Go
/// does not let TLS 1.3 suites be configured, and neither do we.
pub(super) fn cipher_suites(
    available: &[SupportedCipherSuite],
    names: &[String],
    warnings: &mut Vec<String>,
) -> Result<Vec<SupportedCipherSuite>, Error> {
    let mut chosen: Vec<SupportedCipherSuite> = tls13(available).collect();
    let mut left_out = Vec::new();
    for name in names {
        if !GO_SUITES.contains(&name.as_str()) {
            return Err(invalid(format!(
                "unknown cipher {name}: use one of {}",
                GO_SUITES.join(", ")
            )));
        }
        if name.starts_with("TLS_AES_") || name == "TLS_CHACHA20_POLY1305_SHA256" {
            continue;
        }
        match available.iter().find(|s| s.suite().as_str() == Some(name.as_str())) {
            Some(suite) if !chosen.contains(suite) => chosen.push(*suite),
            Some(_) => {}
            None => left_out.push(name.as_str()),
        }
    }
    let tls12_chosen = chosen.iter().any(|s| matches!(s, SupportedCipherSuite::Tls12(_)));
    if !left_out.is_empty() {
        if !tls12_chosen {
            return Err(invalid(format!(
                "cipher_suites names only CBC suites ({}), which rustls does not offer; \
                 add TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                left_out.join(", ")
            )));
        }
        warnings.push(format!(
            "tls_server_config: the CBC suites {} are not offered (rustls has none); the other suites are",
            left_out.join(", ")
        ));
    }
    Ok(chosen)
}

fn tls13(available: &[SupportedCipherSuite]) -> impl Iterator<Item = SupportedCipherSuite> + '_ {
    available
        .iter()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        .copied()
}

/// Why HTTP/2 cannot be offered with `names` as the TLS 1.2 suites, as Go's
/// HTTP/2 server refuses to start: a TLS 1.2 client would be sent HTTP/2
/// over a suite that HTTP/2 forbids.
pub(super) fn http2_refusal(names: &[String], min_version: u8) -> Option<Error> {
    let refused = !names.is_empty() && min_version < 13 && !names.iter().any(|n| HTTP2_SUITES.contains(&n.as_str()));
    refused.then(|| {
        invalid(format!(
            "cipher_suites is missing an HTTP/2-required AES_128_GCM_SHA256 cipher (need at least one of {}), \
             or set http_server_config.http2 to false",
            HTTP2_SUITES.join(" or ")
        ))
    })
}

/// The key exchange groups named, in that order; P-521 is left out with a
/// warning, and refused when it is the only one.
pub(super) fn curves(
    available: &[&'static dyn SupportedKxGroup],
    names: &[String],
    warnings: &mut Vec<String>,
) -> Result<Vec<&'static dyn SupportedKxGroup>, Error> {
    let mut chosen = Vec::new();
    for name in names {
        let group = match name.as_str() {
            "X25519" => NamedGroup::X25519,
            "CurveP256" => NamedGroup::secp256r1,
            "CurveP384" => NamedGroup::secp384r1,
            "CurveP521" => continue,
            other => {
                return Err(invalid(format!(
                    "unknown curve {other}: use one of {}",
                    GO_CURVES.join(", ")
                )));
            }
        };
        if let Some(found) = available.iter().find(|g| g.name() == group) {
            chosen.push(*found);
        }
    }
    if chosen.is_empty() {
        return Err(invalid(
            "curve_preferences names only CurveP521, which rustls does not offer; add X25519, CurveP256 or CurveP384",
        ));
    }
    if names.iter().any(|n| n == "CurveP521") {
        warnings
            .push("tls_server_config: CurveP521 is not offered (rustls has no P-521); the other curves are".to_owned());
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn suites(list: &[&str]) -> (Result<Vec<SupportedCipherSuite>, Error>, Vec<String>) {
        let mut warnings = Vec::new();
        let available = rustls::crypto::ring::default_provider().cipher_suites;
        (cipher_suites(&available, &names(list), &mut warnings), warnings)
    }

    #[test]
    fn versions_are_go_names_and_old_ones_narrow_to_tls12() {
        let mut warnings = Vec::new();
        assert_eq!(versions(12, 13, &mut warnings).unwrap().len(), 2);
        assert_eq!(versions(13, 13, &mut warnings).unwrap(), vec![&rustls::version::TLS13]);
        assert!(warnings.is_empty());
        assert_eq!(versions(10, 13, &mut warnings).unwrap().len(), 2);
        assert!(warnings[0].contains("TLS 1.0 and 1.1"), "{warnings:?}");
        assert!(versions(10, 11, &mut warnings).is_err());
        assert!(versions(13, 12, &mut warnings).is_err());
        assert!(
            version("TLS111", "min_version")
                .unwrap_err()
                .to_string()
                .contains("unknown TLS version")
        );
    }

    #[test]
    fn cipher_suites_take_go_names_and_leave_out_cbc_with_a_warning() {
        let (chosen, warnings) = suites(&[
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            "TLS_AES_128_GCM_SHA256",
        ]);
        let chosen: Vec<_> = chosen.unwrap().iter().filter_map(|s| s.suite().as_str()).collect();
        assert!(chosen.contains(&"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"));
        assert!(!chosen.contains(&"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"));
        assert!(chosen.contains(&"TLS13_AES_256_GCM_SHA384"), "TLS 1.3 suites stay on");
        assert!(
            warnings[0].contains("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
            "{warnings:?}"
        );
    }

    #[test]
    fn invented_and_insecure_suites_are_unknown_and_cbc_alone_is_refused() {
        for unknown in [
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048",
            "TLS_RSA_WITH_AES_128_CBC_SHA",
        ] {
            let error = suites(&[unknown]).0.unwrap_err().to_string();
            assert!(error.contains("unknown cipher"), "{error}");
        }
        let error = suites(&["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"])
            .0
            .unwrap_err()
            .to_string();
        assert!(error.contains("only CBC suites"), "{error}");
    }

    #[test]
    fn http2_needs_its_suite_in_a_tls12_list() {
        let gcm256 = names(&["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"]);
        assert!(
            http2_refusal(&gcm256, 12)
                .unwrap()
                .to_string()
                .contains("HTTP/2-required")
        );
        assert!(
            http2_refusal(&gcm256, 13).is_none(),
            "TLS 1.3 only: the list is not used"
        );
        assert!(http2_refusal(&[], 12).is_none(), "no list: the defaults include it");
        let with = names(&[
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ]);
        assert!(http2_refusal(&with, 12).is_none());
    }

    #[test]
    fn curves_take_go_names_and_leave_out_p521() {
        let available = rustls::crypto::ring::default_provider().kx_groups;
        let mut warnings = Vec::new();
        let chosen = curves(&available, &names(&["CurveP384", "CurveP521", "X25519"]), &mut warnings).unwrap();
        let groups: Vec<_> = chosen.iter().map(|g| g.name()).collect();
        assert_eq!(groups, vec![NamedGroup::secp384r1, NamedGroup::X25519]);
        assert!(warnings[0].contains("CurveP521"));
        assert!(curves(&available, &names(&["CurveP521"]), &mut warnings).is_err());
        let invented = curves(&available, &names(&["CurveP257"]), &mut warnings).unwrap_err();
        assert!(invented.to_string().contains("unknown curve"));
    }
}
