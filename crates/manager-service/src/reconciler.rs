//! The reconciler (manager.md 12.2): keeps stored intents equal to what the
//! strategies select in the pod cache, and every Decision Maker's set equal
//! to the stored one (checked with the Merkle root).
//!
//! Two paths share one lock, so intent writes of one never interleave with
//! the other's:
//! * full passes, `initial_delay` after start and then every `interval`:
//!   step 1 refreshes the intents of every strategy, step 2 compares each
//!   Online DM's root with the expected one and pushes the nodes that
//!   differ;
//! * pod events from the cache, collected for `debounce`: only the intents
//!   of the pods that changed are recomputed, and only their nodes pushed,
//!   in the background (`PushQueue`), so a slow DM delays no other event.
//!   `Resynced` or a lagging receiver means events were missed: a full pass.
//!
//! Nothing runs while the pod cache has not synced (a partial cache would
//! delete the intents of pods it has not seen yet) or storage is down.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use gthulhu_domain::manager::{
    ClusterStatus, DecisionMakerAdapter, IntentChanges, IntentState, K8sAdapter, K8sError, ObjectId, PodEvent, PodInfo,
    RepoError, Repository, ScheduleIntent, ScheduleStrategy, now_ms,
};
use gthulhu_domain::merkle;
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, MissedTickBehavior};

use crate::delivery::{NodePusher, callable, merkle_ordered};
use crate::node_status::NodeStatusBoard;
use crate::push_queue::PushQueue;
use crate::strategies::{intent_for_pod, intent_pods};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconcilerSettings {
    pub initial_delay: Duration,
    /// At least one second.
    pub interval: Duration,
    /// How long pod events are collected into one batch, counted from the
    /// batch's first event (bounded latency even under constant churn).
    pub debounce: Duration,
    /// DMs asked for their Merkle root at once.
    pub max_concurrent_checks: usize,
}

impl Default for ReconcilerSettings {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_secs(5),
            interval: Duration::from_secs(30),
            debounce: Duration::from_millis(200),
            max_concurrent_checks: 64,
        }
    }
}

/// Why a pass did nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// Another pass or event batch holds the lock.
    Busy,
    /// The pod cache has not (re)synced.
    ClusterNotReady,
    StorageUnavailable,
}

