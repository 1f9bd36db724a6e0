//! Standalone mode watches the pods of its node (decision-maker.md 12.2):
//! the real binary against the fake API server through a kubeconfig.

mod common;

use std::time::{Duration, Instant};

use common::Dm;
use gthulhu_fake_kube_apiserver::{FakeApiServer, pod};
use reqwest::Method;
use serde_json::Value;

async fn wait_pod_labels(dm: &Dm, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health: Value = dm.call(Method::GET, "/health", None).await;
        let state = health["checks"]["pod_labels"].as_str().unwrap_or_default().to_string();
        if done(&state) {
            return state;
        }
        assert!(Instant::now() < deadline, "pod_labels never got there: {health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn standalone_watches_its_node_and_reports_outages() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert_pod(pod(
        "prod",
        "web",
        "uid-1",
        Some("e2e-node"),
        &[("app", "web")],
        "Running",
    ));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    let dm = Dm::start(&[
        ("DM_STANDALONE_ENABLE", "true"),
        ("DM_STANDALONE_IN_CLUSTER", "false"),
        ("DM_STANDALONE_KUBE_CONFIG_PATH", kubeconfig.to_str().unwrap()),
    ])
    .await;
    wait_pod_labels(&dm, |s| s == "ok").await;

    server.set_available(false);
    let state = wait_pod_labels(&dm, |s| s.starts_with("degraded")).await;
    assert!(state.contains("e2e-node"), "{state}");
    server.set_available(true);
    wait_pod_labels(&dm, |s| s == "ok").await;
}

#[tokio::test]
async fn manager_driven_mode_does_not_watch_the_cluster() {
    let dm = Dm::start(&[]).await;
    let state = wait_pod_labels(&dm, |s| !s.is_empty()).await;
    assert!(state.starts_with("not configured: not in standalone mode"), "{state}");
}
