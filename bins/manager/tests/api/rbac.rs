//! Every route × every kind of caller → the status manager.md 4 specifies.

use std::fmt::Write;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum P {
    NoToken,
    Expired,
    OtherKey,
    AlgNone,
    Hs256,
    /// Active, no roles.
    NoPermission,
    /// Strategy and intent grants on namespace `team-a`, acting inside it.
    ScopedIn,
    /// The same user, acting outside `team-a` (strategy mutations only).
    ScopedOut,
    Inactive,
    Admin,
}

const PRINCIPALS: [P; 10] = [
    P::NoToken,
    P::Expired,
    P::OtherKey,
    P::AlgNone,
    P::Hs256,
    P::NoPermission,
    P::ScopedIn,
    P::ScopedOut,
    P::Inactive,
    P::Admin,
];

/// The ids the requests act on.
struct World {
    tokens: Vec<(P, Option<String>)>,
    target_user: String,
    role_to_update: String,
    role_to_delete: String,
    /// Admin's, namespace team-b: outside the scoped user's reach.
    team_b_strategy: String,
    admin_update: String,
    admin_delete: String,
    scoped_update: String,
    scoped_delete: String,
}

impl World {
    fn token(&self, p: P) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(q, _)| *q == p)
            .and_then(|(_, t)| t.as_deref())
    }
}

