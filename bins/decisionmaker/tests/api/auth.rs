//! 401s with the exact messages of decision-maker.md 3.1 and 3.3.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{
    OTHER_PRIVATE_KEY, OTHER_PUBLIC_KEY, Options, PRIVATE_KEY, PUBLIC_KEY, PUBLIC_KEY_PKCS1, spawn_app,
};

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn sign(alg: Algorithm, key: &EncodingKey, exp: i64) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        &json!({"client_id": "", "exp": exp, "nbf": now() - 10, "iat": now() - 10}),
        key,
    )
    .unwrap()
}

#[tokio::test]
async fn bearer_failures_have_exact_messages() {
    let app = spawn_app(Options::default()).await;
    let own = EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).unwrap();
    let other = EncodingKey::from_rsa_pem(OTHER_PRIVATE_KEY.as_bytes()).unwrap();
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "Authorization header is required"),
        (Some(String::new()), "Authorization header is required"),
        (Some("Token x".into()), "Authorization header must start with 'Bearer '"),
        (
            Some("bearer x".into()),
            "Authorization header must start with 'Bearer '",
        ),
        (Some("Bearer garbage".into()), "Invalid or expired token: "),
        (
            Some(format!("Bearer {}", sign(Algorithm::RS256, &own, now() - 3600))),
            "Invalid or expired token: ",
        ),
        (
            Some(format!("Bearer {}", sign(Algorithm::RS256, &other, now() + 3600))),
            "Invalid or expired token: ",
        ),
        (
            Some(format!(
                "Bearer {}",
                sign(
                    Algorithm::HS256,
                    &EncodingKey::from_secret(PUBLIC_KEY.as_bytes()),
                    now() + 3600
                )
            )),
            "Invalid or expired token: ",
        ),
    ];
    for path in [
        "/api/v1/scheduling/strategies",
        "/api/v1/intents/merkle",
        "/api/v1/pods/pids",
    ] {
        for (header, message) in &cases {
            let mut req = app.client.get(app.url(path));
            if let Some(h) = header {
                req = req.header("Authorization", h);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 401, "{path} {header:?}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["success"], false);
            let error = body["error"].as_str().unwrap();
            assert!(error.starts_with(message), "{path} {header:?}: {error}");
        }
    }
    let valid = format!("Bearer {}", sign(Algorithm::RS512, &own, now() + 60));
    let r = app
        .client
        .get(app.url("/api/v1/scheduling/strategies"))
        .header("Authorization", valid)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "RS512 with the DM key is accepted");
}

#[tokio::test]
async fn token_endpoint_rejects_wrong_keys_with_trailing_space_message() {
    let app = spawn_app(Options::default()).await;
    for body in [
        json!({"public_key": OTHER_PUBLIC_KEY}),
        json!({"public_key": PUBLIC_KEY_PKCS1}),
        json!({"public_key": ""}),
        json!({}),
    ] {
        let r = app
            .client
            .post(app.url("/api/v1/auth/token"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.text().await.unwrap(),
            "{\"success\":false,\"error\":\"Public key verification failed \"}\n"
        );
    }
    for raw in [
        "not json",
        r#"{"public_key": 5}"#,
        r#"{"public_key": "x", "expired_at": "soon"}"#,
        "",
    ] {
        let r = app
            .client
            .post(app.url("/api/v1/auth/token"))
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{raw}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "Invalid request payload");
    }
}

#[tokio::test]
async fn token_reply_shape_for_the_upstream_manager() {
    let app = spawn_app(Options::default()).await;
    let r = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"public_key": PUBLIC_KEY, "client_id": "manager-client", "expired_at": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], "Token generated successfully");
    assert_eq!(body["token"], body["data"]["token"]);
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    let token = body["data"]["token"].as_str().unwrap();
    let claims = token.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    assert_eq!(claims["client_id"], "manager-client");
    assert_eq!(claims["sub"], "manager-client");
    assert_eq!(claims["iss"], "decision-maker-service");
}
