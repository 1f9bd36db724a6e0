//! The operator's routes (14.2 to 14.4).

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use futures::StreamExt;
use gthulhu_domain::manager::{
    Caller, DecisionMakerEndpoint, NodeRuntimeConfig, ObjectId, RepoError, RuntimeApplyResult, RuntimeDrift,
    RuntimeNodeResult, SchedulerConfigService, ServiceError, ServiceResult, now_ms,
};
use gthulhu_domain::runtime_config::RuntimeSchedulerConfig;

use super::{NOT_DISCOVERED, OFFLINE, RuntimeConfigs, observed, unanswered};
use crate::ManagerServices;
use crate::delivery::is_callable;
use crate::validation::is_dns1123_subdomain;

/// At most this many nodes per request.
const MAX_NODES: usize = 5000;

fn validate_nodes(node_ids: &[String]) -> ServiceResult<()> {
    if node_ids.len() > MAX_NODES {
        return Err(ServiceError::Validation(format!("nodeIds: at most {MAX_NODES} nodes")));
    }
    match node_ids.iter().position(|n| !is_dns1123_subdomain(n)) {
        Some(i) => Err(ServiceError::Validation(format!(
            "nodeIds[{i}]: invalid node name \"{}\"",
            node_ids[i]
        ))),
        None => Ok(()),
    }
}

fn sorted(mut results: Vec<RuntimeNodeResult>) -> Vec<RuntimeNodeResult> {
    results.sort_by(|a, b| a.node_id.cmp(&b.node_id).then_with(|| a.host.cmp(&b.host)));
    results
}

/// The node's drift for the status board: any row drifting drifts the node.
fn board_entry(version: &str, rows: &[RuntimeNodeResult]) -> RuntimeDrift {
    RuntimeDrift {
        desired_version: version.to_string(),
        drift: rows.iter().any(|r| r.drift),
        checked_at_ms: now_ms(),
        error: rows.iter().find_map(|r| r.error.clone()),
    }
}

