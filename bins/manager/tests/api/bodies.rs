//! Property test over every JSON body type the Manager decodes: a valid
//! body with one field swapped for arbitrary JSON (wrong types, `null`,
//! huge numbers, nested junk), a field removed, or arbitrary JSON built
//! from the route's keys. Whatever arrives, the answer is a 4xx JSON error
//! envelope or a success, never a 5xx, a non-JSON body or a hang.

use gthulhu_test_support::json_bodies::body_near;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, Options, PASSWORD, TestApp, spawn_app, unique};

const CASES_PER_ROUTE: u32 = 48;

/// Each route with a body and a valid example of it. Ids point at real
/// objects so the replaced fields, not a missing object, decide the answer.
async fn routes(app: &TestApp, admin: &str) -> Vec<(Method, &'static str, Value)> {
    let user = app.user(admin, &unique("prop"), &[], 1).await;
    let role = app.role(admin, "prop-role", &[("schedule_strategy.read", "")]).await;
    let strategy = json!({"strategyNamespace": "prod", "labelSelectors": [{"key": "app", "value": "web"}],
        "k8sNamespace": ["team-a"], "commandRegex": "nginx", "priority": 1, "executionTime": 20000000});
    let (s, b) = app
        .json(Method::POST, "/api/v1/strategies", admin, strategy.clone())
        .await;
    assert_eq!(s, 200, "{b}");
    let strategy_id = b["data"]["strategyId"].as_str().unwrap().to_string();
    let mut update = strategy.clone();
    update["strategyId"] = json!(strategy_id);
    vec![
        (
            Method::POST,
            "/api/v1/auth/login",
            json!({"username": ADMIN, "password": "wrong-password"}),
        ),
        (
            Method::POST,
            "/api/v1/users",
            json!({"username": unique("new"), "password": PASSWORD}),
        ),
        (
            Method::PUT,
            "/api/v1/users/password",
            json!({"userID": user, "newPassword": "another-pass"}),
        ),
        (
            Method::PUT,
            "/api/v1/users/permissions",
            json!({"userID": user, "roles": ["prop-role"], "status": 1}),
        ),
        (
            Method::PUT,
            "/api/v1/users/self/password",
            json!({"oldPassword": "wrong-old", "newPassword": "x-new-pass"}),
        ),
        (
            Method::POST,
            "/api/v1/roles",
            json!({"name": "prop-new", "description": "d",
            "rolePolicies": [{"permissionKey": "schedule_strategy.read", "self": false, "k8sNamespace": "", "policyNamespace": ""}]}),
        ),
        (
            Method::PUT,
            "/api/v1/roles",
            json!({"id": role, "name": "prop-role", "description": "d2",
            "rolePolicies": [{"permissionKey": "schedule_strategy.read", "self": true, "k8sNamespace": "a", "policyNamespace": ""}]}),
        ),
        (
            Method::DELETE,
            "/api/v1/roles",
            json!({"id": "65f0c1d2e3f4a5b6c7d8e9f0"}),
        ),
        (Method::POST, "/api/v1/strategies", strategy),
        (Method::PUT, "/api/v1/strategies", update),
        (
            Method::DELETE,
            "/api/v1/strategies",
            json!({"strategyId": "65f0c1d2e3f4a5b6c7d8e9f0"}),
        ),
        (
            Method::DELETE,
            "/api/v1/intents",
            json!({"intentIds": ["65f0c1d2e3f4a5b6c7d8e9f0"]}),
        ),
    ]
}

fn check(status: u16, body: &Value) -> Result<(), TestCaseError> {
    if status >= 500 {
        return Err(TestCaseError::fail(format!("{status}: {body}")));
    }
    if status >= 400 && !(body["success"] == false && body["error"].is_string()) {
        return Err(TestCaseError::fail(format!("{status} without a JSON error: {body}")));
    }
    if status < 300 && body["success"] != true {
        return Err(TestCaseError::fail(format!(
            "{status} without a success envelope: {body}"
        )));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_body_gets_a_server_error_or_a_bare_answer() {
    let app = spawn_app(Options::default()).await;
    let admin = app.admin_token().await;
    let handle = tokio::runtime::Handle::current();
    for (method, path, valid) in routes(&app, &admin).await {
        let mut runner = TestRunner::new(Config {
            cases: CASES_PER_ROUTE,
            failure_persistence: None,
            ..Config::default()
        });
        let result = tokio::task::block_in_place(|| {
            runner.run(&body_near(valid), |body| {
                let (status, answer) = handle.block_on(app.json(method.clone(), path, &admin, body.clone()));
                check(status, &answer).map_err(|e| TestCaseError::fail(format!("{method} {path} {body}: {e}")))
            })
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    }
    // The administrator survived whatever the generated bodies did.
    let (s, b) = app.get("/api/v1/users/self", &admin).await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test]
async fn null_is_the_wrong_type_for_a_scalar_and_none_for_a_list() {
    let app = spawn_app(Options::default()).await;
    let admin = app.admin_token().await;
    let (s, b) = app
        .json(
            Method::POST,
            "/api/v1/strategies",
            &admin,
            json!({"commandRegex": null, "priority": 1}),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b["error"].as_str().unwrap().starts_with("Invalid request body"), "{b}");
    let (s, b) = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(r#"{"username":null,"password":"x"}"#),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    // Go clients send a nil slice as null: it means none.
    let (s, b) = app
        .json(
            Method::POST,
            "/api/v1/strategies",
            &admin,
            json!({"labelSelectors": null, "k8sNamespace": null, "commandRegex": "x", "priority": 1}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
}
