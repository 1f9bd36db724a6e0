//! Conformance 10 end to end: the Manager's reconciler over the redb store
//! and the real DM client, against a real Decision Maker on a loopback port
//! (the cluster is a mock: one pod, one DM). Equal roots here mean the
//! Manager's expected root is bit-identical to the DM's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gthulhu_dm_client::{ClientSettings, HttpDecisionMakerClient};
use gthulhu_domain::manager::{
    ClusterStatus, DecisionMakerAdapter, DecisionMakerEndpoint, DmState, IntentState, MockK8sAdapter, ObjectId,
    PodInfo, Repository, ScheduleStrategy, StrategySpec,
};
use gthulhu_domain::{ProcessSnapshot, ScanMode, merkle};
use gthulhu_manager_service::{JwtKeys, PassOutcome, PassReport, ReconcilerSettings};
use gthulhu_store_redb::RedbRepository;
use gthulhu_test_support::apps::dm::{FixedIndex, over_index, spawn_dm as spawn_dm_app, test_config};
use tokio::sync::broadcast;

use crate::helpers::{Options, PRIVATE_KEY, spawn_app};

/// A Decision Maker with no processes, signing tokens with the test key,
/// whose scheduler daemon is at `daemon`; its port.
pub(crate) async fn spawn_dm(daemon: &str) -> u16 {
    let mut config = test_config(daemon);
    config.daemon.timeout_sec = 2;
    config.standalone.node_name = "n1".into();
    let index = FixedIndex::new(Some(ProcessSnapshot::empty(ScanMode::Cgroups)));
    spawn_dm_app(config, over_index(index)).await.port()
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
    let port = spawn_dm("http://127.0.0.1:9").await;
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
    let app = spawn_app(Options {
        repo: Some(repo.clone()),
        k8s: Some(Arc::new(k8s)),
        ..Options::default()
    })
    .await;
    let jwt = JwtKeys::from_pem(PRIVATE_KEY).unwrap();
    // The same client the Manager uses, to read the DM's root directly.
    let client = HttpDecisionMakerClient::new(ClientSettings {
        public_key_pem: jwt.public_key_pem(),
        client_id: "manager-client".into(),
        mtls: None,
        timeout: Duration::from_secs(10),
    })
    .unwrap();
    let reconciler = app.services.reconciler(ReconcilerSettings::default());
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
