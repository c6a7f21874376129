//! The one error type of the API client, and what each kind means for retries
//! and for the operator.

use std::borrow::Cow;
use std::time::Duration;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Tencent answered with `Response.Error`.
    #[error("{code}: {message} (request {request_id})")]
    Api {
        code: String,
        message: String,
        request_id: String,
    },
    /// The response did not arrive within `--api.timeout`.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// The connection failed or broke before a response arrived.
    #[error("network error: {0}")]
    Network(String),
    /// The API answered with a non-200 HTTP status.
    #[error("unexpected HTTP status {0}")]
    Status(u16),
    /// The body was not the JSON the action promises (malformed or truncated).
    #[error("malformed response: {0}")]
    Decode(String),
    /// The body was longer than any answer of the API: cut off, not read.
    #[error("answer larger than {limit} bytes: cut off unread")]
    TooLarge { limit: usize },
    /// No key could be had from the configured source (a file unreadable, the
    /// metadata service down). The message names the source, never a secret.
    #[error("credentials unavailable: {0}")]
    Credentials(String),
    /// `AuthFailure.SignatureExpire`, and the answer's `Date` header showed how
    /// far the local clock is off: signing now uses the API's time.
    #[error(
        "AuthFailure.SignatureExpire: the local clock is {offset_secs} s off the API's; signing with the API's time"
    )]
    ClockSkew { offset_secs: i64 },
}

/// Codes (and families of codes) that refuse the caller or the shape of the
/// request, whatever it asks about: the key, its permissions, the account,
/// an action or version the endpoint does not serve, a quota.
const CALLERS_OWN: &[&str] = &[
    "AuthFailure",
    "UnauthorizedOperation",
    "FailedOperation.UinNotAgent",
    "InvalidAction",
    "NoSuchVersion",
    "UnsupportedRegion",
    "UnsupportedProtocol",
    "UnsupportedOperation",
    "InvalidRequest",
    "UnknownParameter",
    "MissingParameter",
    "LimitExceeded",
    "RequestSizeLimitExceeded",
];

