//! manager.md 17, items 1 to 4 (those that need no cluster).

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn c1_health_is_static_and_healthy() {
    let app = spawn_app(Options::default()).await;
    let (s, b) = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(
        (s, b["status"].as_str(), b["service"].as_str()),
        (200, Some("healthy"), Some("BSS Metrics API Server"))
    );
    assert!(b["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn c2_auth_flow() {
    let app = spawn_app(Options::default()).await;
    let admin = app.admin_token().await;
    let new_user = json!({"username": "bob@example.com", "password": PASSWORD}).to_string();
    let (s, _) = app.call(Method::POST, "/api/v1/users", None, Some(&new_user)).await;
    assert_eq!(s, 401);
    let (s, b) = app
        .call(Method::POST, "/api/v1/users", Some(&admin), Some(&new_user))
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(b.get("data").is_none(), "no data: {b}");
    let (s, b) = app.get("/api/v1/users", &admin).await;
    assert_eq!(s, 200);
    let users = b["data"]["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[1]["roles"], json!([]), "never null");
    assert_eq!(users[1]["status"], 3);
    assert!(users.iter().all(|u| u.get("password").is_none()));
    let bob = users[1]["id"].as_str().unwrap();

    let (s, _) = app
        .json(
            Method::PUT,
            "/api/v1/users/permissions",
            &admin,
            json!({"userID": bob, "roles": ["admin"]}),
        )
        .await;
    assert_eq!(s, 200);
    let token = app.token("bob@example.com", PASSWORD).await;
    let (s, b) = app.get("/api/v1/users", &token).await;
    assert_eq!((s, b["error"].as_str()), (403, Some("password change required")));
    let body = json!({"oldPassword": PASSWORD, "newPassword": "bob-own-pass"});
    let (s, _) = app.json(Method::PUT, "/api/v1/users/self/password", &token, body).await;
    assert_eq!(s, 200);
    let (s, b) = app.login("bob@example.com", PASSWORD).await;
    assert_eq!((s, b["error"].as_str()), (401, Some("invalid password")));
    let token = app.token("bob@example.com", "bob-own-pass").await;
    let (s, _) = app.get("/api/v1/users", &token).await;
    assert_eq!(s, 200);
    let (s, b) = app.get("/api/v1/users/self", &token).await;
    assert_eq!(s, 200);
    assert_eq!(
        b["data"],
        json!({"id": bob, "username": "bob@example.com", "roles": ["admin"], "status": 1})
    );
}

#[tokio::test]
async fn c3_roles() {
    let app = spawn_app(Options::default()).await;
    let admin = app.admin_token().await;
    let role = json!({"name": "role_manager", "description": "Can read roles",
        "rolePolicies": [{"permissionKey": "role.read", "self": false, "k8sNamespace": "", "policyNamespace": ""}]});
    let (s, _) = app
        .call(Method::POST, "/api/v1/roles", None, Some(&role.to_string()))
        .await;
    assert_eq!(s, 401);
    let (s, _) = app.json(Method::POST, "/api/v1/roles", &admin, role).await;
    assert_eq!(s, 200);
    let (_, roles) = app.get("/api/v1/roles", &admin).await;
    let listed = roles["data"]["roles"].as_array().unwrap();
    assert_eq!(listed[0]["name"], "admin");
    assert_eq!(listed[0]["rolePolicy"].as_array().unwrap().len(), 19);
    let role_id = listed[1]["id"].as_str().unwrap().to_string();
    assert_eq!(
        listed[1],
        json!({"id": role_id, "name": "role_manager", "description": "Can read roles",
            "rolePolicy": [{"permissionKey": "role.read", "self": false, "k8sNamespace": "", "policyNamespace": ""}]})
    );

    let carol = app.user(&admin, "carol@example.com", &[], 1).await;
    let token = app.token("carol@example.com", PASSWORD).await;
    let (s, b) = app.get("/api/v1/roles", &token).await;
    assert_eq!((s, b["error"].as_str()), (403, Some("permission denied")));
    let (s, _) = app
        .json(
            Method::PUT,
            "/api/v1/users/permissions",
            &admin,
            json!({"userID": carol, "roles": ["role_manager"]}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app.get("/api/v1/roles", &token).await;
    assert_eq!(s, 200, "role changes apply to the next request");

    let update = json!({"id": role_id, "description": "Can read and update roles",
        "rolePolicy": [{"permissionKey": "role.read", "self": false, "k8sNamespace": "", "policyNamespace": ""},
                       {"permissionKey": "role.update", "self": false, "k8sNamespace": "", "policyNamespace": ""}]});
    let (s, _) = app.json(Method::PUT, "/api/v1/roles", &token, update.clone()).await;
    assert_eq!(s, 403);
    let (s, _) = app.json(Method::PUT, "/api/v1/roles", &admin, update.clone()).await;
    assert_eq!(s, 200);
    let (s, _) = app.json(Method::PUT, "/api/v1/roles", &token, update).await;
    assert_eq!(s, 200, "the policy change applies to the next request");

    let (s, b) = app
        .json(Method::DELETE, "/api/v1/roles", &admin, json!({"id": role_id}))
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (409, Some("role is still assigned to 1 user(s)"))
    );
    let (s, _) = app
        .json(
            Method::PUT,
            "/api/v1/users/permissions",
            &admin,
            json!({"userID": carol, "roles": []}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = app
        .json(Method::DELETE, "/api/v1/roles", &admin, json!({"id": role_id}))
        .await;
    assert_eq!((s, &b["data"]), (200, &json!({})));
    let (s, b) = app.get("/api/v1/permissions", &admin).await;
    assert_eq!(s, 200);
    assert_eq!(
        b["data"]["permissions"][0],
        json!({"key": "user.create", "description": "Create a new user"})
    );
    assert_eq!(b["data"]["permissions"].as_array().unwrap().len(), 19);
}

#[tokio::test]
async fn c4_errors() {
    let app = spawn_app(Options::default()).await;
    let admin = app.admin_token().await;
    let admin_id = app.user_id(&admin, ADMIN).await;
    for (what, token) in forged_tokens(&admin_id)
        .into_iter()
        .chain([("garbage", "not.a.jwt".to_string())])
    {
        let (s, b) = app.get("/api/v1/users", &token).await;
        assert_eq!(
            (s, b),
            (401, json!({"success": false, "error": "Invalid or expired token"})),
            "{what}"
        );
    }
    let dave = app.user(&admin, "dave@example.com", &["admin"], 1).await;
    let (s, _) = app
        .json(
            Method::PUT,
            "/api/v1/users/permissions",
            &admin,
            json!({"userID": dave, "status": 2}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = app.get("/api/v1/users/self", &valid_token(&dave)).await;
    assert_eq!((s, b["error"].as_str()), (401, Some("user is inactive")));
    let (s, b) = app.login("dave@example.com", PASSWORD).await;
    assert_eq!((s, b["error"].as_str()), (401, Some("user is inactive")));

    let (s, b) = app
        .json(
            Method::POST,
            "/api/v1/users",
            &admin,
            json!({"username": "dave@example.com", "password": "x"}),
        )
        .await;
    assert_eq!((s, b["error"].as_str()), (409, Some("username already exists")));
    let (s, b) = app
        .json(Method::POST, "/api/v1/roles", &admin, json!({"name": "admin"}))
        .await;
    assert_eq!((s, b["error"].as_str()), (409, Some("role name already exists")));
    let (s, b) = app
        .call(Method::POST, "/api/v1/roles", Some(&admin), Some("{\"name\":"))
        .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("Invalid request body")));
    let (s, b) = app
        .json(
            Method::POST,
            "/api/v1/strategies",
            &admin,
            json!({"commandRegex": "(unclosed"}),
        )
        .await;
    assert_eq!(s, 422);
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .starts_with("commandRegex: invalid regular expression"),
        "{b}"
    );
    let (s, b) = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(r#"{"username":"","password":""}"#),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (422, Some("Username and password are required"))
    );
    let (s, b) = app.login("nobody@example.com", "x").await;
    assert_eq!((s, b["error"].as_str()), (401, Some("user not found")));
}
