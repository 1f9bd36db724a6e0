use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Selector;

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

impl PodInfo {
    /// Whether a matched pod gets an intent: it is scheduled on a node and
    /// has not finished (manager.md 9 step 4).
    pub fn is_schedulable(&self) -> bool {
        !self.node_name.is_empty() && self.phase != "Succeeded" && self.phase != "Failed"
    }

    /// manager.md 9 steps 1-2: in one of `namespaces` (empty = any) and
    /// carrying every selector (an empty value only needs the key).
    pub fn matches(&self, namespaces: &[String], selectors: &[Selector]) -> bool {
        (namespaces.is_empty() || namespaces.contains(&self.namespace))
            && selectors.iter().all(|s| match self.labels.get(&s.key) {
                Some(value) => s.value.is_empty() || *value == s.value,
                None => false,
            })
    }
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
    /// Tells a recreated DM pod (whose daemon restarted) from the old one.
    pub pod_uid: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_and_schedulability() {
        let pod = PodInfo {
            namespace: "prod".into(),
            labels: BTreeMap::from([("app".into(), "web".into()), ("tier".into(), "1".into())]),
            node_name: "n1".into(),
            phase: "Running".into(),
            ..PodInfo::default()
        };
        let sel = |key: &str, value: &str| Selector {
            key: key.into(),
            value: value.into(),
        };
        assert!(pod.matches(&[], &[]));
        assert!(pod.matches(&["dev".into(), "prod".into()], &[sel("app", "web"), sel("tier", "")]));
        assert!(!pod.matches(&["dev".into()], &[]));
        assert!(!pod.matches(&[], &[sel("app", "db")]));
        assert!(!pod.matches(&[], &[sel("team", "")]));
        assert!(pod.is_schedulable());
        for unschedulable in [
            PodInfo {
                node_name: String::new(),
                ..pod.clone()
            },
            PodInfo {
                phase: "Succeeded".into(),
                ..pod.clone()
            },
            PodInfo {
                phase: "Failed".into(),
                ..pod.clone()
            },
        ] {
            assert!(!unschedulable.is_schedulable(), "{unschedulable:?}");
        }
    }
}
