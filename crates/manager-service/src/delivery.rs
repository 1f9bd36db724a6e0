//! Converging a node (manager.md 12.1): send the node's **full** intent set,
//! in Merkle order, to every Online Decision Maker on it, and mark the
//! intents Sent once all of them accepted it. Pushes to one node are
//! serialised and read the set when they start, so an older set can never
//! overwrite a newer one; different nodes are pushed concurrently, at most
//! `max_concurrent_pushes` at a time. A DM that fails transiently is retried
//! with exponential backoff and jitter before the push counts as failed.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use gthulhu_domain::manager::{
    DecisionMakerAdapter, DecisionMakerEndpoint, DmClientError, DmState, IntentState, K8sAdapter, K8sError, PushResult,
    RepoError, Repository, ScheduleIntent,
};
use gthulhu_domain::{Intent, merkle};
use rand::Rng;

use crate::node_status::NodeStatusBoard;

/// What a push achieved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// Every Online DM on the node accepted the set.
    Delivered { intents: usize, decision_makers: usize },
    /// No Online DM on the node; the intents stay Initialized.
    NoDecisionMaker,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    #[error("loading the node's intents failed: {0}")]
    Storage(#[from] RepoError),
    #[error("listing decision makers failed: {0}")]
    Cluster(#[from] K8sError),
    #[error("decision maker {pod} rejected the push: {error}")]
    DecisionMaker { pod: String, error: DmClientError },
}

/// Retries of one DM call: `attempts` in all, the n-th retry after about
/// `base_delay * 2^(n-1)` (±50 % jitter, so DMs restarted together are not
/// retried in lockstep).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base_delay: Duration::from_millis(200),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, retry: u32) -> Duration {
        let exponential = self.base_delay.saturating_mul(1 << retry.min(16));
        exponential.mul_f64(rand::thread_rng().gen_range(0.5..1.5))
    }
}

/// A 4xx means the DM refused this request (401 is already retried by the
/// client with a fresh token): sending it again cannot help.
fn is_transient(error: &DmClientError) -> bool {
    !matches!(error, DmClientError::Status(code) if (400..500).contains(code))
}

/// Calls `call` until it succeeds, fails permanently or runs out of attempts.
async fn with_retry<T, F, Fut>(policy: RetryPolicy, mut call: F) -> Result<T, DmClientError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DmClientError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(error) if attempt < policy.attempts && is_transient(&error) => {
                let delay = policy.delay(attempt - 1);
                tracing::debug!(%error, attempt, retry_in_ms = delay.as_millis() as u64, "decision maker call failed; retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Tunables of delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliverySettings {
    /// Nodes pushed at once (`reconciler.max_concurrent_pushes`); 0 counts as 1.
    pub max_concurrent_pushes: usize,
    pub retry: RetryPolicy,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            max_concurrent_pushes: 64,
            retry: RetryPolicy::default(),
        }
    }
}

