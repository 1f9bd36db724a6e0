use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gthulhu_domain::manager::{
    DmClientError, DmState, MockDecisionMakerAdapter, MockK8sAdapter, MockRepository, NodeRuntimeConfig, ObjectId,
    RepoError, RuntimeNodeResult, ServiceError,
};
use gthulhu_domain::runtime_config::{RuntimeSchedulerConfig, RuntimeStatus};

use super::*;
use crate::testutil::dm;

fn config(version: &str, kernel_mode: bool) -> RuntimeSchedulerConfig {
    RuntimeSchedulerConfig {
        config_version: version.into(),
        mode: "gthulhu".into(),
        kernel_mode,
        ..Default::default()
    }
    .normalized()
}

/// Desired records, and per DM pod what its daemon runs and what was posted.
#[derive(Default)]
struct World {
    records: HashMap<String, NodeRuntimeConfig>,
    daemons: HashMap<String, RuntimeStatus>,
    posts: Vec<String>,
    gets: usize,
    /// Daemons that keep their old config after a POST.
    reverting: bool,
    /// DM pods whose calls fail.
    down: Vec<String>,
}

type Shared = Arc<Mutex<World>>;

fn repo(world: &Shared) -> MockRepository {
    let mut repo = MockRepository::new();
    let w = world.clone();
    repo.expect_upsert_runtime_config().returning(move |r| {
        w.lock().unwrap().records.insert(r.node_id.clone(), r.clone());
        Ok(())
    });
    let w = world.clone();
    repo.expect_get_runtime_config()
        .returning(move |node| w.lock().unwrap().records.get(node).cloned().ok_or(RepoError::NotFound));
    let w = world.clone();
    repo.expect_list_runtime_configs().returning(move || {
        let mut all: Vec<_> = w.lock().unwrap().records.values().cloned().collect();
        all.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        Ok(all)
    });
    let w = world.clone();
    repo.expect_delete_runtime_configs().returning(move |nodes| {
        let mut w = w.lock().unwrap();
        Ok(nodes.iter().filter(|n| w.records.remove(*n).is_some()).count() as u64)
    });
    let w = world.clone();
    repo.expect_record_runtime_apply()
        .returning(move |node, result, count, pod| {
            let mut w = w.lock().unwrap();
            let record = w.records.get_mut(node).ok_or(RepoError::NotFound)?;
            record.last_apply_result = Some(result.clone());
            record.reapply_count = count;
            record.reapply_pod = pod;
            Ok(())
        });
    repo
}

fn dms(world: &Shared) -> MockDecisionMakerAdapter {
    let mut dms = MockDecisionMakerAdapter::new();
    let w = world.clone();
    dms.expect_apply_runtime_config().returning(move |dm, config| {
        let mut w = w.lock().unwrap();
        if w.down.contains(&dm.pod_name) {
            return Err(DmClientError::Refused("scheduler daemon unavailable".into()));
        }
        w.posts.push(dm.pod_name.clone());
        if !w.reverting {
            w.daemons.insert(
                dm.pod_name.clone(),
                RuntimeStatus {
                    applied: true,
                    config_available: true,
                    config: config.clone(),
                    ..Default::default()
                },
            );
        }
        Ok(())
    });
    let w = world.clone();
    dms.expect_runtime_config().returning(move |dm| {
        let mut w = w.lock().unwrap();
        w.gets += 1;
        if w.down.contains(&dm.pod_name) {
            return Err(DmClientError::Unreachable("connection refused".into()));
        }
        Ok(w.daemons.get(&dm.pod_name).cloned().unwrap_or_default())
    });
    dms
}

fn cluster(dms: Vec<DecisionMakerEndpoint>) -> MockK8sAdapter {
    let mut k8s = MockK8sAdapter::new();
    k8s.expect_list_decision_makers().returning(move || Ok(dms.clone()));
    k8s
}

fn runtime(world: &Shared, endpoints: Vec<DecisionMakerEndpoint>) -> (RuntimeConfigs, Arc<NodeStatusBoard>) {
    let board = Arc::new(NodeStatusBoard::default());
    (runtime_on(world, endpoints, board.clone()), board)
}

/// Over `world`'s storage and DMs, reporting to `board`.
fn runtime_on(world: &Shared, endpoints: Vec<DecisionMakerEndpoint>, board: Arc<NodeStatusBoard>) -> RuntimeConfigs {
    RuntimeConfigs::new(
        Arc::new(repo(world)),
        Arc::new(cluster(endpoints)),
        Arc::new(dms(world)),
        board,
        4,
    )
}

