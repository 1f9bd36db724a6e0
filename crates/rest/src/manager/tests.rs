//! Handler tests over mocked services: the HTTP side of each route (error
//! mapping, aliases, audit entries, readiness, metrics), served for real on
//! a loopback port.

use std::sync::{Arc, Mutex};

use gthulhu_domain::manager::{
    AuditEntry, Caller, ClusterStatus, MockAuditService, MockAuthService, MockNodeService, MockReadinessService,
    MockRoleService, MockScheduleIntentService, MockSchedulerConfigService, MockStrategyService, MockUserService,
    NodeApplyStatus, NodeInfo, NodeOverview, NodePodsPids, NodeStatus, ObjectId, PushResult, Readiness, RepoError,
    RoleChange, RuntimeDrift, ServiceError, StrategyApplied, User, UserStatus,
};
use prometheus_client::registry::Registry;
use serde_json::{Value, json};

use super::{ManagerApi, ManagerMetrics, ManagerSettings, serve};
use crate::bind_listener;

fn caller() -> Caller {
    Caller {
        user: User {
            id: ObjectId::parse("65f0c1d2e3f4a5b6c7d8e9f0").unwrap(),
            username: "alice@example.com".into(),
            password_hash: "$2b$04$secret-hash".into(),
            status: UserStatus::Active,
            roles: vec![],
            created_time: 0,
            updated_time: 0,
            creator_id: ObjectId::ZERO,
            updater_id: ObjectId::ZERO,
            token_version: 0,
        },
        grants: vec![],
        session_id: None,
    }
}

#[derive(Default)]
struct Mocks {
    auth: MockAuthService,
    users: MockUserService,
    roles: MockRoleService,
    strategies: MockStrategyService,
    intents: MockScheduleIntentService,
    nodes: MockNodeService,
    scheduler_config: MockSchedulerConfigService,
    readiness: MockReadinessService,
}

struct Served {
    base: String,
    client: reqwest::Client,
    audit: Arc<Mutex<Vec<AuditEntry>>>,
    registry: Arc<Registry>,
}

impl Mocks {
    /// Every token is valid for `caller()`, whatever the key.
    fn authorized() -> Self {
        let mut mocks = Self::default();
        mocks.auth.expect_authorize().returning(|_, _| Ok(caller()));
        mocks
    }

    fn spawn(self) -> Served {
        let audit = Arc::new(Mutex::new(Vec::new()));
        let mut audit_service = MockAuditService::new();
        let sink = audit.clone();
        audit_service
            .expect_record()
            .returning(move |e| sink.lock().unwrap().push(e));
        let mut registry = Registry::default();
        let metrics = ManagerMetrics::register(&mut registry);
        let registry = Arc::new(registry);
        let api = ManagerApi {
            auth: Arc::new(self.auth),
            users: Arc::new(self.users),
            roles: Arc::new(self.roles),
            strategies: Arc::new(self.strategies),
            intents: Arc::new(self.intents),
            nodes: Arc::new(self.nodes),
            scheduler_config: Arc::new(self.scheduler_config),
            audit: Arc::new(audit_service),
            readiness: Arc::new(self.readiness),
            registry: registry.clone(),
            metrics,
            settings: ManagerSettings {
                max_body_bytes: 1024,
                version: "test".into(),
                timeouts: Default::default(),
                sessions: Default::default(),
            },
        };
        let server = serve(api, bind_listener("127.0.0.1:0").unwrap()).unwrap();
        let base = format!("http://127.0.0.1:{}", server.local_addr.port());
        actix_web::rt::spawn(server.server);
        Served {
            base,
            client: reqwest::Client::new(),
            audit,
            registry,
        }
    }
}

impl Served {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&str>) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth("t.e.st");
        if let Some(body) = body {
            req = req.body(body.to_string());
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    fn audit(&self) -> Vec<AuditEntry> {
        self.audit.lock().unwrap().clone()
    }

    fn metrics_text(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode_registry(&mut text, &self.registry).unwrap();
        text
    }
}

