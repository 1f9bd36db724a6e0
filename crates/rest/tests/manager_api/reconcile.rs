//! Conformance 10 end to end: the Manager's reconciler over the redb store
//! and the real DM client, against a real Decision Maker on a loopback port
//! (the cluster is a mock: one pod, one DM). Equal roots here mean the
//! Manager's expected root is bit-identical to the DM's.

use gthulhu_daemon_client::DaemonClient;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gthulhu_dm_client::{ClientSettings, HttpDecisionMakerClient};
use gthulhu_dm_service::{DecisionMaker, LegacyPriorityMap, NoPodMetadata, RsaTokenService, SchedulerMetricsStore};
use gthulhu_domain::manager::{
    ClusterStatus, DecisionMakerAdapter, DecisionMakerEndpoint, DmState, IntentState, MockK8sAdapter, ObjectId,
    PodInfo, Repository, ScheduleStrategy, StrategySpec,
};
use gthulhu_domain::{MockProcessIndex, ProcessSnapshot, ScanHealth, ScanMode, merkle};
use gthulhu_manager_service::{
    JwtKeys, ManagerServices, PassOutcome, PassReport, ReconcilerSettings, ServiceDeps, ServiceSettings,
};
use gthulhu_rest::bind_listener;
use gthulhu_rest::dm::{DmApi, DmSettings};
use gthulhu_store_redb::RedbRepository;
use prometheus_client::registry::Registry;
use tokio::sync::{broadcast, watch};

use crate::helpers::PRIVATE_KEY;

/// A Decision Maker with no processes, signing tokens with the test key,
/// whose scheduler daemon is at `daemon`; its port, and the sender that
/// keeps its resolver running.
pub(crate) async fn spawn_dm(daemon: &str) -> (u16, watch::Sender<bool>) {
    let mut index = MockProcessIndex::new();
    let empty = Arc::new(ProcessSnapshot::empty(ScanMode::Cgroups));
    index.expect_snapshot().returning(move || Some(empty.clone()));
    let (_changes, changes_rx) = watch::channel(0u64);
    index.expect_subscribe().returning(move || changes_rx.clone());
    index.expect_health().returning(ScanHealth::default);
    index.expect_threads().returning(|_| Vec::new());
    let dm = DecisionMaker::new(
        Arc::new(index),
        Arc::new(NoPodMetadata::new("no pod watch in tests")),
        LegacyPriorityMap::default(),
    );
    let mut registry = Registry::default();
    let metrics = Arc::new(SchedulerMetricsStore::default());
    let http_metrics = gthulhu_rest::HttpMetrics::register(&mut registry);
    let (stop, stop_rx) = watch::channel(false);
    dm.spawn_resolver(stop_rx);
    let api = DmApi {
        tokens: Arc::new(RsaTokenService::from_pem(PRIVATE_KEY, 3).unwrap()),
        intents: dm.clone(),
        scheduling: dm,
        metrics,
        runtime: Arc::new(DaemonClient::new(daemon, Duration::from_secs(2)).unwrap()),
        registry: Arc::new(registry),
        http_metrics,
        settings: DmSettings {
            standalone: false,
            max_body_bytes: 1 << 20,
            node_name: "n1".into(),
            version: "test".into(),
            timeouts: Default::default(),
        },
    };
    let server = gthulhu_rest::dm::serve(api, bind_listener("127.0.0.1:0").unwrap(), None).unwrap();
    let port = server.local_addr.port();
    tokio::spawn(server.server);
    (port, stop)
}

fn completed(outcome: PassOutcome) -> PassReport {
    match outcome {
        PassOutcome::Completed(report) => report,
        other => panic!("pass did not complete: {other:?}"),
    }
}

#[tokio::test]
async fn reconciler_converges_a_real_decision_maker() {
    // No daemon: this test never touches the runtime config.
    let (port, _dm) = spawn_dm("http://127.0.0.1:9").await;
    let endpoint = DecisionMakerEndpoint {
        node_name: "n1".into(),
        pod_name: "decisionmaker-x".into(),
        pod_uid: String::new(),
        host: "127.0.0.1".into(),
        port,
        state: DmState::Online,
    };
    let web = PodInfo {
        uid: "2b0c1e5e-9a52-4d0b-8a47-1f6f5b2d7c11".into(),
        name: "web".into(),
        namespace: "default".into(),
        labels: [("app".to_string(), "web".to_string())].into(),
        node_name: "n1".into(),
        phase: "Running".into(),
    };
    let pods = Arc::new(Mutex::new(vec![web]));
    let mut k8s = MockK8sAdapter::new();
    let p = pods.clone();
    k8s.expect_query_pods()
        .returning(move |_, _| Ok(p.lock().unwrap().clone()));
    let dms = vec![endpoint.clone()];
    k8s.expect_list_decision_makers().returning(move || Ok(dms.clone()));
    k8s.expect_status().returning(|| ClusterStatus::Ready);
    k8s.expect_pod_events().returning(|| broadcast::channel(1).1);

    let dir = tempfile::tempdir().unwrap();
    let repo: Arc<dyn Repository> = Arc::new(RedbRepository::open(&dir.path().join("m.redb")).unwrap());
    let jwt = JwtKeys::from_pem(PRIVATE_KEY).unwrap();
    let client = Arc::new(
        HttpDecisionMakerClient::new(ClientSettings {
            public_key_pem: jwt.public_key_pem(),
            client_id: "manager-client".into(),
            mtls: None,
            timeout: Duration::from_secs(10),
        })
        .unwrap(),
    );
    let services = ManagerServices::new(ServiceDeps {
        repo: repo.clone(),
        k8s: Arc::new(k8s),
        dms: client.clone(),
        jwt,
        settings: ServiceSettings {
            bcrypt_cost: 4,
            ..ServiceSettings::default()
        },
    });
    let reconciler = services.reconciler(ReconcilerSettings::default());
    // Stored with no intents: the pod appeared after the strategy.
    let strategy = ScheduleStrategy {
        id: ObjectId::new(),
        spec: StrategySpec {
            command_regex: "sleep|sh".into(),
            priority: 1,
            execution_time: 20_000_000,
            ..Default::default()
        },
        creator_id: ObjectId::new(),
        updater_id: ObjectId::new(),
        created_time: 1,
        updated_time: 1,
    };
    repo.insert_strategy(&strategy, &[]).await.unwrap();
    let empty_root = merkle::root(&[]);
    assert_eq!(client.merkle_root(&endpoint).await.unwrap(), empty_root);

    // The missing intent is created and delivered (root mismatch → full set).
    let report = completed(reconciler.run_pass().await);
    assert_eq!((report.inserted, report.pushed.len()), (1, 1));
    let stored = repo.list_intents().await.unwrap();
    assert_eq!(stored[0].state, IntentState::Sent);
    let expected = merkle::root(&[stored[0].to_dm_intent()]);
    assert_eq!(client.merkle_root(&endpoint).await.unwrap(), expected);

    // Matching roots: nothing is pushed.
    let report = completed(reconciler.run_pass().await);
    assert!(report.pushed.is_empty() && report.in_sync.contains("n1"), "{report:?}");

    // The pod vanished: its intent goes, and the DM gets the empty set.
    pods.lock().unwrap().clear();
    let report = completed(reconciler.run_pass().await);
    assert_eq!((report.deleted, report.pushed.len()), (1, 1));
    assert!(repo.list_intents().await.unwrap().is_empty());
    assert_eq!(client.merkle_root(&endpoint).await.unwrap(), empty_root);
}
