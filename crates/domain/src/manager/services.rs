//! The Manager's use cases, as the REST layer calls them. `Caller` carries
//! the authenticated user and the grants it holds for the route's
//! permission key; services apply the `self`/`k8sNamespace` scope rules.

use async_trait::async_trait;
use secrecy::SecretString;

use super::{
    AuditEntry, AuditQuery, NodeInfo, ObjectId, Permission, Role, RolePolicy, ScheduleIntent, ScheduleStrategy,
    ServiceError, StrategySpec, User,
};

pub type ServiceResult<T> = Result<T, ServiceError>;

/// An authenticated, authorised caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user: User,
    /// Policies of the caller's roles whose key is the route's key (empty
    /// for routes open to any valid token).
    pub grants: Vec<RolePolicy>,
    /// The session family of the access token (`sid`); `None` for tokens
    /// issued before sessions existed.
    pub session_id: Option<ObjectId>,
}

/// Where a request came from: the login rate limit and the audit log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestOrigin {
    pub client_ip: String,
    /// `X-Request-ID`, or the one generated for the request.
    pub request_id: String,
    /// `User-Agent`, recorded on the session a login creates.
    pub user_agent: String,
}

/// What a login or a refresh hands out (sessions-and-runtime.md 3, 4).
#[derive(Clone, Debug)]
pub struct IssuedTokens {
    /// The access JWT (`token` and `accessToken` of the answer).
    pub access_token: String,
    /// The refresh JWT: never logged, never stored (only its SHA-256).
    pub refresh_token: SecretString,
    /// `exp` of the refresh token, Unix seconds (the cookie's `Max-Age`).
    pub refresh_expires_at: i64,
    /// The session family (`sid`).
    pub session_id: ObjectId,
}

/// The audit log's `reason` of a failed refresh or logout
/// (sessions-and-runtime.md 10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionFailureReason {
    Origin,
    Invalid,
    NotFound,
    Revoked,
    Inactive,
    Reused,
}

impl SessionFailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Origin => "origin",
            Self::Invalid => "invalid",
            Self::NotFound => "not_found",
            Self::Revoked => "revoked",
            Self::Inactive => "inactive",
            Self::Reused => "reused",
        }
    }
}

/// A refused refresh or logout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionFailure {
    pub error: ServiceError,
    /// `None` when no check failed (storage down).
    pub reason: Option<SessionFailureReason>,
    /// The refresh cookie must be cleared (refresh steps 8-11).
    pub clear_cookie: bool,
}