async fn strategy(app: &TestApp, token: &str, namespace: &str) -> String {
    let (s, b) = app
        .json(
            Method::POST,
            "/api/v1/strategies",
            token,
            json!({"k8sNamespace": [namespace]}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    b["data"]["strategyId"].as_str().unwrap().to_string()
}

async fn world(app: &TestApp) -> World {
    let admin = app.admin_token().await;
    let admin_id = app.user_id(&admin, ADMIN).await;
    let keys = [
        "schedule_strategy.create",
        "schedule_strategy.read",
        "schedule_strategy.update",
        "schedule_strategy.delete",
        "schedule_intent.read",
        "schedule_intent.delete",
    ];
    let policies: Vec<(&str, &str)> = keys.iter().map(|k| (*k, "team-a")).collect();
    app.role(&admin, "team-a-ops", &policies).await;
    app.user(&admin, "noperm@example.com", &[], 1).await;
    app.user(&admin, "scoped@example.com", &["team-a-ops"], 1).await;
    app.user(&admin, "inactive@example.com", &[], 1).await;
    let inactive_token = app.token("inactive@example.com", PASSWORD).await;
    let inactive_id = app.user_id(&admin, "inactive@example.com").await;
    let (s, _) = app
        .json(
            Method::PUT,
            "/api/v1/users/permissions",
            &admin,
            json!({"userID": inactive_id, "status": 2}),
        )
        .await;
    assert_eq!(s, 200);
    let target_user = app.user(&admin, "target@example.com", &[], 1).await;
    let role_to_update = app.role(&admin, "to-update", &[("role.read", "")]).await;
    let role_to_delete = app.role(&admin, "to-delete", &[]).await;
    let scoped = app.token("scoped@example.com", PASSWORD).await;

    let mut tokens = vec![(P::NoToken, None)];
    for (p, (_, token)) in [P::Expired, P::OtherKey, P::AlgNone, P::Hs256]
        .into_iter()
        .zip(forged_tokens(&admin_id))
    {
        tokens.push((p, Some(token)));
    }
    tokens.extend([
        (P::NoPermission, Some(app.token("noperm@example.com", PASSWORD).await)),
        (P::ScopedIn, Some(scoped.clone())),
        (P::ScopedOut, Some(scoped.clone())),
        (P::Inactive, Some(inactive_token)),
        (P::Admin, Some(admin.clone())),
    ]);
    World {
        tokens,
        target_user,
        role_to_update,
        role_to_delete,
        team_b_strategy: strategy(app, &admin, "team-b").await,
        admin_update: strategy(app, &admin, "team-b").await,
        admin_delete: strategy(app, &admin, "team-b").await,
        scoped_update: strategy(app, &scoped, "team-a").await,
        scoped_delete: strategy(app, &scoped, "team-a").await,
    }
}

/// What a principal gets on a route; `None`: not applicable.
type Expect = fn(P) -> Option<u16>;

/// 401 for every unauthenticated kind of caller, else `authorised(p)`.
fn protected(p: P, authorised: impl Fn(P) -> Option<u16>) -> Option<u16> {
    match p {
        P::NoToken | P::Expired | P::OtherKey | P::AlgNone | P::Hs256 | P::Inactive => Some(401),
        _ => authorised(p),
    }
}

fn admin_only(p: P, admin: u16) -> Option<u16> {
    protected(p, |p| match p {
        P::Admin => Some(admin),
        P::ScopedOut => None,
        _ => Some(403),
    })
}

fn any_token(p: P) -> Option<u16> {
    protected(p, |p| (p != P::ScopedOut).then_some(200))
}

/// Strategy and intent routes: the scoped user holds the key.
fn scoped(p: P, inside: u16, outside: Option<u16>, admin: u16) -> Option<u16> {
    protected(p, |p| match p {
        P::Admin => Some(admin),
        P::ScopedIn => Some(inside),
        P::ScopedOut => outside,
        _ => Some(403),
    })
}

fn public(p: P, status: u16) -> Option<u16> {
    (p != P::ScopedOut).then_some(status)
}

fn body(w: &World, route: &str, p: P) -> Option<Value> {
    let own_password = if p == P::Admin { ADMIN_PASSWORD } else { PASSWORD };
    let (update, delete, namespace) = match p {
        P::Admin => (&w.admin_update, &w.admin_delete, "team-b"),
        P::ScopedOut => (&w.team_b_strategy, &w.team_b_strategy, "team-b"),
        _ => (&w.scoped_update, &w.scoped_delete, "team-a"),
    };
    Some(match route {
        "POST /api/v1/auth/login" => json!({"username": ADMIN, "password": ADMIN_PASSWORD}),
        "POST /api/v1/users" => json!({"username": unique("matrix"), "password": PASSWORD}),
        "PUT /api/v1/users/password" => json!({"userID": w.target_user, "newPassword": "reset-pass"}),
        "PUT /api/v1/users/permissions" => json!({"userID": w.target_user, "status": 1}),
        "PUT /api/v1/users/self/password" => json!({"oldPassword": own_password, "newPassword": own_password}),
        "POST /api/v1/roles" => json!({"name": unique("role")}),
        "PUT /api/v1/roles" => json!({"id": w.role_to_update, "description": "changed"}),
        "DELETE /api/v1/roles" => json!({"id": w.role_to_delete}),
        "POST /api/v1/strategies" => json!({"k8sNamespace": [namespace]}),
        // Scoped outside: the stored strategy is out of reach (404).
        "PUT /api/v1/strategies" => json!({"strategyId": update, "k8sNamespace": [namespace], "priority": 2}),
        "DELETE /api/v1/strategies" => json!({"strategyId": delete}),
        "DELETE /api/v1/intents" => json!({"intentIds": ["65f0c1d2e3f4a5b6c7d8e9f1"]}),
        _ => return None,
    })
}

const ROUTES: [(&str, Expect); 26] = [
    ("GET /health", |p| public(p, 200)),
    ("GET /version", |p| public(p, 200)),
    // No cluster is configured in tests.
    ("GET /ready", |p| public(p, 503)),
    ("GET /metrics", |p| public(p, 200)),
    ("POST /api/v1/auth/login", |p| public(p, 200)),
    ("POST /api/v1/users", |p| admin_only(p, 200)),
    ("PUT /api/v1/users/password", |p| admin_only(p, 200)),
    ("PUT /api/v1/users/permissions", |p| admin_only(p, 200)),
    ("GET /api/v1/users", |p| admin_only(p, 200)),
    ("PUT /api/v1/users/self/password", any_token),
    ("GET /api/v1/users/self", any_token),
    ("POST /api/v1/roles", |p| admin_only(p, 200)),
    ("PUT /api/v1/roles", |p| admin_only(p, 200)),
    ("DELETE /api/v1/roles", |p| admin_only(p, 200)),
    ("GET /api/v1/roles", |p| admin_only(p, 200)),
    ("GET /api/v1/permissions", |p| admin_only(p, 200)),
    ("POST /api/v1/strategies", |p| scoped(p, 200, Some(403), 200)),
    ("PUT /api/v1/strategies", |p| scoped(p, 200, Some(404), 200)),
    ("DELETE /api/v1/strategies", |p| scoped(p, 200, Some(404), 200)),
    ("GET /api/v1/strategies/self", |p| scoped(p, 200, None, 200)),
    ("GET /api/v1/strategies", |p| scoped(p, 200, None, 200)),
    ("GET /api/v1/intents/self", |p| scoped(p, 200, None, 200)),
    // No intent exists without a cluster: an unknown id is 404.
    ("DELETE /api/v1/intents", |p| scoped(p, 404, None, 404)),
    // No cluster: nodes cannot be listed, and no node has a DM.
    ("GET /api/v1/nodes", |p| admin_only(p, 503)),
    ("GET /api/v1/nodes/kind-worker/pods/pids", |p| admin_only(p, 404)),
    ("GET /api/v1/audit-logs", |p| admin_only(p, 200)),
];

/// The message a refusal must carry.
fn expected_error(p: P, status: u16) -> Option<&'static str> {
    match (p, status) {
        (P::NoToken, 401) => Some("Missing Authorization header"),
        (P::Expired | P::OtherKey | P::AlgNone | P::Hs256, 401) => Some("Invalid or expired token"),
        (P::Inactive, 401) => Some("user is inactive"),
        (P::NoPermission, 403) => Some("permission denied"),
        _ => None,
    }
}

#[tokio::test]
async fn every_route_answers_every_kind_of_caller_as_specified() {
    let app = spawn_app(Options::default()).await;
    let w = world(&app).await;
    let mut table = String::new();
    let mut failures = 0;
    writeln!(
        table,
        "{:<34}{}",
        "route",
        PRINCIPALS.map(|p| format!("{p:?}")).join(" | ")
    )
    .unwrap();
    for (route, expect) in ROUTES {
        let (method, path) = route.split_once(' ').unwrap();
        let method: Method = method.parse().unwrap();
        let mut row = format!("{route:<34}");
        for p in PRINCIPALS {
            let Some(expected) = expect(p) else {
                row.push_str("  -   |");
                continue;
            };
            let body = body(&w, route, p).map(|b| b.to_string());
            let (status, response) = app.call(method.clone(), path, w.token(p), body.as_deref()).await;
            let message_ok = expected_error(p, status).is_none_or(|m| response["error"] == m);
            let json_ok = path == "/metrics" || response.is_object();
            if status == expected && message_ok && json_ok {
                write!(row, " {status}  |").unwrap();
            } else {
                failures += 1;
                write!(row, " {status}!={expected} {} |", response["error"]).unwrap();
            }
        }
        writeln!(table, "{row}").unwrap();
    }
    assert_eq!(failures, 0, "{failures} cell(s) differ:\n{table}");
}
