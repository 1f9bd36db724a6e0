//! Scheduler runtime configuration (sessions-and-runtime.md Part B, the
//! Manager's side): operators' applies, status and deletes through every
//! node's Decision Makers, the desired config per node in storage, drift,
//! and the reconciler's step that re-applies only on drift, at most
//! `MAX_REAPPLIES` times per version and DM pod.
//!
//! One operation per node at a time: an apply, a status read and the
//! reconciler's step on the same node never interleave (20).

mod operations;
mod reconcile;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use gthulhu_domain::manager::{
    DecisionMakerAdapter, DecisionMakerEndpoint, K8sAdapter, K8sError, Repository, RuntimeNodeResult, ServiceError,
};
use gthulhu_domain::runtime_config::{RuntimeSchedulerConfig, RuntimeStatus};

use crate::node_status::NodeStatusBoard;
use crate::nodes::kubernetes_unavailable;

pub(crate) const NOT_DISCOVERED: &str = "decision maker is not discovered";
pub(crate) const OFFLINE: &str = "decision maker is offline";
pub(crate) const REAPPLY_STOPPED: &str = "re-apply stopped after 3 attempts";

pub struct RuntimeConfigs {
    repo: Arc<dyn Repository>,
    k8s: Arc<dyn K8sAdapter>,
    dms: Arc<dyn DecisionMakerAdapter>,
    board: Arc<NodeStatusBoard>,
    /// Nodes handled at once (`reconciler.max_concurrent_pushes`).
    max_concurrent: usize,
    locks: NodeLocks,
    /// (node, version, DM pod) already warned about, so a config that keeps
    /// drifting logs once rather than every pass.
    warned: Mutex<HashSet<(String, String, String)>>,
}

impl RuntimeConfigs {
    pub fn new(
        repo: Arc<dyn Repository>,
        k8s: Arc<dyn K8sAdapter>,
        dms: Arc<dyn DecisionMakerAdapter>,
        board: Arc<NodeStatusBoard>,
        max_concurrent: usize,
    ) -> Self {
        Self {
            repo,
            k8s,
            dms,
            board,
            max_concurrent: max_concurrent.max(1),
            locks: NodeLocks::default(),
            warned: Mutex::new(HashSet::new()),
        }
    }

    /// Every DM pod by node name; a cluster-less Manager has none.
    async fn dms_by_node(&self) -> Result<HashMap<String, Vec<DecisionMakerEndpoint>>, ServiceError> {
        let all = match self.k8s.list_decision_makers().await {
            Ok(all) => all,
            Err(K8sError::NotConfigured(_)) => vec![],
            Err(e) => return Err(kubernetes_unavailable(e)),
        };
        let mut by_node: HashMap<String, Vec<DecisionMakerEndpoint>> = HashMap::new();
        for dm in all {
            by_node.entry(dm.node_name.clone()).or_default().push(dm);
        }
        for dms in by_node.values_mut() {
            dms.sort_by(|a, b| a.host.cmp(&b.host).then_with(|| a.pod_name.cmp(&b.pod_name)));
        }
        Ok(by_node)
    }
}

/// One async mutex per node, dropped when nobody holds or waits for it.
#[derive(Default)]
struct NodeLocks {
    nodes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl NodeLocks {
    async fn lock(&self, node: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
            nodes.retain(|_, lock| Arc::strong_count(lock) > 1);
            nodes.entry(node.to_string()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// 15.3: a node with a desired config drifts unless a DM reports that very
/// version applied with the same content.
pub(crate) fn drifts(desired: Option<&RuntimeSchedulerConfig>, actual: Option<&RuntimeStatus>) -> bool {
    match (desired, actual) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(desired), Some(actual)) => {
            !actual.applied
                || !actual.config_available
                || actual.config.config_version != desired.config_version
                || !desired.content_matches(&actual.config)
        }
    }
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

/// A row without a DM answer.
pub(crate) fn unanswered(
    node: &str,
    host: Option<&str>,
    error: String,
    desired: Option<&RuntimeSchedulerConfig>,
) -> RuntimeNodeResult {
    RuntimeNodeResult {
        node_id: node.to_string(),
        host: host.map(str::to_string),
        success: false,
        error: Some(error),
        desired_config: desired.cloned(),
        drift: drifts(desired, None),
        ..RuntimeNodeResult::default()
    }
}

/// A row from a DM's status answer (14.3).
pub(crate) fn observed(
    dm: &DecisionMakerEndpoint,
    status: &RuntimeStatus,
    desired: Option<&RuntimeSchedulerConfig>,
) -> RuntimeNodeResult {
    let error = match non_empty(&status.last_error) {
        Some(error) => Some(error),
        None if !status.applied => Some("runtime config not applied yet".into()),
        None => None,
    };
    RuntimeNodeResult {
        node_id: dm.node_name.clone(),
        host: Some(dm.host.clone()),
        success: status.applied,
        error,
        config_version: Some(status.config.config_version.clone()),
        applied_at: non_empty(&status.applied_at),
        restart_count: Some(status.restart_count),
        last_error: non_empty(&status.last_error),
        config: status.config_available.then(|| status.config.clone()),
        desired_config: desired.cloned(),
        drift: drifts(desired, Some(status)),
    }
}
