//! Desired scheduler runtime configurations (sessions-and-runtime.md
//! 15.1): collection and table `node_runtime_configs`, one per node.

use gthulhu_domain::manager::{NodeRuntimeConfig, ObjectId, RuntimeApplyResult};
use gthulhu_domain::runtime_config::RuntimeSchedulerConfig;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeConfigDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub node_id: String,
    /// A copy of `config.configVersion` at the top level, as upstream
    /// stores it; reads take the one in `config`.
    pub config_version: String,
    /// Every key of the object, camelCase: the type serialises them all,
    /// `false` and 0 included.
    pub config: RuntimeSchedulerConfig,
    pub updated_by: ObjectId,
    pub updated_at: i64,
    /// `{success, error, at}` or null.
    #[serde(default)]
    pub last_apply_result: Option<RuntimeApplyResult>,
    #[serde(default)]
    pub reapply_count: i32,
    #[serde(default)]
    pub reapply_pod: Option<String>,
}

impl From<&NodeRuntimeConfig> for RuntimeConfigDoc {
    fn from(r: &NodeRuntimeConfig) -> Self {
        Self {
            id: r.id.clone(),
            node_id: r.node_id.clone(),
            config_version: r.config.config_version.clone(),
            config: r.config.clone(),
            updated_by: r.updated_by.clone(),
            updated_at: r.updated_at,
            last_apply_result: r.last_apply_result.clone(),
            reapply_count: r.reapply_count,
            reapply_pod: r.reapply_pod.clone(),
        }
    }
}

impl From<RuntimeConfigDoc> for NodeRuntimeConfig {
    fn from(d: RuntimeConfigDoc) -> Self {
        Self {
            id: d.id,
            node_id: d.node_id,
            config: d.config,
            updated_by: d.updated_by,
            updated_at: d.updated_at,
            last_apply_result: d.last_apply_result,
            reapply_count: d.reapply_count,
            reapply_pod: d.reapply_pod,
        }
    }
}
