use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::serde_util::null_as_empty;

/// "Give pod P this priority and time slice, for processes whose `comm`
/// matches R." One intent per pod that a strategy selected.
///
/// Every field is optional on the wire: the upstream Manager omits zero
/// values, and a missing field is its zero value (which is also what goes
/// into the Merkle root).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    #[serde(rename = "podName", default)]
    pub pod_name: String,
    #[serde(rename = "podID", alias = "podId", default)]
    pub pod_id: String,
    #[serde(rename = "nodeID", alias = "nodeId", default)]
    pub node_id: String,
    #[serde(rename = "k8sNamespace", default)]
    pub k8s_namespace: String,
    #[serde(rename = "commandRegex", default)]
    pub command_regex: String,
    #[serde(default)]
    pub priority: i64,
    #[serde(rename = "executionTime", default)]
    pub execution_time: i64,
    #[serde(rename = "podLabels", default, deserialize_with = "null_as_empty")]
    pub pod_labels: BTreeMap<String, String>,
    /// Ours (targeting.md 10.1 rule 2): match each thread's own `comm` and
    /// emit one entry per TID. Upstream DMs ignore it.
    #[serde(rename = "matchThreads", default, skip_serializing_if = "is_false")]
    pub match_threads: bool,
    /// Ours (targeting.md 13.3): RFC 3339; the DM stops resolving the intent
    /// at this instant by its own clock.
    #[serde(rename = "expiresAt", default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// One node intent: "on this node, every task whose `comm` matches R gets
/// this priority and slice" (targeting.md 5, 7.1). Upstream's wire keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeIntent {
    #[serde(rename = "policyID", alias = "policyId", default)]
    pub policy_id: String,
    #[serde(rename = "nodeID", alias = "nodeId", default)]
    pub node_id: String,
    /// Empty: kept and hashed, matches no task (as upstream).
    #[serde(rename = "commandRegex", default, skip_serializing_if = "String::is_empty")]
    pub command_regex: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i64,
    #[serde(rename = "executionTime", default, skip_serializing_if = "is_zero")]
    pub execution_time: i64,
    #[serde(rename = "expiresAt", default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// Body of `DELETE /api/v1/node-intents`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct DeleteNodeIntents {
    #[serde(default)]
    pub all: bool,
    #[serde(rename = "policyId", alias = "policyID", default)]
    pub policy_id: String,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// Body of `DELETE /api/v1/intents`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct DeleteIntents {
    #[serde(default)]
    pub all: bool,
    #[serde(rename = "podId", alias = "podID", default)]
    pub pod_id: String,
    #[serde(default)]
    pub pid: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_take_zero_values_and_null_maps_are_empty() {
        let i: Intent = serde_json::from_str(r#"{"podId":"u","podLabels":null,"intentID":7}"#).unwrap();
        assert_eq!(i.pod_id, "u");
        assert!(i.pod_labels.is_empty());
        assert_eq!(i.priority, 0);
    }

    #[test]
    fn null_where_a_scalar_is_required_is_the_wrong_type() {
        for body in [r#"{"commandRegex":null}"#, r#"{"priority":null}"#, r#"{"podID":null}"#] {
            assert!(serde_json::from_str::<Intent>(body).is_err(), "{body}");
        }
    }

    #[test]
    fn wrong_types_are_rejected() {
        assert!(serde_json::from_str::<Intent>(r#"{"priority":"1"}"#).is_err());
        assert!(serde_json::from_str::<Intent>(r#"{"priority":1.5}"#).is_err());
    }

    #[test]
    fn node_intents_take_both_casings_and_omit_zero_values_on_the_wire() {
        let n: NodeIntent = serde_json::from_str(r#"{"policyId":"p","nodeId":"n","priority":0}"#).unwrap();
        assert_eq!((n.policy_id.as_str(), n.node_id.as_str()), ("p", "n"));
        assert_eq!(serde_json::to_string(&n).unwrap(), r#"{"policyID":"p","nodeID":"n"}"#);
        let i: Intent = serde_json::from_str(r#"{"matchThreads":true,"expiresAt":"2026-03-11T08:00:00Z"}"#).unwrap();
        assert!(i.match_threads);
        assert_eq!(i.expires_at.as_deref(), Some("2026-03-11T08:00:00Z"));
        let plain = serde_json::to_value(Intent::default()).unwrap();
        assert!(plain.get("matchThreads").is_none() && plain.get("expiresAt").is_none());
    }

    #[test]
    fn delete_accepts_both_casings() {
        let a: DeleteIntents = serde_json::from_str(r#"{"podID":"x","pid":3}"#).unwrap();
        let b: DeleteIntents = serde_json::from_str(r#"{"podId":"x","pid":3}"#).unwrap();
        assert_eq!(a, b);
    }
}
