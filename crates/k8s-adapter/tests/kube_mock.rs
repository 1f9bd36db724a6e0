//! `KubeAdapter` against a scripted API server (`tower_test` mock): the
//! exact list and watch requests, their answers, and what the cache and its
//! events make of them.

use std::time::Duration;

use gthulhu_domain::manager::{ClusterStatus, K8sAdapter, K8sError, NodeStatus, PodEvent};
use gthulhu_k8s_adapter::{KubeAdapter, KubeSettings};
use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tower_test::mock::{self, Handle};

type ApiHandle = Handle<Request<Body>, Response<Body>>;

fn mock_client() -> (Client, ApiHandle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "default"), handle)
}

fn pod(uid: &str, name: &str, rv: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"uid": uid, "name": name, "namespace": "prod", "resourceVersion": rv, "labels": labels},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": "Running", "podIP": "10.0.0.1"},
    })
}

fn pod_list(rv: &str, items: &[Value]) -> Value {
    json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": rv}, "items": items})
}

fn ok(body: &Value) -> Response<Body> {
    Response::builder()
        .body(Body::from(body.to_string().into_bytes()))
        .unwrap()
}

fn watch_body(events: &[Value]) -> Response<Body> {
    let lines: String = events.iter().map(|e| format!("{e}\n")).collect();
    Response::builder().body(Body::from(lines.into_bytes())).unwrap()
}

/// The next request, which must be a pod list (`watch` false) or watch.
async fn expect_pods_request(handle: &mut ApiHandle, watch: bool) -> (String, mock::SendResponse<Response<Body>>) {
    let (request, respond) = tokio::time::timeout(Duration::from_secs(10), handle.next_request())
        .await
        .expect("no request within 10 s")
        .expect("client gone");
    assert_eq!(request.uri().path(), "/api/v1/pods");
    let query = request.uri().query().unwrap_or_default().to_string();
    assert_eq!(query.contains("watch=true"), watch, "{query}");
    (query, respond)
}

async fn next_event(rx: &mut broadcast::Receiver<PodEvent>) -> PodEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no pod event within 10 s")
        .unwrap()
}

