//! The Manager's use cases (spec: manager.md): login and the auth
//! middleware's checks, users, roles, strategies and their intents, the
//! audit log, delivery of each node's full intent set to its Decision
//! Makers, the startup migrations and the admin bootstrap.
//!
//! Everything here depends only on the domain's ports (`Repository`,
//! `K8sAdapter`, `DecisionMakerAdapter`); the REST layer calls the domain's
//! service traits, all implemented by [`ManagerServices`].

mod audit;
mod auth;
mod bootstrap;
mod delivery;
mod intents;
mod jwt;
mod migrations;
mod no_cluster;
mod passwords;
mod rate_limit;
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
pub use delivery::{DeliveryError, NodePusher, PushOutcome, merkle_ordered};
pub use jwt::{JwtKeyError, JwtKeys};
pub use migrations::run_migrations;
pub use no_cluster::NoCluster;
pub use strategies::{intent_for_pod, is_schedulable};

/// Tunables of the services (config keys of manager.md 15).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSettings {
    /// Lifetime of a login token, seconds.
    pub token_ttl_s: i64,
    /// Login attempts allowed per minute, per client IP and per username
    /// (each). 0 disables the limit.
    pub login_rate_per_min: u32,
    /// bcrypt cost for new hashes (4..=31).
    pub bcrypt_cost: u32,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            token_ttl_s: 3 * 3600,
            login_rate_per_min: 10,
            bcrypt_cost: 12,
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
/// `ScheduleIntentService`, `AuditService`).
pub struct ManagerServices {
    repo: Arc<dyn Repository>,
    k8s: Arc<dyn K8sAdapter>,
    jwt: JwtKeys,
    settings: ServiceSettings,
    login_limiter: rate_limit::LoginLimiter,
    passwords: passwords::Passwords,
    pusher: Arc<NodePusher>,
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
        let pusher = Arc::new(NodePusher::new(deps.repo.clone(), deps.k8s.clone(), deps.dms));
        Arc::new(Self {
            repo: deps.repo,
            k8s: deps.k8s,
            jwt: deps.jwt,
            login_limiter: rate_limit::LoginLimiter::new(settings.login_rate_per_min),
            passwords: passwords::Passwords::new(settings.bcrypt_cost),
            settings,
            pusher,
        })
    }

    /// The node pusher the services use, shared with the reconciler so that
    /// pushes to one node stay serialised whoever triggers them.
    pub fn delivery(&self) -> Arc<NodePusher> {
        self.pusher.clone()
    }
}
