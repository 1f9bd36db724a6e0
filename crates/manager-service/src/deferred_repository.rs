//! The repository while storage is not up yet (manager.md 15.2): until the
//! configured backend is reachable, migrated and bootstrapped, every call
//! is `Unavailable` (503 on data routes, `/ready` says so), and connecting
//! is retried with a backoff capped at 30 s. Once installed, every call
//! goes to the real store.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use gthulhu_domain::manager::{
    AuditEntry, AuditQuery, IntentChanges, IntentState, NodeRuntimeConfig, ObjectId, Permission, RepoError, RepoResult,
    Repository, RevokeReason, Role, RuntimeApplyResult, ScheduleIntent, ScheduleStrategy, Session, SessionRotation,
    User,
};
use tokio::sync::SetOnce;

use crate::{bootstrap_admin, run_migrations};

/// Opens the store once; retried until it works.
pub type OpenFn = Box<dyn Fn() -> BoxFuture<'static, RepoResult<Arc<dyn Repository>>> + Send + Sync>;

/// The admin to create when no user has its name.
pub struct Admin {
    pub email: String,
    pub password: secrecy::SecretString,
    pub bcrypt_cost: u32,
}

/// A repository installed once, when storage is ready.
#[derive(Default)]
pub struct DeferredRepository {
    inner: SetOnce<Arc<dyn Repository>>,
}