/// A refresh or logout attempt, with what the audit log records of it.
#[derive(Clone, Debug)]
pub struct SessionAttempt<T> {
    /// The token's `uid`, once its signature verified.
    pub user_id: Option<ObjectId>,
    /// The token's `sid`, once its signature verified.
    pub session_id: Option<ObjectId>,
    pub result: Result<T, SessionFailure>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AuthService: Send + Sync {
    /// A new session family and its first tokens, or `Unauthorized` (`user
    /// not found`, `user is inactive`, `invalid password`), `Validation`,
    /// `TooManyRequests`.
    async fn login(&self, username: &str, password: &str, origin: &RequestOrigin) -> ServiceResult<IssuedTokens>;
    /// The middleware's steps 3-9 (manager.md 4.3, as amended by
    /// sessions-and-runtime.md 9): verify the access token, load the user,
    /// check its `tokenVersion`, gate on status, collect the grants for
    /// `permission_key` (`""` = any valid token).
    async fn authorize(&self, bearer_token: &str, permission_key: &str) -> ServiceResult<Caller>;
    /// Rotates a refresh token (checks 4-12 of sessions-and-runtime.md 4).
    async fn refresh(&self, refresh_token: &SecretString) -> SessionAttempt<IssuedTokens>;
    /// Ends the token's session family (sessions-and-runtime.md 5).
    async fn logout(&self, refresh_token: &SecretString) -> SessionAttempt<()>;
    /// Invalidates every token of the caller and ends all of its families.
    async fn logout_all(&self, caller: &Caller) -> ServiceResult<()>;
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserService: Send + Sync {
    async fn create_user(&self, caller: &Caller, username: &str, password: &str) -> ServiceResult<ObjectId>;
    async fn reset_password(&self, caller: &Caller, user_id: &str, new_password: &str) -> ServiceResult<()>;
    /// `roles` replaces the user's roles when given; `status` must be 1-3.
    async fn update_permissions(
        &self,
        caller: &Caller,
        user_id: &str,
        roles: Option<Vec<String>>,
        status: Option<i64>,
    ) -> ServiceResult<()>;
    async fn list_users(&self, caller: &Caller) -> ServiceResult<Vec<User>>;
    async fn change_own_password(&self, caller: &Caller, old_password: &str, new_password: &str) -> ServiceResult<()>;
}

/// A role as created or replaced; `None` fields of an update keep the stored value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub policies: Option<Vec<RolePolicy>>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RoleService: Send + Sync {
    async fn create_role(&self, caller: &Caller, role: RoleChange) -> ServiceResult<ObjectId>;
    async fn update_role(&self, caller: &Caller, role_id: &str, change: RoleChange) -> ServiceResult<()>;
    async fn delete_role(&self, caller: &Caller, role_id: &str) -> ServiceResult<()>;
    async fn list_roles(&self, caller: &Caller) -> ServiceResult<Vec<Role>>;
    async fn list_permissions(&self, caller: &Caller) -> ServiceResult<Vec<Permission>>;
}

/// The outcome of a strategy create or update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrategyApplied {
    pub strategy_id: ObjectId,
    /// `None` while the pod cache has not synced: the strategy is stored,
    /// and its intents are computed by the reconciler's pass once it has.
    pub matched_pods: Option<usize>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait StrategyService: Send + Sync {
    async fn create_strategy(&self, caller: &Caller, spec: StrategySpec) -> ServiceResult<StrategyApplied>;
    /// Full replacement.
    async fn update_strategy(
        &self,
        caller: &Caller,
        strategy_id: &str,
        spec: StrategySpec,
    ) -> ServiceResult<StrategyApplied>;
    async fn delete_strategy(&self, caller: &Caller, strategy_id: &str) -> ServiceResult<()>;
    /// The caller's own strategies within scope, creation order.
    async fn list_own_strategies(&self, caller: &Caller) -> ServiceResult<Vec<ScheduleStrategy>>;
    /// Every strategy the caller's scope covers.
    async fn list_strategies(&self, caller: &Caller) -> ServiceResult<Vec<ScheduleStrategy>>;
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ScheduleIntentService: Send + Sync {
    async fn list_own_intents(&self, caller: &Caller) -> ServiceResult<Vec<ScheduleIntent>>;
    async fn delete_intents(&self, caller: &Caller, intent_ids: &[String]) -> ServiceResult<()>;
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AuditService: Send + Sync {
    /// Best-effort: failures are logged, never returned.
    async fn record(&self, entry: AuditEntry);
    async fn query(&self, caller: &Caller, query: AuditQuery) -> ServiceResult<Vec<AuditEntry>>;
}

/// How the last push of a node's intent set ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushResult {
    /// Every Online DM on the node accepted the set.
    Delivered,
    /// No Online DM on the node; nothing was sent.
    NoDecisionMaker,
    /// A DM refused or could not be reached (after retries); the reconciler retries.
    Failed(String),
}

/// What the Manager knows about applying intents to one node (additive to
/// manager.md 10.1). `None` until the event happened at least once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeApplyStatus {
    /// Milliseconds since the Unix epoch.
    pub last_push_ms: Option<i64>,
    pub last_push: Option<PushResult>,
    /// Root of the node's stored intents, at the last push or reconcile check.
    pub expected_root: Option<String>,
    /// Root a DM on the node reported at the last reconcile check.
    pub observed_root: Option<String>,
    /// Stored intents of the node, at the last push or reconcile check.
    pub intents: Option<usize>,
    /// The last runtime-config check; `None` without a desired config or
    /// before the first check.
    pub runtime: Option<super::RuntimeDrift>,
}

/// A cluster node with its apply status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeOverview {
    pub node: NodeInfo,
    pub apply: NodeApplyStatus,
}

/// A node's pod → process map, as its DM reported it (manager.md 10.2).
#[derive(Clone, Debug, PartialEq)]
pub struct NodePodsPids {
    /// The DM's `data.pods` items, as received, minus pods outside the caller's scope.
    pub pods: Vec<serde_json::Value>,
    pub timestamp: String,
    pub node_name: String,
    /// The DM's value, else the requested node.
    pub node_id: String,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait NodeService: Send + Sync {
    /// Live from the Kubernetes API, sorted by name; `Unavailable`
    /// (`kubernetes API unavailable`) when it cannot be read.
    async fn list_nodes(&self, caller: &Caller) -> ServiceResult<Vec<NodeOverview>>;
    /// Proxies the node's DM: `NotFound` without a DM pod on the node,
    /// `Unavailable` when none is Online or every call failed.
    async fn node_pods_pids(&self, caller: &Caller, node_id: &str) -> ServiceResult<NodePodsPids>;
}

/// What `/ready` reports: each dependency's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// `None` when the store answered a ping; else why not (logged, never
    /// shown: it may name hosts or paths).
    pub storage_error: Option<super::RepoError>,
    pub cluster: super::ClusterStatus,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ReadinessService: Send + Sync {
    async fn readiness(&self) -> Readiness;
}
