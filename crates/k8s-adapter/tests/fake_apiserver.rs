//! The adapters against the in-process fake API server, through the real
//! `kube` client and watcher: sync, changes, relist after 410, outages.

use std::time::Duration;

use gthulhu_domain::manager::{ClusterStatus, DmState, K8sAdapter, NodeStatus, PodEvent};
use gthulhu_domain::{PodMetadataSource, PodMetadataStatus, Selector};
use gthulhu_fake_kube_apiserver::{FakeApiServer, node, pod};
use gthulhu_k8s_adapter::{DmSelector, KubeAdapter, KubeSettings, NodePodMetadata, client_from_config};
use k8s_openapi::api::core::v1::{ContainerPort, Pod};
use kube::Client;
use tokio::sync::broadcast;

const WAIT: Duration = Duration::from_secs(30);

/// Without kube's retry layer, which would hide a 503 for a long while.
fn client(server: &FakeApiServer) -> Client {
    let mut config = kube::Config::new(server.url().parse().unwrap());
    config.default_retry = false;
    Client::try_from(config).unwrap()
}

fn settings() -> KubeSettings {
    KubeSettings {
        probe_interval: Duration::from_millis(100),
        api_timeout: Duration::from_secs(2),
        ..KubeSettings::default()
    }
}

fn dm_pod(node: &str, uid: &str) -> Pod {
    let mut p = pod(
        "gthulhu",
        &format!("dm-{node}"),
        uid,
        Some(node),
        &[("app", "decisionmaker")],
        "Running",
    );
    let spec = p.spec.as_mut().unwrap();
    spec.containers[0].ports = Some(vec![ContainerPort {
        name: Some("http".into()),
        container_port: 8080,
        ..ContainerPort::default()
    }]);
    p.status.get_or_insert_default().pod_ip = Some(format!("10.1.0.{}", uid.len()));
    p
}

async fn next_event(rx: &mut broadcast::Receiver<PodEvent>) -> PodEvent {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("no pod event in time")
        .unwrap()
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn manager_cache_follows_the_cluster() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert_pods([
        pod("prod", "web-1", "uid-1", Some("n1"), &[("app", "web")], "Running"),
        pod("prod", "web-2", "uid-2", Some("n2"), &[("app", "web")], "Running"),
        pod("dev", "batch", "uid-3", Some("n1"), &[("app", "batch")], "Succeeded"),
        dm_pod("n1", "uid-dm1"),
    ]);
    server.upsert_node(node("n2", false));
    server.upsert_node(node("n1", true));

    // Through a kubeconfig file, as the Manager builds it.
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    let kube = client_from_config(false, kubeconfig.to_str().unwrap()).await.unwrap();
    let adapter = KubeAdapter::start(kube, settings());
    let mut rx = adapter.pod_events();

    // Initial sync.
    assert_eq!(next_event(&mut rx).await, PodEvent::Resynced);
    assert_eq!(adapter.status(), ClusterStatus::Ready);
    let web = [Selector {
        key: "app".into(),
        value: "web".into(),
    }];
    let uids = |pods: Vec<gthulhu_domain::manager::PodInfo>| pods.into_iter().map(|p| p.uid).collect::<Vec<_>>();
    assert_eq!(uids(adapter.query_pods(&[], &web).await.unwrap()), ["uid-1", "uid-2"]);
    assert!(
        adapter.query_pods(&["dev".into()], &[]).await.unwrap().is_empty(),
        "finished pods are skipped"
    );
    let dms = adapter.list_decision_makers().await.unwrap();
    assert_eq!(dms.len(), 1);
    assert_eq!(
        (dms[0].node_name.as_str(), dms[0].port, dms[0].state),
        ("n1", 8080, DmState::Online)
    );
    let nodes: Vec<_> = adapter
        .list_nodes()
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.name, n.status))
        .collect();
    assert_eq!(
        nodes,
        [("n1".into(), NodeStatus::Ready), ("n2".into(), NodeStatus::NotReady)]
    );

    // Relabel → Applied with the previous labels.
    server.upsert_pod(pod("prod", "web-1", "uid-1", Some("n1"), &[("app", "api")], "Running"));
    match next_event(&mut rx).await {
        PodEvent::Applied {
            previous: Some(previous),
            current,
        } => {
            assert_eq!(previous.labels["app"], "web");
            assert_eq!(current.labels["app"], "api");
        }
        other => panic!("expected Applied, got {other:?}"),
    }
    assert_eq!(uids(adapter.query_pods(&[], &web).await.unwrap()), ["uid-2"]);

    // Delete → Deleted.
    assert!(server.delete_pod("prod", "web-2"));
    assert!(matches!(next_event(&mut rx).await, PodEvent::Deleted(p) if p.uid == "uid-2"));
    assert!(adapter.get_pod("uid-2").await.unwrap().is_none());

    // Outage: Unreachable, the last good cache still answers.
    server.set_available(false);
    eventually("Unreachable", || {
        matches!(adapter.status(), ClusterStatus::Unreachable(_))
    })
    .await;
    assert!(adapter.list_nodes().await.is_err());
    assert_eq!(adapter.query_pods(&[], &[]).await.unwrap().len(), 2);

    // Changes during the outage, history gone (as after an API server
    // restart): the watcher gets 410, relists, and the cache is rebuilt.
    server.upsert_pod(pod("prod", "web-4", "uid-4", Some("n2"), &[("app", "web")], "Running"));
    server.expire_history();
    server.set_available(true);
    loop {
        if next_event(&mut rx).await == PodEvent::Resynced {
            break;
        }
    }
    eventually("Ready", || adapter.status() == ClusterStatus::Ready).await;
    assert_eq!(uids(adapter.query_pods(&[], &web).await.unwrap()), ["uid-4"]);
}