const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl DeferredRepository {
    fn current(&self) -> RepoResult<&Arc<dyn Repository>> {
        self.inner
            .get()
            .ok_or_else(|| RepoError::Unavailable("database not connected yet".into()))
    }

    /// Resolves once storage is installed (tests and benchmarks wait on it).
    pub async fn connected(&self) {
        self.inner.wait().await;
    }

    /// Opens the store until it works, migrates, bootstraps the admin, then
    /// installs the repository.
    pub async fn connect(&self, open: OpenFn, admin: Admin) {
        use secrecy::ExposeSecret;
        let mut delay = Duration::from_secs(1);
        let repo = loop {
            match open().await {
                Ok(repo) => match run_migrations(repo.as_ref()).await {
                    Ok(applied) => {
                        tracing::info!(?applied, "storage ready; migrations applied");
                        break repo;
                    }
                    Err(e) => tracing::warn!(error = %e, retry_in_s = delay.as_secs(), "migrations failed"),
                },
                Err(e) => tracing::warn!(error = %e, retry_in_s = delay.as_secs(), "storage unavailable"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_BACKOFF);
        };
        match bootstrap_admin(
            repo.as_ref(),
            &admin.email,
            admin.password.expose_secret(),
            admin.bcrypt_cost,
        )
        .await
        {
            Ok(outcome) => {
                if outcome.created {
                    tracing::info!(admin = %admin.email, "admin user created");
                }
                if outcome.default_password_in_use {
                    tracing::warn!(
                        admin = %admin.email,
                        "!!! THE ADMIN ACCOUNT STILL USES THE DEFAULT PASSWORD: anyone can log in as admin. \
                         Change it now (PUT /api/v1/users/self/password) !!!"
                    );
                }
            }
            // Existing users can still log in; the operator must fix the configuration.
            Err(e) => tracing::error!(error = %e, admin = %admin.email, "admin bootstrap failed"),
        }
        if self.inner.set(repo).is_err() {
            tracing::error!("storage was already connected");
        }
    }
}

/// Forwards every method to the installed repository.
macro_rules! forward {
    ($(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        #[async_trait]
        impl Repository for DeferredRepository {
            $(async fn $name(&self $(, $arg: $ty)*) -> $ret {
                self.current()?.$name($($arg),*).await
            })*
        }
    };
}

forward! {
    fn ping(&self) -> RepoResult<()>;
    fn create_user(&self, user: &User) -> RepoResult<()>;
    fn get_user(&self, id: &ObjectId) -> RepoResult<User>;
    fn get_user_by_username(&self, username: &str) -> RepoResult<User>;
    fn list_users(&self) -> RepoResult<Vec<User>>;
    fn update_user(&self, user: &User) -> RepoResult<()>;
    fn count_users_with_role(&self, role_name: &str) -> RepoResult<u64>;
    fn rename_role_in_users(&self, old_name: &str, new_name: &str) -> RepoResult<()>;
    fn bump_token_version(&self, user_id: &ObjectId) -> RepoResult<i64>;
    fn insert_session(&self, session: &Session) -> RepoResult<()>;
    fn get_session(&self, id: &ObjectId) -> RepoResult<Session>;
    fn rotate_session(&self, id: &ObjectId, rotation: &SessionRotation) -> RepoResult<()>;
    fn revoke_session(&self, id: &ObjectId, reason: RevokeReason, now: i64) -> RepoResult<()>;
    fn revoke_user_sessions(&self, user_id: &ObjectId, except: Option<ObjectId>, reason: RevokeReason, now: i64) -> RepoResult<u64>;
    fn list_user_sessions(&self, user_id: &ObjectId, now: i64) -> RepoResult<Vec<Session>>;
    fn delete_expired_sessions(&self, now: i64) -> RepoResult<u64>;
    fn create_role(&self, role: &Role) -> RepoResult<()>;
    fn get_role(&self, id: &ObjectId) -> RepoResult<Role>;
    fn get_roles_by_names(&self, names: &[String]) -> RepoResult<Vec<Role>>;
    fn list_roles(&self) -> RepoResult<Vec<Role>>;
    fn update_role(&self, role: &Role) -> RepoResult<()>;
    fn delete_role(&self, id: &ObjectId) -> RepoResult<()>;
    fn list_permissions(&self) -> RepoResult<Vec<Permission>>;
    fn upsert_permission(&self, permission: &Permission) -> RepoResult<()>;
    fn insert_strategy(&self, strategy: &ScheduleStrategy, intents: &[ScheduleIntent]) -> RepoResult<()>;
    fn get_strategy(&self, id: &ObjectId) -> RepoResult<ScheduleStrategy>;
    fn list_strategies_by_creator(&self, creator_id: &ObjectId) -> RepoResult<Vec<ScheduleStrategy>>;
    fn list_strategies(&self) -> RepoResult<Vec<ScheduleStrategy>>;
    fn replace_strategy(&self, strategy: &ScheduleStrategy, intents: &[ScheduleIntent]) -> RepoResult<()>;
    fn delete_strategy(&self, id: &ObjectId) -> RepoResult<Vec<ScheduleIntent>>;
    fn get_intents(&self, ids: &[ObjectId]) -> RepoResult<Vec<ScheduleIntent>>;
    fn list_intents_by_creator(&self, creator_id: &ObjectId) -> RepoResult<Vec<ScheduleIntent>>;
    fn list_intents_by_strategy(&self, strategy_id: &ObjectId) -> RepoResult<Vec<ScheduleIntent>>;
    fn list_intents_by_node(&self, node_id: &str) -> RepoResult<Vec<ScheduleIntent>>;
    fn list_intents_by_pods(&self, pod_ids: &[String]) -> RepoResult<Vec<ScheduleIntent>>;
    fn list_intents(&self) -> RepoResult<Vec<ScheduleIntent>>;
    fn insert_intents(&self, intents: &[ScheduleIntent]) -> RepoResult<()>;
    fn update_intents(&self, intents: &[ScheduleIntent]) -> RepoResult<()>;
    fn delete_intents(&self, ids: &[ObjectId]) -> RepoResult<()>;
    fn apply_intent_changes(&self, changes: &IntentChanges) -> RepoResult<()>;
    fn set_intent_state(&self, ids: &[ObjectId], state: IntentState) -> RepoResult<()>;
    fn insert_audit(&self, entry: &AuditEntry) -> RepoResult<()>;
    fn query_audit(&self, query: &AuditQuery) -> RepoResult<Vec<AuditEntry>>;
    fn applied_migrations(&self) -> RepoResult<Vec<u32>>;
    fn record_migration(&self, version: u32, name: &str) -> RepoResult<()>;
    fn upsert_runtime_config(&self, record: &NodeRuntimeConfig) -> RepoResult<()>;
    fn get_runtime_config(&self, node_id: &str) -> RepoResult<NodeRuntimeConfig>;
    fn list_runtime_configs(&self) -> RepoResult<Vec<NodeRuntimeConfig>>;
    fn delete_runtime_configs(&self, node_ids: &[String]) -> RepoResult<u64>;
    fn record_runtime_apply(&self, node_id: &str, result: &RuntimeApplyResult, reapply_count: i32, reapply_pod: Option<String>) -> RepoResult<()>;
}

#[cfg(test)]
mod tests {
    use gthulhu_store_memory::MemoryRepository;

    use super::*;

    #[tokio::test]
    async fn unavailable_until_connected_then_forwards() {
        let repo = DeferredRepository::default();
        assert!(matches!(repo.ping().await, Err(RepoError::Unavailable(_))));
        assert!(matches!(repo.list_users().await, Err(RepoError::Unavailable(_))));
        let admin = Admin {
            email: "root@example.com".into(),
            password: "pw".into(),
            bcrypt_cost: 4,
        };
        let store: Arc<dyn Repository> = Arc::new(MemoryRepository::new());
        let open: OpenFn = Box::new(move || {
            let store = store.clone();
            Box::pin(async move { Ok(store) })
        });
        repo.connect(open, admin).await;
        repo.connected().await;
        repo.ping().await.unwrap();
        let users = repo.list_users().await.unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].username, "root@example.com");
        assert_eq!(users[0].roles, ["admin"]);
        assert_eq!(repo.list_permissions().await.unwrap().len(), 19);
    }
}
