//! What the Manager's services depend on: storage, the cluster and the
//! Decision Makers. Implemented by the store, Kubernetes and client crates.

use async_trait::async_trait;

use super::{
    AuditEntry, AuditQuery, ClusterStatus, DecisionMakerEndpoint, IntentChanges, IntentState, K8sError, NodeInfo,
    NodeRuntimeConfig, ObjectId, Permission, PodEvent, PodInfo, RepoError, RevokeReason, Role, RuntimeApplyResult,
    ScheduleIntent, ScheduleStrategy, Session, SessionRotation, User,
};
use crate::runtime_config::{RuntimeSchedulerConfig, RuntimeStatus};
use crate::{DeleteIntents, Intent, Selector};

pub type RepoResult<T> = Result<T, RepoError>;

/// All Manager data, behind one trait with two backends (MongoDB, redb).
/// Lists come back in creation (id) order unless stated otherwise.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Repository: Send + Sync {
    /// Reachability, for `/ready`.
    async fn ping(&self) -> RepoResult<()>;

    /// `Conflict("username")` when the username is taken.
    async fn create_user(&self, user: &User) -> RepoResult<()>;
    async fn get_user(&self, id: &ObjectId) -> RepoResult<User>;
    async fn get_user_by_username(&self, username: &str) -> RepoResult<User>;
    async fn list_users(&self) -> RepoResult<Vec<User>>;
    /// Replaces password hash, status, roles, updater and updated time
    /// (never `token_version`).
    async fn update_user(&self, user: &User) -> RepoResult<()>;
    async fn count_users_with_role(&self, role_name: &str) -> RepoResult<u64>;
    async fn rename_role_in_users(&self, old_name: &str, new_name: &str) -> RepoResult<()>;
    /// Atomically increments the user's `token_version`; returns the new value.
    async fn bump_token_version(&self, user_id: &ObjectId) -> RepoResult<i64>;

    /// Session families (sessions-and-runtime.md 11). `Conflict("id")` on a taken id.
    async fn insert_session(&self, session: &Session) -> RepoResult<()>;
    async fn get_session(&self, id: &ObjectId) -> RepoResult<Session>;
    /// Compare-and-set on the stored `jti`: sets the new `jti`, hash,
    /// `expiresAt` and `lastUsedTime = now`. `Conflict("jti")` when the stored
    /// `jti` is not `expected_jti`, `Conflict("revoked")` when the family is
    /// revoked, `NotFound` when there is no such record.
    async fn rotate_session(&self, id: &ObjectId, rotation: &SessionRotation) -> RepoResult<()>;
    /// Idempotent: a revoked family keeps its first reason and time.
    /// `NotFound` when there is no such record.
    async fn revoke_session(&self, id: &ObjectId, reason: RevokeReason, now: i64) -> RepoResult<()>;
    /// Revokes every not yet revoked family of the user but `except`;
    /// returns how many it revoked.
    async fn revoke_user_sessions(
        &self,
        user_id: &ObjectId,
        except: Option<ObjectId>,
        reason: RevokeReason,
        now: i64,
    ) -> RepoResult<u64>;
    /// The user's live families (not revoked, `expiresAt > now`), least
    /// recently used first (ties: id order).
    async fn list_user_sessions(&self, user_id: &ObjectId, now: i64) -> RepoResult<Vec<Session>>;
    /// Deletes every family whose `expiresAt <= now`, revoked or not;
    /// returns how many.
    async fn delete_expired_sessions(&self, now: i64) -> RepoResult<u64>;

    /// `Conflict("name")` when the name is taken.
    async fn create_role(&self, role: &Role) -> RepoResult<()>;
    async fn get_role(&self, id: &ObjectId) -> RepoResult<Role>;
    /// Unknown names are skipped.
    async fn get_roles_by_names(&self, names: &[String]) -> RepoResult<Vec<Role>>;
    async fn list_roles(&self) -> RepoResult<Vec<Role>>;
    /// `Conflict("name")` when renamed onto another role's name.
    async fn update_role(&self, role: &Role) -> RepoResult<()>;
    async fn delete_role(&self, id: &ObjectId) -> RepoResult<()>;

    /// In the order first inserted.
    async fn list_permissions(&self) -> RepoResult<Vec<Permission>>;
    async fn upsert_permission(&self, permission: &Permission) -> RepoResult<()>;

    /// Atomically: the strategy and its intents.
    async fn insert_strategy(&self, strategy: &ScheduleStrategy, intents: &[ScheduleIntent]) -> RepoResult<()>;
    async fn get_strategy(&self, id: &ObjectId) -> RepoResult<ScheduleStrategy>;
    async fn list_strategies_by_creator(&self, creator_id: &ObjectId) -> RepoResult<Vec<ScheduleStrategy>>;
    async fn list_strategies(&self) -> RepoResult<Vec<ScheduleStrategy>>;
    /// Atomically: replaces the strategy and **all** of its intents.
    async fn replace_strategy(&self, strategy: &ScheduleStrategy, intents: &[ScheduleIntent]) -> RepoResult<()>;
    /// Atomically: deletes the strategy and its intents; returns the
    /// deleted intents (their nodes need a re-push).
    async fn delete_strategy(&self, id: &ObjectId) -> RepoResult<Vec<ScheduleIntent>>;

    /// Unknown ids are skipped.
    async fn get_intents(&self, ids: &[ObjectId]) -> RepoResult<Vec<ScheduleIntent>>;
    async fn list_intents_by_creator(&self, creator_id: &ObjectId) -> RepoResult<Vec<ScheduleIntent>>;
    async fn list_intents_by_strategy(&self, strategy_id: &ObjectId) -> RepoResult<Vec<ScheduleIntent>>;
    async fn list_intents_by_node(&self, node_id: &str) -> RepoResult<Vec<ScheduleIntent>>;
    /// The intents of these pods (by UID), under any strategy.
    async fn list_intents_by_pods(&self, pod_ids: &[String]) -> RepoResult<Vec<ScheduleIntent>>;
    async fn list_intents(&self) -> RepoResult<Vec<ScheduleIntent>>;
    /// `Conflict("strategyId+podId")` on a duplicate (strategy, pod) pair.
    async fn insert_intents(&self, intents: &[ScheduleIntent]) -> RepoResult<()>;
    /// Replaces every field but the id.
    async fn update_intents(&self, intents: &[ScheduleIntent]) -> RepoResult<()>;
    async fn delete_intents(&self, ids: &[ObjectId]) -> RepoResult<()>;
    /// Deletes, updates (as `update_intents`), then inserts (as
    /// `insert_intents`). All or nothing where the store has transactions;
    /// otherwise in that order, stopping at the first failure: intents are
    /// derived, and the reconciler's next pass repairs a partial batch.
    async fn apply_intent_changes(&self, changes: &IntentChanges) -> RepoResult<()>;
    async fn set_intent_state(&self, ids: &[ObjectId], state: IntentState) -> RepoResult<()>;

    async fn insert_audit(&self, entry: &AuditEntry) -> RepoResult<()>;
    /// Newest first, at most `query.limit`.
    async fn query_audit(&self, query: &AuditQuery) -> RepoResult<Vec<AuditEntry>>;

    async fn applied_migrations(&self) -> RepoResult<Vec<u32>>;
    async fn record_migration(&self, version: u32, name: &str) -> RepoResult<()>;

    /// Inserts, or replaces the record of `record.node_id` (keeping its id).
    async fn upsert_runtime_config(&self, record: &NodeRuntimeConfig) -> RepoResult<()>;
    /// `NotFound` when the node has no desired configuration.
    async fn get_runtime_config(&self, node_id: &str) -> RepoResult<NodeRuntimeConfig>;
    /// Sorted by node name.
    async fn list_runtime_configs(&self) -> RepoResult<Vec<NodeRuntimeConfig>>;
    /// Unknown nodes are skipped; returns how many records were deleted.
    async fn delete_runtime_configs(&self, node_ids: &[String]) -> RepoResult<u64>;
    /// Sets `lastApplyResult`, `reapplyCount` and `reapplyPod` only;
    /// `NotFound` when the record is gone.
    async fn record_runtime_apply(
        &self,
        node_id: &str,
        result: &RuntimeApplyResult,
        reapply_count: i32,
        reapply_pod: Option<String>,
    ) -> RepoResult<()>;
}

