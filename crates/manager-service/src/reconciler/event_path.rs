//! The event path: pod events from the cache, batched, recompute only
//! the intents of the pods that changed and queue pushes of their nodes.

use super::changes::{Changes, refresh};
use super::{PassError, PassOutcome, PassReport, Reconciler, finish};
use gthulhu_domain::manager::{PodEvent, PodInfo, now_ms};
use std::collections::{BTreeSet, HashMap};
use tokio::time::Instant;

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

impl Reconciler {
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
}
