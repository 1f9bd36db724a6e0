//! Desired scheduler runtime configurations, one per node
//! (sessions-and-runtime.md 15.1).

use serde::{Deserialize, Serialize};

use super::{Caller, ObjectId, ServiceResult};
use crate::runtime_config::RuntimeSchedulerConfig;

/// How many consecutive re-applies of one version to one DM pod the
/// reconciler makes before it gives up (15.4).
pub const MAX_REAPPLIES: i32 = 3;

/// The outcome of the last apply to a node, by an operator or the reconciler.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeApplyResult {
    pub success: bool,
    pub error: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
}

/// A node's desired configuration (the `node_runtime_configs` record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRuntimeConfig {
    pub id: ObjectId,
    /// Node name; unique.
    pub node_id: String,
    /// Normalised and valid.
    pub config: RuntimeSchedulerConfig,
    pub updated_by: ObjectId,
    pub updated_at: i64,
    pub last_apply_result: Option<RuntimeApplyResult>,
    /// Consecutive re-applies of this version by the reconciler.
    pub reapply_count: i32,
    /// UID of the DM pod `reapply_count` refers to.
    pub reapply_pod: Option<String>,
}

/// One DM pod's (or one DM-less node's) row of the apply and status
/// answers (14.2, 14.3). `None` is unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeNodeResult {
    pub node_id: String,
    /// The DM's pod IP; `None` for a node without a DM.
    pub host: Option<String>,
    pub success: bool,
    pub error: Option<String>,
    pub config_version: Option<String>,
    pub applied_at: Option<String>,
    pub restart_count: Option<u64>,
    pub last_error: Option<String>,
    /// The actual config, when the DM reported one.
    pub config: Option<RuntimeSchedulerConfig>,
    pub desired_config: Option<RuntimeSchedulerConfig>,
    pub drift: bool,
}

/// The reconciler's last runtime-config check of a node (15.4), shown by
/// `GET /api/v1/nodes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeDrift {
    pub desired_version: String,
    pub drift: bool,
    /// Milliseconds since the Unix epoch.
    pub checked_at_ms: i64,
    pub error: Option<String>,
}

/// The Manager's scheduler runtime-config routes (14). Node names are
/// validated here; an empty list means "every node" as each route defines.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait::async_trait]
pub trait SchedulerConfigService: Send + Sync {
    async fn apply_runtime_config(
        &self,
        caller: &Caller,
        node_ids: &[String],
        config: RuntimeSchedulerConfig,
    ) -> ServiceResult<Vec<RuntimeNodeResult>>;
    async fn runtime_config_status(
        &self,
        caller: &Caller,
        node_ids: &[String],
    ) -> ServiceResult<Vec<RuntimeNodeResult>>;
    async fn delete_runtime_configs(&self, caller: &Caller, node_ids: &[String]) -> ServiceResult<()>;
}