/// The cluster as the Manager sees it (pod cache, DMs, nodes).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait K8sAdapter: Send + Sync {
    /// Pods in `namespaces` (empty = all) whose labels satisfy every
    /// selector (empty value = label exists).
    async fn query_pods(&self, namespaces: &[String], selectors: &[Selector]) -> Result<Vec<PodInfo>, K8sError>;
    async fn get_pod(&self, uid: &str) -> Result<Option<PodInfo>, K8sError>;
    /// Pods labelled `app=decisionmaker`, in any namespace.
    async fn list_decision_makers(&self) -> Result<Vec<DecisionMakerEndpoint>, K8sError>;
    /// Live from the API, sorted by name.
    async fn list_nodes(&self) -> Result<Vec<NodeInfo>, K8sError>;
    fn status(&self) -> ClusterStatus;
    /// Pod changes in the cache, for the event-driven intent pipeline. A
    /// receiver that lags, or a `Resynced` event, means "recompute all".
    fn pod_events(&self) -> tokio::sync::broadcast::Receiver<PodEvent>;
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DmClientError {
    #[error("decision maker unreachable: {0}")]
    Unreachable(String),
    #[error("decision maker returned non-OK status {0}")]
    Status(u16),
    /// A non-OK answer with a JSON `error` text, reported as that text.
    #[error("{0}")]
    Refused(String),
    #[error("decision maker returned empty merkle root")]
    EmptyRoot,
    #[error("decision maker token request failed: {0}")]
    Token(String),
    #[error("invalid decision maker response: {0}")]
    InvalidResponse(String),
}

/// The Manager's client of one Decision Maker (wire-compatible with
/// upstream's DM). Tokens are obtained and cached internally.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait DecisionMakerAdapter: Send + Sync {
    /// Replace-all: the node's **full** intent set, in Merkle order.
    async fn push_intents(&self, dm: &DecisionMakerEndpoint, intents: &[Intent]) -> Result<(), DmClientError>;
    async fn delete_intents(&self, dm: &DecisionMakerEndpoint, request: &DeleteIntents) -> Result<(), DmClientError>;
    async fn merkle_root(&self, dm: &DecisionMakerEndpoint) -> Result<String, DmClientError>;
    /// The DM's `data` object of `GET /api/v1/pods/pids`, as received.
    async fn pods_pids(&self, dm: &DecisionMakerEndpoint) -> Result<serde_json::Value, DmClientError>;
    /// DM `POST /api/v1/runtime-config` with every key of the config.
    async fn apply_runtime_config(
        &self,
        dm: &DecisionMakerEndpoint,
        config: &RuntimeSchedulerConfig,
    ) -> Result<(), DmClientError>;
    /// DM `GET /api/v1/runtime-config`, normalised; missing booleans are
    /// `false` (upstream DMs omit them).
    async fn runtime_config(&self, dm: &DecisionMakerEndpoint) -> Result<RuntimeStatus, DmClientError>;
}
