use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use gthulhu_domain::{
    DeleteIntents, DmError, Intent, IntentService, LegacyPriority, MockPodMetadataSource, MockProcessIndex, PodMeta,
    PodMetadataStatus, PodProcesses, ProcessInfo, ProcessSnapshot, ScanHealth, ScanMode, SchedulingService, Selector,
    StrategyTemplate,
};
use tokio::sync::watch;

use super::{DecisionMaker, ResolveSettings};
use crate::test_host::FakeHostTable;

pub(super) const POD_A: &str = "11111111-1111-1111-1111-111111111111";
pub(super) const POD_B: &str = "22222222-2222-2222-2222-222222222222";

fn process(pid: u32, comm: &str) -> ProcessInfo {
    ProcessInfo {
        pid,
        comm: comm.into(),
        ..Default::default()
    }
}

pub(super) fn snapshot() -> ProcessSnapshot {
    ProcessSnapshot {
        pods: vec![
            PodProcesses {
                pod_uid: POD_A.into(),
                processes: vec![process(10, "pause"), process(11, "nginx"), process(12, "sidecar")],
            },
            PodProcesses {
                pod_uid: POD_B.into(),
                processes: vec![process(20, "pause"), process(21, "java")],
            },
        ],
        scanned_at: SystemTime::now(),
        generation: 1,
        mode: ScanMode::Cgroups,
    }
}

pub(super) fn index_with(snapshot: Option<ProcessSnapshot>) -> (Arc<MockProcessIndex>, watch::Sender<u64>) {
    let (tx, rx) = watch::channel(0);
    let mut index = MockProcessIndex::new();
    let snap = snapshot.map(Arc::new);
    index.expect_snapshot().returning(move || snap.clone());
    index.expect_subscribe().returning(move || rx.clone());
    index.expect_health().returning(ScanHealth::default);
    (Arc::new(index), tx)
}

pub(super) fn metadata(pods: Vec<PodMeta>) -> Arc<MockPodMetadataSource> {
    let mut md = MockPodMetadataSource::new();
    md.expect_lookup()
        .returning(move |uid| pods.iter().find(|p| p.uid == uid).cloned());
    md.expect_status().returning(|| PodMetadataStatus::Ready);
    md.expect_subscribe().returning(|| watch::channel(0).1);
    Arc::new(md)
}

fn dm(snapshot: Option<ProcessSnapshot>, pods: Vec<PodMeta>) -> Arc<DecisionMaker> {
    DecisionMaker::new(
        index_with(snapshot).0,
        metadata(pods),
        FakeHostTable::empty(),
        ResolveSettings::default(),
    )
}

pub(super) fn intent(pod: &str, re: &str, priority: i64, exec: i64) -> Intent {
    Intent {
        pod_id: pod.into(),
        command_regex: re.into(),
        priority,
        execution_time: exec,
        pod_labels: BTreeMap::from([("z".into(), "1".into()), ("app".into(), "web".into())]),
        ..Default::default()
    }
}

fn pids(dm: &DecisionMaker) -> Vec<(u32, i64)> {
    dm.decisions().unwrap().iter().map(|d| (d.pid, d.priority)).collect()
}

#[test]
fn no_intents_resolve_to_empty_list_even_without_index() {
    let dm = dm(None, vec![]);
    assert!(dm.decisions().unwrap().is_empty());
}

#[test]
fn intents_without_index_are_an_error() {
    let dm = dm(None, vec![]);
    dm.replace(vec![intent(POD_A, "", 1, 1)]).unwrap();
    assert!(matches!(dm.decisions(), Err(DmError::IndexUnavailable(_))));
}

#[test]
fn intent_rules_pause_regex_order_and_shape() {
    let dm = dm(Some(snapshot()), vec![]);
    dm.replace(vec![
        intent(POD_B, "", 5, -7),
        intent(POD_A, "gin", 1, 20_000_000),
        intent("not-on-node", "", 1, 1),
    ])
    .unwrap();
    let d = dm.decisions().unwrap();
    assert_eq!(
        d.iter().map(|d| d.pid).collect::<Vec<_>>(),
        vec![11, 21],
        "sorted by pid, pause skipped, unanchored regex on comm"
    );
    assert_eq!(d[1].execution_time, 0, "negative executionTime is emitted as 0");
    assert_eq!(d[0].execution_time, 20_000_000);
    assert_eq!(
        d[0].selectors,
        vec![
            Selector {
                key: "app".into(),
                value: "web".into()
            },
            Selector {
                key: "z".into(),
                value: "1".into()
            }
        ]
    );
    let json = serde_json::to_value(&d[1]).unwrap();
    assert!(json.get("command_regex").is_none());
    assert!(json["priority"].is_i64());
}