fn rows(results: &[RuntimeNodeResult]) -> Vec<(&str, bool, Option<&str>, bool)> {
    results
        .iter()
        .map(|r| (r.node_id.as_str(), r.success, r.error.as_deref(), r.drift))
        .collect()
}

#[tokio::test]
async fn apply_validates_before_touching_anything() {
    let world = Shared::default();
    let (runtime, _) = runtime(&world, vec![]);
    let me = ObjectId::new();
    let invalid = |m: &str| Err(ServiceError::Validation(m.into()));
    assert_eq!(
        runtime.apply(&me, &["Bad_Node".into()], config("v1", false)).await,
        invalid("nodeIds[0]: invalid node name \"Bad_Node\"")
    );
    let many: Vec<String> = (0..5001).map(|i| format!("n{i}")).collect();
    assert_eq!(
        runtime.apply(&me, &many, config("v1", false)).await,
        invalid("nodeIds: at most 5000 nodes")
    );
    let fifo = RuntimeSchedulerConfig {
        mode: "fifo".into(),
        ..config("v1", false)
    };
    assert_eq!(
        runtime.apply(&me, &["n1".into()], fifo).await,
        invalid("config.mode must be one of none, gthulhu, simple, scx")
    );
    assert_eq!(
        runtime.apply(&me, &[], config("v1", false)).await,
        Err(ServiceError::NotFound("no decision maker pods found".into()))
    );
    assert!(world.lock().unwrap().records.is_empty());
}

#[tokio::test]
async fn apply_reports_every_dm_and_dm_less_node_sorted() {
    let world = Shared::default();
    let mut pending = dm("b", "dm-b", DmState::Unknown);
    pending.host = "10.0.0.2".into();
    let (runtime, board) = runtime(&world, vec![pending, dm("a", "dm-a", DmState::Online)]);
    let results = runtime
        .apply(
            &ObjectId::new(),
            &["c".into(), "b".into(), "a".into()],
            config("v1", true),
        )
        .await
        .unwrap();
    assert_eq!(
        rows(&results),
        [
            ("a", true, None, false),
            ("b", false, Some(OFFLINE), true),
            ("c", false, Some(NOT_DISCOVERED), true),
        ]
    );
    assert_eq!(results[0].host.as_deref(), Some("10.0.0.1"));
    assert_eq!(results[0].config.as_ref().map(|c| c.kernel_mode), Some(true));
    let w = world.lock().unwrap();
    assert_eq!(w.posts, ["dm-a"]);
    assert_eq!(w.records.len(), 3, "a desired record for every target node");
    assert_eq!(w.records["a"].last_apply_result.as_ref().map(|r| r.success), Some(true));
    assert_eq!(board.get("b").runtime.map(|r| r.drift), Some(true));
}

#[tokio::test]
async fn a_reused_version_with_other_content_is_refused_whole() {
    let world = Shared::default();
    let (runtime, _) = runtime(
        &world,
        vec![dm("a", "dm-a", DmState::Online), dm("b", "dm-b", DmState::Online)],
    );
    let me = ObjectId::new();
    runtime.apply(&me, &["a".into()], config("v1", true)).await.unwrap();
    // Same version, same content: fine (the daemon no-ops).
    runtime.apply(&me, &["a".into()], config("v1", true)).await.unwrap();
    assert_eq!(
        runtime.apply(&me, &[], config("v1", false)).await,
        Err(ServiceError::Conflict(
            "configVersion \"v1\" is already used on node a with different content".into()
        ))
    );
    assert!(!world.lock().unwrap().records.contains_key("b"), "nothing changed");
    // A new version turns the flag off, which upstream could not do.
    let results = runtime.apply(&me, &[], config("v2", false)).await.unwrap();
    assert!(
        results
            .iter()
            .all(|r| !r.drift && r.config.as_ref().is_some_and(|c| !c.kernel_mode))
    );
}

