//! Converging a node (manager.md 12.1): send the node's **full** intent set,
//! in Merkle order, to every Online Decision Maker on it, and mark the
//! intents Sent once all of them accepted it. Pushes to one node are
//! serialised and read the set when they start, so an older set can never
//! overwrite a newer one; different nodes are pushed concurrently.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use gthulhu_domain::Intent;
use gthulhu_domain::manager::{
    DecisionMakerAdapter, DecisionMakerEndpoint, DmClientError, DmState, IntentState, K8sAdapter, K8sError, RepoError,
    Repository, ScheduleIntent,
};

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

/// The Merkle sort key of `gthulhu_domain::merkle` (leaf fields joined with
/// `|`, labels as sorted `k=v` strings): the DM hashes leaves in this order.
fn merkle_sort_key(intent: &Intent) -> String {
    let mut labels: Vec<String> = intent.pod_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort_unstable();
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{}",
        intent.pod_name,
        intent.pod_id,
        intent.node_id,
        intent.k8s_namespace,
        intent.command_regex,
        intent.priority,
        intent.execution_time,
        labels.join(",")
    )
}

/// The wire intents of `intents`, in Merkle order.
pub fn merkle_ordered(intents: &[ScheduleIntent]) -> Vec<Intent> {
    let mut keyed: Vec<(String, Intent)> = intents
        .iter()
        .map(|i| {
            let dm = i.to_dm_intent();
            (merkle_sort_key(&dm), dm)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.into_iter().map(|(_, i)| i).collect()
}

pub struct NodePusher {
    repo: Arc<dyn Repository>,
    k8s: Arc<dyn K8sAdapter>,
    dms: Arc<dyn DecisionMakerAdapter>,
    /// One lock per node name (bounded by the cluster's nodes).
    node_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl NodePusher {
    pub fn new(repo: Arc<dyn Repository>, k8s: Arc<dyn K8sAdapter>, dms: Arc<dyn DecisionMakerAdapter>) -> Self {
        Self {
            repo,
            k8s,
            dms,
            node_locks: Mutex::new(HashMap::new()),
        }
    }

    fn node_lock(&self, node: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.node_locks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        locks.entry(node.to_string()).or_default().clone()
    }

    /// The Online DMs on `node` that can be called (host and port known).
    async fn decision_makers_on(&self, node: &str) -> Result<Vec<DecisionMakerEndpoint>, DeliveryError> {
        let all = match self.k8s.list_decision_makers().await {
            Ok(all) => all,
            Err(K8sError::NotConfigured(_)) => vec![],
            Err(e) => return Err(e.into()),
        };
        Ok(all
            .into_iter()
            .filter(|dm| dm.node_name == node && dm.state == DmState::Online && !dm.host.is_empty() && dm.port > 0)
            .collect())
    }

    /// Pushes `node`'s full intent set to its DMs.
    pub async fn push_node(&self, node: &str) -> Result<PushOutcome, DeliveryError> {
        let lock = self.node_lock(node);
        let _serialised = lock.lock().await;
        let stored = self.repo.list_intents_by_node(node).await?;
        let dms = self.decision_makers_on(node).await?;
        if dms.is_empty() {
            return Ok(PushOutcome::NoDecisionMaker);
        }
        let wire = merkle_ordered(&stored);
        let results = futures::future::join_all(dms.iter().map(|dm| self.dms.push_intents(dm, &wire))).await;
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

    /// Pushes each node concurrently; failures are logged, never returned
    /// (the reconciler retries them).
    pub async fn push_nodes(&self, nodes: BTreeSet<String>) {
        let pushes = nodes.iter().filter(|n| !n.is_empty()).map(|node| async move {
            match self.push_node(node).await {
                Ok(outcome) => tracing::debug!(node, ?outcome, "node pushed"),
                Err(error) => tracing::warn!(node, %error, "node push failed; the reconciler will retry"),
            }
        });
        futures::future::join_all(pushes).await;
    }
}

#[cfg(test)]
mod tests {
    use gthulhu_domain::manager::{MockDecisionMakerAdapter, MockK8sAdapter, MockRepository};
    use gthulhu_domain::merkle;
    use mockall::predicate::eq;

    use super::*;
    use crate::testutil::{dm, stored_intent};

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
        let pusher = NodePusher::new(Arc::new(repo), Arc::new(k8s), Arc::new(dms));
        assert_eq!(
            pusher.push_node("n1").await,
            Ok(PushOutcome::Delivered {
                intents: 2,
                decision_makers: 1
            })
        );
    }

    #[tokio::test]
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
        dms.expect_push_intents().times(2).returning(|d, _| {
            if d.pod_name == "dm-2" {
                Err(DmClientError::Status(500))
            } else {
                Ok(())
            }
        });
        let pusher = NodePusher::new(Arc::new(repo), Arc::new(k8s), Arc::new(dms));
        assert_eq!(
            pusher.push_node("n1").await,
            Err(DeliveryError::DecisionMaker {
                pod: "dm-2".into(),
                error: DmClientError::Status(500)
            })
        );
        assert_eq!(pusher.push_node("other").await, Ok(PushOutcome::NoDecisionMaker));
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
        let pusher = Arc::new(NodePusher::new(Arc::new(repo), Arc::new(k8s), Arc::new(dms)));
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
