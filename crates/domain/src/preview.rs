//! `POST /api/v1/intents/preview` (targeting.md 11.6, ours): how a
//! hypothetical pair of sets would resolve on this node, task by task,
//! without installing anything.

use serde::{Deserialize, Serialize};

use crate::{ConflictCounts, Intent, NodeIntent};

/// A pod intent of the hypothetical set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct PreviewIntent {
    #[serde(flatten)]
    pub intent: Intent,
    /// Echoed back, at most 128 bytes.
    #[serde(rename = "ref", default)]
    pub reference: String,
    /// Listed in `candidates` with its tasks.
    #[serde(default)]
    pub candidate: bool,
}

/// A node intent of the hypothetical set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct PreviewNodeIntent {
    #[serde(flatten)]
    pub intent: NodeIntent,
    #[serde(rename = "ref", default)]
    pub reference: String,
    #[serde(default)]
    pub candidate: bool,
}

fn default_max_tasks() -> i64 {
    50
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PreviewRequest {
    #[serde(default)]
    pub intents: Option<Vec<PreviewIntent>>,
    #[serde(rename = "nodeIntents", default)]
    pub node_intents: Option<Vec<PreviewNodeIntent>>,
    #[serde(rename = "maxTasks", default = "default_max_tasks")]
    pub max_tasks: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PreviewKind {
    Pod,
    Node,
    Legacy,
}

/// One intent that claims a task: the winner, or an overlap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewClaim {
    #[serde(rename = "ref")]
    pub reference: String,
    pub kind: PreviewKind,
    pub priority: i64,
    pub execution_time: i64,
}

/// Why a task gets the entry it gets (or none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PreviewReason {
    OnlyMatch,
    PodBeatsNode,
    PodBeatsLegacy,
    NodeBeatsLegacy,
    LastByMerkleKey,
    NoMatch,
    ExcludedPause,
    ExcludedPid,
    IntentExpired,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewTask {
    pub pid: u32,
    pub tgid: u32,
    pub comm: String,
    /// `""` for a host process outside any pod.
    #[serde(rename = "podID")]
    pub pod_id: String,
    pub matches: bool,
    pub winner: Option<PreviewClaim>,
    pub reason: PreviewReason,
    pub overlaps: Vec<PreviewClaim>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewCandidate {
    #[serde(rename = "ref")]
    pub reference: String,
    pub kind: PreviewKind,
    /// Pod candidates only.
    #[serde(rename = "podID", skip_serializing_if = "Option::is_none")]
    pub pod_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_found: Option<bool>,
    pub expired: bool,
    pub task_count: usize,
    pub matching_task_count: usize,
    pub winning_task_count: usize,
    pub truncated: bool,
    pub tasks: Vec<PreviewTask>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewReport {
    pub generated_at: String,
    /// `periodic`, `oneOff` or `off` (no table needed).
    pub host_table: &'static str,
    pub candidates: Vec<PreviewCandidate>,
    pub conflicts: ConflictCounts,
}
