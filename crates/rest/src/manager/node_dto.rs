//! Bodies of the nodes routes (manager.md 10) and of the scheduler
//! runtime-config routes (sessions-and-runtime.md 14, 15.4).

use gthulhu_domain::manager::{NodeOverview, NodePodsPids, NodeStatus, PushResult, RuntimeDrift, RuntimeNodeResult};
use gthulhu_domain::null_as_empty;
use gthulhu_domain::runtime_config::RuntimeSchedulerConfig;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::envelope::rfc3339;

fn at(ms: i64) -> String {
    rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64))
}

/// A node, with what the Manager knows about applying intents to it (the
/// fields after `status` are additions to upstream's `{name,status}`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeItem {
    #[schema(example = "kind-worker")]
    name: String,
    /// From the node's `Ready` condition: `Ready`, `NotReady` or `Unknown`.
    #[schema(example = "Ready")]
    status: String,
    /// When this Manager last pushed the node's intent set; `null` if never.
    #[schema(example = "2026-03-10T08:00:00Z")]
    last_push_time: Option<String>,
    /// `delivered`, `noDecisionMaker` or `failed`; `null` if never pushed.
    #[schema(example = "delivered")]
    last_push_result: Option<String>,
    /// Why the last push failed.
    last_push_error: Option<String>,
    /// Merkle root of the node's stored intents at the last push or check.
    expected_root: Option<String>,
    /// Merkle root a DM on the node reported at the last reconcile check.
    observed_root: Option<String>,
    /// The node's stored intents at the last push or check.
    intents: Option<usize>,
    /// The reconciler's last check of the node's scheduler runtime config;
    /// `null` without a desired config or before the first check.
    runtime_config: Option<RuntimeConfigCheck>,
}

