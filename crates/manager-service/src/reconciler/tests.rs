use std::sync::Mutex;

use gthulhu_domain::Selector;
use gthulhu_domain::manager::{MockK8sAdapter, ObjectId, StrategySpec};

use super::*;
use crate::delivery::merkle_ordered;
use crate::strategies::intent_for_pod;
use crate::testutil::*;
use gthulhu_domain::manager::{IntentState, PodEvent, PodInfo, ScheduleIntent, ScheduleStrategy};
use gthulhu_domain::merkle;
use tokio::sync::{broadcast, watch};

fn strategy(namespaces: &[&str], labels: &[(&str, &str)], priority: i64) -> ScheduleStrategy {
    ScheduleStrategy {
        id: ObjectId::new(),
        spec: StrategySpec {
            label_selectors: labels
                .iter()
                .map(|(k, v)| Selector {
                    key: k.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            k8s_namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            priority,
            execution_time: 100,
            ..Default::default()
        },
        creator_id: ObjectId::new(),
        updater_id: ObjectId::new(),
        created_time: 1,
        updated_time: 1,
    }
}

/// What `strategy` stores for `pod`, already delivered.
fn sent(strategy: &ScheduleStrategy, pod: &PodInfo) -> ScheduleIntent {
    ScheduleIntent {
        state: IntentState::Sent,
        ..intent_for_pod(strategy, pod, 1)
    }
}

struct Fixture {
    world: World,
    pods: Arc<Mutex<Vec<PodInfo>>>,
    events: broadcast::Sender<PodEvent>,
    reconciler: Arc<Reconciler>,
}

/// The services' reconciler over a `World`'s repository, a ready `live_cluster`
/// with DMs on `dm_nodes`, and `dm_client`.
fn fixture(pods: Vec<PodInfo>, dm_nodes: &[&str], tweak: impl FnOnce(&mut MockK8sAdapter)) -> Fixture {
    let world = World::default();
    let pods = Arc::new(Mutex::new(pods));
    let mut k8s = live_cluster(&pods, dm_nodes);
    tweak(&mut k8s);
    k8s.expect_status().returning(|| ClusterStatus::Ready);
    let (events, _) = broadcast::channel(16);
    let tx = events.clone();
    k8s.expect_pod_events().returning(move || tx.subscribe());
    let services = services_over(world.repo.clone(), k8s, dm_client(&world, &[]));
    let reconciler = services.reconciler(ReconcilerSettings::default());
    Fixture {
        world,
        pods,
        events,
        reconciler,
    }
}

fn completed(outcome: PassOutcome) -> PassReport {
    match outcome {
        PassOutcome::Completed(report) => report,
        other => panic!("pass did not complete: {other:?}"),
    }
}

fn nodes(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// (pod, node, state) of the stored intents, sorted.
async fn stored(world: &World) -> Vec<(String, String, IntentState)> {
    let mut v: Vec<_> = world
        .intents()
        .await
        .iter()
        .map(|i| (i.pod_name.clone(), i.node_id.clone(), i.state))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[tokio::test]
async fn pass_inserts_updates_and_deletes_then_delivers() {
    let web = strategy(&[], &[("app", "web")], 5);
    let kept = pod("kept", "default", "n1", &[("app", "web")]);
    let relabelled = pod("relabelled", "default", "n1", &[("app", "web"), ("v", "2")]);
    let moved = pod("moved", "default", "n2", &[("app", "web")]);
    let mut finished = pod("finished", "default", "n1", &[("app", "web")]);
    let no_longer = pod("no-longer", "default", "n1", &[("app", "db")]);
    let fresh = pod("fresh", "default", "n2", &[("app", "web")]);
    let mut stale_strategy = sent(&web, &kept);
    stale_strategy.priority = 1;
    stale_strategy.pod_name = "kept".into();
    let before = vec![
        stale_strategy,
        sent(&web, &pod("relabelled", "default", "n1", &[("app", "web")])),
        sent(&web, &pod("moved", "default", "n1", &[("app", "web")])),
        sent(&web, &finished),
        sent(&web, &no_longer),
        sent(&web, &pod("vanished", "default", "n1", &[("app", "web")])),
    ];
    finished.phase = "Succeeded".into();
    let f = fixture(
        vec![kept, relabelled, moved, finished, no_longer, fresh],
        &["n1", "n2"],
        |_| {},
    );
    f.world.seed(&[&web], &before).await;
    let report = completed(f.reconciler.run_pass().await);
    assert_eq!((report.inserted, report.updated, report.deleted), (1, 3, 3));
    assert_eq!(report.pushed, nodes(&["n1", "n2"]));
    assert_eq!(
        stored(&f.world).await,
        [
            ("fresh".to_string(), "n2".to_string(), IntentState::Sent),
            ("kept".into(), "n1".into(), IntentState::Sent),
            ("moved".into(), "n2".into(), IntentState::Sent),
            ("relabelled".into(), "n1".into(), IntentState::Sent),
        ]
    );
    {
        let (intents, pushes) = (f.world.intents().await, f.world.pushes());
        // Updates keep the intent's id and take the strategy's new values.
        let kept = intents.iter().find(|i| i.pod_name == "kept").unwrap();
        assert_eq!((&kept.id, kept.priority), (&before[0].id, 5));
        let relabelled = intents.iter().find(|i| i.pod_name == "relabelled").unwrap();
        assert_eq!(relabelled.pod_labels.get("v").map(String::as_str), Some("2"));
        // Each DM got its node's full set, in Merkle order.
        for (dm, node) in [("dm-n1", "n1"), ("dm-n2", "n2")] {
            let on_node: Vec<_> = intents.iter().filter(|i| i.node_id == node).cloned().collect();
            let last = pushes.iter().rev().find(|(d, _)| d == dm).unwrap();
            assert_eq!(last.1, merkle_ordered(&on_node), "{dm}");
        }
    }

    // Converged: the next pass changes and pushes nothing.
    let pushes = f.world.pushes().len();
    let report = completed(f.reconciler.run_pass().await);
    assert_eq!(report.pushed, BTreeSet::new());
    assert_eq!(report.in_sync, nodes(&["n1", "n2"]));
    assert_eq!(f.world.pushes().len(), pushes);
}

#[tokio::test]
async fn pass_sweeps_intents_of_deleted_strategies() {
    let web = strategy(&[], &[("app", "web")], 5);
    let deleted = strategy(&[], &[("app", "web")], 9);
    let a = pod("a", "default", "n1", &[("app", "web")]);
    let b = pod("b", "default", "n2", &[("app", "web")]);
    let f = fixture(vec![a.clone(), b.clone()], &["n1", "n2"], |_| {});
    // The last intent was written by an event batch that raced the deletion.
    f.world
        .seed(&[&web], &[sent(&web, &a), sent(&web, &b), sent(&deleted, &b)])
        .await;
    let report = completed(f.reconciler.run_pass().await);
    assert_eq!((report.inserted, report.updated, report.deleted), (0, 0, 1));
    assert!(report.pushed.contains("n2"), "{report:?}");
    let intents = f.world.intents().await;
    assert!(intents.iter().all(|i| i.strategy_id == web.id), "{intents:?}");
    let pushes = f.world.pushes();
    let last = pushes.iter().rev().find(|(d, _)| d == "dm-n2").unwrap();
    assert_eq!(last.1, merkle_ordered(&[sent(&web, &b)]));
}

#[tokio::test]
async fn equal_root_marks_sent_without_pushing_and_a_different_one_pushes() {
    let web = strategy(&[], &[], 1);
    let a = pod("a", "default", "n1", &[]);
    let f = fixture(vec![a.clone()], &["n1", "n2"], |_| {});
    let mut initialized = sent(&web, &a);
    initialized.state = IntentState::Initialized;
    f.world.seed(&[&web], &[initialized.clone()]).await;
    {
        // dm-n1 already holds the set; dm-n2 holds a set its node no longer has.
        *f.world.pushes.lock().unwrap() = vec![
            ("dm-n1".into(), vec![initialized.to_dm_intent()]),
            (
                "dm-n2".into(),
                vec![sent(&web, &pod("old", "default", "n2", &[])).to_dm_intent()],
            ),
        ];
    }
    let report = completed(f.reconciler.run_pass().await);
    assert_eq!(report.in_sync, nodes(&["n1"]));
    assert_eq!(report.pushed, nodes(&["n2"]));
    assert_eq!(f.world.intents().await[0].state, IntentState::Sent);
    // n1 was not pushed again; n2, with no intents, got the empty set.
    let pushes = f.world.pushes();
    assert_eq!(pushes.len(), 3);
    assert_eq!(pushes[2], ("dm-n2".to_string(), vec![]));
    let status = f.reconciler.board.get("n2");
    assert_eq!(status.expected_root.as_deref(), Some(merkle::root(&[]).as_str()));
    assert_ne!(status.observed_root, status.expected_root);
    assert_eq!(status.intents, Some(0));
}

#[tokio::test]
async fn nothing_runs_while_the_cache_or_storage_is_not_ready() {
    let mut k8s = MockK8sAdapter::new();
    k8s.expect_status()
        .returning(|| ClusterStatus::Unreachable("syncing".into()));
    k8s.expect_query_pods().never();
    let mut repo = gthulhu_domain::manager::MockRepository::new();
    repo.expect_delete_intents().never();
    let svc = services_full(repo, k8s, gthulhu_domain::manager::MockDecisionMakerAdapter::new());
    let reconciler = svc.reconciler(ReconcilerSettings::default());
    assert_eq!(
        reconciler.run_pass().await,
        PassOutcome::Skipped(SkipReason::ClusterNotReady)
    );
    let deleted = PodEvent::Deleted(pod("a", "default", "n1", &[]));
    assert_eq!(
        reconciler.apply_events(vec![deleted]).await,
        PassOutcome::Skipped(SkipReason::ClusterNotReady)
    );

    let mut k8s = MockK8sAdapter::new();
    k8s.expect_status().returning(|| ClusterStatus::Ready);
    let mut repo = gthulhu_domain::manager::MockRepository::new();
    repo.expect_ping()
        .returning(|| Err(RepoError::Unavailable("database not connected yet".into())));
    repo.expect_list_strategies().never();
    let svc = services_full(repo, k8s, gthulhu_domain::manager::MockDecisionMakerAdapter::new());
    assert_eq!(
        svc.reconciler(ReconcilerSettings::default()).run_pass().await,
        PassOutcome::Skipped(SkipReason::StorageUnavailable)
    );
}

#[tokio::test]
async fn passes_never_overlap() {
    let f = fixture(vec![], &[], |_| {});
    let running = f.reconciler.work.lock().await;
    assert_eq!(f.reconciler.run_pass().await, PassOutcome::Skipped(SkipReason::Busy));
    drop(running);
    completed(f.reconciler.run_pass().await);
}

#[tokio::test]
async fn events_recompute_only_affected_pods_and_push_only_their_nodes() {
    let web = strategy(&[], &[("app", "web")], 1);
    let team_a = strategy(&["team-a"], &[], 2);
    let relabelled_before = pod("web-1", "team-a", "n1", &[("app", "web")]);
    let relabelled = pod("web-1", "team-a", "n1", &[("app", "db")]);
    let untouched = pod("web-3", "default", "n3", &[("app", "web")]);
    let gone = pod("web-4", "default", "n4", &[("app", "web")]);
    let born = pod("web-2", "default", "n2", &[("app", "web")]);
    // Stored intents of web-3 are stale on purpose: a batch must not look at them.
    let mut stale = sent(&web, &untouched);
    stale.priority = 99;
    // The cache is empty: a full pass (instead of the batch) would delete
    // every intent, web-3's included.
    let f = fixture(vec![], &["n1", "n2", "n3", "n4"], |_| {});
    f.world
        .seed(
            &[&web, &team_a],
            &[
                sent(&web, &relabelled_before),
                sent(&team_a, &relabelled_before),
                stale.clone(),
                sent(&web, &gone),
            ],
        )
        .await;
    let report = completed(
        f.reconciler
            .apply_events(vec![
                PodEvent::Applied {
                    previous: Some(relabelled_before.clone()),
                    current: relabelled.clone(),
                },
                PodEvent::Applied {
                    previous: None,
                    current: born.clone(),
                },
                PodEvent::Deleted(gone),
            ])
            .await,
    );
    // web-1 leaves `web` but stays in `team-a` (with its new labels).
    assert_eq!((report.inserted, report.updated, report.deleted), (1, 1, 2));
    assert_eq!(report.pushed, nodes(&["n1", "n2", "n4"]));
    f.reconciler.pushes_drained().await;
    let (intents, pushes) = (f.world.intents().await, f.world.pushes());
    let mut left: Vec<_> = intents
        .iter()
        .map(|i| (i.pod_name.as_str(), i.strategy_id == web.id))
        .collect();
    left.sort();
    assert_eq!(left, [("web-1", false), ("web-2", true), ("web-3", true)]);
    assert!(intents.contains(&stale), "web-3's intent untouched");
    let pushed: BTreeSet<_> = pushes.iter().map(|(dm, _)| dm.as_str()).collect();
    assert_eq!(pushed, BTreeSet::from(["dm-n1", "dm-n2", "dm-n4"]));
    assert_eq!(pushes.iter().find(|(dm, _)| dm == "dm-n4").unwrap().1, vec![]);
}

#[tokio::test]
async fn unchanged_pods_touch_nothing() {
    let mut repo = gthulhu_domain::manager::MockRepository::new();
    repo.expect_list_strategies().never();
    let svc = services_full(
        repo,
        MockK8sAdapter::new(),
        gthulhu_domain::manager::MockDecisionMakerAdapter::new(),
    );
    let p = pod("a", "default", "n1", &[]);
    let outcome = svc
        .reconciler(ReconcilerSettings::default())
        .apply_events(vec![PodEvent::Applied {
            previous: Some(p.clone()),
            current: p,
        }])
        .await;
    assert_eq!(outcome, PassOutcome::Completed(PassReport::default()));
}

#[tokio::test]
async fn resynced_runs_a_full_pass() {
    let web = strategy(&[], &[], 1);
    let f = fixture(vec![pod("a", "default", "n1", &[])], &["n1"], |_| {});
    f.world.seed(&[&web], &[]).await;
    let outcome = f
        .reconciler
        .apply_events(vec![
            PodEvent::Deleted(pod("x", "default", "n9", &[])),
            PodEvent::Resynced,
        ])
        .await;
    let report = completed(outcome);
    assert_eq!(report.inserted, 1);
    assert_eq!(report.pushed, nodes(&["n1"]));
}

#[tokio::test(start_paused = true)]
async fn run_loop_debounces_events_and_runs_passes_on_schedule() {
    let web = strategy(&[], &[], 1);
    let f = fixture(vec![], &["n1", "n2"], |_| {});
    f.world.seed(&[&web], &[]).await;
    let (_leader_tx, leader) = watch::channel(true);
    let task = tokio::spawn(f.reconciler.clone().run(leader));
    tokio::task::yield_now().await;
    for name in ["a", "b"] {
        let p = pod(name, "default", "n1", &[]);
        f.pods.lock().unwrap().push(p.clone());
        f.events
            .send(PodEvent::Applied {
                previous: None,
                current: p,
            })
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    {
        let pushes = f.world.pushes();
        assert_eq!(f.world.intents().await.len(), 2);
        assert_eq!(pushes.len(), 1, "one batch, one push: {pushes:?}");
        assert_eq!(pushes[0].1.len(), 2);
    }
    // A pod the events never mentioned is picked up by the first pass (5 s).
    f.pods.lock().unwrap().push(pod("c", "default", "n2", &[]));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(f.world.intents().await.len(), 3);
    task.abort();
}