#[test]
fn two_intents_for_one_pod_give_one_entry_per_process_and_exclusions_apply() {
    let dm = dm(Some(snapshot()), vec![]);
    dm.replace(vec![intent(POD_A, "", 1, 0), intent(POD_A, "nginx", 2, 0)])
        .unwrap();
    // On 11 the keys differ at `commandRegex=`: "|" (after the empty
    // pattern) sorts after "n", so the empty pattern's intent wins.
    assert_eq!(pids(&dm), vec![(11, 1), (12, 1)]);
    assert_eq!(dm.health().conflicts.pod_over_pod, 1);
    dm.delete(DeleteIntents {
        pod_id: POD_A.into(),
        pid: 11,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(pids(&dm), vec![(12, 1)]);
    dm.delete(DeleteIntents {
        pod_id: POD_A.into(),
        ..Default::default()
    })
    .unwrap();
    assert!(pids(&dm).is_empty());
    assert_eq!(dm.count(), 0);
}

#[test]
fn templates_map_priorities_and_lose_to_intents() {
    let labels = BTreeMap::from([("nf".to_string(), "upf".to_string())]);
    let dm = dm(
        Some(snapshot()),
        vec![PodMeta {
            uid: POD_A.into(),
            name: "a".into(),
            namespace: "ns".into(),
            labels,
        }],
    );
    let sel = |k: &str, v: &str| {
        vec![Selector {
            key: k.into(),
            value: v.into(),
        }]
    };
    dm.replace_templates(vec![
        StrategyTemplate {
            priority: LegacyPriority::Flag(true),
            selectors: sel("nf", "upf"),
            command_regex: "nginx".into(),
            ..Default::default()
        },
        StrategyTemplate {
            priority: LegacyPriority::Flag(false),
            selectors: sel("nf", ""),
            ..Default::default()
        },
        StrategyTemplate {
            priority: LegacyPriority::Level(3),
            pid: 4321,
            ..Default::default()
        },
        StrategyTemplate {
            priority: LegacyPriority::Level(9),
            ..Default::default()
        },
        StrategyTemplate {
            priority: LegacyPriority::Level(9),
            selectors: sel("nf", "smf"),
            ..Default::default()
        },
    ])
    .unwrap();
    dm.replace(vec![intent(POD_A, "nginx", 7, 0)]).unwrap();
    // One entry per task: the intent beats both templates on 11, and of
    // the two templates on 12 the later one wins.
    assert_eq!(pids(&dm), vec![(11, 7), (12, 20), (4321, 3)]);
}

#[test]
fn invalid_templates_leave_previous_ones() {
    let dm = dm(Some(snapshot()), vec![]);
    dm.replace_templates(vec![StrategyTemplate {
        pid: 5,
        ..Default::default()
    }])
    .unwrap();
    let bad = [
        (
            StrategyTemplate {
                pid: -1,
                ..Default::default()
            },
            "strategies[0].pid must be a positive integer",
        ),
        (
            StrategyTemplate {
                selectors: vec![Selector::default()],
                ..Default::default()
            },
            "strategies[0].selectors[0].key is required",
        ),
    ];
    for (t, msg) in bad {
        assert_eq!(
            dm.replace_templates(vec![t]).unwrap_err(),
            DmError::Validation(msg.into())
        );
    }
    let e = dm
        .replace_templates(vec![StrategyTemplate {
            command_regex: "(".into(),
            ..Default::default()
        }])
        .unwrap_err();
    assert!(
        matches!(e, DmError::Validation(m) if m.starts_with("strategies[0].command_regex: invalid regular expression: "))
    );
    assert_eq!(pids(&dm), vec![(5, 0)]);
}

#[test]
fn pods_report_fills_metadata_when_known() {
    let dm = dm(
        Some(snapshot()),
        vec![PodMeta {
            uid: POD_B.into(),
            name: "b".into(),
            namespace: "ns".into(),
            ..Default::default()
        }],
    );
    let report = dm.pods().unwrap();
    assert_eq!(report.pods[0].meta.uid, POD_A);
    assert_eq!(report.pods[0].meta.name, "");
    assert_eq!(report.pods[1].meta.name, "b");
    assert_eq!(report.pods[0].processes.len(), 3, "pause is listed in the report");
}

#[tokio::test]
async fn resolver_follows_index_changes() {
    let current = Arc::new(parking_lot::Mutex::new(None::<Arc<ProcessSnapshot>>));
    let (tx, rx) = watch::channel(0);
    let mut index = MockProcessIndex::new();
    let c = current.clone();
    index.expect_snapshot().returning(move || c.lock().clone());
    index.expect_subscribe().returning(move || rx.clone());
    index.expect_health().returning(ScanHealth::default);
    let dm = DecisionMaker::new(
        Arc::new(index),
        metadata(vec![]),
        FakeHostTable::empty(),
        ResolveSettings::default(),
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = dm.spawn_resolver(stop_rx);
    dm.replace(vec![intent(POD_B, "", 1, 0)]).unwrap();
    assert!(dm.decisions().is_err());
    *current.lock() = Some(Arc::new(snapshot()));
    tx.send(1).unwrap();
    for _ in 0..100 {
        if dm.decisions().is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(pids(&dm), vec![(21, 1)]);
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}

fn node_intent(policy: &str, re: &str, priority: i64) -> gthulhu_domain::NodeIntent {
    gthulhu_domain::NodeIntent {
        policy_id: policy.into(),
        node_id: "node-a".into(),
        command_regex: re.into(),
        priority,
        ..Default::default()
    }
}

#[tokio::test]
async fn node_intents_turn_the_host_table_on_and_follow_its_changes() {
    use gthulhu_domain::{DeleteNodeIntents, HostTaskScope, merkle};

    use crate::test_host::process;

    let host = FakeHostTable::with(vec![process(50, &[(50, "agent"), (51, "agent-w")])]);
    let dm = DecisionMaker::new(
        index_with(Some(snapshot())).0,
        metadata(vec![]),
        host.clone(),
        ResolveSettings::default(),
    );
    assert_eq!(host.scope(), HostTaskScope::Off);
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = dm.spawn_resolver(stop_rx);
    let set = vec![node_intent("p1", "^agent", 4)];
    dm.replace_node_intents(set.clone()).unwrap();
    assert_eq!(host.scope(), HostTaskScope::Host);
    assert_eq!(pids(&dm), vec![(50, 4), (51, 4)]);
    assert_eq!(dm.node_merkle_root(), merkle::node::root(&set));
    assert_eq!(dm.merkle_root(), merkle::EMPTY_ROOT, "the pod set is separate");

    host.set(vec![process(50, &[(50, "agent")]), process(60, &[(60, "agent2")])]);
    for _ in 0..100 {
        if pids(&dm) == vec![(50, 4), (60, 4)] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(pids(&dm), vec![(50, 4), (60, 4)]);

    dm.delete_node_intents(DeleteNodeIntents {
        all: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(host.scope(), HostTaskScope::Off, "released with the last node intent");
    assert!(pids(&dm).is_empty());
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}

#[test]
fn match_threads_intents_cover_only_their_pods_processes() {
    use gthulhu_domain::HostTaskScope;

    let host = FakeHostTable::empty();
    let dm = DecisionMaker::new(
        index_with(Some(snapshot())).0,
        metadata(vec![]),
        host.clone(),
        ResolveSettings::default(),
    );
    dm.replace(vec![Intent {
        match_threads: true,
        ..intent(POD_B, "", 1, 0)
    }])
    .unwrap();
    assert_eq!(host.scope(), HostTaskScope::PodThreads([20, 21].into()));
}

/// The DM ends a boost on its own clock, with nobody pushing anything.
#[tokio::test]
async fn an_expiring_intent_stops_being_served_at_its_instant_and_stays_in_the_root() {
    let dm = dm(Some(snapshot()), vec![]);
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = dm.spawn_resolver(stop_rx);
    let in_two_seconds = SystemTime::now() + std::time::Duration::from_secs(2);
    let boost = Intent {
        expires_at: Some(gthulhu_domain::rfc3339(in_two_seconds)),
        ..intent(POD_B, "", 5, 0)
    };
    dm.replace(vec![boost, intent(POD_A, "nginx", 1, 0)]).unwrap();
    let root = dm.merkle_root();
    assert_eq!(pids(&dm), vec![(11, 1), (21, 5)]);
    for _ in 0..40 {
        if pids(&dm) == vec![(11, 1)] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(pids(&dm), vec![(11, 1)]);
    assert_eq!(dm.merkle_root(), root, "held until the Manager removes it");
    assert_eq!(dm.health().expired_intents, (1, 0));
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}