#[tokio::test]
async fn status_covers_dm_nodes_and_desired_records() {
    let world = Shared::default();
    let (runtime, _) = runtime(
        &world,
        vec![dm("a", "dm-a", DmState::Online), dm("b", "dm-b", DmState::Online)],
    );
    runtime
        .apply(&ObjectId::new(), &["a".into(), "gone".into()], config("v1", false))
        .await
        .unwrap();
    let results = runtime.status(&[]).await.unwrap();
    assert_eq!(
        rows(&results),
        [
            ("a", true, None, false),
            ("b", false, Some("runtime config not applied yet"), false),
            ("gone", false, Some(NOT_DISCOVERED), true),
        ]
    );
    assert!(results[1].desired_config.is_none() && results[1].config.is_none());
    assert_eq!(rows(&runtime.status(&["a".into()]).await.unwrap()).len(), 1);
    world.lock().unwrap().down.push("dm-a".into());
    assert_eq!(
        rows(&runtime.status(&["a".into()]).await.unwrap()),
        [("a", false, Some("decision maker unreachable: connection refused"), true)]
    );
    runtime.delete(&["gone".into(), "unknown".into()]).await.unwrap();
    assert_eq!(runtime.status(&[]).await.unwrap().len(), 2);
    assert_eq!(
        runtime.delete(&[]).await,
        Err(ServiceError::Validation(
            "nodeIds: at least one node is required".into()
        ))
    );
}

#[tokio::test]
async fn the_reconciler_reads_in_steady_state_and_reapplies_only_on_drift() {
    let world = Shared::default();
    let (runtime, board) = runtime(&world, vec![dm("a", "dm-a", DmState::Online)]);
    runtime
        .apply(&ObjectId::new(), &["a".into()], config("v1", true))
        .await
        .unwrap();
    world.lock().unwrap().posts.clear();
    for _ in 0..3 {
        runtime.reconcile().await;
    }
    assert!(world.lock().unwrap().posts.is_empty(), "steady state only reads");
    // The daemon restarted from its bootstrap config.
    world.lock().unwrap().daemons.clear();
    runtime.reconcile().await;
    runtime.reconcile().await;
    assert_eq!(world.lock().unwrap().posts, ["dm-a"]);
    let check = board.get("a").runtime.unwrap();
    assert!(!check.drift && check.error.is_none());
    assert_eq!(world.lock().unwrap().records["a"].reapply_count, 0);
}

#[tokio::test]
async fn a_config_that_keeps_reverting_is_reapplied_three_times() {
    let world = Shared::default();
    let (runtime, board) = runtime(&world, vec![dm("a", "dm-a", DmState::Online)]);
    world.lock().unwrap().reverting = true;
    runtime
        .apply(&ObjectId::new(), &["a".into()], config("v1", true))
        .await
        .unwrap();
    world.lock().unwrap().posts.clear();
    for _ in 0..6 {
        runtime.reconcile().await;
    }
    assert_eq!(world.lock().unwrap().posts.len(), 3);
    let check = board.get("a").runtime.unwrap();
    assert!(check.drift);
    assert_eq!(check.error.as_deref(), Some(REAPPLY_STOPPED));
    // A new DM pod starts from scratch: three more attempts.
    let mut moved = dm("a", "dm-a", DmState::Online);
    moved.pod_uid = "uid-new".into();
    let runtime = runtime_on(&world, vec![moved], board);
    for _ in 0..5 {
        runtime.reconcile().await;
    }
    assert_eq!(world.lock().unwrap().posts.len(), 6);
}

#[tokio::test]
async fn a_dm_that_cannot_be_read_is_recorded_and_not_posted_to() {
    let world = Shared::default();
    let (runtime, board) = runtime(&world, vec![dm("a", "dm-a", DmState::Online)]);
    runtime
        .apply(&ObjectId::new(), &["a".into()], config("v1", true))
        .await
        .unwrap();
    world.lock().unwrap().posts.clear();
    world.lock().unwrap().down.push("dm-a".into());
    runtime.reconcile().await;
    assert!(world.lock().unwrap().posts.is_empty());
    let check = board.get("a").runtime.unwrap();
    assert_eq!(
        (check.drift, check.error.as_deref()),
        (true, Some("decision maker unreachable: connection refused"))
    );
}

#[test]
fn drift_ignores_desired_zero_slices_and_needs_the_version_applied() {
    let desired = config("v1", false);
    let status = |version: &str, applied: bool, slice: u64| RuntimeStatus {
        applied,
        config_available: true,
        config: RuntimeSchedulerConfig {
            slice_ns_default: slice,
            ..config(version, false)
        },
        ..Default::default()
    };
    assert!(!drifts(None, None));
    assert!(drifts(Some(&desired), None));
    assert!(!drifts(Some(&desired), Some(&status("v1", true, 5_000_000))));
    assert!(drifts(Some(&desired), Some(&status("v0", true, 0))));
    assert!(drifts(Some(&desired), Some(&status("v1", false, 0))));
}
