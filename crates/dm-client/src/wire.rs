//! Request and response bodies of the DM API, as the Manager sends and
//! reads them (manager.md 11.3, 11.4).

use std::collections::BTreeMap;

use gthulhu_domain::{DeleteIntents, Intent};
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
pub(crate) struct TokenRequest<'a> {
    pub public_key: &'a str,
    pub client_id: &'a str,
    /// Ignored by DMs; upstream's Manager always sends 0.
    pub expired_at: i64,
}

#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub data: Option<TokenData>,
}

#[derive(Deserialize)]
pub(crate) struct TokenData {
    #[serde(default)]
    pub token: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub expired_at: Option<i64>,
}

#[derive(Serialize)]
pub(crate) struct PushIntents<'a> {
    pub intents: Vec<WireIntent<'a>>,
}

/// An intent with its zero values omitted, as upstream's Manager sends it;
/// DMs read a missing field as its zero value, so the Merkle root is the
/// same either way.
#[derive(Serialize)]
pub(crate) struct WireIntent<'a> {
    #[serde(rename = "podName", skip_serializing_if = "str::is_empty")]
    pod_name: &'a str,
    #[serde(rename = "podID", skip_serializing_if = "str::is_empty")]
    pod_id: &'a str,
    #[serde(rename = "nodeID", skip_serializing_if = "str::is_empty")]
    node_id: &'a str,
    #[serde(rename = "k8sNamespace", skip_serializing_if = "str::is_empty")]
    k8s_namespace: &'a str,
    #[serde(rename = "commandRegex", skip_serializing_if = "str::is_empty")]
    command_regex: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    priority: i64,
    #[serde(rename = "executionTime", skip_serializing_if = "is_zero")]
    execution_time: i64,
    #[serde(rename = "podLabels", skip_serializing_if = "BTreeMap::is_empty")]
    pod_labels: &'a BTreeMap<String, String>,
}

impl<'a> From<&'a Intent> for WireIntent<'a> {
    fn from(i: &'a Intent) -> Self {
        Self {
            pod_name: &i.pod_name,
            pod_id: &i.pod_id,
            node_id: &i.node_id,
            k8s_namespace: &i.k8s_namespace,
            command_regex: &i.command_regex,
            priority: i.priority,
            execution_time: i.execution_time,
            pod_labels: &i.pod_labels,
        }
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// `{"all":true}`, or `{"podId":…}` (plus `pid` when one process is meant).
#[derive(Serialize)]
pub(crate) struct WireDelete<'a> {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    all: bool,
    #[serde(rename = "podId", skip_serializing_if = "Option::is_none")]
    pod_id: Option<&'a str>,
    #[serde(skip_serializing_if = "is_zero")]
    pid: i64,
}

impl<'a> From<&'a DeleteIntents> for WireDelete<'a> {
    fn from(d: &'a DeleteIntents) -> Self {
        if d.all {
            Self {
                all: true,
                pod_id: None,
                pid: 0,
            }
        } else {
            Self {
                all: false,
                pod_id: Some(&d.pod_id),
                pid: d.pid,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_intent_keys_in_upstream_order() {
        let intent = Intent {
            pod_name: "busybox".into(),
            pod_id: "2b0c1e5e".into(),
            node_id: "kind-control-plane".into(),
            k8s_namespace: "ns".into(),
            command_regex: "sleep".into(),
            priority: 1,
            execution_time: 20_000_000,
            pod_labels: [("app".to_string(), "busybox".to_string())].into(),
            ..Default::default()
        };
        let body = serde_json::to_string(&PushIntents {
            intents: vec![(&intent).into()],
        })
        .unwrap();
        assert_eq!(
            body,
            r#"{"intents":[{"podName":"busybox","podID":"2b0c1e5e","nodeID":"kind-control-plane","k8sNamespace":"ns","commandRegex":"sleep","priority":1,"executionTime":20000000,"podLabels":{"app":"busybox"}}]}"#
        );
    }

    #[test]
    fn delete_bodies() {
        let all = DeleteIntents {
            all: true,
            pod_id: "ignored".into(),
            pid: 3,
        };
        assert_eq!(
            serde_json::to_string(&WireDelete::from(&all)).unwrap(),
            r#"{"all":true}"#
        );
        let pod = DeleteIntents {
            pod_id: "u".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&WireDelete::from(&pod)).unwrap(),
            r#"{"podId":"u"}"#
        );
        let pid = DeleteIntents {
            pod_id: "u".into(),
            pid: 42,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&WireDelete::from(&pid)).unwrap(),
            r#"{"podId":"u","pid":42}"#
        );
    }
}