#[tokio::test]
async fn list_then_watch_events_then_410_relist() {
    let (client, mut handle) = mock_client();
    let adapter = KubeAdapter::start(client, KubeSettings::default());
    let mut rx = adapter.pod_events();
    assert!(matches!(adapter.status(), ClusterStatus::Unreachable(r) if r.contains("not synced")));
    assert!(matches!(
        adapter.query_pods(&[], &[]).await,
        Err(K8sError::NotSynced(_))
    ));

    let (_, respond) = expect_pods_request(&mut handle, false).await;
    respond.send_response(ok(&pod_list(
        "10",
        &[
            pod("u1", "web", "5", json!({"app": "web"})),
            pod("u2", "dm", "6", json!({"app": "decisionmaker"})),
        ],
    )));
    assert_eq!(next_event(&mut rx).await, PodEvent::Resynced);
    assert_eq!(adapter.status(), ClusterStatus::Ready);
    assert_eq!(adapter.query_pods(&[], &[]).await.unwrap().len(), 2);
    assert_eq!(adapter.list_decision_makers().await.unwrap()[0].pod_name, "dm");

    // The watch resumes from the list's resourceVersion.
    let (query, respond) = expect_pods_request(&mut handle, true).await;
    assert!(query.contains("resourceVersion=10"), "{query}");
    respond.send_response(watch_body(&[
        json!({"type": "MODIFIED", "object": pod("u1", "web", "11", json!({"app": "api"}))}),
        // Status churn only: no event.
        json!({"type": "MODIFIED", "object": pod("u1", "web", "12", json!({"app": "api"}))}),
        json!({"type": "DELETED", "object": pod("u2", "dm", "13", json!({"app": "decisionmaker"}))}),
        json!({"type": "ADDED", "object": pod("u3", "new", "14", json!({}))}),
    ]));
    assert!(matches!(
        next_event(&mut rx).await,
        PodEvent::Applied { previous: Some(p), current } if p.labels["app"] == "web" && current.labels["app"] == "api"
    ));
    assert!(matches!(next_event(&mut rx).await, PodEvent::Deleted(p) if p.uid == "u2"));
    assert!(matches!(next_event(&mut rx).await, PodEvent::Applied { previous: None, current } if current.uid == "u3"));
    assert!(adapter.list_decision_makers().await.unwrap().is_empty());

    // The stream ended: the watcher re-watches from the last version seen,
    // and is told it is too old.
    let (query, respond) = expect_pods_request(&mut handle, true).await;
    assert!(query.contains("resourceVersion=14"), "{query}");
    respond.send_response(watch_body(&[json!({"type": "ERROR", "object": {
        "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "message": "too old resource version: 14 (20)", "reason": "Expired", "code": 410}})]));

    // 410 means relist; it is not an outage.
    let (_, respond) = expect_pods_request(&mut handle, false).await;
    assert_eq!(adapter.status(), ClusterStatus::Ready);
    respond.send_response(ok(&pod_list("20", &[pod("u9", "other", "19", json!({}))])));
    assert_eq!(next_event(&mut rx).await, PodEvent::Resynced);
    let pods = adapter.query_pods(&[], &[]).await.unwrap();
    assert_eq!(pods.iter().map(|p| p.uid.as_str()).collect::<Vec<_>>(), ["u9"]);
    assert!(adapter.get_pod("u1").await.unwrap().is_none());

    // A failing watch is an outage, with the error as the reason; the last
    // good cache keeps answering.
    let (_, respond) = expect_pods_request(&mut handle, true).await;
    respond.send_error(std::io::Error::other("connection refused"));
    for _ in 0..100 {
        if matches!(adapter.status(), ClusterStatus::Unreachable(_)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(matches!(adapter.status(), ClusterStatus::Unreachable(r) if r.contains("connection refused")));
    assert_eq!(adapter.query_pods(&[], &[]).await.unwrap().len(), 1);
}

#[tokio::test]
async fn nodes_are_listed_live_sorted_with_ready_condition() {
    let (client, mut handle) = mock_client();
    let adapter = KubeAdapter::start(client, KubeSettings::default());
    let answer = tokio::spawn(async move {
        let mut pending_pod_lists = Vec::new();
        loop {
            let (request, respond) = handle.next_request().await.expect("client gone");
            if request.uri().path() != "/api/v1/nodes" {
                // The pod watch's list: left unanswered.
                pending_pod_lists.push(respond);
                continue;
            }
            let node = |name: &str, ready: &str| json!({"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": ready}]}});
            respond.send_response(ok(&json!({
                "apiVersion": "v1", "kind": "NodeList", "metadata": {"resourceVersion": "1"},
                "items": [node("b", "False"), node("a", "True"), node("c", "Unknown")],
            })));
            return;
        }
    });
    let nodes = adapter.list_nodes().await.unwrap();
    answer.await.unwrap();
    let got: Vec<_> = nodes.iter().map(|n| (n.name.as_str(), n.status)).collect();
    assert_eq!(
        got,
        [
            ("a", NodeStatus::Ready),
            ("b", NodeStatus::NotReady),
            ("c", NodeStatus::Unknown)
        ]
    );
}

#[tokio::test]
async fn node_list_times_out_as_unavailable() {
    let (client, _handle) = mock_client();
    let adapter = KubeAdapter::start(
        client,
        KubeSettings {
            api_timeout: Duration::from_millis(100),
            ..KubeSettings::default()
        },
    );
    // Nobody answers: the timeout, not a hang.
    let err = adapter.list_nodes().await.unwrap_err();
    assert!(
        matches!(&err, K8sError::Unavailable(r) if r.contains("timed out")),
        "{err}"
    );
}