#[actix_web::test]
async fn service_errors_keep_their_status_and_hide_internal_details() {
    let mut mocks = Mocks::authorized();
    let errors = [
        ServiceError::TooManyRequests("too many login attempts".into()),
        ServiceError::StorageUnavailable,
        ServiceError::Internal("redb: /var/lib/secret is corrupt".into()),
        ServiceError::Conflict("username already exists".into()),
    ];
    let queue = Mutex::new(errors.to_vec());
    mocks
        .users
        .expect_list_users()
        .returning(move |_| Err(queue.lock().unwrap().remove(0)));
    let app = mocks.spawn();
    for (status, message) in [
        (429, "too many login attempts"),
        (503, "storage unavailable"),
        (500, "Internal Server Error"),
        (409, "username already exists"),
    ] {
        let (s, body) = app.send(reqwest::Method::GET, "/api/v1/users", None).await;
        assert_eq!((s, body), (status, json!({"success": false, "error": message})));
    }
    assert!(
        app.metrics_text().contains("gthulhu_manager_storage_errors_total 1"),
        "{}",
        app.metrics_text()
    );
    assert!(app.audit().is_empty(), "reads are not audited");
}

#[actix_web::test]
async fn login_passes_the_peer_address_and_maps_rate_limits() {
    let mut mocks = Mocks::default();
    mocks.auth.expect_login().returning(|user, password, origin| {
        match (user, password, origin.client_ip.as_str(), origin.request_id.as_str()) {
            ("admin@example.com", "pw", "127.0.0.1", "login-1") => Ok(gthulhu_domain::manager::IssuedTokens {
                access_token: "jwt".into(),
                refresh_token: "refresh-jwt".to_string().into(),
                refresh_expires_at: i64::MAX,
                session_id: ObjectId::ZERO,
            }),
            _ => Err(ServiceError::TooManyRequests("too many login attempts".into())),
        }
    });
    let app = mocks.spawn();
    let r = app
        .client
        .post(format!("{}/api/v1/auth/login", app.base))
        .header("X-Request-ID", "login-1")
        .body(r#"{"username":"admin@example.com","password":"pw"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    assert_eq!(
        b["data"],
        json!({"token": "jwt", "accessToken": "jwt", "refreshToken": "refresh-jwt"})
    );
    let (s, _) = app
        .send(reqwest::Method::POST, "/api/v1/auth/login", Some(r#"{"username":"x"}"#))
        .await;
    assert_eq!(s, 429);
    assert!(app.audit().is_empty(), "logins are audited by the service");
}

#[actix_web::test]
async fn mutations_are_audited_with_status_target_request_id_and_redacted_body() {
    let mut mocks = Mocks::authorized();
    mocks.users.expect_reset_password().returning(|_, id, password| {
        assert_eq!((id, password), ("65f0c1d2e3f4a5b6c7d8e9f3", "n3w"));
        Err(ServiceError::NotFound("user not found".into()))
    });
    let app = mocks.spawn();
    let r = app
        .client
        .put(format!("{}/api/v1/users/password", app.base))
        .bearer_auth("t.e.st")
        .header("X-Request-ID", "req-42")
        .body(r#"{"userId":"65f0c1d2e3f4a5b6c7d8e9f3","newPassword":"n3w"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().get("x-request-id").is_none(), "not echoed");
    let entries = app.audit();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e.action, "user.password.reset");
    assert_eq!(e.user_id, Some(caller().user.id));
    assert_eq!(e.request_id, "req-42");
    assert_eq!(e.status, 404);
    assert_eq!(e.ip, "127.0.0.1");
    assert_eq!(e.target.as_deref(), Some("65f0c1d2e3f4a5b6c7d8e9f3"));
    // The body as received, secrets redacted.
    assert_eq!(
        e.details,
        json!({"userId": "65f0c1d2e3f4a5b6c7d8e9f3", "newPassword": "***"})
    );
}

#[actix_web::test]
async fn refusals_after_authentication_are_audited_unauthenticated_requests_are_not() {
    let mut mocks = Mocks::default();
    mocks.auth.expect_authorize().returning(|token, key| {
        assert_eq!(key, "role.create");
        match token {
            "bad" => Err(ServiceError::Unauthorized("Invalid or expired token".into())),
            _ => Err(ServiceError::Forbidden("permission denied".into())),
        }
    });
    let app = mocks.spawn();
    let uid = ObjectId::new();
    let payload = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        format!(r#"{{"uid":"{uid}"}}"#),
    );
    let url = format!("{}/api/v1/roles", app.base);
    let r = app
        .client
        .post(&url)
        .bearer_auth(format!("h.{payload}.s"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .post(&url)
        .bearer_auth("bad")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app.client.post(&url).body("{}").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let entries = app.audit();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!((entries[0].action.as_str(), entries[0].status), ("role.create", 403));
    assert_eq!(entries[0].user_id, Some(uid));
}

#[actix_web::test]
async fn aliases_reach_the_services_and_both_policy_spellings_are_refused() {
    let mut mocks = Mocks::authorized();
    mocks.roles.expect_update_role().times(1).returning(|_, id, change| {
        assert_eq!(id, "65f0c1d2e3f4a5b6c7d8e9f1");
        assert_eq!(change.name, None, "absent name keeps the stored one");
        assert_eq!(change.policies.as_ref().map(Vec::len), Some(1));
        Ok(())
    });
    mocks
        .roles
        .expect_create_role()
        .times(1)
        .returning(|_, role: RoleChange| {
            assert_eq!(role.policies.unwrap()[0].permission_key, "role.read");
            Ok(ObjectId::new())
        });
    mocks.strategies.expect_delete_strategy().times(1).returning(|_, id| {
        assert_eq!(id, "65f0c1d2e3f4a5b6c7d8e9f0");
        Ok(())
    });
    mocks.intents.expect_delete_intents().times(1).returning(|_, ids| {
        assert_eq!(ids, ["65f0c1d2e3f4a5b6c7d8e9f1".to_string()]);
        Ok(())
    });
    mocks
        .strategies
        .expect_update_strategy()
        .times(1)
        .returning(|_, id, spec| {
            assert_eq!(id, "65f0c1d2e3f4a5b6c7d8e9f0");
            assert_eq!(spec.k8s_namespaces, ["team-a"]);
            assert_eq!(spec.label_selectors.len(), 0, "null is the zero value");
            Ok(StrategyApplied {
                strategy_id: ObjectId::parse(id).unwrap(),
                matched_pods: Some(3),
            })
        });
    let app = mocks.spawn();
    let policy = r#"[{"permissionKey":"role.read","self":false,"k8sNamespace":"","policyNamespace":""}]"#;
    let cases: [(reqwest::Method, &str, String, u16, Value); 6] = [
        (
            reqwest::Method::PUT,
            "/api/v1/roles",
            format!(r#"{{"id":"65f0c1d2e3f4a5b6c7d8e9f1","rolePolicies":{policy}}}"#),
            200,
            Value::Null,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/roles",
            format!(r#"{{"name":"r","rolePolicy":{policy}}}"#),
            200,
            Value::Null,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/roles",
            format!(r#"{{"name":"r","rolePolicy":{policy},"rolePolicies":[]}}"#),
            422,
            Value::Null,
        ),
        (
            reqwest::Method::DELETE,
            "/api/v1/strategies",
            r#"{"strategyID":"65f0c1d2e3f4a5b6c7d8e9f0"}"#.into(),
            200,
            json!({}),
        ),
        (
            reqwest::Method::DELETE,
            "/api/v1/intents",
            r#"{"intentIDs":["65f0c1d2e3f4a5b6c7d8e9f1"]}"#.into(),
            200,
            json!({}),
        ),
        (
            reqwest::Method::PUT,
            "/api/v1/strategies",
            r#"{"strategyID":"65f0c1d2e3f4a5b6c7d8e9f0","k8sNamespace":["team-a"],"labelSelectors":null}"#.into(),
            200,
            json!({"strategyId": "65f0c1d2e3f4a5b6c7d8e9f0", "matchedPods": 3, "pending": false}),
        ),
    ];
    for (method, path, body, status, data) in cases {
        let (s, b) = app.send(method.clone(), path, Some(&body)).await;
        assert_eq!(s, status, "{method} {path} {body}: {b}");
        if status == 422 {
            assert_eq!(b["error"], "use either rolePolicies or rolePolicy");
        } else {
            assert_eq!(b["data"], data, "{method} {path}");
            assert_eq!(b["success"], true);
        }
    }
}

#[actix_web::test]
async fn readiness_names_each_dependency() {
    let mut mocks = Mocks::default();
    let answers = Mutex::new(vec![
        (None, ClusterStatus::Ready),
        (
            Some(RepoError::Unavailable("mongodb://u:pw@db down".into())),
            ClusterStatus::Ready,
        ),
        (None, ClusterStatus::NotConfigured("no cluster configured".into())),
    ]);
    mocks.readiness.expect_readiness().returning(move || {
        let (storage_error, cluster) = answers.lock().unwrap().remove(0);
        Readiness { storage_error, cluster }
    });
    let app = mocks.spawn();
    let (s, b) = app.send(reqwest::Method::GET, "/ready", None).await;
    assert_eq!(
        (s, &b["data"]),
        (
            200,
            &json!({"status": "ready", "checks": {"storage": "ok", "kubernetes": "ok"}})
        )
    );
    let (s, b) = app.send(reqwest::Method::GET, "/ready", None).await;
    assert_eq!(s, 503);
    assert_eq!(b["success"], false);
    assert_eq!(
        b["data"]["checks"],
        json!({"storage": "unavailable", "kubernetes": "ok"})
    );
    assert!(!b.to_string().contains("pw@db"), "no connection details: {b}");
    let (s, b) = app.send(reqwest::Method::GET, "/ready", None).await;
    assert_eq!(s, 503);
    assert_eq!(
        b["data"]["checks"]["kubernetes"],
        "not configured: no cluster configured"
    );
    assert_eq!(b["error"], "not ready: kubernetes");
    assert!(app.metrics_text().contains("gthulhu_manager_storage_errors_total 1"));
}

#[actix_web::test]
async fn metrics_count_requests_by_route_pattern() {
    let app = Mocks::default().spawn();
    let (s, _) = app.send(reqwest::Method::GET, "/health", None).await;
    assert_eq!(s, 200);
    let r = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = r.text().await.unwrap();
    assert!(
        text.contains(r#"gthulhu_http_requests_total{route="/health",method="GET",status="200"} 1"#),
        "{text}"
    );
}

#[actix_web::test]
async fn nodes_routes_serialise_status_and_pass_the_dm_answer_through() {
    let mut mocks = Mocks::default();
    mocks.auth.expect_authorize().returning(|_, key| {
        assert_eq!(key, "pod_pid_mapping.read");
        Ok(caller())
    });
    mocks.nodes.expect_list_nodes().returning(|_| {
        Ok(vec![
            NodeOverview {
                node: NodeInfo {
                    name: "kind-control-plane".into(),
                    status: NodeStatus::Ready,
                },
                apply: NodeApplyStatus {
                    last_push_ms: Some(1_773_129_600_000),
                    last_push: Some(PushResult::Failed("decision maker dm-0 rejected the push".into())),
                    expected_root: Some("ab".into()),
                    observed_root: Some("cd".into()),
                    intents: Some(2),
                    runtime: Some(RuntimeDrift {
                        desired_version: "v1".into(),
                        drift: true,
                        checked_at_ms: 1_773_129_630_000,
                        error: Some("re-apply stopped after 3 attempts".into()),
                    }),
                },
            },
            NodeOverview {
                node: NodeInfo {
                    name: "kind-worker".into(),
                    status: NodeStatus::NotReady,
                },
                apply: NodeApplyStatus::default(),
            },
        ])
    });
    mocks.nodes.expect_node_pods_pids().returning(|_, node| match node {
        "kind-worker" => Ok(NodePodsPids {
            pods: vec![json!({"pod_uid": "u1", "processes": [{"pid": 7, "command": "sleep", "ppid": 1}]})],
            timestamp: "2026-03-10T08:00:00Z".into(),
            node_name: "kind-worker".into(),
            node_id: "kind-worker".into(),
        }),
        "gone" => Err(ServiceError::NotFound("no decision maker found on node gone".into())),
        _ => Err(ServiceError::Unavailable(format!(
            "decision maker on node {node} is unavailable"
        ))),
    });
    let app = mocks.spawn();
    let (s, body) = app.send(reqwest::Method::GET, "/api/v1/nodes", None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["data"]["nodes"],
        json!([
            {"name": "kind-control-plane", "status": "Ready", "lastPushTime": "2026-03-10T08:00:00Z",
             "lastPushResult": "failed", "lastPushError": "decision maker dm-0 rejected the push",
             "expectedRoot": "ab", "observedRoot": "cd", "intents": 2,
             "runtimeConfig": {"desiredVersion": "v1", "drift": true, "checkedAt": "2026-03-10T08:00:30Z",
                               "error": "re-apply stopped after 3 attempts"}},
            {"name": "kind-worker", "status": "NotReady", "lastPushTime": null, "lastPushResult": null,
             "lastPushError": null, "expectedRoot": null, "observedRoot": null, "intents": null,
             "runtimeConfig": null},
        ])
    );
    let (s, body) = app
        .send(reqwest::Method::GET, "/api/v1/nodes/kind-worker/pods/pids", None)
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({"pods": [{"pod_uid": "u1", "processes": [{"pid": 7, "command": "sleep", "ppid": 1}]}],
               "timestamp": "2026-03-10T08:00:00Z", "node_name": "kind-worker", "node_id": "kind-worker"})
    );
    for (node, status, message) in [
        ("gone", 404, "no decision maker found on node gone"),
        ("down", 503, "decision maker on node down is unavailable"),
    ] {
        let (s, body) = app
            .send(reqwest::Method::GET, &format!("/api/v1/nodes/{node}/pods/pids"), None)
            .await;
        assert_eq!((s, body), (status, json!({"success": false, "error": message})));
    }
}
