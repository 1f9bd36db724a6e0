//! Request and response bodies, as the wire (and the OpenAPI description)
//! has them: camelCase keys, `[]`/`{}` never `null`. Absent or `null`
//! request fields take their zero value (manager.md 1.3).

use std::collections::BTreeMap;

use gthulhu_domain::Selector;
use gthulhu_domain::manager::{
    AuditEntry, Permission, Role, RolePolicy, ScheduleIntent, ScheduleStrategy, StrategySpec, User,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::audit::details_object;
use crate::envelope::rfc3339;
use gthulhu_domain::null_as_empty;

/// `{"success":true,"data":…,"timestamp":…}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Envelope<T> {
    #[schema(example = true)]
    success: bool,
    data: T,
    #[schema(example = "2026-03-10T08:00:00Z")]
    timestamp: String,
}

/// `{"success":true,"timestamp":…}`: routes that return nothing.
#[derive(Serialize, ToSchema)]
pub(crate) struct Done {
    #[schema(example = true)]
    success: bool,
    #[schema(example = "2026-03-10T08:00:00Z")]
    timestamp: String,
}

impl Done {
    pub fn now() -> Self {
        Self {
            success: true,
            timestamp: crate::envelope::now(),
        }
    }
}

/// `data` of the delete routes: always `{}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Empty {}

/// Every error: `{"success":false,"error":…}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    #[schema(example = false)]
    success: bool,
    #[schema(example = "permission denied")]
    error: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    #[schema(example = "healthy")]
    status: String,
    timestamp: String,
    #[schema(example = "BSS Metrics API Server")]
    service: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Version {
    #[schema(example = "BSS Metrics API Server")]
    message: String,
    version: String,
    endpoints: String,
}

/// `/ready`'s `data`: each dependency and its state.
#[derive(Serialize, ToSchema)]
pub(crate) struct Readiness {
    #[schema(example = "ready")]
    pub status: &'static str,
    /// `storage` and `kubernetes`: `ok`, or why not.
    #[schema(example = json!({"storage": "ok", "kubernetes": "not configured: no cluster configured"}))]
    pub checks: BTreeMap<&'static str, String>,
}

/// `/ready`'s 503 body: the error envelope plus the checks.
#[derive(Serialize, ToSchema)]
pub(crate) struct NotReady {
    #[schema(example = false)]
    pub success: bool,
    #[schema(example = "not ready: storage")]
    pub error: String,
    pub data: Readiness,
    pub timestamp: String,
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct LoginRequest {
    #[serde(default)]
    #[schema(example = "admin@example.com", required = true, min_length = 1, max_length = 256)]
    pub username: String,
    #[serde(default)]
    #[schema(example = "your-password-here", required = true, min_length = 1, max_length = 72)]
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct CreateUserRequest {
    #[serde(default)]
    #[schema(example = "alice@example.com", required = true, min_length = 1, max_length = 256)]
    pub username: String,
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 72)]
    pub password: String,
}

/// `userId` is accepted for `userID`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct ResetPasswordRequest {
    #[serde(rename = "userID", default)]
    #[schema(example = "65f0c1d2e3f4a5b6c7d8e9f0", required = true, pattern = "^[0-9a-f]{24}$")]
    pub user_id: String,
    #[serde(rename = "newPassword", default)]
    #[schema(required = true, min_length = 1, max_length = 72)]
    pub new_password: String,
}

/// `userId` is accepted for `userID`. `roles` replaces the user's roles
/// when present; `status` is 1 (active), 2 (inactive) or 3 (must change
/// password).
#[derive(Deserialize, ToSchema)]
pub(crate) struct UpdatePermissionsRequest {
    #[serde(rename = "userID", default)]
    #[schema(example = "65f0c1d2e3f4a5b6c7d8e9f0", required = true, pattern = "^[0-9a-f]{24}$")]
    pub user_id: String,
    #[serde(default)]
    #[schema(max_items = 64)]
    pub roles: Option<Vec<String>>,
    #[serde(default)]
    #[schema(example = 1, minimum = 1, maximum = 3)]
    pub status: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChangeOwnPasswordRequest {
    #[serde(default)]
    #[schema(required = true)]
    pub old_password: String,
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 72)]
    pub new_password: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct UserItem {
    #[schema(example = "65f0c1d2e3f4a5b6c7d8e9f0")]
    id: String,
    #[schema(example = "admin@example.com")]
    username: String,
    roles: Vec<String>,
    /// 1 active, 2 inactive, 3 must change password.
    #[schema(example = 1)]
    status: i32,
}

