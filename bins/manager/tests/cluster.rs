//! The real `gthulhu-manager` binary with a cluster: a pods file, or the
//! fake API server through a kubeconfig (manager.md 15.2 `k8s.*`).

mod common;

use std::time::{Duration, Instant};

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

/// manager.md 15.2: no cluster at startup is not fatal. The Manager serves,
/// `/ready` says why and that it retries, and a kubeconfig that appears
/// later is picked up within the retry period, without a restart, by the
/// pod cache and by leader election alike.
#[tokio::test]
async fn a_cluster_that_appears_later_is_connected() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert_node(node("n1", true));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let m = Manager::start(
        dir,
        &[
            ("MANAGER_K8S_KUBE_CONFIG_PATH", kubeconfig.to_str().unwrap()),
            ("MANAGER_K8S_RETRY_INITIAL_S", "1"),
            ("MANAGER_LEADER_ELECTION_ENABLE", "true"),
            ("MANAGER_LEADER_ELECTION_NAMESPACE", "gthulhu"),
            ("POD_NAME", "manager-late"),
        ],
    )
    .await;
    let body = m
        .wait_ready("/ready", |b| {
            b["data"]["checks"]["storage"] == "ok"
                && b["data"]["checks"]["kubernetes"]
                    .as_str()
                    .is_some_and(|s| s.contains("retrying in"))
        })
        .await;
    let reason = body["data"]["checks"]["kubernetes"].as_str().unwrap();
    assert!(reason.starts_with("not configured: kubeconfig "), "{reason}");
    assert_eq!(body["success"], false);

    // Renamed into place, so no attempt reads half a file.
    let partial = kubeconfig.with_extension("tmp");
    server.write_kubeconfig(&partial).unwrap();
    std::fs::rename(&partial, &kubeconfig).unwrap();
    let written = Instant::now();
    m.wait_ready("/ready", all_ok).await;
    // Failures so far waited 1 s, 2 s, ... (+ 10 %): the next attempt is
    // a few seconds away at most.
    assert!(written.elapsed() < Duration::from_secs(10), "{:?}", written.elapsed());
    assert_eq!(node_names(&m).await, [("n1".into(), "Ready".into())]);

    let lease = format!(
        "{}/apis/coordination.k8s.io/v1/namespaces/gthulhu/leases/gthulhu-manager",
        server.url()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = m.http.get(&lease).send().await.unwrap();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if body["spec"]["holderIdentity"] == "manager-late" {
            break;
        }
        assert!(Instant::now() < deadline, "never took the Lease: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
