//! The event path's pushes, run in the background: a slow or unreachable
//! Decision Maker (retries, timeouts) must not hold up the intents of every
//! other pod event behind it.
//!
//! A node is pushed by one task at a time. Asking for it again while it is
//! being pushed marks it dirty, and it is pushed once more afterwards, with
//! the set stored by then (client-go's workqueue rule): however many events
//! touch a node during a push, at most one more push follows.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use gthulhu_domain::manager::DecisionMakerEndpoint;
use tokio::sync::Notify;

use crate::delivery::{DeliveryError, NodePusher};

#[derive(Default)]
struct Nodes {
    in_flight: HashSet<String>,
    dirty: HashSet<String>,
}

pub struct PushQueue {
    pusher: Arc<NodePusher>,
    nodes: Mutex<Nodes>,
    drained: Notify,
}

impl PushQueue {
    pub fn new(pusher: Arc<NodePusher>) -> Arc<Self> {
        Arc::new(Self {
            pusher,
            nodes: Mutex::new(Nodes::default()),
            drained: Notify::new(),
        })
    }

    fn nodes(&self) -> std::sync::MutexGuard<'_, Nodes> {
        self.nodes.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts pushing `nodes` (the unscheduled `""` is skipped) and returns
    /// without waiting for the pushes. Needs a Tokio runtime.
    pub async fn enqueue(self: &Arc<Self>, nodes: &BTreeSet<String>) {
        let start: Vec<String> = {
            let mut queued = self.nodes();
            nodes
                .iter()
                .filter(|node| !node.is_empty())
                .filter(|node| {
                    let idle = queued.in_flight.insert((*node).clone());
                    if !idle {
                        queued.dirty.insert((*node).clone());
                    }
                    idle
                })
                .cloned()
                .collect()
        };
        if start.is_empty() {
            return;
        }
        // One listing for the whole batch: thousands of nodes can change at
        // once (a rollout), and the listing is linear in the DMs.
        let dms = self.pusher.decision_makers().await;
        for node in start {
            let on_node = match &dms {
                Ok(by_node) => Ok(by_node.get(&node).cloned().unwrap_or_default()),
                Err(error) => Err(error.clone()),
            };
            tokio::spawn(Arc::clone(self).push(node, on_node));
        }
    }

    async fn push(self: Arc<Self>, node: String, mut dms: Result<Vec<DecisionMakerEndpoint>, DeliveryError>) {
        loop {
            match self.pusher.push_node_to(&node, dms.as_deref()).await {
                Ok(outcome) => tracing::debug!(%node, ?outcome, "node pushed"),
                Err(error) => tracing::warn!(%node, %error, "node push failed; the reconciler will retry"),
            }
            {
                let mut queued = self.nodes();
                if !queued.dirty.remove(&node) {
                    queued.in_flight.remove(&node);
                    if queued.in_flight.is_empty() {
                        self.drained.notify_waiters();
                    }
                    return;
                }
            }
            dms = self
                .pusher
                .decision_makers()
                .await
                .map(|mut by_node| by_node.remove(&node).unwrap_or_default());
        }
    }

    /// Resolves once no push is running or due.
    pub async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            // Registered before the check, so a push finishing in between
            // still wakes this waiter.
            notified.as_mut().enable();
            if self.nodes().in_flight.is_empty() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use gthulhu_domain::manager::{DecisionMakerAdapter, DmClientError, DmState, MockK8sAdapter, MockRepository};
    use gthulhu_domain::{DeleteIntents, Intent};
    use tokio::sync::Semaphore;

    use super::*;
    use crate::delivery::DeliverySettings;
    use crate::testutil::{dm, stored_intent};

    fn names(nodes: &[&str]) -> BTreeSet<String> {
        nodes.iter().map(|n| n.to_string()).collect()
    }

