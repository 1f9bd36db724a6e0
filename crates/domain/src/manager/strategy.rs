use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ObjectId;
use crate::{Intent, Selector};

/// What a user declares: pods by namespaces + labels, processes by `comm`
/// regex, and the priority and slice to give them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrategySpec {
    pub strategy_namespace: String,
    pub label_selectors: Vec<Selector>,
    /// Empty means every namespace.
    pub k8s_namespaces: Vec<String>,
    pub command_regex: String,
    pub priority: i64,
    pub execution_time: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleStrategy {
    pub id: ObjectId,
    pub spec: StrategySpec,
    pub creator_id: ObjectId,
    pub updater_id: ObjectId,
    pub created_time: i64,
    pub updated_time: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "i32", try_from = "i32")]
pub enum IntentState {
    Unknown = 0,
    /// Stored, not yet confirmed on the node's DM.
    Initialized = 1,
    /// The node's DM holds it.
    Sent = 2,
}

impl From<IntentState> for i32 {
    fn from(s: IntentState) -> i32 {
        s as i32
    }
}

impl TryFrom<i32> for IntentState {
    type Error = String;
    fn try_from(v: i32) -> Result<Self, String> {
        match v {
            0 => Ok(Self::Unknown),
            1 => Ok(Self::Initialized),
            2 => Ok(Self::Sent),
            other => Err(format!("unknown intent state {other}")),
        }
    }
}

/// One (strategy, matched pod) pair, as stored by the Manager.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleIntent {
    pub id: ObjectId,
    pub strategy_id: ObjectId,
    pub pod_id: String,
    pub pod_name: String,
    pub node_id: String,
    pub k8s_namespace: String,
    pub command_regex: String,
    pub priority: i64,
    pub execution_time: i64,
    pub pod_labels: BTreeMap<String, String>,
    pub state: IntentState,
    pub creator_id: ObjectId,
    pub updater_id: ObjectId,
    pub created_time: i64,
    pub updated_time: i64,
}

/// Intent writes derived together (one reconciler batch), applied by
/// `Repository::apply_intent_changes` in this order: delete, update, insert.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntentChanges {
    pub delete: Vec<ObjectId>,
    pub update: Vec<ScheduleIntent>,
    pub insert: Vec<ScheduleIntent>,
}

impl IntentChanges {
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty() && self.update.is_empty() && self.insert.is_empty()
    }
}

impl ScheduleIntent {
    /// What the node's DM receives (and hashes into its Merkle root).
    pub fn to_dm_intent(&self) -> Intent {
        Intent {
            pod_name: self.pod_name.clone(),
            pod_id: self.pod_id.clone(),
            node_id: self.node_id.clone(),
            k8s_namespace: self.k8s_namespace.clone(),
            command_regex: self.command_regex.clone(),
            priority: self.priority,
            execution_time: self.execution_time,
            pod_labels: self.pod_labels.clone(),
            match_threads: false,
            expires_at: None,
        }
    }
}
