//! The reconciler's runtime-config step (15.4): one status GET per Online
//! DM per pass, a POST only on drift, at most `MAX_REAPPLIES` per version
//! and DM pod.

use futures::StreamExt;
use gthulhu_domain::manager::{
    DecisionMakerEndpoint, MAX_REAPPLIES, NodeRuntimeConfig, RepoError, RuntimeApplyResult, RuntimeDrift, now_ms,
};

use super::{NOT_DISCOVERED, OFFLINE, REAPPLY_STOPPED, RuntimeConfigs, drifts};
use crate::delivery::is_callable;

/// What one node's check found and changed.
struct NodeCheck {
    drift: bool,
    error: Option<String>,
    reapply_count: i32,
    reapply_pod: Option<String>,
    /// Set when something must be written back.
    result: Option<RuntimeApplyResult>,
    changed: bool,
}

impl RuntimeConfigs {
    /// Checks every node with a desired config; failures are logged and
    /// recorded, never fatal to the pass.
    pub(crate) async fn reconcile(&self) {
        let records = match self.repo.list_runtime_configs().await {
            Ok(records) if records.is_empty() => return,
            Ok(records) => records,
            Err(error) => {
                tracing::warn!(%error, "reading desired runtime configs failed; the next pass retries");
                return;
            }
        };
        let mut dms = match self.dms_by_node().await {
            Ok(dms) => dms,
            Err(error) => {
                tracing::warn!(%error, "listing decision makers failed; runtime configs are checked next pass");
                return;
            }
        };
        let work = records.into_iter().map(|record| {
            let on_node = dms.remove(&record.node_id).unwrap_or_default();
            self.reconcile_node(record.node_id, on_node)
        });
        futures::stream::iter(work)
            .buffer_unordered(self.max_concurrent)
            .collect::<Vec<()>>()
            .await;
    }

    async fn reconcile_node(&self, node: String, dms: Vec<DecisionMakerEndpoint>) {
        let _node = self.locks.lock(&node).await;
        // Read again under the lock: an apply or a delete may have won it.
        let record = match self.repo.get_runtime_config(&node).await {
            Ok(record) => record,
            Err(RepoError::NotFound) => return,
            Err(error) => {
                tracing::warn!(node, %error, "reading the desired runtime config failed");
                return;
            }
        };
        let check = self.check_node(&record, &dms).await;
        // Every apply records a result, so a record whose counter changes
        // always has one to keep.
        if check.changed
            && let Some(result) = check.result.as_ref().or(record.last_apply_result.as_ref())
        {
            let written = self
                .repo
                .record_runtime_apply(&node, result, check.reapply_count, check.reapply_pod.clone())
                .await;
            if let Err(error) = written {
                tracing::warn!(node, %error, "recording the runtime config check failed");
            }
        }
        self.board.record_runtime(
            &node,
            RuntimeDrift {
                desired_version: record.config.config_version.clone(),
                drift: check.drift,
                checked_at_ms: now_ms(),
                error: check.error,
            },
        );
    }

    async fn check_node(&self, record: &NodeRuntimeConfig, dms: &[DecisionMakerEndpoint]) -> NodeCheck {
        let node = &record.node_id;
        let desired = &record.config;
        let mut check = NodeCheck {
            drift: false,
            error: None,
            reapply_count: record.reapply_count,
            reapply_pod: record.reapply_pod.clone(),
            result: None,
            changed: false,
        };
        let online: Vec<_> = dms.iter().filter(|dm| is_callable(dm)).collect();
        if online.is_empty() {
            check.drift = true;
            check.error = Some(if dms.is_empty() { NOT_DISCOVERED } else { OFFLINE }.into());
            return check;
        }
        for dm in online {
            let status = match self.dms.runtime_config(dm).await {
                Ok(status) => status,
                Err(error) => {
                    tracing::warn!(node, dm = %dm.pod_name, %error, "reading the runtime config failed");
                    check.drift = true;
                    check.error = Some(error.to_string());
                    continue;
                }
            };
            if !drifts(Some(desired), Some(&status)) {
                if check.reapply_count != 0 {
                    check.reapply_count = 0;
                    check.changed = true;
                }
                continue;
            }
            if check.reapply_pod.as_deref() != Some(dm.pod_uid.as_str()) {
                // A new pod: its daemon started from its bootstrap config.
                check.reapply_pod = Some(dm.pod_uid.clone());
                check.reapply_count = 0;
                check.changed = true;
            }
            if check.reapply_count >= MAX_REAPPLIES {
                check.drift = true;
                self.warn_once(node, &desired.config_version, &dm.pod_uid);
                check.error = Some(REAPPLY_STOPPED.into());
                let stopped =
                    record.last_apply_result.as_ref().and_then(|r| r.error.as_deref()) == Some(REAPPLY_STOPPED);
                if !stopped {
                    check.result = Some(failure(REAPPLY_STOPPED.into()));
                    check.changed = true;
                }
                continue;
            }
            tracing::info!(node, dm = %dm.pod_name, version = %desired.config_version, "runtime config drifted; re-applying");
            check.reapply_count += 1;
            check.changed = true;
            match self.dms.apply_runtime_config(dm, desired).await {
                Ok(()) => {
                    check.result = Some(RuntimeApplyResult {
                        success: true,
                        error: None,
                        at: now_ms(),
                    });
                    // Whether the re-apply took is seen now, not a pass later.
                    check.drift |= match self.dms.runtime_config(dm).await {
                        Ok(status) => drifts(Some(desired), Some(&status)),
                        Err(_) => true,
                    };
                }
                Err(error) => {
                    check.drift = true;
                    check.error = Some(error.to_string());
                    check.result = Some(failure(error.to_string()));
                }
            }
        }
        check
    }

    fn warn_once(&self, node: &str, version: &str, pod: &str) {
        let key = (node.to_string(), version.to_string(), pod.to_string());
        let mut warned = self.warned.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if warned.insert(key) {
            tracing::warn!("runtime config on node {node} keeps drifting; not re-applying version {version} again");
        }
    }
}

fn failure(error: String) -> RuntimeApplyResult {
    RuntimeApplyResult {
        success: false,
        error: Some(error),
        at: now_ms(),
    }
}
