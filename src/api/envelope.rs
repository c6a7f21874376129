//! Tencent's answer envelope, `{"Response": {...}}`: the answer, or the
//! error it carries. Reads bytes, never the network.

use super::Error;

/// Splits Tencent's `{"Response": {...}}` into the answer or its error.
pub(super) fn decode_envelope(bytes: &[u8]) -> Result<serde_json::Value, Error> {
    let mut envelope: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| Error::Decode(e.to_string()))?;
    let response = envelope
        .get_mut("Response")
        .map(serde_json::Value::take)
        .filter(serde_json::Value::is_object)
        .ok_or_else(|| Error::Decode("no Response object".into()))?;
    if let Some(error) = response.get("Error").filter(|e| !e.is_null()) {
        let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        return Err(Error::Api {
            code: text(error.get("Code")),
            message: text(error.get("Message")),
            request_id: text(response.get("RequestId")),
        });
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::actions;

    proptest::proptest! {
        /// Any body at all, from any upstream or middlebox, decodes to an answer or an error.
        #[test]
        fn decoding_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode_envelope(&body);
        }

        /// JSON of the right shape with wrong, missing or null fields never panics either.
        #[test]
        fn decoding_never_panics_on_odd_json(
            total in proptest::option::of(proptest::num::i64::ANY),
            credit in "(null|-?[0-9]{1,20}(\\.[0-9]{1,4})?|\"[a-z]*\"|true|\\[\\]|\\{\\})",
            uin in "(null|[0-9]{1,22}|-1|\"x\")",
            error in proptest::bool::ANY,
        ) {
            let total = total.map_or("null".to_owned(), |t| t.to_string());
            let inner = if error {
                format!(r#"{{"Error":{{"Code":{credit},"Message":{uin}}},"RequestId":"r"}}"#)
            } else {
                format!(r#"{{"Total":{total},"Data":[{{"ClientUin":{uin},"Credit":{credit},"RemainingCredit":{credit}}}],"RequestId":"r"}}"#)
            };
            let body = format!(r#"{{"Response":{inner}}}"#);
            if let Ok(value) = decode_envelope(body.as_bytes()) {
                let _ = super::super::decode::decode::<actions::CustomersCredit>(&value);
                let _ = super::super::decode::decode::<actions::VoucherList>(&value);
                let _ = super::super::decode::decode::<actions::AllocationHistory>(&value);
            }
        }
    }

    #[test]
    fn envelope_error_becomes_a_typed_error() {
        let body =
            br#"{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"bad"},"RequestId":"req-1"}}"#;
        match decode_envelope(body) {
            Err(Error::Api {
                code,
                message,
                request_id,
            }) => {
                assert_eq!(
                    (code.as_str(), message.as_str(), request_id.as_str()),
                    ("AuthFailure.SignatureFailure", "bad", "req-1")
                );
            }
            other => panic!("expected an API error, got {other:?}"),
        }
    }

    #[test]
    fn truncated_or_foreign_bodies_are_decode_errors() {
        assert!(matches!(
            decode_envelope(br#"{"Response":{"Total":"#),
            Err(Error::Decode(_))
        ));
        assert!(matches!(decode_envelope(br#"{"Other":{}}"#), Err(Error::Decode(_))));
        assert!(matches!(decode_envelope(b"<html>"), Err(Error::Decode(_))));
        assert!(decode_envelope(br#"{"Response":{"Total":1,"RequestId":"x"}}"#).is_ok());
    }
}
