//! Stored documents, with the field names of manager.md 14.2.
//!
//! Every id (`_id` included) is stored as its 24-hex string: some MongoDB
//! wire servers cannot match ObjectId-typed fields other than `_id`, and a
//! string compares in the same order, so sorting by `_id` stays creation
//! order.

use std::collections::BTreeMap;

use gthulhu_domain::Selector;
use gthulhu_domain::manager::{
    AuditEntry, IntentState, ObjectId, Permission, Role, RolePolicy, ScheduleIntent, ScheduleStrategy, StrategySpec,
    User, UserStatus,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct UserDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub username: String,
    pub password: String,
    pub status: UserStatus,
    pub roles: Vec<String>,
    #[serde(rename = "createdTime")]
    pub created_time: i64,
    #[serde(rename = "updatedTime")]
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
pub struct RoleDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub name: String,
    pub description: String,
    pub policies: Vec<RolePolicy>,
    #[serde(rename = "createdTime")]
    pub created_time: i64,
    #[serde(rename = "updatedTime")]
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

/// Read side only: the `_id` (first-insertion order) is set on upsert.
#[derive(Deserialize)]
pub struct PermissionDoc {
    pub key: String,
    pub description: String,
    pub resource: String,
    pub action: String,
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
pub struct StrategyDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    #[serde(rename = "strategyNamespace")]
    pub strategy_namespace: String,
    #[serde(rename = "labelSelectors")]
    pub label_selectors: Vec<Selector>,
    #[serde(rename = "k8sNamespace")]
    pub k8s_namespaces: Vec<String>,
    #[serde(rename = "commandRegex")]
    pub command_regex: String,
    pub priority: i64,
    #[serde(rename = "executionTime")]
    pub execution_time: i64,
    #[serde(rename = "creatorID")]
    pub creator_id: ObjectId,
    #[serde(rename = "updaterID")]
    pub updater_id: ObjectId,
    #[serde(rename = "createdTime")]
    pub created_time: i64,
    #[serde(rename = "updatedTime")]
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

/// One pod label: an array element, because label keys contain dots.
#[derive(Serialize, Deserialize)]
pub struct LabelDoc {
    pub key: String,
    pub value: String,
}

#[derive(Serialize, Deserialize)]
pub struct IntentDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    #[serde(rename = "strategyID")]
    pub strategy_id: ObjectId,
    #[serde(rename = "podID")]
    pub pod_id: String,
    #[serde(rename = "podName")]
    pub pod_name: String,
    #[serde(rename = "nodeID")]
    pub node_id: String,
    #[serde(rename = "k8sNamespace")]
    pub k8s_namespace: String,
    #[serde(rename = "commandRegex")]
    pub command_regex: String,
    pub priority: i64,
    #[serde(rename = "executionTime")]
    pub execution_time: i64,
    #[serde(rename = "podLabels")]
    pub pod_labels: Vec<LabelDoc>,
    pub state: IntentState,
    #[serde(rename = "creatorID")]
    pub creator_id: ObjectId,
    #[serde(rename = "updaterID")]
    pub updater_id: ObjectId,
    #[serde(rename = "createdTime")]
    pub created_time: i64,
    #[serde(rename = "updatedTime")]
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
    pub status: i32,
    pub target: Option<String>,
    #[serde(default)]
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
            status: i32::from(e.status),
            target: e.target.clone(),
            details: e.details.clone(),
        }
    }
}

impl TryFrom<AuditDoc> for AuditEntry {
    type Error = String;
    fn try_from(d: AuditDoc) -> Result<Self, String> {
        Ok(Self {
            id: d.id,
            user_id: d.user_id,
            action: d.action,
            request_id: d.request_id,
            timestamp: d.timestamp,
            ip: d.ip,
            status: u16::try_from(d.status).map_err(|_| format!("audit status {} out of range", d.status))?,
            target: d.target,
            details: d.details,
        })
    }
}

#[cfg(test)]
mod tests {
    use bson::{Bson, doc};

    use super::*;