/// `k8s.decision_maker_selector`: DMs labelled otherwise are found, and
/// pods with the default label are then ordinary pods.
#[tokio::test]
async fn custom_dm_selector_finds_differently_labelled_dms() {
    let server = FakeApiServer::start().await.unwrap();
    let mut custom = dm_pod("n2", "uid-dm2");
    custom.metadata.labels = Some([("app.kubernetes.io/name".to_string(), "gthulhu-dm".to_string())].into());
    server.upsert_pods([dm_pod("n1", "uid-dm1"), custom]);
    let adapter = KubeAdapter::start(
        client(&server),
        KubeSettings {
            dm_selector: DmSelector::parse("app.kubernetes.io/name=gthulhu-dm").unwrap(),
            ..settings()
        },
    );
    eventually("Ready", || adapter.status() == ClusterStatus::Ready).await;
    let dms = adapter.list_decision_makers().await.unwrap();
    let found: Vec<_> = dms
        .iter()
        .map(|d| (d.pod_name.as_str(), d.node_name.as_str(), d.port))
        .collect();
    assert_eq!(found, [("dm-n2", "n2", 8080)]);
}

#[tokio::test]
async fn node_pod_metadata_sees_only_its_node() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert_pods([
        pod("prod", "web-1", "uid-1", Some("n1"), &[("app", "web")], "Running"),
        pod("prod", "web-2", "uid-2", Some("n2"), &[("app", "web")], "Running"),
    ]);
    let metadata = NodePodMetadata::start(client(&server), "n1");
    let mut changes = metadata.subscribe();
    eventually("pod metadata Ready", || metadata.status() == PodMetadataStatus::Ready).await;
    let meta = metadata.lookup("uid-1").unwrap();
    assert_eq!((meta.name.as_str(), meta.namespace.as_str()), ("web-1", "prod"));
    assert_eq!(meta.labels["app"], "web");
    assert!(metadata.lookup("uid-2").is_none(), "a pod of another node");

    // A relabel on this node bumps the counter and shows up.
    changes.borrow_and_update();
    server.upsert_pod(pod("prod", "web-1", "uid-1", Some("n1"), &[("app", "api")], "Running"));
    tokio::time::timeout(WAIT, changes.changed()).await.unwrap().unwrap();
    assert_eq!(metadata.lookup("uid-1").unwrap().labels["app"], "api");

    // A new pod elsewhere stays invisible; one here appears.
    server.upsert_pod(pod("prod", "web-3", "uid-3", Some("n2"), &[], "Running"));
    server.upsert_pod(pod("prod", "web-4", "uid-4", Some("n1"), &[], "Running"));
    eventually("uid-4 known", || metadata.lookup("uid-4").is_some()).await;
    assert!(metadata.lookup("uid-3").is_none());

    // Deleted: gone.
    server.delete_pod("prod", "web-1");
    eventually("uid-1 gone", || metadata.lookup("uid-1").is_none()).await;

    // Outage: degraded with the last good data, then ready again.
    server.set_available(false);
    eventually("Degraded", || {
        matches!(metadata.status(), PodMetadataStatus::Degraded(_))
    })
    .await;
    assert!(metadata.lookup("uid-4").is_some());
    server.set_available(true);
    eventually("Ready again", || metadata.status() == PodMetadataStatus::Ready).await;
}
