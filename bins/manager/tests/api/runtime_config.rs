//! Conformance 15 to 17 of sessions-and-runtime.md: the Manager's
//! runtime-config routes and reconciler step over the real HTTP stack, the
//! real DM client and real Decision Makers, each calling its own fake
//! scheduler daemon (the cluster is a mock listing those DMs).

use std::sync::Arc;

use gthulhu_domain::manager::{
    ClusterStatus, DecisionMakerEndpoint, DmState, K8sAdapter, MockK8sAdapter, NodeInfo, NodeStatus,
};
use gthulhu_fake_scheduler_daemon::{FakeDaemon, Options as DaemonOptions};
use gthulhu_manager_service::{PassOutcome, ReconcilerSettings};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::helpers::{Options, PASSWORD, TestApp, spawn_app};
use crate::reconcile::spawn_dm;

/// A node's Decision Maker and its daemon.
struct Node {
    name: &'static str,
    daemon: FakeDaemon,
    port: u16,
}

async fn node(name: &'static str) -> Node {
    let daemon = FakeDaemon::start(DaemonOptions::default()).await.unwrap();
    let port = spawn_dm(&daemon.url()).await;
    Node { name, daemon, port }
}

fn endpoint(node: &str, port: u16, state: DmState) -> DecisionMakerEndpoint {
    DecisionMakerEndpoint {
        node_name: node.into(),
        pod_name: format!("decisionmaker-{node}"),
        pod_uid: format!("uid-{node}"),
        host: "127.0.0.1".into(),
        port,
        state,
    }
}

/// A ready cluster without pods whose DMs are `dms`.
fn cluster(dms: Vec<DecisionMakerEndpoint>) -> Arc<dyn K8sAdapter> {
    let mut k8s = MockK8sAdapter::new();
    let nodes: Vec<NodeInfo> = dms
        .iter()
        .map(|dm| NodeInfo {
            name: dm.node_name.clone(),
            status: NodeStatus::Ready,
        })
        .collect();
    k8s.expect_list_decision_makers().returning(move || Ok(dms.clone()));
    k8s.expect_list_nodes().returning(move || Ok(nodes.clone()));
    k8s.expect_query_pods().returning(|_, _| Ok(vec![]));
    k8s.expect_status().returning(|| ClusterStatus::Ready);
    k8s.expect_pod_events().returning(|| broadcast::channel(1).1);
    Arc::new(k8s)
}

async fn app_over(dms: Vec<DecisionMakerEndpoint>) -> TestApp {
    spawn_app(Options {
        k8s: Some(cluster(dms)),
        ..Options::default()
    })
    .await
}

fn config(version: &str, kernel_mode: bool) -> Value {
    json!({"configVersion": version, "mode": "gthulhu", "sliceNsDefault": 20_000_000, "sliceNsMin": 0,
           "kernelMode": kernel_mode, "maxTimeWatchdog": false, "earlyProcessing": false, "builtinIdle": false,
           "monitoringEnabled": true})
}

async fn apply(app: &TestApp, token: &str, nodes: &[&str], config: Value) -> (u16, Value) {
    let body = json!({"nodeIds": nodes, "config": config});
    app.json(Method::POST, "/api/v1/scheduler/runtime-config/apply", token, body)
        .await
}

