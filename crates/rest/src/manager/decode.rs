//! Request decoding (manager.md 1.3): JSON whatever the `Content-Type`, the
//! first JSON value only, bodies capped, key aliases folded into the
//! canonical spelling.

use actix_web::web::Payload;
use actix_web::{HttpMessage, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::audit::{AuditDetails, details_object, redact};
use crate::ApiError;
use crate::body::read_limited;

/// A second accepted spelling of a request key.
pub(crate) struct Alias {
    pub canonical: &'static str,
    pub alias: &'static str,
    /// The error when a body carries both spellings; `None` answers 400.
    pub both_present: Option<&'static str>,
}

pub(crate) const STRATEGY_ID: Alias = Alias {
    canonical: "strategyId",
    alias: "strategyID",
    both_present: None,
};
pub(crate) const INTENT_IDS: Alias = Alias {
    canonical: "intentIds",
    alias: "intentIDs",
    both_present: None,
};
pub(crate) const USER_ID: Alias = Alias {
    canonical: "userID",
    alias: "userId",
    both_present: None,
};
const EITHER_POLICY_LIST: Option<&str> = Some("use either rolePolicies or rolePolicy");
pub(crate) const ROLE_POLICIES: Alias = Alias {
    canonical: "rolePolicies",
    alias: "rolePolicy",
    both_present: EITHER_POLICY_LIST,
};
pub(crate) const ROLE_POLICY: Alias = Alias {
    canonical: "rolePolicy",
    alias: "rolePolicies",
    both_present: EITHER_POLICY_LIST,
};

/// Reads and decodes the body of `req`. The redacted body is kept for the
/// audit log as soon as it parses.
pub(crate) async fn read_body<T: DeserializeOwned>(
    req: &HttpRequest,
    mut payload: Payload,
    limit: usize,
    aliases: &[Alias],
) -> Result<T, ApiError> {
    let bytes = read_limited(&mut payload, limit, ApiError::InvalidBody).await?;
    let value = first_json_value(&bytes)?;
    req.extensions_mut()
        .insert(AuditDetails(details_object(redact(&value))));
    let Value::Object(mut map) = value else {
        return Err(ApiError::InvalidBodyDetail("expected a JSON object".into()));
    };
    for alias in aliases {
        if let Some(value) = map.shift_remove(alias.alias) {
            if map.contains_key(alias.canonical) {
                return Err(match alias.both_present {
                    Some(message) => ApiError::Validation(message.into()),
                    None => {
                        ApiError::InvalidBodyDetail(format!("{} and {} given together", alias.canonical, alias.alias))
                    }
                });
            }
            map.insert(alias.canonical.to_string(), value);
        }
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| ApiError::InvalidBodyDetail(e.to_string()))
}

/// Trailing bytes after the first value are ignored (as upstream's decoder).
fn first_json_value(bytes: &[u8]) -> Result<Value, ApiError> {
    match serde_json::Deserializer::from_slice(bytes).into_iter::<Value>().next() {
        Some(Ok(value)) => Ok(value),
        Some(Err(e)) => {
            tracing::debug!(error = %e, "request body is not JSON");
            Err(ApiError::InvalidBody)
        }
        None => Err(ApiError::InvalidBody),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        #[serde(default)]
        strategy_id: String,
        #[serde(default)]
        role_policies: Option<Vec<u8>>,
    }

    async fn decode(text: &'static str, aliases: &[Alias]) -> Result<Body, ApiError> {
        let (req, mut payload) = TestRequest::post().set_payload(text).to_http_parts();
        let payload = Payload::from_request(&req, &mut payload).await.unwrap();
        read_body(&req, payload, 64, aliases).await
    }

    use actix_web::FromRequest;

    #[actix_web::test]
    async fn aliases_fold_into_the_canonical_key() {
        let b = decode(r#"{"strategyID":"a"}"#, &[STRATEGY_ID]).await.unwrap();
        assert_eq!(b.strategy_id, "a");
        let b = decode(r#"{"strategyId":"b"} trailing"#, &[STRATEGY_ID]).await.unwrap();
        assert_eq!(b.strategy_id, "b");
        let e = decode(r#"{"strategyId":"a","strategyID":"b"}"#, &[STRATEGY_ID])
            .await
            .unwrap_err();
        assert!(matches!(e, ApiError::InvalidBodyDetail(_)), "{e:?}");
        let b = decode(r#"{"rolePolicy":[1]}"#, &[ROLE_POLICIES]).await.unwrap();
        assert_eq!(b.role_policies, Some(vec![1]));
        let e = decode(r#"{"rolePolicy":[],"rolePolicies":[]}"#, &[ROLE_POLICIES])
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "use either rolePolicies or rolePolicy");
        // Other casings are not matched.
        let b = decode(r#"{"STRATEGYID":"x"}"#, &[STRATEGY_ID]).await.unwrap();
        assert_eq!(b.strategy_id, "");
    }

    #[actix_web::test]
    async fn malformed_wrong_type_and_oversized_bodies() {
        for text in ["", "not json", "{"] {
            assert_eq!(
                decode(text, &[]).await.unwrap_err().to_string(),
                "Invalid request body",
                "{text:?}"
            );
        }
        let e = decode("[1]", &[]).await.unwrap_err().to_string();
        assert_eq!(e, "Invalid request body: expected a JSON object");
        let e = decode(r#"{"strategyId":1}"#, &[]).await.unwrap_err().to_string();
        assert!(e.starts_with("Invalid request body: invalid type"), "{e}");
        let big = Box::leak(format!("{{\"strategyId\":\"{}\"}}", "x".repeat(64)).into_boxed_str());
        assert!(matches!(decode(big, &[]).await.unwrap_err(), ApiError::PayloadTooLarge));
    }

    #[actix_web::test]
    async fn the_redacted_body_is_kept_for_the_audit_log() {
        let (req, mut payload) = TestRequest::post()
            .set_payload(r#"{"password":"p","name":"n"}"#)
            .to_http_parts();
        let payload = Payload::from_request(&req, &mut payload).await.unwrap();
        let _: Value = read_body(&req, payload, 64, &[]).await.unwrap();
        assert_eq!(
            req.extensions().get::<AuditDetails>().unwrap().0,
            json!({"password":"***","name":"n"})
        );
        // Not an object (the route then answers 400): still an object in the log.
        let (req, mut payload) = TestRequest::post().set_payload(r#"["x"]"#).to_http_parts();
        let payload = Payload::from_request(&req, &mut payload).await.unwrap();
        assert!(read_body::<Value>(&req, payload, 64, &[]).await.is_err());
        assert_eq!(
            req.extensions().get::<AuditDetails>().unwrap().0,
            json!({"body": ["x"]})
        );
    }
}
