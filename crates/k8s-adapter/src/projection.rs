//! The slim projection of cluster objects: what the caches keep instead of
//! full Pod and Node objects (a Pod is tens of KB; the Manager must hold
//! 150,000 of them).

use gthulhu_domain::manager::{DecisionMakerEndpoint, DmState, NodeInfo, NodeStatus, PodInfo};
use k8s_openapi::api::core::v1::{Node, Pod};

/// The label that marks Decision Maker pods (manager.md 11.1; config
/// `k8s.decision_maker_selector`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmSelector {
    pub key: String,
    pub value: String,
}

impl Default for DmSelector {
    fn default() -> Self {
        Self {
            key: "app".into(),
            value: "decisionmaker".into(),
        }
    }
}

/// Why a DM selector cannot match any label.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DmSelectorError {
    #[error("the label key is empty (expected key=value or key, e.g. app=decisionmaker)")]
    EmptyKey,
    #[error("{0:?} is not a label key (letters, digits, '-', '_', '.', one '/' prefix)")]
    InvalidKey(String),
    #[error("{0:?} is not a label value (letters, digits, '-', '_', '.')")]
    InvalidValue(String),
}

impl DmSelector {
    /// `key=value`; a bare `key` matches any value of that label. Text
    /// that no label could match (an empty key, `app!=x`, `app in (a)`) is
    /// an error rather than a selector that silently finds no DM.
    pub fn parse(text: &str) -> Result<Self, DmSelectorError> {
        let (key, value) = text.split_once('=').unwrap_or((text, ""));
        let (key, value) = (key.trim(), value.trim());
        let label_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if key.is_empty() {
            return Err(DmSelectorError::EmptyKey);
        }
        let (prefix, name) = key.rsplit_once('/').unwrap_or(("", key));
        if name.is_empty() || !name.chars().all(label_char) || !prefix.chars().all(label_char) {
            return Err(DmSelectorError::InvalidKey(key.into()));
        }
        if !value.chars().all(label_char) {
            return Err(DmSelectorError::InvalidValue(value.into()));
        }
        Ok(Self {
            key: key.into(),
            value: value.into(),
        })
    }

    fn matches(&self, pod: &PodInfo) -> bool {
        pod.labels
            .get(&self.key)
            .is_some_and(|v| self.value.is_empty() || *v == self.value)
    }
}

/// Where a Decision Maker pod listens; only kept for DM pods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmAddress {
    pub host: String,
    pub port: u16,
}

/// One pod as the Manager's cache holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlimPod {
    pub info: PodInfo,
    /// `Some` only for pods matching the DM selector. Boxed so that the
    /// 150,000 ordinary pods pay one pointer for it.
    pub dm: Option<Box<DmAddress>>,
}

impl SlimPod {
    pub fn endpoint(&self) -> Option<DecisionMakerEndpoint> {
        self.dm.as_ref().map(|dm| DecisionMakerEndpoint {
            node_name: self.info.node_name.clone(),
            pod_name: self.info.name.clone(),
            pod_uid: self.info.uid.clone(),
            host: dm.host.clone(),
            port: dm.port,
            state: dm_state(&self.info.phase),
        })
    }
}

/// `None` for a pod without a UID (never the case for stored pods; the
/// cache is keyed by UID, so such a pod could not be tracked).
pub fn project_pod(pod: &Pod, dm_selector: &DmSelector) -> Option<SlimPod> {
    let meta = &pod.metadata;
    let uid = meta.uid.clone().filter(|u| !u.is_empty())?;
    let info = PodInfo {
        uid,
        name: meta.name.clone().unwrap_or_default(),
        namespace: meta.namespace.clone().unwrap_or_default(),
        labels: meta.labels.clone().unwrap_or_default(),
        node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default(),
        phase: pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default(),
    };
    let dm = dm_selector.matches(&info).then(|| {
        Box::new(DmAddress {
            host: dm_host(pod),
            port: dm_port(pod),
        })
    });
    Some(SlimPod { info, dm })
}

/// `status.podIP`, else `status.hostIP` (host-network DMs), else empty.
fn dm_host(pod: &Pod) -> String {
    let status = pod.status.as_ref();
    [
        status.and_then(|s| s.pod_ip.as_deref()),
        status.and_then(|s| s.host_ip.as_deref()),
    ]
    .into_iter()
    .flatten()
    .find(|ip| !ip.is_empty())
    .unwrap_or_default()
    .to_string()
}

