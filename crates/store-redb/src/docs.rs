//! Stored values: JSON with the field names of manager.md 14.2, ids as
//! 24-hex strings.

use std::collections::BTreeMap;

use gthulhu_domain::Selector;
use gthulhu_domain::manager::{
    AuditEntry, IntentState, ObjectId, Permission, Role, RolePolicy, ScheduleIntent, ScheduleStrategy, StrategySpec,
    User, UserStatus,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub username: String,
    pub password: String,
    pub status: UserStatus,
    pub roles: Vec<String>,
    pub created_time: i64,
    pub updated_time: i64,
    #[serde(rename = "creatorID")]
    pub creator_id: ObjectId,
    #[serde(rename = "updaterID")]
    pub updater_id: ObjectId,
}

impl From<&User> for UserDoc {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            username: u.username.clone(),
            password: u.password_hash.clone(),
            status: u.status,
            roles: u.roles.clone(),
            created_time: u.created_time,
            updated_time: u.updated_time,
            creator_id: u.creator_id.clone(),
            updater_id: u.updater_id.clone(),
        }
    }
}

impl From<UserDoc> for User {
    fn from(d: UserDoc) -> Self {
        Self {
            id: d.id,
            username: d.username,
            password_hash: d.password,
            status: d.status,
            roles: d.roles,
            created_time: d.created_time,
            updated_time: d.updated_time,
            creator_id: d.creator_id,
            updater_id: d.updater_id,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub name: String,
    pub description: String,
    pub policies: Vec<RolePolicy>,
    pub created_time: i64,
    pub updated_time: i64,
    #[serde(rename = "creatorID")]
    pub creator_id: ObjectId,
    #[serde(rename = "updaterID")]
    pub updater_id: ObjectId,
}

impl From<&Role> for RoleDoc {
    fn from(r: &Role) -> Self {
        Self {
            id: r.id.clone(),
            name: r.name.clone(),
            description: r.description.clone(),
            policies: r.policies.clone(),
            created_time: r.created_time,
            updated_time: r.updated_time,
            creator_id: r.creator_id.clone(),
            updater_id: r.updater_id.clone(),
        }
    }
}

impl From<RoleDoc> for Role {
    fn from(d: RoleDoc) -> Self {
        Self {
            id: d.id,
            name: d.name,
            description: d.description,
            policies: d.policies,
            created_time: d.created_time,
            updated_time: d.updated_time,
            creator_id: d.creator_id,
            updater_id: d.updater_id,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct PermissionDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub key: String,
    pub description: String,
    pub resource: String,
    pub action: String,
}

impl PermissionDoc {
    pub fn new(id: ObjectId, p: &Permission) -> Self {
        Self {
            id,
            key: p.key.clone(),
            description: p.description.clone(),
            resource: p.resource.clone(),
            action: p.action.clone(),
        }
    }
}

impl From<PermissionDoc> for Permission {
    fn from(d: PermissionDoc) -> Self {
        Self {
            key: d.key,
            description: d.description,
            resource: d.resource,
            action: d.action,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrategyDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub strategy_namespace: String,
    pub label_selectors: Vec<Selector>,
    pub k8s_namespace: Vec<String>,
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
            k8s_namespace: s.spec.k8s_namespaces.clone(),
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
                k8s_namespaces: d.k8s_namespace,
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

/// Label keys contain dots, so labels are a list of pairs (as in MongoDB).
#[derive(Serialize, Deserialize)]
pub struct LabelDoc {
    pub key: String,
    pub value: String,
}

#[derive(Serialize, Deserialize)]
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
            pod_labels: i
                .pod_labels
                .iter()
                .map(|(key, value)| LabelDoc {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
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
            pod_labels: d
                .pod_labels
                .into_iter()
                .map(|l| (l.key, l.value))
                .collect::<BTreeMap<_, _>>(),
            state: d.state,
            creator_id: d.creator_id,
            updater_id: d.updater_id,
            created_time: d.created_time,
            updated_time: d.updated_time,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct AuditDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub user_id: Option<ObjectId>,
    pub action: String,
    pub request_id: String,
    pub timestamp: i64,
    pub ip: String,
    pub status: u16,
    pub target: Option<String>,
    pub details: serde_json::Value,
}

impl From<&AuditEntry> for AuditDoc {
    fn from(e: &AuditEntry) -> Self {
        Self {
            id: e.id.clone(),
            user_id: e.user_id.clone(),
            action: e.action.clone(),
            request_id: e.request_id.clone(),
            timestamp: e.timestamp,
            ip: e.ip.clone(),
            status: e.status,
            target: e.target.clone(),
            details: e.details.clone(),
        }
    }
}

impl From<AuditDoc> for AuditEntry {
    fn from(d: AuditDoc) -> Self {
        Self {
            id: d.id,
            user_id: d.user_id,
            action: d.action,
            request_id: d.request_id,
            timestamp: d.timestamp,
            ip: d.ip,
            status: d.status,
            target: d.target,
            details: d.details,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationDoc {
    #[serde(rename = "_id")]
    pub version: u32,
    pub name: String,
    pub applied_at: i64,
}

#[cfg(test)]
mod tests {
    use gthulhu_repo_conformance::fixtures::{intent, role, strategy, user};
    use serde_json::{Value, json};

    use super::*;

    fn keys(value: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn records_use_the_collection_field_names() {
        let u = user("alice", &["admin"]);
        let stored = serde_json::to_value(UserDoc::from(&u)).unwrap();
        assert_eq!(
            keys(&stored),
            [
                "_id",
                "createdTime",
                "creatorID",
                "password",
                "roles",
                "status",
                "updatedTime",
                "updaterID",
                "username"
            ]
        );
        assert_eq!(stored["_id"], json!(u.id.to_string()));
        assert_eq!(stored["status"], json!(3));

        let r = serde_json::to_value(RoleDoc::from(&role("ops", &["user.read"]))).unwrap();
        assert_eq!(
            keys(&r["policies"][0]),
            ["k8sNamespace", "permissionKey", "policyNamespace", "self"]
        );

        let s = strategy(&u.id);
        let stored = serde_json::to_value(StrategyDoc::from(&s)).unwrap();
        assert_eq!(stored["k8sNamespace"], json!(["prod", "staging"]));
        assert_eq!(stored["creatorID"], json!(u.id.to_string()));

        let i = intent(&s, "p1", "n1");
        let stored = serde_json::to_value(IntentDoc::from(&i)).unwrap();
        for field in [
            "strategyID",
            "podID",
            "podName",
            "nodeID",
            "k8sNamespace",
            "executionTime",
        ] {
            assert!(stored.get(field).is_some(), "{field}");
        }
        assert_eq!(
            stored["podLabels"][0],
            json!({"key": "app.kubernetes.io/name", "value": "web"})
        );
        assert_eq!(stored["state"], json!(1));
        let back: IntentDoc = serde_json::from_value(stored).unwrap();
        assert_eq!(ScheduleIntent::from(back), i);
    }
}
