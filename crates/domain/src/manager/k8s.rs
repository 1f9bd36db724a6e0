use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The slim projection of a pod the Manager keeps (never full Pod objects).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodInfo {
    pub uid: String,
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    /// Empty while unscheduled.
    pub node_name: String,
    pub phase: String,
}

/// One change in the Manager's pod cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodEvent {
    /// Added or changed (labels, node, phase, ...); `previous` is what the
    /// cache held before, `None` for a new pod.
    Applied {
        previous: Option<PodInfo>,
        current: PodInfo,
    },
    Deleted(PodInfo),
    /// The cache was rebuilt (first sync, relist after 410, reconnect):
    /// every strategy must be recomputed.
    Resynced,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DmState {
    Online,
    Unknown,
    Offline,
}

/// A Decision Maker pod (`app=decisionmaker`) and where to reach it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionMakerEndpoint {
    pub node_name: String,
    pub pod_name: String,
    pub host: String,
    pub port: u16,
    pub state: DmState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeStatus {
    Ready,
    NotReady,
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    pub status: NodeStatus,
}

/// Whether the cluster is usable, for `/ready` and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterStatus {
    Ready,
    Unreachable(String),
    NotConfigured(String),
}