/// A port named `http` in any container first; else upstream's rule (the
/// first port of the first container declaring any), skipping the
/// scheduler's `monitor-metrics` port that the Helm chart declares ahead of
/// the DM's. 0 when there is none.
fn dm_port(pod: &Pod) -> u16 {
    let ports = || {
        pod.spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.ports.iter().flatten())
    };
    let port_of = |p: &k8s_openapi::api::core::v1::ContainerPort| u16::try_from(p.container_port).unwrap_or(0);
    if let Some(http) = ports().find(|p| p.name.as_deref() == Some("http")) {
        return port_of(http);
    }
    ports()
        .find(|p| p.name.as_deref() != Some("monitor-metrics"))
        .map(port_of)
        .unwrap_or(0)
}

/// manager.md 11.1: only Running DMs are called.
pub fn dm_state(phase: &str) -> DmState {
    match phase {
        "Running" => DmState::Online,
        "Pending" => DmState::Unknown,
        _ => DmState::Offline,
    }
}

/// manager.md 10.1: from the `Ready` condition.
pub fn project_node(node: &Node) -> NodeInfo {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    NodeInfo {
        name: node.metadata.name.clone().unwrap_or_default(),
        status: match ready.map(|c| c.status.as_str()) {
            Some("True") => NodeStatus::Ready,
            Some("False") => NodeStatus::NotReady,
            _ => NodeStatus::Unknown,
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    fn dm_pod(containers: serde_json::Value, status: serde_json::Value) -> Pod {
        pod(json!({
            "metadata": {"uid": "u1", "name": "dm-1", "namespace": "gthulhu", "labels": {"app": "decisionmaker"}},
            "spec": {"nodeName": "n1", "containers": containers},
            "status": status,
        }))
    }

    fn port_of(containers: serde_json::Value) -> u16 {
        let slim = project_pod(
            &dm_pod(containers, json!({"phase": "Running", "podIP": "10.0.0.1"})),
            &DmSelector::default(),
        )
        .unwrap();
        slim.dm.unwrap().port
    }

    #[test]
    fn projects_identity_labels_node_and_phase() {
        let p = pod(json!({
            "metadata": {"uid": "u1", "name": "web", "namespace": "prod", "labels": {"app": "web", "tier": "1"},
                         "annotations": {"big": "x"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.9"},
        }));
        let slim = project_pod(&p, &DmSelector::default()).unwrap();
        assert_eq!(slim.info.uid, "u1");
        assert_eq!(slim.info.name, "web");
        assert_eq!(slim.info.namespace, "prod");
        assert_eq!(slim.info.node_name, "n1");
        assert_eq!(slim.info.phase, "Running");
        assert_eq!(slim.info.labels.len(), 2);
        assert_eq!(slim.info.labels["tier"], "1");
        assert!(slim.dm.is_none(), "not a DM: no address kept");
        assert!(slim.endpoint().is_none());
    }

    #[test]
    fn pod_without_uid_is_not_projected_and_missing_fields_are_empty() {
        assert!(project_pod(&pod(json!({"metadata": {"name": "x"}})), &DmSelector::default()).is_none());
        let slim = project_pod(&pod(json!({"metadata": {"uid": "u"}})), &DmSelector::default()).unwrap();
        assert_eq!(
            slim.info,
            PodInfo {
                uid: "u".into(),
                ..PodInfo::default()
            }
        );
    }

    #[test]
    fn dm_port_rules() {
        let cases = [
            // A port named http wins even in a later container.
            (
                json!([{"name": "sched", "ports": [{"name": "monitor-metrics", "containerPort": 9090}]},
                       {"name": "dm", "ports": [{"name": "grpc", "containerPort": 7000},
                                                 {"name": "http", "containerPort": 8080}]}]),
                8080,
            ),
            // No http: first port of the first container declaring one...
            (
                json!([{"name": "a"}, {"name": "b", "ports": [{"containerPort": 8081}, {"containerPort": 8082}]},
                       {"name": "c", "ports": [{"containerPort": 9000}]}]),
                8081,
            ),
            // ...skipping monitor-metrics.
            (
                json!([{"name": "sched", "ports": [{"name": "monitor-metrics", "containerPort": 9090}]},
                       {"name": "dm", "ports": [{"name": "api", "containerPort": 8080}]}]),
                8080,
            ),
            // Only monitor-metrics, or no ports at all: 0.
            (
                json!([{"name": "sched", "ports": [{"name": "monitor-metrics", "containerPort": 9090}]}]),
                0,
            ),
            (json!([{"name": "dm"}]), 0),
        ];
        for (containers, want) in cases {
            assert_eq!(port_of(containers.clone()), want, "{containers}");
        }
    }

    #[test]
    fn dm_host_prefers_pod_ip_then_host_ip() {
        let host = |status: serde_json::Value| {
            project_pod(&dm_pod(json!([]), status), &DmSelector::default())
                .unwrap()
                .dm
                .unwrap()
                .host
        };
        assert_eq!(host(json!({"podIP": "10.0.0.1", "hostIP": "192.168.0.1"})), "10.0.0.1");
        assert_eq!(host(json!({"podIP": "", "hostIP": "192.168.0.1"})), "192.168.0.1");
        assert_eq!(host(json!({"hostIP": "192.168.0.1"})), "192.168.0.1");
        assert_eq!(host(json!({})), "");
    }

    #[test]
    fn dm_states_and_endpoint() {
        assert_eq!(dm_state("Running"), DmState::Online);
        assert_eq!(dm_state("Pending"), DmState::Unknown);
        for phase in ["Succeeded", "Failed", "Unknown", ""] {
            assert_eq!(dm_state(phase), DmState::Offline, "{phase}");
        }
        let p = dm_pod(
            json!([{"name": "dm", "ports": [{"name": "http", "containerPort": 8080}]}]),
            json!({"phase": "Pending", "hostIP": "192.168.0.1"}),
        );
        let endpoint = project_pod(&p, &DmSelector::default()).unwrap().endpoint().unwrap();
        assert_eq!(
            endpoint,
            DecisionMakerEndpoint {
                node_name: "n1".into(),
                pod_name: "dm-1".into(),
                pod_uid: "u1".into(),
                host: "192.168.0.1".into(),
                port: 8080,
                state: DmState::Unknown,
            }
        );
    }

    #[test]
    fn dm_selector_is_configurable() {
        let p = dm_pod(json!([]), json!({}));
        let parse = |text| DmSelector::parse(text).unwrap();
        assert!(project_pod(&p, &parse("app=other")).unwrap().dm.is_none());
        assert!(project_pod(&p, &parse("app")).unwrap().dm.is_some());
        assert!(project_pod(&p, &parse(" app = decisionmaker ")).unwrap().dm.is_some());
        assert_eq!(parse("app=decisionmaker"), DmSelector::default());
        assert_eq!(
            parse("app.kubernetes.io/name=gthulhu-dm"),
            DmSelector {
                key: "app.kubernetes.io/name".into(),
                value: "gthulhu-dm".into()
            }
        );
    }

    #[test]
    fn dm_selector_that_matches_nothing_is_an_error() {
        for (text, want) in [
            ("", DmSelectorError::EmptyKey),
            ("  ", DmSelectorError::EmptyKey),
            ("=decisionmaker", DmSelectorError::EmptyKey),
            ("app!=x", DmSelectorError::InvalidKey("app!".into())),
            ("app in (a)", DmSelectorError::InvalidKey("app in (a)".into())),
            ("example.com/=x", DmSelectorError::InvalidKey("example.com/".into())),
            ("app==x", DmSelectorError::InvalidValue("=x".into())),
            ("app=a,b", DmSelectorError::InvalidValue("a,b".into())),
        ] {
            assert_eq!(DmSelector::parse(text), Err(want), "{text:?}");
        }
    }

    #[test]
    fn node_ready_condition() {
        let node = |conditions: serde_json::Value| {
            project_node(
                &serde_json::from_value(json!({"metadata": {"name": "n1"}, "status": {"conditions": conditions}}))
                    .unwrap(),
            )
        };
        let ready =
            |status: &str| json!([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": status}]);
        assert_eq!(node(ready("True")).status, NodeStatus::Ready);
        assert_eq!(node(ready("False")).status, NodeStatus::NotReady);
        assert_eq!(node(ready("Unknown")).status, NodeStatus::Unknown);
        assert_eq!(
            node(json!([{"type": "MemoryPressure", "status": "True"}])).status,
            NodeStatus::Unknown
        );
        let bare: Node = serde_json::from_value(json!({"metadata": {"name": "n2"}})).unwrap();
        assert_eq!(
            project_node(&bare),
            NodeInfo {
                name: "n2".into(),
                status: NodeStatus::Unknown
            }
        );
        assert_eq!(node(ready("True")).name, "n1");
    }
}
