//! The Manager's use cases (spec: manager.md): login and the auth
//! middleware's checks, users, roles, strategies and their intents, the
//! audit log, delivery of each node's full intent set to its Decision
//! Makers, the reconciler that keeps them converged, the nodes API, the
//! startup migrations and the admin bootstrap.
//!
//! Everything here depends only on the domain's ports (`Repository`,
//! `K8sAdapter`, `DecisionMakerAdapter`); the REST layer calls the domain's
//! service traits, all implemented by [`ManagerServices`].

mod admin_guard;
mod audit;
mod auth;
mod bootstrap;
mod deferred_cluster;
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
mod reconciler;
mod roles;
mod scope;
mod strategies;
mod users;
mod validation;

#[cfg(test)]
mod testutil;

use std::sync::Arc;

use gthulhu_domain::manager::{DecisionMakerAdapter, K8sAdapter, Repository};

pub use bootstrap::{BootstrapOutcome, DEFAULT_ADMIN_PASSWORD, bootstrap_admin};
pub use deferred_cluster::{ConnectFn, ConnectRetry, DeferredCluster, connect_with_retry};
pub use delivery::{DeliveryError, DeliverySettings, NodePusher, PushOutcome, RetryPolicy, merkle_ordered};
pub use jwt::{JwtKeyError, JwtKeys};
pub use migrations::run_migrations;
pub use no_cluster::NoCluster;
pub use node_status::NodeStatusBoard;
pub use push_queue::PushQueue;
pub use reconciler::{PassOutcome, PassReport, Reconciler, ReconcilerSettings, SkipReason};
pub use strategies::intent_for_pod;

/// Tunables of the services (config keys of manager.md 15).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSettings {
    /// Lifetime of a login token, seconds.
    pub token_ttl_s: i64,
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
            token_ttl_s: 3 * 3600,
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
/// `ScheduleIntentService`, `AuditService`, `NodeService`).
pub struct ManagerServices {
    repo: Arc<dyn Repository>,
    k8s: Arc<dyn K8sAdapter>,
    dms: Arc<dyn DecisionMakerAdapter>,
    jwt: JwtKeys,
    settings: ServiceSettings,
    login_limiter: rate_limit::LoginLimiter,
    passwords: passwords::Passwords,
    pusher: Arc<NodePusher>,
    board: Arc<NodeStatusBoard>,
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
        if settings.token_ttl_s <= 0 {
            tracing::warn!(
                configured = settings.token_ttl_s,
                "token TTL must be positive; using 3 hours"
            );
            settings.token_ttl_s = ServiceSettings::default().token_ttl_s;
        }
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
        Arc::new(Self {
            repo: deps.repo,
            k8s: deps.k8s,
            dms: deps.dms,
            jwt: deps.jwt,
            login_limiter: rate_limit::LoginLimiter::new(settings.login_rate_per_min),
            passwords: passwords::Passwords::new(settings.bcrypt_cost),
            settings,
            pusher,
            board,
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
            settings,
        ))
    }
}