impl RuntimeConfigs {
    pub(crate) async fn apply(
        &self,
        caller: &ObjectId,
        node_ids: &[String],
        config: RuntimeSchedulerConfig,
    ) -> ServiceResult<Vec<RuntimeNodeResult>> {
        validate_nodes(node_ids)?;
        let config = config.normalized();
        config.validate("config.").map_err(ServiceError::Validation)?;
        let mut dms = self.dms_by_node().await?;
        let targets: BTreeSet<String> = if node_ids.is_empty() {
            if dms.is_empty() {
                return Err(ServiceError::NotFound("no decision maker pods found".into()));
            }
            dms.keys().cloned().collect()
        } else {
            node_ids.iter().cloned().collect()
        };
        // All or nothing: a reused version is refused before any node changes.
        for node in &targets {
            match self.repo.get_runtime_config(node).await {
                Ok(stored) if stored.config.config_version == config.config_version && stored.config != config => {
                    return Err(ServiceError::Conflict(format!(
                        "configVersion \"{}\" is already used on node {node} with different content",
                        config.config_version
                    )));
                }
                Ok(_) | Err(RepoError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let work = targets.into_iter().map(|node| {
            let on_node = dms.remove(&node).unwrap_or_default();
            self.apply_node(caller, node, on_node, &config)
        });
        let mut results = Vec::new();
        let mut rows = futures::stream::iter(work).buffer_unordered(self.max_concurrent);
        while let Some(node_rows) = rows.next().await {
            results.extend(node_rows?);
        }
        Ok(sorted(results))
    }

    async fn apply_node(
        &self,
        caller: &ObjectId,
        node: String,
        dms: Vec<DecisionMakerEndpoint>,
        config: &RuntimeSchedulerConfig,
    ) -> ServiceResult<Vec<RuntimeNodeResult>> {
        let _node = self.locks.lock(&node).await;
        let record = NodeRuntimeConfig {
            id: ObjectId::new(),
            node_id: node.clone(),
            config: config.clone(),
            updated_by: caller.clone(),
            updated_at: now_ms(),
            last_apply_result: None,
            reapply_count: 0,
            reapply_pod: None,
        };
        self.repo.upsert_runtime_config(&record).await?;
        let desired = Some(config);
        let mut rows = Vec::new();
        if dms.is_empty() {
            rows.push(unanswered(&node, None, NOT_DISCOVERED.into(), desired));
        }
        for dm in &dms {
            if !is_callable(dm) {
                rows.push(unanswered(&node, Some(&dm.host), OFFLINE.into(), desired));
                continue;
            }
            let row = match self.dms.apply_runtime_config(dm, config).await {
                Err(e) => unanswered(&node, Some(&dm.host), e.to_string(), desired),
                Ok(()) => match self.dms.runtime_config(dm).await {
                    Ok(status) => RuntimeNodeResult {
                        success: true,
                        error: None,
                        ..observed(dm, &status, desired)
                    },
                    Err(e) => {
                        tracing::warn!(node, dm = %dm.pod_name, error = %e, "reading the applied runtime config failed");
                        RuntimeNodeResult {
                            success: true,
                            error: None,
                            ..unanswered(&node, Some(&dm.host), String::new(), desired)
                        }
                    }
                },
            };
            rows.push(row);
        }
        let result = RuntimeApplyResult {
            success: rows.iter().all(|r| r.success),
            error: rows.iter().find_map(|r| r.error.clone()),
            at: now_ms(),
        };
        // The record may have been deleted meanwhile by another replica.
        match self.repo.record_runtime_apply(&node, &result, 0, None).await {
            Ok(()) | Err(RepoError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        self.board
            .record_runtime(&node, board_entry(&config.config_version, &rows));
        Ok(rows)
    }

    pub(crate) async fn status(&self, node_ids: &[String]) -> ServiceResult<Vec<RuntimeNodeResult>> {
        validate_nodes(node_ids)?;
        let mut dms = self.dms_by_node().await?;
        let mut desired: HashMap<String, RuntimeSchedulerConfig> = HashMap::new();
        if node_ids.is_empty() {
            for record in self.repo.list_runtime_configs().await? {
                desired.insert(record.node_id, record.config);
            }
        } else {
            for node in node_ids {
                match self.repo.get_runtime_config(node).await {
                    Ok(record) => {
                        desired.insert(record.node_id, record.config);
                    }
                    Err(RepoError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let targets: BTreeSet<String> = if node_ids.is_empty() {
            dms.keys().chain(desired.keys()).cloned().collect()
        } else {
            node_ids.iter().cloned().collect()
        };
        let work = targets.into_iter().map(|node| {
            let on_node = dms.remove(&node).unwrap_or_default();
            let wanted = desired.remove(&node);
            async move { self.status_node(node, on_node, wanted).await }
        });
        let rows: Vec<Vec<RuntimeNodeResult>> = futures::stream::iter(work)
            .buffer_unordered(self.max_concurrent)
            .collect()
            .await;
        Ok(sorted(rows.into_iter().flatten().collect()))
    }

    async fn status_node(
        &self,
        node: String,
        dms: Vec<DecisionMakerEndpoint>,
        desired: Option<RuntimeSchedulerConfig>,
    ) -> Vec<RuntimeNodeResult> {
        let _node = self.locks.lock(&node).await;
        let desired = desired.as_ref();
        if dms.is_empty() {
            return vec![unanswered(&node, None, NOT_DISCOVERED.into(), desired)];
        }
        let mut rows = Vec::new();
        for dm in &dms {
            let row = if !is_callable(dm) {
                unanswered(&node, Some(&dm.host), OFFLINE.into(), desired)
            } else {
                match self.dms.runtime_config(dm).await {
                    Ok(status) => observed(dm, &status, desired),
                    Err(e) => unanswered(&node, Some(&dm.host), e.to_string(), desired),
                }
            };
            rows.push(row);
        }
        if let Some(desired) = desired {
            self.board
                .record_runtime(&node, board_entry(&desired.config_version, &rows));
        }
        rows
    }

    pub(crate) async fn delete(&self, node_ids: &[String]) -> ServiceResult<()> {
        if node_ids.is_empty() {
            return Err(ServiceError::Validation(
                "nodeIds: at least one node is required".into(),
            ));
        }
        validate_nodes(node_ids)?;
        for node in node_ids {
            let _node = self.locks.lock(node).await;
            self.repo.delete_runtime_configs(std::slice::from_ref(node)).await?;
            self.board.clear_runtime(node);
        }
        Ok(())
    }
}

#[async_trait]
impl SchedulerConfigService for ManagerServices {
    async fn apply_runtime_config(
        &self,
        caller: &Caller,
        node_ids: &[String],
        config: RuntimeSchedulerConfig,
    ) -> ServiceResult<Vec<RuntimeNodeResult>> {
        self.runtime.apply(&caller.user.id, node_ids, config).await
    }

    async fn runtime_config_status(
        &self,
        _caller: &Caller,
        node_ids: &[String],
    ) -> ServiceResult<Vec<RuntimeNodeResult>> {
        self.runtime.status(node_ids).await
    }

    async fn delete_runtime_configs(&self, _caller: &Caller, node_ids: &[String]) -> ServiceResult<()> {
        self.runtime.delete(node_ids).await
    }
}