    fn intent() -> ScheduleIntent {
        ScheduleIntent {
            id: ObjectId::new(),
            strategy_id: ObjectId::new(),
            pod_id: "uid".into(),
            pod_name: "web-0".into(),
            node_id: "node-a".into(),
            k8s_namespace: "prod".into(),
            command_regex: "^nginx".into(),
            priority: 10,
            execution_time: 20,
            pod_labels: BTreeMap::from([
                ("app.kubernetes.io/name".into(), "web".into()),
                ("tier".into(), "fe".into()),
            ]),
            state: IntentState::Sent,
            creator_id: ObjectId::ZERO,
            updater_id: ObjectId::ZERO,
            created_time: 1,
            updated_time: 2,
        }
    }

    #[test]
    fn intent_document_has_the_spec_types() {
        let original = intent();
        let stored = bson::to_document(&IntentDoc::from(&original)).unwrap();
        assert_eq!(stored.get("_id"), Some(&Bson::String(original.id.to_string())));
        assert_eq!(
            stored.get("strategyID"),
            Some(&Bson::String(original.strategy_id.to_string()))
        );
        assert_eq!(stored.get("priority"), Some(&Bson::Int64(10)));
        assert_eq!(stored.get("executionTime"), Some(&Bson::Int64(20)));
        assert_eq!(stored.get("createdTime"), Some(&Bson::Int64(1)));
        assert_eq!(stored.get("state"), Some(&Bson::Int32(2)));
        assert_eq!(
            stored.get_array("podLabels").unwrap(),
            &vec![
                Bson::from(doc! {"key": "app.kubernetes.io/name", "value": "web"}),
                Bson::from(doc! {"key": "tier", "value": "fe"}),
            ]
        );
        let back: IntentDoc = bson::from_document(stored).unwrap();
        assert_eq!(ScheduleIntent::from(back), original);
    }

    #[test]
    fn narrowed_integers_still_decode() {
        // Some servers return small int64 values as int32.
        let mut stored = bson::to_document(&IntentDoc::from(&intent())).unwrap();
        stored.insert("priority", Bson::Int32(10));
        stored.insert("state", Bson::Int64(1));
        let back = ScheduleIntent::from(bson::from_document::<IntentDoc>(stored).unwrap());
        assert_eq!((back.priority, back.state), (10, IntentState::Initialized));
    }

    #[test]
    fn user_and_audit_documents_have_the_spec_types() {
        let user = User {
            id: ObjectId::new(),
            username: "alice".into(),
            password_hash: "$2b$12$x".into(),
            status: UserStatus::Inactive,
            roles: vec!["admin".into()],
            created_time: 1,
            updated_time: 2,
            creator_id: ObjectId::ZERO,
            updater_id: ObjectId::ZERO,
        };
        let stored = bson::to_document(&UserDoc::from(&user)).unwrap();
        assert_eq!(stored.get("status"), Some(&Bson::Int32(2)));
        assert_eq!(stored.get("password"), Some(&Bson::String("$2b$12$x".into())));
        assert_eq!(stored.get("creatorID"), Some(&Bson::String(ObjectId::ZERO.to_string())));

        let entry = AuditEntry {
            id: ObjectId::new(),
            user_id: None,
            action: "auth.login".into(),
            request_id: "r".into(),
            timestamp: 5,
            ip: "10.0.0.1".into(),
            status: 401,
            target: None,
            details: serde_json::json!({"username": "a", "password": "***"}),
        };
        let stored = bson::to_document(&AuditDoc::from(&entry)).unwrap();
        assert_eq!(stored.get("user_id"), Some(&Bson::Null));
        assert_eq!(stored.get("target"), Some(&Bson::Null));
        assert_eq!(stored.get("status"), Some(&Bson::Int32(401)));
        assert_eq!(stored.get("timestamp"), Some(&Bson::Int64(5)));
        assert_eq!(
            stored.get_document("details").unwrap(),
            &doc! {"username": "a", "password": "***"}
        );
        let back = AuditEntry::try_from(bson::from_document::<AuditDoc>(stored).unwrap()).unwrap();
        assert_eq!(back, entry);
    }
}
