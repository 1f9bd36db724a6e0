//! Audit entries for authenticated mutations (manager.md 14.6). Handlers
//! and extractors leave what they learn in the request's extensions; the
//! server's middleware writes one entry with the final status.

use actix_web::HttpMessage;
use actix_web::HttpRequest;
use actix_web::http::Method;
use gthulhu_domain::manager::{AuditEntry, ObjectId, now_ms};
use serde_json::{Map, Value};

/// Set by the auth extractor once the caller is known to be authenticated.
#[derive(Clone, Debug)]
pub(crate) struct AuditActor {
    pub user_id: Option<ObjectId>,
    pub action: &'static str,
}

/// The request body, redacted.
#[derive(Clone, Debug)]
pub(crate) struct AuditDetails(pub Value);

/// Audit `details` are always an object (issue 9): a body that is another
/// JSON value, as stored by earlier versions, is kept under `body`.
pub(crate) fn details_object(value: Value) -> Value {
    match value {
        Value::Object(_) => value,
        Value::Null => Value::Object(Map::new()),
        other => serde_json::json!({ "body": other }),
    }
}

/// The id of the resource a request acts on.
#[derive(Clone, Debug)]
pub(crate) struct AuditTarget(pub String);

/// `X-Request-ID`, or one generated for the request.
#[derive(Clone, Debug)]
pub(crate) struct RequestId(pub String);

const REDACTED: &str = "***";

/// `body` with the value of every field whose name mentions a password, a
/// key, a PEM or a token (sessions-and-runtime.md 10) replaced by `"***"`,
/// at any depth.
pub(crate) fn redact(body: &Value) -> Value {
    match body {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(name, value)| {
                    let lower = name.to_ascii_lowercase();
                    let secret = ["password", "key", "pem", "token"].iter().any(|w| lower.contains(w));
                    let value = if secret { Value::from(REDACTED) } else { redact(value) };
                    (name.clone(), value)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// The TCP peer, with IPv4-mapped IPv6 addresses shown as IPv4.
pub(crate) fn client_ip(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_canonical().to_string())
        .unwrap_or_default()
}

/// The request's id (`X-Request-ID`, or the one generated for it).
pub(crate) fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

/// The entry for a finished request, when it is an authenticated
/// `POST`/`PUT`/`DELETE`.
pub(crate) fn entry_for(req: &HttpRequest, status: u16) -> Option<AuditEntry> {
    if ![Method::POST, Method::PUT, Method::DELETE].contains(req.method()) {
        return None;
    }
    let extensions = req.extensions();
    let actor = extensions.get::<AuditActor>()?;
    Some(AuditEntry {
        id: ObjectId::new(),
        user_id: actor.user_id.clone(),
        action: actor.action.to_string(),
        request_id: extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default(),
        timestamp: now_ms(),
        ip: client_ip(req),
        status,
        target: extensions.get::<AuditTarget>().map(|t| t.0.clone()),
        details: extensions
            .get::<AuditDetails>()
            .map(|d| d.0.clone())
            .unwrap_or_else(|| Value::Object(Map::new())),
    })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use serde_json::json;

    use super::*;

    #[test]
    fn redacts_passwords_keys_and_pems_at_any_depth() {
        let body = json!({
            "username": "alice",
            "password": "p", "oldPassword": "o", "NEWPASSWORD": "n",
            "rolePolicies": [{"permissionKey": "role.read", "self": false}],
            "nested": {"rsa_private_key_pem": "x", "caPem": "y", "kept": 1},
            "list": [1, "two"],
            "deep": [{"refreshToken": "r", "Token": "t", "accessTOKEN": "a"}],
        });
        assert_eq!(
            redact(&body),
            json!({
                "username": "alice",
                "password": "***", "oldPassword": "***", "NEWPASSWORD": "***",
                "rolePolicies": [{"permissionKey": "***", "self": false}],
                "nested": {"rsa_private_key_pem": "***", "caPem": "***", "kept": 1},
                "list": [1, "two"],
                "deep": [{"refreshToken": "***", "Token": "***", "accessTOKEN": "***"}],
            })
        );
        assert_eq!(redact(&json!("text")), json!("text"));
    }

    #[test]
    fn only_authenticated_mutations_get_an_entry() {
        let actor = AuditActor {
            user_id: Some(ObjectId::ZERO),
            action: "role.create",
        };
        let req = TestRequest::post()
            .peer_addr("[::ffff:10.1.2.3]:5000".parse().unwrap())
            .to_http_request();
        assert!(entry_for(&req, 200).is_none(), "no actor, no entry");
        req.extensions_mut().insert(actor.clone());
        req.extensions_mut().insert(RequestId("r-1".into()));
        req.extensions_mut().insert(AuditTarget("t".into()));
        let entry = entry_for(&req, 409).unwrap();
        assert_eq!(entry.action, "role.create");
        assert_eq!(entry.user_id, Some(ObjectId::ZERO));
        assert_eq!(entry.request_id, "r-1");
        assert_eq!(entry.ip, "10.1.2.3");
        assert_eq!(entry.status, 409);
        assert_eq!(entry.target.as_deref(), Some("t"));
        assert_eq!(entry.details, json!({}));

        let get = TestRequest::get().to_http_request();
        get.extensions_mut().insert(actor);
        assert!(entry_for(&get, 200).is_none(), "reads are not audited");
    }
}
