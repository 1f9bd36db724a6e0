//! The full pass: step 1 refreshes the intents of every strategy, step 2
//! compares each Online DM's Merkle root with the expected one, step 3
//! checks the nodes' runtime configs.

use super::changes::{Changes, refresh};
use super::{PassError, PassOutcome, PassReport, Reconciler, SkipReason, finish};
use crate::delivery::{callable, merkle_ordered};
use crate::strategies::intent_pods;
use futures::StreamExt;
use gthulhu_domain::manager::{IntentState, K8sError, ObjectId, ScheduleIntent, now_ms};
use gthulhu_domain::merkle;
use std::collections::HashMap;
use tokio::time::Instant;

impl Reconciler {
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
        self.runtime.reconcile().await;
        finish("reconcile pass", started, report, result)
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
}
