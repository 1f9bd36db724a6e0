//! Strategies and the intents derived from them.

use gthulhu_domain::Selector;
use gthulhu_domain::manager::{IntentState, ObjectId, ScheduleIntent, ScheduleStrategy, StrategySpec};
use serde::{Deserialize, Serialize};

/// The spec's fields at the top level, as upstream stores them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrategyDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub strategy_namespace: String,
    pub label_selectors: Vec<Selector>,
    #[serde(rename = "k8sNamespace")]
    pub k8s_namespaces: Vec<String>,
    pub command_regex: String,
    pub priority: i64,
    pub execution_time: i64,
    #[serde(rename = "creatorID")]
    pub creator_id: ObjectId,
    #[serde(rename = "updaterID")]
    pub updater_id: ObjectId,
    pub created_time: i64,
    pub updated_time: i64,
}

impl From<&ScheduleStrategy> for StrategyDoc {
    fn from(s: &ScheduleStrategy) -> Self {
        Self {
            id: s.id.clone(),
            strategy_namespace: s.spec.strategy_namespace.clone(),
            label_selectors: s.spec.label_selectors.clone(),
            k8s_namespaces: s.spec.k8s_namespaces.clone(),
            command_regex: s.spec.command_regex.clone(),
            priority: s.spec.priority,
            execution_time: s.spec.execution_time,
            creator_id: s.creator_id.clone(),
            updater_id: s.updater_id.clone(),
            created_time: s.created_time,
            updated_time: s.updated_time,
        }
    }
}

impl From<StrategyDoc> for ScheduleStrategy {
    fn from(d: StrategyDoc) -> Self {
        Self {
            id: d.id,
            spec: StrategySpec {
                strategy_namespace: d.strategy_namespace,
                label_selectors: d.label_selectors,
                k8s_namespaces: d.k8s_namespaces,
                command_regex: d.command_regex,
                priority: d.priority,
                execution_time: d.execution_time,
            },
            creator_id: d.creator_id,
            updater_id: d.updater_id,
            created_time: d.created_time,
            updated_time: d.updated_time,
        }
    }
}

/// One pod label: an array element, because label keys contain dots
/// (which MongoDB field names cannot).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelDoc {
    pub key: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntentDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    #[serde(rename = "strategyID")]
    pub strategy_id: ObjectId,
    #[serde(rename = "podID")]
    pub pod_id: String,
    pub pod_name: String,
    #[serde(rename = "nodeID")]
    pub node_id: String,
    pub k8s_namespace: String,
    pub command_regex: String,
    pub priority: i64,
    pub execution_time: i64,
    pub pod_labels: Vec<LabelDoc>,
    pub state: IntentState,
    #[serde(rename = "creatorID")]
    pub creator_id: ObjectId,
    #[serde(rename = "updaterID")]
    pub updater_id: ObjectId,
    pub created_time: i64,
    pub updated_time: i64,
}

impl From<&ScheduleIntent> for IntentDoc {
    fn from(i: &ScheduleIntent) -> Self {
        let labels = i.pod_labels.iter().map(|(key, value)| LabelDoc {
            key: key.clone(),
            value: value.clone(),
        });
        Self {
            id: i.id.clone(),
            strategy_id: i.strategy_id.clone(),
            pod_id: i.pod_id.clone(),
            pod_name: i.pod_name.clone(),
            node_id: i.node_id.clone(),
            k8s_namespace: i.k8s_namespace.clone(),
            command_regex: i.command_regex.clone(),
            priority: i.priority,
            execution_time: i.execution_time,
            pod_labels: labels.collect(),
            state: i.state,
            creator_id: i.creator_id.clone(),
            updater_id: i.updater_id.clone(),
            created_time: i.created_time,
            updated_time: i.updated_time,
        }
    }
}

impl From<IntentDoc> for ScheduleIntent {
    fn from(d: IntentDoc) -> Self {
        Self {
            id: d.id,
            strategy_id: d.strategy_id,
            pod_id: d.pod_id,
            pod_name: d.pod_name,
            node_id: d.node_id,
            k8s_namespace: d.k8s_namespace,
            command_regex: d.command_regex,
            priority: d.priority,
            execution_time: d.execution_time,
            pod_labels: d.pod_labels.into_iter().map(|l| (l.key, l.value)).collect(),
            state: d.state,
            creator_id: d.creator_id,
            updater_id: d.updater_id,
            created_time: d.created_time,
            updated_time: d.updated_time,
        }
    }
}
