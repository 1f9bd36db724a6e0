//! JSON errors everywhere (decision-maker.md 1.3).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, spawn_app};

#[tokio::test]
async fn head_is_served_wherever_get_is_and_405_lists_the_methods() {
    let app = spawn_app(Options::default()).await;
    let get = app.client.get(app.url("/health")).send().await.unwrap();
    let length = get.headers()["content-length"].clone();
    let head = app.client.head(app.url("/health")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], length);
    assert!(head.bytes().await.unwrap().is_empty());
    let r = app.client.post(app.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, HEAD");
    let r = app.client.head(app.url("/api/v1/auth/token")).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), &r.headers()["allow"]),
        (405, &"POST".parse().unwrap())
    );
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_oversized_bodies_are_json() {
    let app = spawn_app(Options {
        max_body_bytes: Some(1024),
        ..Default::default()
    })
    .await;
    let r = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"success": false, "error": "Not Found"})
    );
    let r = app.client.put(app.url("/api/v1/intents")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST, DELETE");
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"success": false, "error": "Method Not Allowed"})
    );
    let big = format!(r#"{{"nr_queued":1,"pad":"{}"}}"#, "x".repeat(4096));
    let (status, body) = app.call(Method::POST, "/api/v1/metrics", Some(&big)).await;
    assert_eq!(
        (status, body),
        (413, json!({"success": false, "error": "Request body too large"}))
    );
    for bad in [
        r#"{"nr_queued":-1}"#,
        r#"{"nr_queued":1.5}"#,
        r#"{"nr_queued":18446744073709551616}"#,
        r#"{"nr_queued":"1"}"#,
    ] {
        let (status, body) = app.call(Method::POST, "/api/v1/metrics", Some(bad)).await;
        assert_eq!(
            (status, body["error"].as_str().unwrap()),
            (400, "Invalid request payload"),
            "{bad}"
        );
    }
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/metrics",
            Some(r#"{"nr_queued":1,"unknown":true}"#),
        )
        .await;
    assert_eq!(
        (status, body["message"].as_str().unwrap()),
        (200, "Metrics saved successfully")
    );
}

#[tokio::test]
async fn health_and_version_are_static_and_explain_missing_label_source() {
    let app = spawn_app(Options::default()).await;
    let h: Value = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "healthy");
    assert_eq!(h["service"], "BSS Metrics API Server");
    assert!(
        h["checks"]["pod_labels"]
            .as_str()
            .unwrap()
            .starts_with("not configured: "),
        "{h}"
    );
    assert!(
        h["checks"]["process_index"].as_str().unwrap().starts_with("starting"),
        "{h}"
    );
    let v: Value = app
        .client
        .get(app.url("/version"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["message"], "BSS Metrics API Server");
    assert_eq!(
        v["endpoints"],
        "/health, /version, POST_/api/v1/intents, GET_/api/v1/scheduling/strategies"
    );
}

#[tokio::test]
async fn legacy_routes_are_absent_outside_standalone_mode() {
    let app = spawn_app(Options::default()).await;
    assert_eq!(app.client.get(app.url("/")).send().await.unwrap().status(), 404);
    let (status, _) = app.call(Method::GET, "/api/v1/metrics", None).await;
    assert_eq!(status, 405);
    let (status, _) = app
        .call(Method::POST, "/api/v1/scheduling/strategies", Some("{}"))
        .await;
    assert_eq!(status, 405);
    let r = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/metrics"))
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

/// The served OpenAPI document lists exactly what the DM serves.
#[tokio::test]
async fn the_openapi_document_matches_the_routes_in_both_modes() {
    for standalone in [false, true] {
        let app = spawn_app(Options {
            standalone,
            ..Default::default()
        })
        .await;
        let doc: Value = app
            .client
            .get(app.url("/api-docs/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(&doc, gthulhu_rest::dm::openapi_document(standalone));
        let token = app.token().await;
        for (method, path) in gthulhu_rest::dm::openapi_operations(&doc) {
            let r = app
                .client
                .request(method.parse().unwrap(), app.url(&path))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert!(
                ![404, 405].contains(&r.status().as_u16()),
                "standalone={standalone}: {method} {path} documented but not served: {}",
                r.status()
            );
        }
        // And a route only standalone serves is absent otherwise.
        let r = app.client.get(app.url("/")).send().await.unwrap();
        assert_eq!(r.status() == 404, !standalone);
    }
}