/// The wire intents of `intents`, in Merkle order.
pub fn merkle_ordered(intents: &[ScheduleIntent]) -> Vec<Intent> {
    let mut keyed: Vec<(String, Intent)> = intents
        .iter()
        .map(|i| {
            let dm = i.to_dm_intent();
            (merkle::sort_key(&dm), dm)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// The Online DMs in `all` that can be called (host and port known).
pub(crate) fn callable(all: Vec<DecisionMakerEndpoint>) -> impl Iterator<Item = DecisionMakerEndpoint> {
    all.into_iter().filter(is_callable)
}

/// Online, with an address to call.
pub(crate) fn is_callable(dm: &DecisionMakerEndpoint) -> bool {
    dm.state == DmState::Online && !dm.host.is_empty() && dm.port > 0
}

pub struct NodePusher {
    repo: Arc<dyn Repository>,
    k8s: Arc<dyn K8sAdapter>,
    dms: Arc<dyn DecisionMakerAdapter>,
    board: Arc<NodeStatusBoard>,
    settings: DeliverySettings,
    /// One lock per node name (bounded by the cluster's nodes).
    node_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// `max_concurrent_pushes`, over every caller (services, reconciler
    /// passes, the event path's push queue).
    permits: tokio::sync::Semaphore,
}

impl NodePusher {
    pub fn new(
        repo: Arc<dyn Repository>,
        k8s: Arc<dyn K8sAdapter>,
        dms: Arc<dyn DecisionMakerAdapter>,
        board: Arc<NodeStatusBoard>,
        settings: DeliverySettings,
    ) -> Self {
        Self {
            repo,
            k8s,
            dms,
            board,
            permits: tokio::sync::Semaphore::new(settings.max_concurrent_pushes.max(1)),
            settings,
            node_locks: Mutex::new(HashMap::new()),
        }
    }

    fn node_lock(&self, node: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.node_locks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        locks.entry(node.to_string()).or_default().clone()
    }

    /// Every callable (Online) DM, by node. One listing serves a whole
    /// batch of pushes: listing per node would be quadratic at thousands of
    /// nodes.
    pub(crate) async fn decision_makers(&self) -> Result<HashMap<String, Vec<DecisionMakerEndpoint>>, DeliveryError> {
        let all = match self.k8s.list_decision_makers().await {
            Ok(all) => all,
            Err(K8sError::NotConfigured(_)) => vec![],
            Err(e) => return Err(e.into()),
        };
        let mut by_node: HashMap<String, Vec<DecisionMakerEndpoint>> = HashMap::new();
        for dm in callable(all) {
            by_node.entry(dm.node_name.clone()).or_default().push(dm);
        }
        Ok(by_node)
    }

    /// Pushes `node`'s full intent set to its DMs, and records the outcome
    /// on the status board.
    pub async fn push_node(&self, node: &str) -> Result<PushOutcome, DeliveryError> {
        let dms = self.decision_makers().await;
        let on_node = dms
            .as_ref()
            .map(|by_node| by_node.get(node).map(Vec::as_slice).unwrap_or_default());
        self.push_node_to(node, on_node).await
    }

    pub(crate) async fn push_node_to(
        &self,
        node: &str,
        dms: Result<&[DecisionMakerEndpoint], &DeliveryError>,
    ) -> Result<PushOutcome, DeliveryError> {
        // The permit before the node lock: a push waiting for a permit never
        // holds a node lock another push with a permit waits for.
        let _permit = self.permits.acquire().await;
        let lock = self.node_lock(node);
        let _serialised = lock.lock().await;
        let stored = self.repo.list_intents_by_node(node).await?;
        let wire = merkle_ordered(&stored);
        let expected_root = merkle::root(&wire);
        let result = match dms {
            Ok(dms) => self.deliver(node, &stored, &wire, dms).await,
            Err(error) => Err(error.clone()),
        };
        let recorded = match &result {
            Ok(PushOutcome::Delivered { .. }) => PushResult::Delivered,
            Ok(PushOutcome::NoDecisionMaker) => PushResult::NoDecisionMaker,
            Err(error) => PushResult::Failed(error.to_string()),
        };
        self.board.record_push(node, recorded, expected_root, stored.len());
        result
    }

    async fn deliver(
        &self,
        node: &str,
        stored: &[ScheduleIntent],
        wire: &[Intent],
        dms: &[DecisionMakerEndpoint],
    ) -> Result<PushOutcome, DeliveryError> {
        if dms.is_empty() {
            return Ok(PushOutcome::NoDecisionMaker);
        }
        let retry = self.settings.retry;
        let results = futures::future::join_all(
            dms.iter()
                .map(|dm| with_retry(retry, || self.dms.push_intents(dm, wire))),
        )
        .await;
        let mut first_error = None;
        for (dm, result) in dms.iter().zip(results) {
            if let Err(error) = result {
                tracing::warn!(node, dm = %dm.pod_name, %error, "pushing intents failed");
                first_error.get_or_insert(DeliveryError::DecisionMaker {
                    pod: dm.pod_name.clone(),
                    error,
                });
            }
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        let unsent: Vec<_> = stored
            .iter()
            .filter(|i| i.state != IntentState::Sent)
            .map(|i| i.id.clone())
            .collect();
        if !unsent.is_empty() {
            self.repo.set_intent_state(&unsent, IntentState::Sent).await?;
        }
        Ok(PushOutcome::Delivered {
            intents: stored.len(),
            decision_makers: dms.len(),
        })
    }

    /// Pushes the nodes, `max_concurrent_pushes` at a time; failures are
    /// logged, never returned (the reconciler retries them).
    pub async fn push_nodes(&self, nodes: BTreeSet<String>) {
        let dms = self.decision_makers().await;
        let dms = &dms;
        futures::stream::iter(nodes.iter().filter(|n| !n.is_empty()))
            .for_each_concurrent(self.settings.max_concurrent_pushes.max(1), |node| async move {
                let on_node = dms
                    .as_ref()
                    .map(|by_node| by_node.get(node).map(Vec::as_slice).unwrap_or_default());
                match self.push_node_to(node, on_node).await {
                    Ok(outcome) => tracing::debug!(node, ?outcome, "node pushed"),
                    Err(error) => tracing::warn!(node, %error, "node push failed; the reconciler will retry"),
                }
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use gthulhu_domain::manager::{MockDecisionMakerAdapter, MockK8sAdapter, MockRepository};
    use gthulhu_domain::merkle;
    use mockall::predicate::eq;

    use super::*;
    use crate::testutil::{dm, stored_intent};

    fn pusher(repo: MockRepository, k8s: MockK8sAdapter, dms: MockDecisionMakerAdapter) -> NodePusher {
        NodePusher::new(
            Arc::new(repo),
            Arc::new(k8s),
            Arc::new(dms),
            Arc::default(),
            DeliverySettings::default(),
        )
    }

    #[test]
    fn merkle_order_matches_the_domain_root() {
        let intents = vec![
            stored_intent("web-1", "n", &[("app", "web")]),
            stored_intent("web-0", "n", &[("app", "web")]),
            stored_intent("a", "n", &[("a.b", "2"), ("a", "1")]),
            stored_intent("a", "n", &[("a", "1")]),
            stored_intent("web-10", "n", &[]),
        ];
        let ordered = merkle_ordered(&intents);
        let leaves: Vec<_> = ordered.iter().map(merkle::leaf_hash).collect();
        // Hashing in our order without re-sorting gives the domain's root.
        assert_eq!(merkle::root_of_leaves(&leaves), merkle::root(&ordered));
        let names: Vec<_> = ordered.iter().map(|i| i.pod_name.as_str()).collect();
        // Keys compare as strings: "web-10|…" sorts before "web-1|…" ('0' < '|').
        assert_eq!(names, ["a", "a", "web-0", "web-10", "web-1"]);
    }

    #[tokio::test]
    async fn pushes_full_set_to_online_dms_and_marks_sent() {
        let intents = vec![stored_intent("b", "n1", &[]), stored_intent("a", "n1", &[])];
        let mut sent_already = intents.clone();
        sent_already[1].state = IntentState::Sent;
        let unsent_id = sent_already[0].id.clone();
        let mut repo = MockRepository::new();
        repo.expect_list_intents_by_node()
            .with(eq("n1"))
            .returning(move |_| Ok(sent_already.clone()));
        repo.expect_set_intent_state()
            .withf(move |ids, s| ids == [unsent_id.clone()] && *s == IntentState::Sent)
            .times(1)
            .returning(|_, _| Ok(()));
        let mut k8s = MockK8sAdapter::new();
        k8s.expect_list_decision_makers().returning(|| {
            Ok(vec![
                dm("n1", "dm-1", DmState::Online),
                dm("n1", "dm-pending", DmState::Unknown),
                dm("n2", "dm-2", DmState::Online),
            ])
        });
        let mut dms = MockDecisionMakerAdapter::new();
        let want = merkle_ordered(&intents);
        dms.expect_push_intents()
            .withf(move |d, sent| d.pod_name == "dm-1" && sent == want.as_slice())
            .times(1)
            .returning(|_, _| Ok(()));
        let pusher = pusher(repo, k8s, dms);
        assert_eq!(
            pusher.push_node("n1").await,
            Ok(PushOutcome::Delivered {
                intents: 2,
                decision_makers: 1
            })
        );
    }

    // Paused time: the retries' backoff elapses at once.
    #[tokio::test(start_paused = true)]
    async fn failed_push_leaves_state_and_no_dm_is_not_an_error() {
        let mut repo = MockRepository::new();
        repo.expect_list_intents_by_node()
            .returning(|node| Ok(vec![stored_intent("p", node, &[])]));
        repo.expect_set_intent_state().never();
        let mut k8s = MockK8sAdapter::new();
        k8s.expect_list_decision_makers().returning(|| {
            Ok(vec![
                dm("n1", "dm-1", DmState::Online),
                dm("n1", "dm-2", DmState::Online),
            ])
        });
        let mut dms = MockDecisionMakerAdapter::new();
        // dm-2 fails every attempt (3), dm-1 accepts the first.
        dms.expect_push_intents().times(4).returning(|d, _| {
            if d.pod_name == "dm-2" {
                Err(DmClientError::Status(500))
            } else {
                Ok(())
            }
        });
        let pusher = pusher(repo, k8s, dms);
        assert_eq!(
            pusher.push_node("n1").await,
            Err(DeliveryError::DecisionMaker {
                pod: "dm-2".into(),
                error: DmClientError::Status(500)
            })
        );
        assert_eq!(pusher.push_node("other").await, Ok(PushOutcome::NoDecisionMaker));
        let status = pusher.board.get("n1");
        assert_eq!(
            status.last_push,
            Some(PushResult::Failed(
                "decision maker dm-2 rejected the push: decision maker returned non-OK status 500".into()
            ))
        );
        assert_eq!(status.intents, Some(1));
        assert_eq!(pusher.board.get("other").last_push, Some(PushResult::NoDecisionMaker));
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_with_backoff_and_4xx_is_not() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let mut repo = MockRepository::new();
        repo.expect_list_intents_by_node()
            .returning(|node| Ok(vec![stored_intent("p", node, &[])]));
        repo.expect_set_intent_state().times(1).returning(|_, _| Ok(()));
        let mut k8s = MockK8sAdapter::new();
        k8s.expect_list_decision_makers().returning(|| {
            Ok(vec![
                dm("flaky", "dm-flaky", DmState::Online),
                dm("refuses", "dm-refuses", DmState::Online),
            ])
        });
        let calls = Arc::new(AtomicU32::new(0));
        let seen = calls.clone();
        let mut dms = MockDecisionMakerAdapter::new();
        dms.expect_push_intents().returning(move |d, _| {
            if d.pod_name == "dm-refuses" {
                return Err(DmClientError::Status(422));
            }
            match seen.fetch_add(1, Ordering::SeqCst) {
                0 => Err(DmClientError::Unreachable("connection refused".into())),
                1 => Err(DmClientError::Status(503)),
                _ => Ok(()),
            }
        });
        let pusher = pusher(repo, k8s, dms);
        let started = tokio::time::Instant::now();
        assert!(matches!(
            pusher.push_node("flaky").await,
            Ok(PushOutcome::Delivered { .. })
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // Two backoffs: ~200 ms and ~400 ms, each within ±50 %.
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_millis(900),
            "{waited:?}"
        );
        assert_eq!(pusher.board.get("flaky").last_push, Some(PushResult::Delivered));
        assert!(pusher.push_node("refuses").await.is_err());
    }

    /// A DM client whose pushes take a while, counting how many overlap
    /// (a mock answers synchronously, so nothing would ever overlap).
    #[derive(Default)]
    struct SlowDms {
        active: std::sync::atomic::AtomicUsize,
        max_seen: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl DecisionMakerAdapter for SlowDms {
        async fn push_intents(&self, _: &DecisionMakerEndpoint, _: &[Intent]) -> Result<(), DmClientError> {
            use std::sync::atomic::Ordering;
            let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_seen.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.active.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }
        async fn delete_intents(
            &self,
            _: &DecisionMakerEndpoint,
            _: &gthulhu_domain::DeleteIntents,
        ) -> Result<(), DmClientError> {
            unreachable!("never deletes")
        }
        async fn merkle_root(&self, _: &DecisionMakerEndpoint) -> Result<String, DmClientError> {
            unreachable!("never asked")
        }
        async fn pods_pids(&self, _: &DecisionMakerEndpoint) -> Result<serde_json::Value, DmClientError> {
            unreachable!("never asked")
        }

        async fn apply_runtime_config(
            &self,
            _: &DecisionMakerEndpoint,
            _: &gthulhu_domain::runtime_config::RuntimeSchedulerConfig,
        ) -> Result<(), DmClientError> {
            unreachable!("never asked")
        }

        async fn runtime_config(
            &self,
            _: &DecisionMakerEndpoint,
        ) -> Result<gthulhu_domain::runtime_config::RuntimeStatus, DmClientError> {
            unreachable!("never asked")
        }
    }

    #[tokio::test(start_paused = true)]
    async fn fan_out_across_nodes_is_bounded() {
        use std::sync::atomic::Ordering;
        let mut repo = MockRepository::new();
        repo.expect_list_intents_by_node().returning(|_| Ok(vec![]));
        let mut k8s = MockK8sAdapter::new();
        k8s.expect_list_decision_makers().returning(|| {
            Ok((0..6)
                .map(|i| dm(&format!("n{i}"), &format!("dm-{i}"), DmState::Online))
                .collect())
        });
        let dms = Arc::new(SlowDms::default());
        let settings = DeliverySettings {
            max_concurrent_pushes: 2,
            ..DeliverySettings::default()
        };
        let pusher = NodePusher::new(Arc::new(repo), Arc::new(k8s), dms.clone(), Arc::default(), settings);
        pusher.push_nodes((0..6).map(|i| format!("n{i}")).collect()).await;
        assert_eq!(dms.max_seen.load(Ordering::SeqCst), 2);
        for i in 0..6 {
            assert_eq!(
                pusher.board.get(&format!("n{i}")).last_push,
                Some(PushResult::Delivered)
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn pushes_to_one_node_are_serialised() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let active = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let mut repo = MockRepository::new();
        repo.expect_list_intents_by_node().returning(|_| Ok(vec![]));
        let mut k8s = MockK8sAdapter::new();
        k8s.expect_list_decision_makers()
            .returning(|| Ok(vec![dm("n1", "dm-1", DmState::Online)]));
        let mut dms = MockDecisionMakerAdapter::new();
        let (a, m) = (active.clone(), max_seen.clone());
        dms.expect_push_intents().times(4).returning(move |_, _| {
            let now = a.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now, Ordering::SeqCst);
            // Blocks the worker thread briefly so overlapping pushes would show.
            std::thread::sleep(std::time::Duration::from_millis(20));
            a.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        });
        let pusher = Arc::new(pusher(repo, k8s, dms));
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let p = pusher.clone();
                tokio::spawn(async move { p.push_node("n1").await })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().is_ok());
        }
        assert_eq!(max_seen.load(Ordering::SeqCst), 1);
    }
}
