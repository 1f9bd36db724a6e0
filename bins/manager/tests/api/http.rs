//! HTTP conventions (manager.md 1, 13): JSON errors, decoding, aliases,
//! limits, Swagger and the OpenAPI description.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn head_is_served_for_get_routes_and_405_carries_allow() {
    let app = spawn_app(Options::default()).await;
    let admin = app.admin_token().await;
    let get = app
        .client
        .get(app.url("/api/v1/roles"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let length = get.headers()["content-length"].clone();
    let head = app
        .client
        .head(app.url("/api/v1/roles"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], length);
    assert!(head.bytes().await.unwrap().is_empty());
    // HEAD is authenticated like GET.
    let r = app.client.head(app.url("/api/v1/roles")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = app.client.patch(app.url("/api/v1/roles")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST, PUT, DELETE, GET, HEAD");
    let r = app.client.get(app.url("/api/v1/auth/login")).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "POST");
}

#[tokio::test]
async fn errors_are_json_with_meaningful_statuses() {
    let app = spawn_app(Options {
        max_body_bytes: 1024,
        ..Options::default()
    })
    .await;
    let admin = app.admin_token().await;
    let cases: [(Method, &str, Option<String>, u16, &str); 7] = [
        (Method::GET, "/api/v1/nope", None, 404, "Not Found"),
        (Method::GET, "/nope", None, 404, "Not Found"),
        // Trailing slashes are not trimmed: another path.
        (Method::GET, "/api/v1/users/", None, 404, "Not Found"),
        (Method::PATCH, "/api/v1/users", None, 405, "Method Not Allowed"),
        (Method::GET, "/api/v1/auth/login", None, 405, "Method Not Allowed"),
        (
            Method::POST,
            "/api/v1/users",
            Some("x".repeat(2048)),
            413,
            "Request body too large",
        ),
        (
            Method::POST,
            "/api/v1/users",
            Some("not json".into()),
            400,
            "Invalid request body",
        ),
    ];
    for (method, path, body, status, error) in cases {
        let r = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(&admin)
            .body(body.unwrap_or_default());
        let r = r.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
        assert_eq!(r.headers()["content-type"], "application/json", "{method} {path}");
        if status == 405 {
            assert!(r.headers().contains_key("allow"), "{method} {path}");
        }
        let b: Value = r.json().await.unwrap();
        assert_eq!(b, json!({"success": false, "error": error}), "{method} {path}");
    }
    let (s, b) = app
        .call(Method::POST, "/api/v1/users", Some(&admin), Some(r#"{"username":1}"#))
        .await;
    assert_eq!(s, 400);
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .starts_with("Invalid request body: invalid type"),
        "{b}"
    );
    let (s, b) = app
        .call(Method::PUT, "/api/v1/users/permissions", Some(&admin), Some("[]"))
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("Invalid request body: expected a JSON object"))
    );
}

#[tokio::test]
async fn bodies_are_json_whatever_the_content_type_and_slashes_merge() {
    let app = spawn_app(Options::default()).await;
    let r = app
        .client
        .post(app.url("//api/v1///auth/login"))
        .header("Content-Type", "text/plain")
        .body(format!(
            r#"{{"username":"{ADMIN}","password":"{ADMIN_PASSWORD}"}} trailing bytes"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["success"], true);
    assert!(b["data"]["token"].as_str().unwrap().split('.').count() == 3);
    let ts = b["timestamp"].as_str().unwrap();
    assert!(ts.ends_with('Z') && !ts.contains('.'), "{ts}");
}

#[tokio::test]
async fn key_aliases_are_accepted_and_both_spellings_refused() {
    let app = spawn_app(Options::default()).await;
    let admin = app.admin_token().await;
    let eve = app.user(&admin, "eve@example.com", &[], 1).await;
    let (s, b) = app
        .json(
            Method::PUT,
            "/api/v1/users/password",
            &admin,
            json!({"userId": eve, "newPassword": "p2"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = app
        .json(
            Method::PUT,
            "/api/v1/users/permissions",
            &admin,
            json!({"userId": eve, "status": 1}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .json(
            Method::PUT,
            "/api/v1/users/permissions",
            &admin,
            json!({"userId": eve, "userID": eve}),
        )
        .await;
    assert_eq!(s, 400);
    let token = app.token("eve@example.com", "p2").await;
    let (_, me) = app.get("/api/v1/users/self", &token).await;
    assert_eq!(me["data"]["status"], 1);

    let policy = json!([{"permissionKey": "role.read", "self": false, "k8sNamespace": "", "policyNamespace": ""}]);
    let (s, _) = app
        .json(
            Method::POST,
            "/api/v1/roles",
            &admin,
            json!({"name": "r1", "rolePolicy": policy}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = app
        .json(
            Method::POST,
            "/api/v1/roles",
            &admin,
            json!({"name": "r2", "rolePolicy": policy, "rolePolicies": policy}),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (422, Some("use either rolePolicies or rolePolicy"))
    );
    let (_, roles) = app.get("/api/v1/roles", &admin).await;
    let r1 = roles["data"]["roles"][1].clone();
    assert_eq!((r1["name"].as_str(), &r1["rolePolicy"]), (Some("r1"), &policy));
    let (s, _) = app
        .json(
            Method::PUT,
            "/api/v1/roles",
            &admin,
            json!({"id": r1["id"], "rolePolicies": [], "name": "r1b"}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, roles) = app.get("/api/v1/roles", &admin).await;
    assert_eq!(roles["data"]["roles"][1]["rolePolicy"], json!([]));
    assert_eq!(roles["data"]["roles"][1]["name"], "r1b");
    let (s, b) = app
        .json(
            Method::PUT,
            "/api/v1/roles",
            &admin,
            json!({"id": r1["id"], "rolePolicies": [], "rolePolicy": []}),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (422, Some("use either rolePolicies or rolePolicy"))
    );

    let (_, b) = app
        .json(Method::POST, "/api/v1/strategies", &admin, json!({"priority": 3}))
        .await;
    let id = b["data"]["strategyId"].as_str().unwrap().to_string();
    let (s, b) = app
        .json(
            Method::PUT,
            "/api/v1/strategies",
            &admin,
            json!({"strategyID": id, "priority": 4, "k8sNamespace": ["x"]}),
        )
        .await;
    assert_eq!(
        (s, &b["data"]),
        (200, &json!({"strategyId": id, "matchedPods": 0, "pending": false}))
    );
    let (_, all) = app.get("/api/v1/strategies", &admin).await;
    let admin_id = app.user_id(&admin, ADMIN).await;
    assert_eq!(
        all["data"]["strategies"],
        json!([{"id": id, "strategyNamespace": "", "labelSelectors": [], "k8sNamespace": ["x"], "commandRegex": "",
            "priority": 4, "executionTime": 0, "creatorId": admin_id}])
    );
    let (s, b) = app
        .json(Method::PUT, "/api/v1/strategies", &admin, json!({"priority": 4}))
        .await;
    assert_eq!((s, b["error"].as_str()), (422, Some("strategyId is required")));
    let (s, b) = app
        .json(Method::DELETE, "/api/v1/intents", &admin, json!({"intentIDs": []}))
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (422, Some("intentIds: at least one intent ID is required"))
    );
    let (s, b) = app
        .json(Method::DELETE, "/api/v1/intents", &admin, json!({"intentIDs": ["xyz"]}))
        .await;
    assert_eq!((s, b["error"].as_str()), (422, Some("intentIds[0]: invalid intent ID")));
    let (s, b) = app
        .json(Method::DELETE, "/api/v1/strategies", &admin, json!({"strategyID": id}))
        .await;
    assert_eq!((s, &b["data"]), (200, &json!({})));
    let (_, mine) = app.get("/api/v1/strategies/self", &admin).await;
    assert_eq!(mine["data"]["strategies"], json!([]));
    let (_, intents) = app.get("/api/v1/intents/self", &admin).await;
    assert_eq!(intents["data"]["intents"], json!([]));
}

#[tokio::test]
async fn login_attempts_are_rate_limited() {
    let app = spawn_app(Options {
        login_rate_per_min: 2,
        ..Options::default()
    })
    .await;
    assert_eq!(app.login(ADMIN, "wrong").await.0, 401);
    assert_eq!(app.login(ADMIN, "wrong").await.0, 401);
    let (s, b) = app.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(s, 429, "{b}");
    assert_eq!(b["success"], false);
}

#[tokio::test]
async fn readiness_version_and_metrics() {
    let app = spawn_app(Options::default()).await;
    let (s, b) = app.call(Method::GET, "/ready", None, None).await;
    assert_eq!(s, 503);
    assert_eq!(
        b["data"]["checks"],
        json!({"storage": "ok", "kubernetes": "not configured: no cluster configured"})
    );
    let (s, b) = app.call(Method::GET, "/version", None, None).await;
    assert_eq!(
        (s, b["message"].as_str(), b["version"].as_str()),
        (200, Some("BSS Metrics API Server"), Some(env!("CARGO_PKG_VERSION")))
    );
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"gthulhu_http_requests_total{route="/ready",method="GET",status="503"} 1"#),
        "{text}"
    );
    assert!(text.contains("gthulhu_manager_storage_errors_total 0"), "{text}");
}

#[tokio::test]
async fn swagger_ui_is_served_offline_and_openapi_lists_every_route() {
    let app = spawn_app(Options::default()).await;
    let r = app.client.get(app.url("/swagger-ui/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = r.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let r = app
        .client
        .get(app.url("/swagger-ui/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "assets are bundled");
    let r = app
        .client
        .get(app.url("/swagger-ui/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("/api-docs/openapi.json"));

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for old in ["/swagger/index.html", "/swagger/doc.json"] {
        let r = no_redirects.get(app.url(old)).send().await.unwrap();
        assert_eq!(
            (r.status().as_u16(), r.headers()["location"].to_str().unwrap()),
            (302, "/swagger-ui/"),
            "{old}"
        );
    }

    let doc: Value = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut listed = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys().filter(|k| *k != "parameters") {
            listed.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let expected: BTreeSet<String> = [
        "GET /health",
        "GET /version",
        "GET /ready",
        "GET /metrics",
        "GET /swagger/{tail}",
        "POST /api/v1/auth/login",
        "POST /api/v1/auth/refresh",
        "POST /api/v1/auth/logout",
        "POST /api/v1/auth/logout-all",
        "GET /api/v1/auth/validate",
        "POST /api/v1/users",
        "GET /api/v1/users",
        "PUT /api/v1/users/password",
        "PUT /api/v1/users/permissions",
        "PUT /api/v1/users/self/password",
        "GET /api/v1/users/self",
        "POST /api/v1/roles",
        "PUT /api/v1/roles",
        "DELETE /api/v1/roles",
        "GET /api/v1/roles",
        "GET /api/v1/permissions",
        "POST /api/v1/strategies",
        "PUT /api/v1/strategies",
        "DELETE /api/v1/strategies",
        "GET /api/v1/strategies",
        "GET /api/v1/strategies/self",
        "GET /api/v1/intents/self",
        "DELETE /api/v1/intents",
        "GET /api/v1/nodes",
        "GET /api/v1/nodes/{nodeID}/pods/pids",
        "GET /api/v1/audit-logs",
        "POST /api/v1/scheduler/runtime-config/apply",
        "GET /api/v1/scheduler/runtime-config/status",
        "DELETE /api/v1/scheduler/runtime-config",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(listed, expected);
    // The list schemas use the camelCase keys of the wire.
    let item = &doc["components"]["schemas"]["StrategyItem"]["properties"];
    for key in [
        "id",
        "strategyNamespace",
        "labelSelectors",
        "k8sNamespace",
        "commandRegex",
        "priority",
        "executionTime",
    ] {
        assert!(item.get(key).is_some(), "StrategyItem.{key}: {item}");
    }
    let intent = &doc["components"]["schemas"]["IntentItem"]["properties"];
    for key in ["strategyId", "podId", "podName", "nodeId", "podLabels", "state"] {
        assert!(intent.get(key).is_some(), "IntentItem.{key}: {intent}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