impl Error {
    /// The value of the `code` label of `tencentcloud_partner_api_requests_total`.
    pub fn code(&self) -> Cow<'_, str> {
        match self {
            Error::Api { code, .. } => Cow::Borrowed(code),
            Error::Timeout(_) => Cow::Borrowed("Timeout"),
            Error::Network(_) => Cow::Borrowed("NetworkError"),
            Error::Status(status) => Cow::Owned(format!("HTTP{status}")),
            Error::Decode(_) => Cow::Borrowed("MalformedResponse"),
            Error::TooLarge { .. } => Cow::Borrowed("ResponseTooLarge"),
            Error::ClockSkew { .. } => Cow::Borrowed("AuthFailure.SignatureExpire"),
            Error::Credentials(_) => Cow::Borrowed("CredentialsUnavailable"),
        }
    }

    /// Whether the API asked us to slow down.
    pub fn is_throttled(&self) -> bool {
        matches!(self, Error::Api { code, .. } if code.starts_with("RequestLimitExceeded"))
    }

    /// Whether trying the same call again may succeed. Auth, parameter and
    /// permission errors never do: retrying them only burns the rate limit.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api { code, .. } => {
                code.starts_with("RequestLimitExceeded")
                    || code.starts_with("InternalError")
                    || code == "OperationDenied.ServiceBusy"
                    || code == "ServiceUnavailable"
                    || code == "ResourceUnavailable"
            }
            // The signing clock was corrected: the next attempt is signed right.
            // A key file being swapped or a metadata blip passes.
            Error::Timeout(_)
            | Error::Network(_)
            | Error::Decode(_)
            | Error::TooLarge { .. }
            | Error::ClockSkew { .. }
            | Error::Credentials(_) => true,
            Error::Status(status) => *status >= 500 || *status == 429,
        }
    }

    /// Whether the API refused this one request for what it asked about (a
    /// customer or voucher it does not know, as one unbound since it was
    /// listed or withdrawn), whatever the code, rather than for the key, the
    /// permission, the quota, the service or the shape of the request: the
    /// refresh's other requests can still succeed. Retryable errors never are.
    pub fn is_about_the_subject(&self) -> bool {
        let Error::Api { code, .. } = self else {
            return false;
        };
        if self.is_retryable() {
            return false;
        }
        code == "UnauthorizedOperation.NotCustomerUin" || !CALLERS_OWN.iter().any(|prefix| code.starts_with(prefix))
    }

    /// What the operator should do about an error that retrying cannot fix.
    pub fn operator_hint(&self) -> Option<&'static str> {
        let Error::Api { code, .. } = self else {
            return None;
        };
        let hint = match code.as_str() {
            "AuthFailure.SignatureExpire" => {
                "the local clock differs from Tencent's by more than 5 minutes: synchronise it (NTP)"
            }
            "AuthFailure.SecretIdNotFound" | "AuthFailure.SignatureFailure" | "AuthFailure.InvalidSecretId" => {
                "the API key is wrong or deleted: check TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY"
            }
            "AuthFailure.TokenFailure" | "AuthFailure.InvalidAuthorization" => {
                "the temporary credentials or their session token are invalid or expired"
            }
            c if c.starts_with("AuthFailure") => "the API rejected the credentials: check the key pair",
            "UnauthorizedOperation.NotCustomerUin" => {
                "a UIN asked about is not, or no longer, a customer of this partner: remove it from --customers.uins"
            }
            c if c.starts_with("UnauthorizedOperation") => {
                "the key lacks a CAM permission for this action: grant it (see docs/security.md)"
            }
            "FailedOperation.UinNotAgent" => "the account of this key is not a partner (reseller or distributor)",
            c if c.starts_with("InvalidParameter") => {
                "the request was rejected as invalid: check --customers.uins and report a bug if it persists"
            }
            _ => return None,
        };
        Some(hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str) -> Error {
        Error::Api {
            code: code.into(),
            message: "m".into(),
            request_id: "r".into(),
        }
    }

    #[test]
    fn retries_transient_errors_only() {
        for code in [
            "RequestLimitExceeded",
            "RequestLimitExceeded.UinLimitExceeded",
            "OperationDenied.ServiceBusy",
            "InternalError",
        ] {
            assert!(api(code).is_retryable(), "{code} should be retried");
        }
        for code in [
            "AuthFailure.SignatureFailure",
            "AuthFailure.SignatureExpire",
            "InvalidParameterValue",
            "UnauthorizedOperation.UinNoAuth",
            "FailedOperation",
        ] {
            assert!(!api(code).is_retryable(), "{code} must not be retried");
        }
        assert!(Error::Status(502).is_retryable());
        assert!(!Error::Status(404).is_retryable());
        assert!(Error::Decode("eof".into()).is_retryable());
        assert!(Error::Timeout(Duration::from_secs(1)).is_retryable());
    }

    #[test]
    fn a_refusal_about_what_was_asked_is_told_from_one_about_the_caller() {
        for code in [
            "FailedOperation",
            "InvalidParameterValue.InvalidUin",
            "ResourceNotFound",
            "UnauthorizedOperation.NotCustomerUin",
            "FailedOperation.VoucherInvalidated",
        ] {
            assert!(api(code).is_about_the_subject(), "{code} is the item's");
        }
        for code in [
            "AuthFailure.SignatureFailure",
            "UnauthorizedOperation.UinNoAuth",
            "FailedOperation.UinNotAgent",
            "InvalidAction",
            "RequestLimitExceeded",
            "InternalError",
            "MissingParameter",
        ] {
            assert!(!api(code).is_about_the_subject(), "{code} is the caller's");
        }
        assert!(!Error::Status(404).is_about_the_subject());
    }

    #[test]
    fn signature_expiry_points_at_the_clock() {
        assert!(
            api("AuthFailure.SignatureExpire")
                .operator_hint()
                .unwrap()
                .contains("clock")
        );
        assert!(
            api("UnauthorizedOperation.UinNoAuth")
                .operator_hint()
                .unwrap()
                .contains("CAM")
        );
        assert_eq!(api("InternalError").operator_hint(), None);
    }

    #[test]
    fn code_label_names_the_failure() {
        assert_eq!(api("InternalError").code(), "InternalError");
        assert_eq!(Error::Status(503).code(), "HTTP503");
        assert_eq!(Error::Decode("x".into()).code(), "MalformedResponse");
    }
}
