use serde::{Deserialize, Serialize};

use super::ObjectId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "i32", try_from = "i32")]
pub enum UserStatus {
    Active = 1,
    Inactive = 2,
    MustChangePassword = 3,
}

impl From<UserStatus> for i32 {
    fn from(s: UserStatus) -> i32 {
        s as i32
    }
}

impl TryFrom<i32> for UserStatus {
    type Error = String;
    fn try_from(v: i32) -> Result<Self, String> {
        match v {
            1 => Ok(Self::Active),
            2 => Ok(Self::Inactive),
            3 => Ok(Self::MustChangePassword),
            other => Err(format!("unknown user status {other}")),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: ObjectId,
    pub username: String,
    /// bcrypt hash; never leaves the service layer.
    pub password_hash: String,
    pub status: UserStatus,
    /// Role **names** (users reference roles by name).
    pub roles: Vec<String>,
    pub created_time: i64,
    pub updated_time: i64,
    pub creator_id: ObjectId,
    pub updater_id: ObjectId,
    /// Bumped by logout-all and by an administrator's password reset: tokens
    /// carrying an older value are refused. Written only by
    /// `Repository::bump_token_version`, never by `update_user`.
    #[serde(default)]
    pub token_version: i64,
}

/// One grant of a role: a permission key, optionally limited to the
/// caller's own targets (`self`) and to one Kubernetes namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolePolicy {
    #[serde(default)]
    pub permission_key: String,
    #[serde(rename = "self", default)]
    pub self_only: bool,
    #[serde(default)]
    pub k8s_namespace: String,
    /// Stored and returned; no effect.
    #[serde(default)]
    pub policy_namespace: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub id: ObjectId,
    pub name: String,
    pub description: String,
    pub policies: Vec<RolePolicy>,
    pub created_time: i64,
    pub updated_time: i64,
    pub creator_id: ObjectId,
    pub updater_id: ObjectId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    pub key: String,
    pub description: String,
    pub resource: String,
    /// `create`, `read`, `update` or `delete`.
    pub action: String,
}

/// The fixed permission set (key, resource, action, description), in the
/// order `GET /api/v1/permissions` lists them: upstream's 16 plus
/// `audit_log.read` and the two `scheduler_config` keys
/// (sessions-and-runtime.md 14.1).
pub const PERMISSIONS: [(&str, &str, &str, &str); 19] = [
    ("user.create", "user", "create", "Create a new user"),
    ("user.password.reset", "user", "update", "Reset user password"),
    (
        "user.permission.update",
        "user.permission",
        "update",
        "Update user permissions",
    ),
    ("user.read", "user", "read", "Read user information"),
    ("role.create", "role", "create", "Create roles"),
    ("role.delete", "role", "delete", "Delete roles"),
    ("role.update", "role", "update", "Update roles"),
    ("role.read", "role", "read", "Read roles"),
    ("permission.read", "permission", "read", "Read permissions"),
    (
        "schedule_strategy.read",
        "schedule_strategy",
        "read",
        "Read schedule strategies",
    ),
    (
        "schedule_strategy.create",
        "schedule_strategy",
        "create",
        "Create schedule strategies",
    ),
    (
        "schedule_intent.read",
        "schedule_intent",
        "read",
        "Read schedule intents",
    ),
    (
        "schedule_strategy.delete",
        "schedule_strategy",
        "delete",
        "Delete schedule strategies",
    ),
    (
        "schedule_intent.delete",
        "schedule_intent",
        "delete",
        "Delete schedule intents",
    ),
    (
        "pod_pid_mapping.read",
        "pod_pid_mapping",
        "read",
        "Read pod-PID mappings from nodes",
    ),
    (
        "schedule_strategy.update",
        "schedule_strategy",
        "update",
        "Update schedule strategies",
    ),
    ("audit_log.read", "audit_log", "read", "Read the audit log"),
    (
        "scheduler_config.read",
        "scheduler_config",
        "read",
        "Read scheduler runtime configuration",
    ),
    (
        "scheduler_config.update",
        "scheduler_config",
        "update",
        "Apply scheduler runtime configuration",
    ),
];
