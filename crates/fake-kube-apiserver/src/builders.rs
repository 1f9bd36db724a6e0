//! Quick constructors for the objects tests put into the fake.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Node, NodeCondition, NodeStatus, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// A pod with one container named `main`; `node: None` leaves it unscheduled, an empty `uid` lets the
/// server generate one, `phase` is e.g. `"Running"`.
pub fn pod(namespace: &str, name: &str, uid: &str, node: Option<&str>, labels: &[(&str, &str)], phase: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            namespace: Some(namespace.to_owned()),
            name: Some(name.to_owned()),
            uid: (!uid.is_empty()).then(|| uid.to_owned()),
            labels: (!labels.is_empty()).then(|| string_map(labels)),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: node.map(str::to_owned),
            containers: vec![Container {
                name: "main".to_owned(),
                image: Some("registry.k8s.io/pause:3.10".to_owned()),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some(phase.to_owned()),
            ..PodStatus::default()
        }),
    }
}

/// A node whose `Ready` condition is `True` or `False`.
pub fn node(name: &str, ready: bool) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(string_map(&[("kubernetes.io/hostname", name)])),
            ..ObjectMeta::default()
        },
        spec: None,
        status: Some(NodeStatus {
            conditions: Some(vec![NodeCondition {
                type_: "Ready".to_owned(),
                status: if ready { "True" } else { "False" }.to_owned(),
                ..NodeCondition::default()
            }]),
            ..NodeStatus::default()
        }),
    }
}

fn string_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}