impl From<User> for UserItem {
    fn from(u: User) -> Self {
        Self {
            id: u.id.to_string(),
            username: u.username,
            roles: u.roles,
            status: u.status.into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct UsersData {
    pub users: Vec<UserItem>,
}

/// One grant of a role.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RolePolicyDto {
    #[serde(default)]
    #[schema(example = "schedule_strategy.create")]
    permission_key: String,
    /// Only the caller's own targets.
    #[serde(rename = "self", default)]
    self_only: bool,
    /// Empty: every namespace.
    #[serde(default)]
    #[schema(example = "team-a")]
    k8s_namespace: String,
    /// Stored and returned; no effect.
    #[serde(default)]
    #[schema(max_length = 253)]
    policy_namespace: String,
}

impl From<RolePolicyDto> for RolePolicy {
    fn from(p: RolePolicyDto) -> Self {
        Self {
            permission_key: p.permission_key,
            self_only: p.self_only,
            k8s_namespace: p.k8s_namespace,
            policy_namespace: p.policy_namespace,
        }
    }
}

impl From<RolePolicy> for RolePolicyDto {
    fn from(p: RolePolicy) -> Self {
        Self {
            permission_key: p.permission_key,
            self_only: p.self_only,
            k8s_namespace: p.k8s_namespace,
            policy_namespace: p.policy_namespace,
        }
    }
}

/// `rolePolicy` is accepted for `rolePolicies` (not both).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateRoleRequest {
    #[serde(default)]
    #[schema(example = "role_manager", required = true, min_length = 1, max_length = 128)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub description: String,
    #[serde(default)]
    #[schema(max_items = 256)]
    pub role_policies: Option<Vec<RolePolicyDto>>,
}

/// Present fields replace the stored ones; `rolePolicies` is accepted for
/// `rolePolicy` (not both).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateRoleRequest {
    #[serde(default)]
    #[schema(example = "65f0c1d2e3f4a5b6c7d8e9f1", required = true, pattern = "^[0-9a-f]{24}$")]
    pub id: String,
    #[serde(default)]
    #[schema(max_length = 128)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(max_items = 256)]
    pub role_policy: Option<Vec<RolePolicyDto>>,
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct DeleteRoleRequest {
    #[serde(default)]
    #[schema(example = "65f0c1d2e3f4a5b6c7d8e9f1", required = true, pattern = "^[0-9a-f]{24}$")]
    pub id: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoleItem {
    id: String,
    #[schema(example = "admin")]
    name: String,
    description: String,
    role_policy: Vec<RolePolicyDto>,
}

impl From<Role> for RoleItem {
    fn from(r: Role) -> Self {
        Self {
            id: r.id.to_string(),
            name: r.name,
            description: r.description,
            role_policy: r.policies.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct RolesData {
    pub roles: Vec<RoleItem>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct PermissionItem {
    #[schema(example = "user.create")]
    key: String,
    #[schema(example = "Create a new user")]
    description: String,
}

impl From<Permission> for PermissionItem {
    fn from(p: Permission) -> Self {
        Self {
            key: p.key,
            description: p.description,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct PermissionsData {
    pub permissions: Vec<PermissionItem>,
}

/// A label condition; an empty `value` means "label exists".
#[derive(Serialize, Deserialize, ToSchema)]
pub(crate) struct LabelSelector {
    #[serde(default)]
    #[schema(example = "app", max_length = 317)]
    key: String,
    #[serde(default)]
    #[schema(example = "busybox", max_length = 63)]
    value: String,
}

/// What a strategy selects and how it schedules it. Every field is
/// optional.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StrategyFields {
    /// Free text, stored and returned.
    #[serde(default)]
    #[schema(example = "prod", max_length = 253)]
    strategy_namespace: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schema(max_items = 64)]
    label_selectors: Vec<LabelSelector>,
    /// Namespaces to search (DNS-1123 labels); empty = all namespaces.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schema(example = json!(["gthulhu-api-local"]), max_items = 256)]
    k8s_namespace: Vec<String>,
    /// Regex on process names (`comm`), applied on the node.
    #[serde(default)]
    #[schema(example = "sleep|sh", max_length = 1024)]
    command_regex: String,
    /// 0-20.
    #[serde(default)]
    #[schema(example = 1, minimum = 0, maximum = 20)]
    priority: i64,
    /// Time slice in ns (0 = scheduler default, at most 1 s).
    #[serde(default)]
    #[schema(example = 20000000, minimum = 0, maximum = 1000000000)]
    execution_time: i64,
}

impl From<StrategyFields> for StrategySpec {
    fn from(f: StrategyFields) -> Self {
        Self {
            strategy_namespace: f.strategy_namespace,
            label_selectors: f
                .label_selectors
                .into_iter()
                .map(|s| Selector {
                    key: s.key,
                    value: s.value,
                })
                .collect(),
            k8s_namespaces: f.k8s_namespace,
            command_regex: f.command_regex,
            priority: f.priority,
            execution_time: f.execution_time,
        }
    }
}

/// A full replacement: omitted fields become empty or zero. `strategyID`
/// is accepted for `strategyId`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateStrategyRequest {
    #[serde(default)]
    #[schema(example = "65f0c1d2e3f4a5b6c7d8e9f0", required = true, pattern = "^[0-9a-f]{24}$")]
    pub strategy_id: String,
    #[serde(flatten)]
    pub fields: StrategyFields,
}

/// `strategyID` is accepted for `strategyId`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeleteStrategyRequest {
    #[serde(default)]
    #[schema(example = "65f0c1d2e3f4a5b6c7d8e9f0", required = true, pattern = "^[0-9a-f]{24}$")]
    pub strategy_id: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StrategyAppliedData {
    #[schema(example = "65f0c1d2e3f4a5b6c7d8e9f0")]
    pub strategy_id: String,
    /// Pods matched now; 0 is not an error (the reconciler applies the
    /// strategy to pods that appear later). `null` while `pending`.
    pub matched_pods: Option<usize>,
    /// The pod cache has not synced yet: the strategy is stored, and its
    /// intents are computed and delivered once the cache has synced.
    pub pending: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StrategyItem {
    #[schema(example = "65f0c1d2e3f4a5b6c7d8e9f0")]
    id: String,
    strategy_namespace: String,
    label_selectors: Vec<LabelSelector>,
    k8s_namespace: Vec<String>,
    command_regex: String,
    priority: i64,
    execution_time: i64,
    /// Only in `GET /api/v1/strategies`.
    #[serde(skip_serializing_if = "Option::is_none")]
    creator_id: Option<String>,
}

impl StrategyItem {
    pub fn new(s: ScheduleStrategy, with_creator: bool) -> Self {
        let spec = s.spec;
        Self {
            id: s.id.to_string(),
            strategy_namespace: spec.strategy_namespace,
            label_selectors: spec
                .label_selectors
                .into_iter()
                .map(|s| LabelSelector {
                    key: s.key,
                    value: s.value,
                })
                .collect(),
            k8s_namespace: spec.k8s_namespaces,
            command_regex: spec.command_regex,
            priority: spec.priority,
            execution_time: spec.execution_time,
            creator_id: with_creator.then(|| s.creator_id.to_string()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct StrategiesData {
    pub strategies: Vec<StrategyItem>,
}

/// `intentIDs` is accepted for `intentIds`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeleteIntentsRequest {
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schema(example = json!(["65f0c1d2e3f4a5b6c7d8e9f1"]), required = true, min_items = 1)]
    pub intent_ids: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IntentItem {
    id: String,
    strategy_id: String,
    /// The pod's `metadata.uid`.
    pod_id: String,
    pod_name: String,
    /// The pod's node.
    node_id: String,
    k8s_namespace: String,
    command_regex: String,
    priority: i64,
    execution_time: i64,
    /// The pod's full label map.
    pod_labels: BTreeMap<String, String>,
    /// 0 unknown, 1 initialized (stored), 2 sent (the node's DM holds it).
    #[schema(example = 2)]
    state: i32,
}

impl From<ScheduleIntent> for IntentItem {
    fn from(i: ScheduleIntent) -> Self {
        Self {
            id: i.id.to_string(),
            strategy_id: i.strategy_id.to_string(),
            pod_id: i.pod_id,
            pod_name: i.pod_name,
            node_id: i.node_id,
            k8s_namespace: i.k8s_namespace,
            command_regex: i.command_regex,
            priority: i.priority,
            execution_time: i.execution_time,
            pod_labels: i.pod_labels,
            state: i.state.into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct IntentsData {
    pub intents: Vec<IntentItem>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditEntryItem {
    id: String,
    /// `null` for a login attempt with an unknown username.
    user_id: Option<String>,
    /// `auth.login`, a permission key, or `user.self.password`.
    #[schema(example = "schedule_strategy.create")]
    action: String,
    request_id: String,
    #[schema(example = "2026-03-10T08:00:00Z")]
    timestamp: String,
    /// The client's TCP peer address.
    ip: String,
    /// The HTTP status answered.
    #[schema(example = 200)]
    status: u16,
    /// The id of the resource acted on, when there is one.
    target: Option<String>,
    /// The request body with passwords and keys replaced by `"***"`.
    #[schema(value_type = Object)]
    details: Value,
}

impl From<AuditEntry> for AuditEntryItem {
    fn from(e: AuditEntry) -> Self {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(e.timestamp.max(0) as u64);
        Self {
            id: e.id.to_string(),
            user_id: e.user_id.map(|id| id.to_string()),
            action: e.action,
            request_id: e.request_id,
            timestamp: rfc3339(at),
            ip: e.ip,
            status: e.status,
            target: e.target,
            details: details_object(e.details),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditLogData {
    pub entries: Vec<AuditEntryItem>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/audit-logs` filters.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditLogParams {
    /// Only this user's entries.
    pub user_id: Option<String>,
    /// Only this action (e.g. `auth.login`).
    pub action: Option<String>,
    /// RFC3339; entries at or after.
    pub from: Option<String>,
    /// RFC3339; entries at or before.
    pub to: Option<String>,
    /// 1-1000, default 100.
    pub limit: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

pub(crate) fn envelope<T: Serialize>(data: T) -> Envelope<T> {
    Envelope {
        success: true,
        data,
        timestamp: crate::envelope::now(),
    }
}

impl Health {
    pub fn now() -> Self {
        Self {
            status: "healthy".into(),
            timestamp: crate::envelope::now(),
            service: super::handlers::SERVICE.into(),
        }
    }
}

impl Version {
    pub fn new(version: &str, endpoints: &str) -> Self {
        Self {
            message: super::handlers::SERVICE.into(),
            version: version.into(),
            endpoints: endpoints.into(),
        }
    }
}
