//! The Manager's use cases (spec: manager.md): login and the auth
//! middleware's checks, users, roles, strategies and their intents, the
//! audit log, delivery of each node's full intent set to its Decision
//! Makers, the reconciler that keeps them converged, the nodes API, the
//! startup migrations, the admin bootstrap, and login sessions (refresh
//! with rotation, logout, logout-all; sessions-and-runtime.md Part A), and
//! the scheduler runtime configuration of every node (Part B).
//!
//! Everything here depends only on the domain's ports (`Repository`,
//! `K8sAdapter`, `DecisionMakerAdapter`); the REST layer calls the domain's
//! service traits, all implemented by [`ManagerServices`].

mod admin_guard;
mod audit;
mod auth;
mod bootstrap;
mod deferred_cluster;
mod deferred_repository;
mod delivery;
mod intents;
mod jwt;
mod migrations;
mod no_cluster;
mod node_status;
mod nodes;
mod passwords;
mod pattern_budget;
mod push_queue;
mod rate_limit;
mod readiness;
mod reconciler;
mod roles;
mod runtime_configs;
mod scope;
mod sessions;
mod strategies;
mod user_cache;
mod users;
mod validation;

#[cfg(test)]
mod testutil;

use std::sync::Arc;

use gthulhu_domain::manager::{DecisionMakerAdapter, K8sAdapter, Repository};

pub use bootstrap::{BootstrapOutcome, DEFAULT_ADMIN_PASSWORD, bootstrap_admin};
pub use deferred_cluster::{ConnectFn, ConnectRetry, DeferredCluster, connect_with_retry};
pub use deferred_repository::{Admin, DeferredRepository, OpenFn};
pub use delivery::{DeliveryError, DeliverySettings, NodePusher, PushOutcome, RetryPolicy, merkle_ordered};
pub use jwt::{JwtKeyError, JwtKeys};
pub use migrations::run_migrations;
pub use no_cluster::NoCluster;
pub use node_status::NodeStatusBoard;
pub use push_queue::PushQueue;
pub use reconciler::{PassOutcome, PassReport, Reconciler, ReconcilerSettings, SkipReason};
pub use runtime_configs::RuntimeConfigs;
pub use sessions::{SESSION_SWEEP_INTERVAL, run_session_sweeper};
pub use strategies::intent_for_pod;

/// Tunables of the services (config keys of manager.md 15).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSettings {
    /// Lifetime of an access token, seconds (`auth.access_ttl_s`).
    pub access_ttl_s: i64,
    /// Sliding lifetime of a refresh token, seconds (`auth.refresh_ttl_s`).
    pub refresh_ttl_s: i64,
    /// No session family outlives this many seconds; 0 = no cap
    /// (`auth.session_max_age_s`).
    pub session_max_age_s: i64,
    /// Live session families per user; a login beyond it revokes the least
    /// recently used (`auth.max_sessions_per_user`).
    pub max_sessions_per_user: usize,
    /// How long the auth middleware may serve a user from its cache; 0
    /// disables the cache (`auth.user_cache_ttl_s`).
    pub user_cache_ttl_s: u64,
    /// Login attempts allowed per minute per client IP (refused beyond);
    /// per username, attempts beyond it are slowed down, never refused.
    /// 0 disables both.
    pub login_rate_per_min: u32,
    /// bcrypt cost for new hashes (4..=31).
    pub bcrypt_cost: u32,
    /// Nodes pushed at once (`reconciler.max_concurrent_pushes`).
    pub max_concurrent_pushes: usize,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            access_ttl_s: 900,
            refresh_ttl_s: 86_400,
            session_max_age_s: 604_800,
            max_sessions_per_user: 20,
            user_cache_ttl_s: 5,
            login_rate_per_min: 10,
            bcrypt_cost: 12,
            max_concurrent_pushes: DeliverySettings::default().max_concurrent_pushes,
        }
    }
}

