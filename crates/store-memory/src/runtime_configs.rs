//! Desired scheduler runtime configurations (sessions-and-runtime.md 15.1),
//! keyed by node name so listing comes back sorted by it.

use std::collections::BTreeMap;

use gthulhu_domain::manager::{NodeRuntimeConfig, RepoError, RepoResult, RuntimeApplyResult};

#[derive(Debug, Default)]
pub struct RuntimeConfigs {
    by_node: BTreeMap<String, NodeRuntimeConfig>,
}

impl RuntimeConfigs {
    /// A replaced record keeps the id it was first stored with.
    pub fn upsert(&mut self, record: &NodeRuntimeConfig) {
        let mut record = record.clone();
        if let Some(stored) = self.by_node.get(&record.node_id) {
            record.id = stored.id.clone();
        }
        self.by_node.insert(record.node_id.clone(), record);
    }

    pub fn get(&self, node_id: &str) -> RepoResult<NodeRuntimeConfig> {
        self.by_node.get(node_id).cloned().ok_or(RepoError::NotFound)
    }

    pub fn list(&self) -> Vec<NodeRuntimeConfig> {
        self.by_node.values().cloned().collect()
    }

    pub fn delete(&mut self, node_ids: &[String]) -> u64 {
        let removed = node_ids.iter().filter(|node| self.by_node.remove(*node).is_some());
        removed.count() as u64
    }

    pub fn record_apply(
        &mut self,
        node_id: &str,
        result: &RuntimeApplyResult,
        reapply_count: i32,
        reapply_pod: Option<String>,
    ) -> RepoResult<()> {
        let stored = self.by_node.get_mut(node_id).ok_or(RepoError::NotFound)?;
        stored.last_apply_result = Some(result.clone());
        stored.reapply_count = reapply_count;
        stored.reapply_pod = reapply_pod;
        Ok(())
    }
}
