//! A namespace-scoped user's first steps, and the audit trail they leave.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn scoped_user_onboarding_is_audited_step_by_step() {
    let app = spawn_app(Options::default()).await;
    let admin = app.admin_token().await;
    let admin_id = app.user_id(&admin, ADMIN).await;

    let (s, _) = app
        .json(
            Method::POST,
            "/api/v1/users",
            &admin,
            json!({"username": "alice@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, 200);
    let alice = app.user_id(&admin, "alice@example.com").await;
    let policies = json!([
        {"permissionKey": "schedule_strategy.create", "self": false, "k8sNamespace": "team-a", "policyNamespace": ""},
        {"permissionKey": "schedule_strategy.read", "self": false, "k8sNamespace": "team-a", "policyNamespace": ""},
    ]);
    let (s, _) = app
        .json(
            Method::POST,
            "/api/v1/roles",
            &admin,
            json!({"name": "team-a-writer", "rolePolicies": policies}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .json(
            Method::PUT,
            "/api/v1/users/permissions",
            &admin,
            json!({"userID": alice, "roles": ["team-a-writer"]}),
        )
        .await;
    assert_eq!(s, 200);

    // Status 3 until the user picks its own password.
    let token = app.token("alice@example.com", PASSWORD).await;
    let (s, b) = app.get("/api/v1/strategies/self", &token).await;
    assert_eq!((s, b["error"].as_str()), (403, Some("password change required")));
    let body = json!({"oldPassword": PASSWORD, "newPassword": "alice-own-pass"});
    let (s, _) = app.json(Method::PUT, "/api/v1/users/self/password", &token, body).await;
    assert_eq!(s, 200);

    let strategy = json!({"strategyNamespace": "prod", "labelSelectors": [{"key": "app", "value": "web"}],
        "k8sNamespace": ["team-a"], "commandRegex": "nginx", "priority": 1, "executionTime": 20000000});
    let (s, b) = app.json(Method::POST, "/api/v1/strategies", &token, strategy).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["matchedPods"], 0, "no cluster, no pods");
    let strategy_id = b["data"]["strategyId"].as_str().unwrap().to_string();
    let (s, b) = app
        .json(
            Method::POST,
            "/api/v1/strategies",
            &token,
            json!({"k8sNamespace": ["team-b"]}),
        )
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (
            403,
            Some(r#"namespace "team-b" is outside the namespaces granted for schedule_strategy.create"#)
        )
    );

    let (s, b) = app.get("/api/v1/strategies/self", &token).await;
    assert_eq!(s, 200);
    assert_eq!(
        b["data"]["strategies"],
        json!([{"id": strategy_id, "strategyNamespace": "prod", "labelSelectors": [{"key": "app", "value": "web"}],
            "k8sNamespace": ["team-a"], "commandRegex": "nginx", "priority": 1, "executionTime": 20000000}])
    );

    let (s, b) = app.get("/api/v1/audit-logs?limit=1000", &admin).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["nextCursor"], Value::Null);
    let mut entries = b["data"]["entries"].as_array().unwrap().clone();
    entries.reverse(); // oldest first
    let steps: Vec<(String, u64, String)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["status"].as_u64().unwrap(),
                e["userId"].to_string(),
            )
        })
        .collect();
    let a = |id: &str| format!("\"{id}\"");
    let expected = [
        ("auth.login", 200, a(&admin_id)),
        ("user.create", 200, a(&admin_id)),
        ("role.create", 200, a(&admin_id)),
        ("user.permission.update", 200, a(&admin_id)),
        ("auth.login", 200, a(&alice)),
        ("user.self.password", 200, a(&alice)),
        ("schedule_strategy.create", 200, a(&alice)),
        ("schedule_strategy.create", 403, a(&alice)),
    ];
    let expected: Vec<(String, u64, String)> = expected
        .iter()
        .map(|(x, s, u)| (x.to_string(), *s, u.clone()))
        .collect();
    assert_eq!(steps, expected, "{entries:#?}");

    let created = &entries[1];
    assert_eq!(created["target"], alice);
    assert_eq!(
        created["details"],
        json!({"username": "alice@example.com", "password": "***"})
    );
    assert!(!created["requestId"].as_str().unwrap().is_empty());
    assert_eq!(created["ip"], "127.0.0.1");
    assert_eq!(
        entries[5]["details"],
        json!({"oldPassword": "***", "newPassword": "***"})
    );
    assert_eq!(entries[6]["target"], strategy_id.as_str());
    assert!(
        !entries.iter().any(|e| e.to_string().contains(PASSWORD)),
        "no password in the audit log"
    );

    // Filters: one user, one action, paging.
    let (_, b) = app
        .get(
            &format!("/api/v1/audit-logs?userId={alice}&action=schedule_strategy.create"),
            &admin,
        )
        .await;
    assert_eq!(b["data"]["entries"].as_array().unwrap().len(), 2);
    let (_, page) = app.get("/api/v1/audit-logs?limit=3", &admin).await;
    let cursor = page["data"]["nextCursor"].as_str().unwrap();
    let (_, next) = app
        .get(&format!("/api/v1/audit-logs?limit=3&cursor={cursor}"), &admin)
        .await;
    // The next page starts after the cursor: alice's login.
    assert_eq!(next["data"]["entries"][0]["action"], "auth.login", "{next}");
    assert_eq!(next["data"]["entries"][0]["userId"], alice.as_str());
    let (s, b) = app.get("/api/v1/audit-logs?from=yesterday", &admin).await;
    assert_eq!((s, b["error"].as_str()), (422, Some("from must be an RFC3339 time")));
}