/// What the services need from the outside.
pub struct ServiceDeps {
    pub repo: Arc<dyn Repository>,
    pub k8s: Arc<dyn K8sAdapter>,
    pub dms: Arc<dyn DecisionMakerAdapter>,
    pub jwt: JwtKeys,
    pub settings: ServiceSettings,
}

/// Implements every Manager service trait of the domain (`AuthService`,
/// `UserService`, `RoleService`, `StrategyService`,
/// `ScheduleIntentService`, `AuditService`, `NodeService`,
/// `SchedulerConfigService`).
pub struct ManagerServices {
    repo: Arc<dyn Repository>,
    k8s: Arc<dyn K8sAdapter>,
    dms: Arc<dyn DecisionMakerAdapter>,
    jwt: JwtKeys,
    settings: ServiceSettings,
    login_limiter: rate_limit::LoginLimiter,
    passwords: passwords::Passwords,
    user_cache: user_cache::UserCache,
    pusher: Arc<NodePusher>,
    board: Arc<NodeStatusBoard>,
    runtime: Arc<RuntimeConfigs>,
}

impl ManagerServices {
    pub fn new(deps: ServiceDeps) -> Arc<Self> {
        let mut settings = deps.settings;
        if !passwords::COST_RANGE.contains(&settings.bcrypt_cost) {
            let cost = settings
                .bcrypt_cost
                .clamp(*passwords::COST_RANGE.start(), *passwords::COST_RANGE.end());
            tracing::warn!(
                configured = settings.bcrypt_cost,
                using = cost,
                "bcrypt cost out of range"
            );
            settings.bcrypt_cost = cost;
        }
        // The configuration layer validates these; a direct caller passing
        // nonsense gets the defaults rather than tokens that never work.
        let defaults = ServiceSettings::default();
        if settings.access_ttl_s <= 0 {
            tracing::warn!(
                configured = settings.access_ttl_s,
                "access TTL must be positive; using the default"
            );
            settings.access_ttl_s = defaults.access_ttl_s;
        }
        if settings.refresh_ttl_s <= 0 {
            tracing::warn!(
                configured = settings.refresh_ttl_s,
                "refresh TTL must be positive; using the default"
            );
            settings.refresh_ttl_s = defaults.refresh_ttl_s;
        }
        settings.session_max_age_s = settings.session_max_age_s.max(0);
        settings.max_sessions_per_user = settings.max_sessions_per_user.max(1);
        let board = Arc::new(NodeStatusBoard::default());
        let delivery = DeliverySettings {
            max_concurrent_pushes: settings.max_concurrent_pushes,
            ..DeliverySettings::default()
        };
        let pusher = Arc::new(NodePusher::new(
            deps.repo.clone(),
            deps.k8s.clone(),
            deps.dms.clone(),
            board.clone(),
            delivery,
        ));
        let runtime = Arc::new(RuntimeConfigs::new(
            deps.repo.clone(),
            deps.k8s.clone(),
            deps.dms.clone(),
            board.clone(),
            settings.max_concurrent_pushes,
        ));
        Arc::new(Self {
            repo: deps.repo,
            k8s: deps.k8s,
            dms: deps.dms,
            jwt: deps.jwt,
            login_limiter: rate_limit::LoginLimiter::new(settings.login_rate_per_min),
            passwords: passwords::Passwords::new(settings.bcrypt_cost),
            user_cache: user_cache::UserCache::new(settings.user_cache_ttl_s),
            settings,
            pusher,
            board,
            runtime,
        })
    }

    /// The reconciler over the same ports, node pusher and status board as
    /// the services, so that pushes to one node stay serialised whoever
    /// triggers them.
    pub fn reconciler(&self, settings: ReconcilerSettings) -> Arc<Reconciler> {
        Arc::new(Reconciler::new(
            self.repo.clone(),
            self.k8s.clone(),
            self.dms.clone(),
            self.pusher.clone(),
            self.board.clone(),
            self.runtime.clone(),
            settings,
        ))
    }
}