/// (nodeId, success, error, drift) of every result row.
fn rows(body: &Value) -> Vec<(String, bool, Value, bool)> {
    body["data"]["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {body}"))
        .iter()
        .map(|r| {
            (
                r["nodeId"].as_str().unwrap().to_string(),
                r["success"].as_bool().unwrap(),
                r["error"].clone(),
                r["drift"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn row(node: &str, success: bool, error: Value, drift: bool) -> (String, bool, Value, bool) {
    (node.to_string(), success, error, drift)
}

#[tokio::test]
async fn apply_and_status_through_real_decision_makers() {
    let (a, b) = (node("node-a").await, node("node-b").await);
    let pending = endpoint("node-p", 9, DmState::Unknown);
    let app = app_over(vec![
        endpoint(b.name, b.port, DmState::Online),
        endpoint(a.name, a.port, DmState::Online),
        pending,
    ])
    .await;
    let admin = app.admin_token().await;

    let (status, body) = apply(&app, &admin, &[b.name, a.name], config("v1", true)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        rows(&body),
        [
            row("node-a", true, Value::Null, false),
            row("node-b", true, Value::Null, false)
        ]
    );
    let first = &body["data"]["results"][0];
    assert_eq!(first["host"], "127.0.0.1");
    assert_eq!(first["config"]["kernelMode"], true);
    assert_eq!(first["desiredConfig"]["schedulerEnabled"], true);
    for key in [
        "configVersion",
        "appliedAt",
        "restartCount",
        "lastError",
        "config",
        "desiredConfig",
    ] {
        assert!(first.get(key).is_some(), "{key} always present: {first}");
    }
    let sent = a.daemon.posts().last().unwrap().json.clone().unwrap();
    assert_eq!(
        (sent["kernelMode"].clone(), sent["maxTimeWatchdog"].clone()),
        (json!(true), json!(false))
    );

    // A flag turned off again, which upstream could not do.
    let (status, body) = apply(&app, &admin, &[a.name], config("v2", false)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(rows(&body), [row("node-a", true, Value::Null, false)]);
    assert!(!a.daemon.config().kernel_mode);
    assert!(String::from_utf8_lossy(&a.daemon.posts().last().unwrap().body).contains("\"kernelMode\":false"));

    let (status, body) = apply(&app, &admin, &[a.name], config("v2", true)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"],
        "configVersion \"v2\" is already used on node node-a with different content"
    );

    let (status, body) = apply(&app, &admin, &["node-p", "node-x"], config("v1", true)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        rows(&body),
        [
            row("node-p", false, json!("decision maker is offline"), true),
            row("node-x", false, json!("decision maker is not discovered"), true),
        ]
    );

    let (status, body) = app
        .get("/api/v1/scheduler/runtime-config/status?nodeIds=node-a", &admin)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(rows(&body), [row("node-a", true, Value::Null, false)]);
    assert_eq!(body["data"]["results"][0]["configVersion"], "v2");

    for (body, error) in [
        (json!({"nodeIds": ["node-a"]}), "config is required"),
        (
            json!({"nodeIds": ["Node_A"], "config": config("v9", true)}),
            "nodeIds[0]: invalid node name \"Node_A\"",
        ),
        (
            json!({"config": {"configVersion": "v9", "mode": "scx", "schedulerName": "scx_foo"}}),
            "config.schedulerName: unknown scx scheduler \"scx_foo\"",
        ),
    ] {
        let (status, answer) = app
            .json(Method::POST, "/api/v1/scheduler/runtime-config/apply", &admin, body)
            .await;
        assert_eq!((status, answer["error"].as_str()), (422, Some(error)), "{answer}");
    }
    let (status, _) = app
        .json(
            Method::POST,
            "/api/v1/scheduler/runtime-config/apply",
            &admin,
            json!({"nodeIds": null, "config": {"mode": null}}),
        )
        .await;
    assert_eq!(status, 400);

    let empty = app_over(vec![]).await;
    let token = empty.admin_token().await;
    let (status, body) = apply(&empty, &token, &[], config("v1", true)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("no decision maker pods found"))
    );
}

async fn pass(app: &TestApp) {
    let reconciler = app.services.reconciler(ReconcilerSettings::default());
    assert!(matches!(reconciler.run_pass().await, PassOutcome::Completed(_)));
}

#[tokio::test]
async fn the_reconciler_repairs_drift_and_gives_up_on_a_reverting_daemon() {
    let (a, b) = (node("node-a").await, node("node-b").await);
    let app = app_over(vec![
        endpoint(a.name, a.port, DmState::Online),
        endpoint(b.name, b.port, DmState::Online),
    ])
    .await;
    let admin = app.admin_token().await;
    let (status, body) = apply(&app, &admin, &[], config("v1", true)).await;
    assert_eq!(status, 200, "{body}");
    let posts = |n: &Node| n.daemon.posts().len();
    let (a0, b0) = (posts(&a), posts(&b));
    for _ in 0..3 {
        pass(&app).await;
    }
    assert_eq!((posts(&a), posts(&b)), (a0, b0), "steady state only reads");

    a.daemon.reset_to_bootstrap(true);
    pass(&app).await;
    assert_eq!(posts(&a), a0 + 1);
    let (_, body) = app
        .get("/api/v1/scheduler/runtime-config/status?nodeIds=node-a", &admin)
        .await;
    assert_eq!(rows(&body), [row("node-a", true, Value::Null, false)]);

    b.daemon.revert_after_apply(true);
    let (status, _) = apply(&app, &admin, &[b.name], config("v2", false)).await;
    assert_eq!(status, 200);
    let b1 = posts(&b);
    for _ in 0..5 {
        pass(&app).await;
    }
    assert_eq!(posts(&b), b1 + 3, "three re-applies, then none");
    let (status, body) = app.get("/api/v1/nodes", &admin).await;
    assert_eq!(status, 200, "{body}");
    let node_b = body["data"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "node-b")
        .unwrap()
        .clone();
    assert_eq!(node_b["runtimeConfig"]["drift"], true, "{node_b}");
    assert_eq!(node_b["runtimeConfig"]["error"], "re-apply stopped after 3 attempts");
    assert_eq!(node_b["runtimeConfig"]["desiredVersion"], "v2");

    let (status, body) = app
        .json(
            Method::DELETE,
            "/api/v1/scheduler/runtime-config",
            &admin,
            json!({"nodeIds": ["node-b"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let seen = b.daemon.requests().len();
    pass(&app).await;
    assert_eq!(
        b.daemon.requests().len(),
        seen,
        "no further calls for an unmanaged node"
    );
}

#[tokio::test]
async fn reading_needs_read_and_applying_needs_update_and_is_audited() {
    let a = node("node-a").await;
    let app = app_over(vec![endpoint(a.name, a.port, DmState::Online)]).await;
    let admin = app.admin_token().await;
    let (_, permissions) = app.get("/api/v1/permissions", &admin).await;
    let keys: Vec<&str> = permissions["data"]["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["key"].as_str())
        .collect();
    assert!(
        keys.ends_with(&["scheduler_config.read", "scheduler_config.update"]),
        "{keys:?}"
    );

    app.role(&admin, "runtime-reader", &[("scheduler_config.read", "")])
        .await;
    app.user(&admin, "reader@example.com", &["runtime-reader"], 1).await;
    let reader = app.token("reader@example.com", PASSWORD).await;
    let (status, _) = app.get("/api/v1/scheduler/runtime-config/status", &reader).await;
    assert_eq!(status, 200);
    let (status, body) = apply(&app, &reader, &[a.name], config("v1", true)).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("permission denied")));

    let (status, _) = apply(&app, &admin, &[a.name], config("v1", true)).await;
    assert_eq!(status, 200);
    let (_, log) = app
        .get("/api/v1/audit-logs?action=scheduler_config.update", &admin)
        .await;
    let entries = log["data"]["entries"].as_array().unwrap();
    // Newest first: the admin's apply, then the reader's refused one.
    let seen: Vec<(Value, Value)> = entries
        .iter()
        .map(|e| (e["status"].clone(), e["target"].clone()))
        .collect();
    assert_eq!(
        seen,
        [(json!(200), json!("nodes:node-a")), (json!(403), Value::Null)],
        "{log}"
    );
}