/// What a pass or event batch changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    pub inserted: usize,
    pub updated: usize,
    pub deleted: usize,
    /// Nodes whose DMs already held the expected set.
    pub in_sync: BTreeSet<String>,
    /// Nodes pushed (by an event batch: queued for a push).
    pub pushed: BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PassOutcome {
    Completed(PassReport),
    Skipped(SkipReason),
    /// Storage or the cluster failed mid-way; what was written stays, the
    /// next pass continues from there.
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
enum PassError {
    #[error("storage: {0}")]
    Storage(#[from] RepoError),
    #[error("cluster: {0}")]
    Cluster(#[from] K8sError),
}

/// Intent writes, and the nodes they touch.
#[derive(Debug, Default)]
struct Changes {
    intents: IntentChanges,
    nodes: BTreeSet<String>,
}

impl Changes {
    fn delete(&mut self, gone: ScheduleIntent) {
        self.nodes.insert(gone.node_id);
        self.intents.delete.push(gone.id);
    }

    fn absorb(&mut self, other: Changes) {
        self.intents.delete.extend(other.intents.delete);
        self.intents.update.extend(other.intents.update);
        self.intents.insert.extend(other.intents.insert);
        self.nodes.extend(other.nodes);
    }
}

/// Whether a stored intent's derived fields (manager.md 12.2 step 1) differ
/// from the ones the current pod and strategy give.
fn derived_fields_differ(stored: &ScheduleIntent, desired: &ScheduleIntent) -> bool {
    stored.pod_name != desired.pod_name
        || stored.node_id != desired.node_id
        || stored.k8s_namespace != desired.k8s_namespace
        || stored.pod_labels != desired.pod_labels
        || stored.command_regex != desired.command_regex
        || stored.priority != desired.priority
        || stored.execution_time != desired.execution_time
}

/// Compares `stored` (the strategy's intents of the pods under review) with
/// `pods` (those of them the strategy selects), by pod UID.
fn refresh(strategy: &ScheduleStrategy, pods: &[&PodInfo], stored: Vec<ScheduleIntent>, now: i64) -> Changes {
    let mut changes = Changes::default();
    let mut by_pod: HashMap<String, ScheduleIntent> = HashMap::new();
    for intent in stored {
        // A duplicate (strategy, pod) pair cannot be inserted; if one exists
        // anyway, keep one.
        if let Some(duplicate) = by_pod.insert(intent.pod_id.clone(), intent) {
            changes.delete(duplicate);
        }
    }
    for pod in pods {
        let desired = intent_for_pod(strategy, pod, now);
        match by_pod.remove(&pod.uid) {
            None => {
                changes.nodes.insert(desired.node_id.clone());
                changes.intents.insert.push(desired);
            }
            Some(old) if derived_fields_differ(&old, &desired) => {
                changes.nodes.insert(old.node_id.clone());
                changes.nodes.insert(desired.node_id.clone());
                changes.intents.update.push(ScheduleIntent {
                    id: old.id,
                    created_time: old.created_time,
                    ..desired
                });
            }
            Some(_) => {}
        }
    }
    for (_, gone) in by_pod {
        changes.delete(gone);
    }
    changes
}

/// The pods changed by a batch of events (last state wins; `None` =
/// deleted) and the nodes they were or are on.
#[derive(Default)]
struct PodBatch {
    pods: HashMap<String, Option<PodInfo>>,
    nodes: BTreeSet<String>,
}

impl PodBatch {
    /// `None` when the batch holds a `Resynced`: only a full pass will do.
    fn of(events: Vec<PodEvent>) -> Option<Self> {
        let mut batch = Self::default();
        for event in events {
            match event {
                PodEvent::Resynced => return None,
                // Nothing the intents derive from changed.
                PodEvent::Applied {
                    previous: Some(previous),
                    current,
                } if previous == current => {}
                PodEvent::Applied { previous, current } => {
                    if let Some(previous) = previous {
                        batch.nodes.insert(previous.node_name);
                    }
                    batch.nodes.insert(current.node_name.clone());
                    batch.pods.insert(current.uid.clone(), Some(current));
                }
                PodEvent::Deleted(pod) => {
                    batch.nodes.insert(pod.node_name);
                    batch.pods.insert(pod.uid, None);
                }
            }
        }
        // Unscheduled pods have no intents and nothing to push.
        batch.nodes.remove("");
        Some(batch)
    }
}

pub struct Reconciler {
    repo: Arc<dyn Repository>,
    k8s: Arc<dyn K8sAdapter>,
    dms: Arc<dyn DecisionMakerAdapter>,
    pusher: Arc<NodePusher>,
    /// The event path's pushes.
    queue: Arc<PushQueue>,
    board: Arc<NodeStatusBoard>,
    settings: ReconcilerSettings,
    /// Held by a full pass or an event batch.
    work: tokio::sync::Mutex<()>,
}

impl Reconciler {
    pub fn new(
        repo: Arc<dyn Repository>,
        k8s: Arc<dyn K8sAdapter>,
        dms: Arc<dyn DecisionMakerAdapter>,
        pusher: Arc<NodePusher>,
        board: Arc<NodeStatusBoard>,
        settings: ReconcilerSettings,
    ) -> Self {
        Self {
            repo,
            k8s,
            dms,
            queue: PushQueue::new(pusher.clone()),
            pusher,
            board,
            settings,
            work: tokio::sync::Mutex::new(()),
        }
    }

    async fn not_ready(&self) -> Option<SkipReason> {
        if self.k8s.status() != ClusterStatus::Ready {
            return Some(SkipReason::ClusterNotReady);
        }
        if self.repo.ping().await.is_err() {
            return Some(SkipReason::StorageUnavailable);
        }
        None
    }

    /// One full pass (both steps); skipped when another pass or event batch
    /// is running, or when the cluster or storage is not ready.
    pub async fn run_pass(&self) -> PassOutcome {
        let Ok(_working) = self.work.try_lock() else {
            tracing::debug!("reconcile pass skipped: the previous one is still running");
            return PassOutcome::Skipped(SkipReason::Busy);
        };
        if let Some(reason) = self.not_ready().await {
            tracing::debug!(?reason, "reconcile pass skipped");
            return PassOutcome::Skipped(reason);
        }
        let started = Instant::now();
        let mut report = PassReport::default();
        let result = match self.refresh_all(&mut report).await {
            Ok(()) => self.resync(&mut report).await,
            Err(e) => Err(e),
        };
        finish("reconcile pass", started, report, result)
    }

    /// Recomputes the intents of the pods `events` touch, against every
    /// strategy, and queues pushes of the nodes whose sets changed (see
    /// `pushes_drained`). A `Resynced`
    /// among them runs a full pass instead.
    pub async fn apply_events(&self, events: Vec<PodEvent>) -> PassOutcome {
        let Some(batch) = PodBatch::of(events) else {
            tracing::info!("pod cache resynced or events were missed: running a full pass");
            return self.run_pass().await;
        };
        if batch.pods.is_empty() {
            return PassOutcome::Completed(PassReport::default());
        }
        let _working = self.work.lock().await;
        if let Some(reason) = self.not_ready().await {
            // The next full pass catches up with what these events said.
            tracing::debug!(?reason, pods = batch.pods.len(), "pod events not applied");
            return PassOutcome::Skipped(reason);
        }
        let started = Instant::now();
        let mut report = PassReport::default();
        let result = self.refresh_pods(&batch, &mut report).await;
        finish("pod events", started, report, result)
    }

    /// One write for all of `changes`.
    async fn persist(&self, changes: &Changes, report: &mut PassReport) -> Result<(), RepoError> {
        let intents = &changes.intents;
        match self.repo.apply_intent_changes(intents).await {
            // A strategy change raced us and stored some of these pods'
            // intents.
            Err(RepoError::Conflict(field)) => {
                tracing::info!(%field, "intents were stored concurrently; the next pass settles them");
                Ok(())
            }
            Err(error) => Err(error),
            Ok(()) => {
                report.deleted += intents.delete.len();
                report.updated += intents.update.len();
                report.inserted += intents.insert.len();
                Ok(())
            }
        }
    }

    /// Step 1 for every strategy, and the sweep of intents whose strategy
    /// is gone (an event batch can race a strategy's deletion). A strategy
    /// whose pods cannot be read keeps its intents.
    async fn refresh_all(&self, report: &mut PassReport) -> Result<(), PassError> {
        let now = now_ms();
        // Intents before strategies: a strategy created in between has no
        // intents in this snapshot, so none of its own can look orphaned.
        let mut stored: HashMap<ObjectId, Vec<ScheduleIntent>> = HashMap::new();
        for intent in self.repo.list_intents().await? {
            stored.entry(intent.strategy_id.clone()).or_default().push(intent);
        }
        for strategy in self.repo.list_strategies().await? {
            let own = stored.remove(&strategy.id).unwrap_or_default();
            let pods = match self
                .k8s
                .query_pods(&strategy.spec.k8s_namespaces, &strategy.spec.label_selectors)
                .await
            {
                Ok(pods) => pods,
                Err(error) => {
                    tracing::warn!(strategy = %strategy.id, %error, "matching pods failed; keeping the strategy's intents");
                    continue;
                }
            };
            let selected = intent_pods(&pods);
            self.persist(&refresh(&strategy, &selected, own, now), report).await?;
        }
        let mut orphans = Changes::default();
        for intent in stored.into_values().flatten() {
            orphans.delete(intent);
        }
        if !orphans.intents.is_empty() {
            tracing::info!(
                intents = orphans.intents.delete.len(),
                "deleting intents of deleted strategies"
            );
            // Step 2 finds their nodes out of sync and pushes them.
            self.persist(&orphans, report).await?;
        }
        Ok(())
    }

    /// The event path's step 1 for the batch's pods, then their nodes pushed.
    async fn refresh_pods(&self, batch: &PodBatch, report: &mut PassReport) -> Result<(), PassError> {
        let strategies = self.repo.list_strategies().await?;
        let pod_ids: Vec<String> = batch.pods.keys().cloned().collect();
        let mut stored = self.repo.list_intents_by_pods(&pod_ids).await?;
        let live: Vec<&PodInfo> = batch.pods.values().flatten().filter(|p| p.is_schedulable()).collect();
        let now = now_ms();
        let mut changes = Changes::default();
        for strategy in &strategies {
            let spec = &strategy.spec;
            let selected: Vec<&PodInfo> = live
                .iter()
                .copied()
                .filter(|p| p.matches(&spec.k8s_namespaces, &spec.label_selectors))
                .collect();
            let (own, rest): (Vec<_>, Vec<_>) = stored.into_iter().partition(|i| i.strategy_id == strategy.id);
            stored = rest;
            changes.absorb(refresh(strategy, &selected, own, now));
        }
        self.persist(&changes, report).await?;
        self.queue.enqueue(&changes.nodes).await;
        report.pushed = changes.nodes;
        Ok(())
    }

    /// Resolves once the pushes queued by event batches are done.
    pub async fn pushes_drained(&self) {
        self.queue.drained().await;
    }

    /// Step 2: compares every Online DM's root with its node's expected one;
    /// marks in-sync nodes' intents Sent and pushes the others.
    async fn resync(&self, report: &mut PassReport) -> Result<(), PassError> {
        let dms: Vec<_> = match self.k8s.list_decision_makers().await {
            Ok(all) => callable(all).collect(),
            Err(K8sError::NotConfigured(_)) => vec![],
            Err(e) => return Err(e.into()),
        };
        if dms.is_empty() {
            return Ok(());
        }
        let mut by_node: HashMap<String, Vec<ScheduleIntent>> = HashMap::new();
        for intent in self.repo.list_intents().await? {
            by_node.entry(intent.node_id.clone()).or_default().push(intent);
        }
        let observed: Vec<_> = futures::stream::iter(dms)
            .map(|dm| async move {
                let root = self.dms.merkle_root(&dm).await;
                (dm, root)
            })
            .buffer_unordered(self.settings.max_concurrent_checks.max(1))
            .collect()
            .await;
        let mut verdicts: HashMap<String, (bool, bool)> = HashMap::new();
        for (dm, root) in observed {
            let intents = by_node.get(&dm.node_name).map(Vec::as_slice).unwrap_or_default();
            let expected = merkle::root(&merkle_ordered(intents));
            match root {
                Err(error) => {
                    tracing::warn!(node = %dm.node_name, dm = %dm.pod_name, %error, "reading the merkle root failed; skipping this decision maker");
                }
                Ok(root) => {
                    let (equal, differs) = verdicts.entry(dm.node_name.clone()).or_default();
                    if root == expected {
                        *equal = true;
                    } else {
                        tracing::debug!(node = %dm.node_name, dm = %dm.pod_name, %expected, observed = %root, "decision maker out of sync");
                        *differs = true;
                    }
                    self.board.record_check(&dm.node_name, expected, root, intents.len());
                }
            }
        }
        for (node, (equal, differs)) in verdicts {
            if differs {
                report.pushed.insert(node);
            } else if equal {
                let unsent: Vec<_> = by_node
                    .get(&node)
                    .into_iter()
                    .flatten()
                    .filter(|i| i.state == IntentState::Initialized)
                    .map(|i| i.id.clone())
                    .collect();
                if !unsent.is_empty() {
                    self.repo.set_intent_state(&unsent, IntentState::Sent).await?;
                }
                report.in_sync.insert(node);
            }
        }
        self.pusher.push_nodes(report.pushed.clone()).await;
        Ok(())
    }

    /// Runs until the task is dropped: full passes on schedule and pod
    /// events as they come, while `leader` is true (the seam for Lease
    /// election; a sender that is gone freezes the last value).
    pub async fn run(self: Arc<Self>, mut leader: watch::Receiver<bool>) {
        let mut events = self.k8s.pod_events();
        let mut events_open = true;
        let mut leader_open = true;
        let mut ticks = tokio::time::interval_at(
            Instant::now() + self.settings.initial_delay,
            self.settings.interval.max(Duration::from_secs(1)),
        );
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut batch = Vec::new();
        let mut flush_at: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    if *leader.borrow() {
                        self.run_pass().await;
                    }
                }
                changed = leader.changed(), if leader_open => match changed {
                    Ok(()) if *leader.borrow_and_update() => {
                        tracing::info!("leading: reconciling now");
                        self.run_pass().await;
                    }
                    Ok(()) => {
                        tracing::info!("no longer leading: reconciler idle");
                        batch.clear();
                        flush_at = None;
                    }
                    Err(_) => leader_open = false,
                },
                event = events.recv(), if events_open => {
                    match event {
                        Ok(event) => batch.push(event),
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "pod events lagged");
                            batch.push(PodEvent::Resynced);
                        }
                        Err(broadcast::error::RecvError::Closed) => {
                            tracing::debug!("no pod events from the cluster adapter; periodic passes only");
                            events_open = false;
                        }
                    }
                    if !batch.is_empty() && flush_at.is_none() {
                        flush_at = Some(Instant::now() + self.settings.debounce);
                    }
                }
                _ = sleep_until(flush_at), if flush_at.is_some() => {
                    flush_at = None;
                    let events = std::mem::take(&mut batch);
                    if *leader.borrow() {
                        self.apply_events(events).await;
                    }
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

fn finish(what: &str, started: Instant, report: PassReport, result: Result<(), PassError>) -> PassOutcome {
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(()) => {
            let changed = report.inserted + report.updated + report.deleted + report.pushed.len() > 0;
            let (inserted, updated, deleted) = (report.inserted, report.updated, report.deleted);
            let (pushed, in_sync) = (report.pushed.len(), report.in_sync.len());
            if changed {
                tracing::info!(inserted, updated, deleted, pushed, in_sync, elapsed_ms, "{what} done");
            } else {
                tracing::debug!(in_sync, elapsed_ms, "{what} done; nothing to change");
            }
            PassOutcome::Completed(report)
        }
        Err(error) => {
            tracing::warn!(%error, elapsed_ms, "{what} failed; the next pass retries");
            PassOutcome::Failed(error.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use gthulhu_domain::Selector;
    use gthulhu_domain::manager::{MockK8sAdapter, ObjectId, StrategySpec};

    use super::*;
    use crate::testutil::*;

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
        world: SharedWorld,
        pods: Arc<Mutex<Vec<PodInfo>>>,
        events: broadcast::Sender<PodEvent>,
        reconciler: Arc<Reconciler>,
    }

    /// The services' reconciler over `world_repo`, a ready `live_cluster`
    /// with DMs on `dm_nodes`, and `dm_client`.
    fn fixture(pods: Vec<PodInfo>, dm_nodes: &[&str], tweak: impl FnOnce(&mut MockK8sAdapter)) -> Fixture {
        let world = SharedWorld::default();
        let pods = Arc::new(Mutex::new(pods));
        let mut k8s = live_cluster(&pods, dm_nodes);
        tweak(&mut k8s);
        k8s.expect_status().returning(|| ClusterStatus::Ready);
        let (events, _) = broadcast::channel(16);
        let tx = events.clone();
        k8s.expect_pod_events().returning(move || tx.subscribe());
        let services = services_full(world_repo(&world), k8s, dm_client(&world, &[]));
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
    fn stored(world: &SharedWorld) -> Vec<(String, String, IntentState)> {
        let mut v: Vec<_> = world
            .lock()
            .unwrap()
            .intents
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
        {
            let mut w = f.world.lock().unwrap();
            w.strategies = vec![web.clone()];
            w.intents = before.clone();
        }
        let report = completed(f.reconciler.run_pass().await);
        assert_eq!((report.inserted, report.updated, report.deleted), (1, 3, 3));
        assert_eq!(report.pushed, nodes(&["n1", "n2"]));
        assert_eq!(
            stored(&f.world),
            [
                ("fresh".to_string(), "n2".to_string(), IntentState::Sent),
                ("kept".into(), "n1".into(), IntentState::Sent),
                ("moved".into(), "n2".into(), IntentState::Sent),
                ("relabelled".into(), "n1".into(), IntentState::Sent),
            ]
        );
        {
            let w = f.world.lock().unwrap();
            // Updates keep the intent's id and take the strategy's new values.
            let kept = w.intents.iter().find(|i| i.pod_name == "kept").unwrap();
            assert_eq!((&kept.id, kept.priority), (&before[0].id, 5));
            let relabelled = w.intents.iter().find(|i| i.pod_name == "relabelled").unwrap();
            assert_eq!(relabelled.pod_labels.get("v").map(String::as_str), Some("2"));
            // Each DM got its node's full set, in Merkle order.
            for (dm, node) in [("dm-n1", "n1"), ("dm-n2", "n2")] {
                let on_node: Vec<_> = w.intents.iter().filter(|i| i.node_id == node).cloned().collect();
                let last = w.pushes.iter().rev().find(|(d, _)| d == dm).unwrap();
                assert_eq!(last.1, merkle_ordered(&on_node), "{dm}");
            }
        }

        // Converged: the next pass changes and pushes nothing.
        let pushes = f.world.lock().unwrap().pushes.len();
        let report = completed(f.reconciler.run_pass().await);
        assert_eq!(report.pushed, BTreeSet::new());
        assert_eq!(report.in_sync, nodes(&["n1", "n2"]));
        assert_eq!(f.world.lock().unwrap().pushes.len(), pushes);
    }

    #[tokio::test]
    async fn pass_sweeps_intents_of_deleted_strategies() {
        let web = strategy(&[], &[("app", "web")], 5);
        let deleted = strategy(&[], &[("app", "web")], 9);
        let a = pod("a", "default", "n1", &[("app", "web")]);
        let b = pod("b", "default", "n2", &[("app", "web")]);
        let f = fixture(vec![a.clone(), b.clone()], &["n1", "n2"], |_| {});
        {
            let mut w = f.world.lock().unwrap();
            w.strategies = vec![web.clone()];
            // Written by an event batch that raced the deletion.
            w.intents = vec![sent(&web, &a), sent(&web, &b), sent(&deleted, &b)];
        }
        let report = completed(f.reconciler.run_pass().await);
        assert_eq!((report.inserted, report.updated, report.deleted), (0, 0, 1));
        assert!(report.pushed.contains("n2"), "{report:?}");
        let w = f.world.lock().unwrap();
        assert!(w.intents.iter().all(|i| i.strategy_id == web.id), "{:?}", w.intents);
        let last = w.pushes.iter().rev().find(|(d, _)| d == "dm-n2").unwrap();
        assert_eq!(last.1, merkle_ordered(&[sent(&web, &b)]));
    }

    #[tokio::test]
    async fn equal_root_marks_sent_without_pushing_and_a_different_one_pushes() {
        let web = strategy(&[], &[], 1);
        let a = pod("a", "default", "n1", &[]);
        let f = fixture(vec![a.clone()], &["n1", "n2"], |_| {});
        let mut initialized = sent(&web, &a);
        initialized.state = IntentState::Initialized;
        {
            let mut w = f.world.lock().unwrap();
            w.strategies = vec![web.clone()];
            w.intents = vec![initialized.clone()];
            // dm-n1 already holds the set; dm-n2 holds a set its node no longer has.
            w.pushes = vec![
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
        let w = f.world.lock().unwrap();
        assert_eq!(w.intents[0].state, IntentState::Sent);
        // n1 was not pushed again; n2, with no intents, got the empty set.
        assert_eq!(w.pushes.len(), 3);
        assert_eq!(w.pushes[2], ("dm-n2".to_string(), vec![]));
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
        {
            let mut w = f.world.lock().unwrap();
            w.strategies = vec![web.clone(), team_a.clone()];
            w.intents = vec![
                sent(&web, &relabelled_before),
                sent(&team_a, &relabelled_before),
                stale.clone(),
                sent(&web, &gone),
            ];
        }
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
        let w = f.world.lock().unwrap();
        let mut left: Vec<_> = w
            .intents
            .iter()
            .map(|i| (i.pod_name.as_str(), i.strategy_id == web.id))
            .collect();
        left.sort();
        assert_eq!(left, [("web-1", false), ("web-2", true), ("web-3", true)]);
        assert!(w.intents.contains(&stale), "web-3's intent untouched");
        let pushed: BTreeSet<_> = w.pushes.iter().map(|(dm, _)| dm.as_str()).collect();
        assert_eq!(pushed, BTreeSet::from(["dm-n1", "dm-n2", "dm-n4"]));
        assert_eq!(w.pushes.iter().find(|(dm, _)| dm == "dm-n4").unwrap().1, vec![]);
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
        f.world.lock().unwrap().strategies = vec![web];
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
        f.world.lock().unwrap().strategies = vec![web];
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
            let w = f.world.lock().unwrap();
            assert_eq!(w.intents.len(), 2);
            assert_eq!(w.pushes.len(), 1, "one batch, one push: {:?}", w.pushes);
            assert_eq!(w.pushes[0].1.len(), 2);
        }
        // A pod the events never mentioned is picked up by the first pass (5 s).
        f.pods.lock().unwrap().push(pod("c", "default", "n2", &[]));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(f.world.lock().unwrap().intents.len(), 3);
        task.abort();
    }
}
