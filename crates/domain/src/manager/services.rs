//! The Manager's use cases, as the REST layer calls them. `Caller` carries
//! the authenticated user and the grants it holds for the route's
//! permission key; services apply the `self`/`k8sNamespace` scope rules.

use async_trait::async_trait;

use super::{
    AuditEntry, AuditQuery, ObjectId, Permission, Role, RolePolicy, ScheduleIntent, ScheduleStrategy, ServiceError,
    StrategySpec, User,
};

pub type ServiceResult<T> = Result<T, ServiceError>;

/// An authenticated, authorised caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user: User,
    /// Policies of the caller's roles whose key is the route's key (empty
    /// for routes open to any valid token).
    pub grants: Vec<RolePolicy>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AuthService: Send + Sync {
    /// A signed JWT, or `Unauthorized` (`user not found`, `user is inactive`,
    /// `invalid password`), `Validation`, `TooManyRequests`.
    async fn login(&self, username: &str, password: &str, client_ip: &str) -> ServiceResult<String>;
    /// The middleware's steps 3-9 (manager.md 4.3): verify the token, load
    /// the user, gate on status, collect the grants for `permission_key`
    /// (`""` = any valid token).
    async fn authorize(&self, bearer_token: &str, permission_key: &str) -> ServiceResult<Caller>;
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
    pub matched_pods: usize,
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