impl From<NodeOverview> for NodeItem {
    fn from(n: NodeOverview) -> Self {
        let status = match n.node.status {
            NodeStatus::Ready => "Ready",
            NodeStatus::NotReady => "NotReady",
            NodeStatus::Unknown => "Unknown",
        };
        let (result, error) = match n.apply.last_push {
            None => (None, None),
            Some(PushResult::Delivered) => (Some("delivered"), None),
            Some(PushResult::NoDecisionMaker) => (Some("noDecisionMaker"), None),
            Some(PushResult::Failed(e)) => (Some("failed"), Some(e)),
        };
        Self {
            name: n.node.name,
            status: status.into(),
            last_push_time: n.apply.last_push_ms.map(at),
            last_push_result: result.map(String::from),
            last_push_error: error,
            expected_root: n.apply.expected_root,
            observed_root: n.apply.observed_root,
            intents: n.apply.intents,
            runtime_config: n.apply.runtime.map(Into::into),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct NodesData {
    pub nodes: Vec<NodeItem>,
}

/// The node DM's pod → process map (snake_case keys, as the DM sends them).
#[derive(Serialize, ToSchema)]
pub(crate) struct NodePodsPidsData {
    /// The DM's items as received: `pod_uid`, `processes[].pid/command/ppid/container_id`, …
    #[schema(value_type = Vec<Object>)]
    pods: Vec<Value>,
    /// The DM's.
    #[schema(example = "2026-03-10T08:00:00Z")]
    timestamp: String,
    /// The DM's.
    #[schema(example = "kind-worker")]
    node_name: String,
    /// The DM's if set, else the requested node.
    #[schema(example = "kind-worker")]
    node_id: String,
}

impl From<NodePodsPids> for NodePodsPidsData {
    fn from(p: NodePodsPids) -> Self {
        Self {
            pods: p.pods,
            timestamp: p.timestamp,
            node_name: p.node_name,
            node_id: p.node_id,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RuntimeConfigCheck {
    #[schema(example = "2026-03-10T08:00:00.000Z")]
    desired_version: String,
    drift: bool,
    #[schema(example = "2026-03-10T08:00:30Z")]
    checked_at: String,
    /// e.g. `re-apply stopped after 3 attempts`, `decision maker is offline`.
    error: Option<String>,
}

impl From<RuntimeDrift> for RuntimeConfigCheck {
    fn from(d: RuntimeDrift) -> Self {
        Self {
            desired_version: d.desired_version,
            drift: d.drift,
            checked_at: at(d.checked_at_ms),
            error: d.error,
        }
    }
}

/// The scheduler's runtime configuration (sessions-and-runtime.md 13);
/// every key is always sent to the DMs, booleans included. Missing keys
/// are empty, 0 or `false`.
#[derive(Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct RuntimeConfigBody {
    /// 1-128 printable ASCII characters; the daemon no-ops on a version it
    /// already applied.
    #[schema(example = "2026-03-10T08:00:00.000Z", min_length = 1, max_length = 128)]
    config_version: String,
    /// `none`, `gthulhu`, `simple` or `scx`; empty = `gthulhu` when
    /// `schedulerEnabled`, else `none`.
    #[schema(example = "gthulhu")]
    mode: String,
    /// For `scx` only: one of the daemon's 17 sched_ext schedulers.
    #[schema(example = "")]
    scheduler_name: String,
    /// Nanoseconds, at most 1,000,000,000; 0 = keep the daemon's value.
    #[schema(example = 20_000_000, maximum = 1_000_000_000)]
    slice_ns_default: u64,
    /// Nanoseconds, at most `sliceNsDefault` when both are set; 0 = keep.
    #[schema(example = 0, maximum = 1_000_000_000)]
    slice_ns_min: u64,
    kernel_mode: bool,
    max_time_watchdog: bool,
    early_processing: bool,
    builtin_idle: bool,
    /// Derived from `mode` (normalisation).
    scheduler_enabled: bool,
    monitoring_enabled: bool,
}

impl From<RuntimeConfigBody> for RuntimeSchedulerConfig {
    fn from(b: RuntimeConfigBody) -> Self {
        Self {
            config_version: b.config_version,
            mode: b.mode,
            scheduler_name: b.scheduler_name,
            slice_ns_default: b.slice_ns_default,
            slice_ns_min: b.slice_ns_min,
            kernel_mode: b.kernel_mode,
            max_time_watchdog: b.max_time_watchdog,
            early_processing: b.early_processing,
            builtin_idle: b.builtin_idle,
            scheduler_enabled: b.scheduler_enabled,
            monitoring_enabled: b.monitoring_enabled,
        }
    }
}

impl From<RuntimeSchedulerConfig> for RuntimeConfigBody {
    fn from(c: RuntimeSchedulerConfig) -> Self {
        Self {
            config_version: c.config_version,
            mode: c.mode,
            scheduler_name: c.scheduler_name,
            slice_ns_default: c.slice_ns_default,
            slice_ns_min: c.slice_ns_min,
            kernel_mode: c.kernel_mode,
            max_time_watchdog: c.max_time_watchdog,
            early_processing: c.early_processing,
            builtin_idle: c.builtin_idle,
            scheduler_enabled: c.scheduler_enabled,
            monitoring_enabled: c.monitoring_enabled,
        }
    }
}

/// `POST /api/v1/scheduler/runtime-config/apply`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RuntimeApplyRequest {
    /// Node names; empty or absent = every node with a Decision Maker pod.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schema(example = json!(["kind-worker"]), max_items = 5000)]
    pub node_ids: Vec<String>,
    /// Required.
    #[serde(default)]
    pub config: Option<RuntimeConfigBody>,
}

/// `DELETE /api/v1/scheduler/runtime-config`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RuntimeDeleteRequest {
    /// At least one node name.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schema(example = json!(["kind-worker"]), min_items = 1, max_items = 5000)]
    pub node_ids: Vec<String>,
}

/// One Decision Maker pod's row (or one row for a node without a DM);
/// every key is always present, `null` when unknown.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RuntimeResultItem {
    #[schema(example = "kind-worker")]
    node_id: String,
    /// The DM's pod IP.
    #[schema(example = "10.244.1.5")]
    host: Option<String>,
    success: bool,
    /// e.g. `decision maker is offline`, `scheduler daemon unavailable`.
    error: Option<String>,
    config_version: Option<String>,
    #[schema(example = "2026-03-10T08:00:01Z")]
    applied_at: Option<String>,
    restart_count: Option<u64>,
    last_error: Option<String>,
    /// What the DM reports the daemon runs.
    config: Option<RuntimeConfigBody>,
    /// The stored desired config of the node.
    desired_config: Option<RuntimeConfigBody>,
    drift: bool,
}

impl From<RuntimeNodeResult> for RuntimeResultItem {
    fn from(r: RuntimeNodeResult) -> Self {
        Self {
            node_id: r.node_id,
            host: r.host,
            success: r.success,
            error: r.error,
            config_version: r.config_version,
            applied_at: r.applied_at,
            restart_count: r.restart_count,
            last_error: r.last_error,
            config: r.config.map(Into::into),
            desired_config: r.desired_config.map(Into::into),
            drift: r.drift,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct RuntimeResultsData {
    pub results: Vec<RuntimeResultItem>,
}

/// `GET /api/v1/scheduler/runtime-config/status` filter.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct RuntimeStatusParams {
    /// Comma-separated node names; absent or empty = every node with a
    /// Decision Maker pod or a desired config.
    #[param(example = "kind-worker,kind-worker2")]
    pub node_ids: Option<String>,
}
