//! Builders of valid entities with fresh ids (so creation order is the
//! order of the calls), for the checks and for backends' own tests.

use std::collections::BTreeMap;

use gthulhu_domain::Selector;
use gthulhu_domain::manager::{
    AuditEntry, IntentState, NodeRuntimeConfig, ObjectId, Permission, Role, RolePolicy, ScheduleIntent,
    ScheduleStrategy, Session, StrategySpec, User, UserStatus,
};
use gthulhu_domain::runtime_config::RuntimeSchedulerConfig;

pub const T0: i64 = 1_700_000_000_000;

pub fn user(username: &str, roles: &[&str]) -> User {
    User {
        id: ObjectId::new(),
        username: username.into(),
        password_hash: "$2b$12$abcdefghijklmnopqrstuu5wr1WnSHbIJjFaG7E0Bd0m8bvuMXFn6".into(),
        status: UserStatus::MustChangePassword,
        roles: roles.iter().map(|r| r.to_string()).collect(),
        created_time: T0,
        updated_time: T0,
        creator_id: ObjectId::ZERO,
        updater_id: ObjectId::ZERO,
        token_version: 0,
    }
}

pub fn role(name: &str, keys: &[&str]) -> Role {
    Role {
        id: ObjectId::new(),
        name: name.into(),
        description: format!("the {name} role"),
        policies: keys
            .iter()
            .map(|key| RolePolicy {
                permission_key: key.to_string(),
                self_only: false,
                k8s_namespace: String::new(),
                policy_namespace: String::new(),
            })
            .collect(),
        created_time: T0,
        updated_time: T0,
        creator_id: ObjectId::ZERO,
        updater_id: ObjectId::ZERO,
    }
}

pub fn permission(key: &str, description: &str) -> Permission {
    let (resource, action) = key.rsplit_once('.').unwrap_or((key, "read"));
    Permission {
        key: key.into(),
        description: description.into(),
        resource: resource.into(),
        action: action.into(),
    }
}

pub fn strategy(creator: &ObjectId) -> ScheduleStrategy {
    ScheduleStrategy {
        id: ObjectId::new(),
        spec: StrategySpec {
            strategy_namespace: "default".into(),
            label_selectors: vec![Selector {
                key: "app.kubernetes.io/name".into(),
                value: "web".into(),
            }],
            k8s_namespaces: vec!["prod".into(), "staging".into()],
            command_regex: "^nginx".into(),
            priority: 10,
            execution_time: 20_000_000,
        },
        creator_id: creator.clone(),
        updater_id: creator.clone(),
        created_time: T0,
        updated_time: T0,
    }
}

/// An intent of `strategy` for pod `pod` on node `node`, created by the
/// strategy's creator.
pub fn intent(strategy: &ScheduleStrategy, pod: &str, node: &str) -> ScheduleIntent {
    ScheduleIntent {
        id: ObjectId::new(),
        strategy_id: strategy.id.clone(),
        pod_id: pod.into(),
        pod_name: format!("name-{pod}"),
        node_id: node.into(),
        k8s_namespace: "prod".into(),
        command_regex: strategy.spec.command_regex.clone(),
        priority: strategy.spec.priority,
        execution_time: strategy.spec.execution_time,
        pod_labels: BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), "web".to_string()),
            ("tier".to_string(), "front".to_string()),
        ]),
        state: IntentState::Initialized,
        creator_id: strategy.creator_id.clone(),
        updater_id: strategy.creator_id.clone(),
        created_time: T0,
        updated_time: T0,
    }
}

pub fn audit(user_id: Option<&ObjectId>, action: &str, timestamp: i64) -> AuditEntry {
    AuditEntry {
        id: ObjectId::new(),
        user_id: user_id.cloned(),
        action: action.into(),
        request_id: format!("req-{timestamp}"),
        timestamp,
        ip: "10.0.0.7".into(),
        status: 200,
        target: Some("65f0c1d2e3f4a5b6c7d8e9f0".into()),
        details: serde_json::json!({"username": "alice", "password": "***", "nested": {"roles": ["admin"]}}),
    }
}

/// A live session family of `user_id`, created and last used at `at`,
/// expiring a day later.
pub fn session(user_id: &ObjectId, at: i64) -> Session {
    let id = ObjectId::new();
    Session {
        jti: format!("jti-{id}"),
        token_hash: format!("{:0>64}", id.to_string()),
        id,
        user_id: user_id.clone(),
        created_time: at,
        last_used_time: at,
        expires_at: at + 86_400_000,
        revoked: false,
        revoked_reason: None,
        revoked_time: None,
        ip: "10.0.0.7".into(),
        user_agent: "conformance/1.0".into(),
    }
}

/// A desired configuration of `node` at version `version`, never applied:
/// some flags `false` and one slice 0, so a store that drops them shows.
pub fn runtime_config(node: &str, version: &str) -> NodeRuntimeConfig {
    NodeRuntimeConfig {
        id: ObjectId::new(),
        node_id: node.into(),
        config: RuntimeSchedulerConfig {
            config_version: version.into(),
            mode: "scx".into(),
            scheduler_name: "scx_lavd".into(),
            slice_ns_default: 20_000_000,
            slice_ns_min: 0,
            kernel_mode: false,
            max_time_watchdog: true,
            early_processing: false,
            builtin_idle: false,
            scheduler_enabled: true,
            monitoring_enabled: true,
        },
        updated_by: ObjectId::new(),
        updated_at: T0,
        last_apply_result: None,
        reapply_count: 0,
        reapply_pod: None,
    }
}