    /// DMs that accept every push, except that pushes to `slow`'s node
    /// wait for a permit of `gate`; records the node of each push.
    struct GatedDms {
        slow: &'static str,
        gate: Arc<Semaphore>,
        pushed: Arc<Mutex<Vec<String>>>,
    }

    #[async_trait::async_trait]
    impl DecisionMakerAdapter for GatedDms {
        async fn push_intents(&self, dm: &DecisionMakerEndpoint, _: &[Intent]) -> Result<(), DmClientError> {
            if dm.node_name == self.slow {
                self.gate.acquire().await.expect("gate open").forget();
            }
            self.pushed.lock().unwrap().push(dm.node_name.clone());
            Ok(())
        }

        async fn delete_intents(&self, _: &DecisionMakerEndpoint, _: &DeleteIntents) -> Result<(), DmClientError> {
            unreachable!("the queue only pushes")
        }

        async fn merkle_root(&self, _: &DecisionMakerEndpoint) -> Result<String, DmClientError> {
            unreachable!("the queue only pushes")
        }

        async fn pods_pids(&self, _: &DecisionMakerEndpoint) -> Result<serde_json::Value, DmClientError> {
            unreachable!("the queue only pushes")
        }

        async fn apply_runtime_config(
            &self,
            _: &DecisionMakerEndpoint,
            _: &gthulhu_domain::runtime_config::RuntimeSchedulerConfig,
        ) -> Result<(), DmClientError> {
            unreachable!("the queue only pushes")
        }

        async fn runtime_config(
            &self,
            _: &DecisionMakerEndpoint,
        ) -> Result<gthulhu_domain::runtime_config::RuntimeStatus, DmClientError> {
            unreachable!("the queue only pushes")
        }
    }

    /// A queue over one Online DM per node of `nodes`.
    fn queue(nodes: &[&str], slow: &'static str) -> (Arc<PushQueue>, Arc<Semaphore>, Arc<Mutex<Vec<String>>>) {
        let mut repo = MockRepository::new();
        repo.expect_list_intents_by_node()
            .returning(|node| Ok(vec![stored_intent("p", node, &[])]));
        repo.expect_set_intent_state().returning(|_, _| Ok(()));
        let mut k8s = MockK8sAdapter::new();
        let endpoints: Vec<_> = nodes
            .iter()
            .map(|n| dm(n, &format!("dm-{n}"), DmState::Online))
            .collect();
        k8s.expect_list_decision_makers()
            .returning(move || Ok(endpoints.clone()));
        let gate = Arc::new(Semaphore::new(0));
        let pushed = Arc::new(Mutex::new(Vec::new()));
        let dms = GatedDms {
            slow,
            gate: gate.clone(),
            pushed: pushed.clone(),
        };
        let pusher = Arc::new(NodePusher::new(
            Arc::new(repo),
            Arc::new(k8s),
            Arc::new(dms),
            Arc::default(),
            DeliverySettings::default(),
        ));
        (PushQueue::new(pusher), gate, pushed)
    }

    #[tokio::test]
    async fn a_stuck_node_holds_up_neither_the_caller_nor_other_nodes() {
        let (queue, gate, pushed) = queue(&["n1", "n2"], "n1");
        tokio::time::timeout(Duration::from_secs(5), queue.enqueue(&names(&["n1", "n2", ""])))
            .await
            .expect("enqueue waits for no push");
        tokio::time::timeout(Duration::from_secs(5), async {
            while !pushed.lock().unwrap().contains(&"n2".to_string()) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("n2 pushed while n1 is stuck");

        // Asked for three more times while stuck: one more push follows.
        for _ in 0..3 {
            queue.enqueue(&names(&["n1"])).await;
        }
        gate.add_permits(2);
        tokio::time::timeout(Duration::from_secs(5), queue.drained())
            .await
            .expect("drained");
        let pushed = pushed.lock().unwrap().clone();
        assert_eq!(pushed, ["n2", "n1", "n1"]);
    }
}
