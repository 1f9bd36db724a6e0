//! `PodsFileAdapter` against a real file being rewritten.

use std::path::Path;
use std::time::Duration;

use gthulhu_domain::Selector;
use gthulhu_domain::manager::{ClusterStatus, DmState, K8sAdapter, K8sError, NodeStatus, PodEvent};
use gthulhu_k8s_adapter::{DmSelector, PodsFileAdapter, PodsFileSettings};
use serde_json::json;
use tokio::sync::broadcast;

fn settings() -> PodsFileSettings {
    PodsFileSettings {
        poll_interval: Duration::from_millis(20),
        ..PodsFileSettings::default()
    }
}

fn pod(uid: &str, name: &str, labels: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"uid": uid, "name": name, "namespace": "prod", "labels": labels},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "i",
                 "ports": [{"name": "http", "containerPort": 8080}]}]},
        "status": {"phase": "Running", "podIP": "10.0.0.7"},
    })
}

/// Written beside and renamed over, as editors and `kubectl > tmp && mv` do,
/// so the poller never reads half a file.
fn write(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn write_items(path: &Path, items: &[serde_json::Value]) {
    write(
        path,
        &json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string(),
    );
}

async fn next_event(rx: &mut broadcast::Receiver<PodEvent>) -> PodEvent {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("no pod event within 5 s")
        .unwrap()
}

async fn wait_status(adapter: &PodsFileAdapter, want: impl Fn(&ClusterStatus) -> bool) -> ClusterStatus {
    for _ in 0..250 {
        let status = adapter.status();
        if want(&status) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("status never reached; last {:?}", adapter.status());
}

#[tokio::test]
async fn file_edits_become_pod_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pods.json");
    write_items(
        &path,
        &[
            pod("u1", "web-1", json!({"app": "web"})),
            pod("u2", "web-2", json!({"app": "web"})),
        ],
    );

    let adapter = PodsFileAdapter::start(&path, settings());
    let mut rx = adapter.pod_events();
    assert_eq!(next_event(&mut rx).await, PodEvent::Resynced);
    assert_eq!(adapter.status(), ClusterStatus::Ready);
    let web = [Selector {
        key: "app".into(),
        value: "web".into(),
    }];
    let names = |pods: Vec<gthulhu_domain::manager::PodInfo>| pods.into_iter().map(|p| p.name).collect::<Vec<_>>();
    assert_eq!(names(adapter.query_pods(&[], &web).await.unwrap()), ["web-1", "web-2"]);
    // No Node items: nodes derived from the pods, state unknown.
    let nodes = adapter.list_nodes().await.unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(
        (nodes[0].name.as_str(), nodes[0].status),
        ("node-1", NodeStatus::Unknown)
    );

    // Relabel u1, remove u2, add u3 (a Decision Maker).
    write_items(
        &path,
        &[
            pod("u1", "web-1", json!({"app": "api"})),
            pod("u3", "dm", json!({"app": "decisionmaker"})),
        ],
    );
    // Deletions first, then the file's pods in file order.
    let events = [
        next_event(&mut rx).await,
        next_event(&mut rx).await,
        next_event(&mut rx).await,
    ];
    assert!(
        matches!(&events[0], PodEvent::Deleted(p) if p.uid == "u2"),
        "{events:?}"
    );
    assert!(
        matches!(&events[1], PodEvent::Applied { previous: Some(p), current } if p.labels["app"] == "web" && current.labels["app"] == "api"),
        "{events:?}"
    );
    assert!(
        matches!(&events[2], PodEvent::Applied { previous: None, current } if current.uid == "u3"),
        "{events:?}"
    );
    assert!(adapter.query_pods(&[], &web).await.unwrap().is_empty());
    let dms = adapter.list_decision_makers().await.unwrap();
    assert_eq!(dms.len(), 1);
    assert_eq!(
        (dms[0].host.as_str(), dms[0].port, dms[0].state),
        ("10.0.0.7", 8080, DmState::Online)
    );

    // Invalid JSON: the last good content stays, the status says why.
    write(&path, "{\"items\": [");
    let status = wait_status(&adapter, |s| matches!(s, ClusterStatus::Unreachable(_))).await;
    let ClusterStatus::Unreachable(reason) = status else {
        unreachable!()
    };
    assert!(
        reason.contains("pods.json") && reason.contains("not a kubectl JSON list"),
        "{reason}"
    );
    assert_eq!(names(adapter.query_pods(&[], &[]).await.unwrap()), ["dm", "web-1"]);

    // Missing file: same.
    std::fs::remove_file(&path).unwrap();
    let status = wait_status(
        &adapter,
        |s| matches!(s, ClusterStatus::Unreachable(r) if r.contains("No such file")),
    )
    .await;
    assert!(matches!(status, ClusterStatus::Unreachable(_)));
    assert_eq!(adapter.get_pod("u1").await.unwrap().unwrap().labels["app"], "api");

    // Back with Node items: recovered, nodes from the file.
    let node = json!({"kind": "Node", "metadata": {"name": "node-1"},
                      "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
    write_items(&path, &[pod("u1", "web-1", json!({"app": "api"})), node]);
    assert!(matches!(next_event(&mut rx).await, PodEvent::Deleted(p) if p.uid == "u3"));
    wait_status(&adapter, |s| *s == ClusterStatus::Ready).await;
    let nodes = adapter.list_nodes().await.unwrap();
    assert_eq!(nodes[0].status, NodeStatus::NotReady);
    assert!(rx.try_recv().is_err(), "the unchanged pod u1 emits nothing");
}

#[tokio::test]
async fn custom_dm_selector_finds_differently_labelled_dms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pods.json");
    write_items(
        &path,
        &[
            pod("u1", "default-dm", json!({"app": "decisionmaker"})),
            pod("u2", "custom-dm", json!({"component": "gthulhu-dm"})),
        ],
    );
    let adapter = PodsFileAdapter::start(
        &path,
        PodsFileSettings {
            dm_selector: DmSelector::parse("component=gthulhu-dm").unwrap(),
            ..settings()
        },
    );
    wait_status(&adapter, |s| *s == ClusterStatus::Ready).await;
    let dms = adapter.list_decision_makers().await.unwrap();
    let names: Vec<_> = dms.iter().map(|d| d.pod_name.as_str()).collect();
    assert_eq!(names, ["custom-dm"]);
}

#[tokio::test]
async fn missing_file_at_start_is_unavailable_with_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.json");
    let adapter = PodsFileAdapter::start(&path, settings());
    let status = wait_status(
        &adapter,
        |s| matches!(s, ClusterStatus::Unreachable(r) if r.contains("No such file")),
    )
    .await;
    assert!(matches!(status, ClusterStatus::Unreachable(r) if r.contains("absent.json")));
    assert!(matches!(adapter.query_pods(&[], &[]).await, Err(K8sError::NotSynced(r)) if r.contains("absent.json")));

    let mut rx = adapter.pod_events();
    write_items(&path, &[pod("u1", "web-1", json!({}))]);
    assert_eq!(next_event(&mut rx).await, PodEvent::Resynced);
    assert_eq!(adapter.status(), ClusterStatus::Ready);
    assert_eq!(adapter.query_pods(&[], &[]).await.unwrap().len(), 1);
}
