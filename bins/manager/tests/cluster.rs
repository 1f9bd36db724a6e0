//! The real `gthulhu-manager` binary with a cluster: a pods file, or the
//! fake API server through a kubeconfig (manager.md 15.2 `k8s.*`).

mod common;

use common::Manager;
use gthulhu_fake_kube_apiserver::{FakeApiServer, node, pod};
use serde_json::{Value, json};

async fn node_names(m: &Manager) -> Vec<(String, String)> {
    let token = m.admin_token().await;
    let (status, body) = m.get("/api/v1/nodes", Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["name"].as_str().unwrap().into(), n["status"].as_str().unwrap().into()))
        .collect()
}

fn all_ok(body: &Value) -> bool {
    body["data"]["checks"]["kubernetes"] == "ok" && body["data"]["checks"]["storage"] == "ok"
}

#[tokio::test]
async fn pods_file_is_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pods.json");
    let items = json!({"kind": "List", "items": [
        {"kind": "Pod", "metadata": {"uid": "u1", "name": "web", "namespace": "prod"},
         "spec": {"nodeName": "node-b", "containers": []}, "status": {"phase": "Running"}},
        {"kind": "Pod", "metadata": {"uid": "u2", "name": "db", "namespace": "prod"},
         "spec": {"nodeName": "node-a", "containers": []}, "status": {"phase": "Running"}},
    ]});
    std::fs::write(&file, items.to_string()).unwrap();
    let m = Manager::start(dir, &[("MANAGER_K8S_PODS_FILE", file.to_str().unwrap())]).await;
    m.wait_ready("/ready", all_ok).await;
    // No Node items: the pods' nodes, state unknown.
    assert_eq!(
        node_names(&m).await,
        [("node-a".into(), "Unknown".into()), ("node-b".into(), "Unknown".into())]
    );
}

#[tokio::test]
async fn kubeconfig_points_at_a_cluster() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert_pod(pod("prod", "web", "u1", Some("n1"), &[("app", "web")], "Running"));
    server.upsert_node(node("n2", false));
    server.upsert_node(node("n1", true));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    let m = Manager::start(dir, &[("MANAGER_K8S_KUBE_CONFIG_PATH", kubeconfig.to_str().unwrap())]).await;
    m.wait_ready("/ready", all_ok).await;
    assert_eq!(
        node_names(&m).await,
        [("n1".into(), "Ready".into()), ("n2".into(), "NotReady".into())]
    );

    server.set_available(false);
    let body = m
        .wait_ready("/ready", |b| {
            b["data"]["checks"]["kubernetes"]
                .as_str()
                .is_some_and(|s| s.starts_with("unreachable"))
        })
        .await;
    assert_eq!(body["success"], false);
}
