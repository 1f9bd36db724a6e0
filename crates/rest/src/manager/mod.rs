//! The Manager's HTTP API (spec: manager.md 1, 2, 4-8, 10, 13, 14.6;
//! sessions-and-runtime.md Part A).

mod audit;
mod auth;
mod cookie;
mod decode;
mod dto;
mod errors;
mod handlers;
mod metrics;
mod node_dto;
mod openapi;
mod server;
mod session_dto;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use gthulhu_domain::manager::{
    AuditService, AuthService, NodeService, ReadinessService, RoleService, ScheduleIntentService,
    SchedulerConfigService, StrategyService, UserService,
};
use prometheus_client::registry::Registry;

pub use cookie::{CookieSecure, SessionCookieSettings};
pub use metrics::ManagerMetrics;
pub use openapi::ApiDoc;
pub use server::{ManagerServer, serve};

/// What the Manager's handlers depend on: the domain's service traits only.
/// Injected by the composition root (or a test) without knowing the
/// implementations.
pub struct ManagerApi {
    pub auth: Arc<dyn AuthService>,
    pub users: Arc<dyn UserService>,
    pub roles: Arc<dyn RoleService>,
    pub strategies: Arc<dyn StrategyService>,
    pub intents: Arc<dyn ScheduleIntentService>,
    pub nodes: Arc<dyn NodeService>,
    pub scheduler_config: Arc<dyn SchedulerConfigService>,
    pub audit: Arc<dyn AuditService>,
    pub readiness: Arc<dyn ReadinessService>,
    /// Frozen after every component registered its metrics.
    pub registry: Arc<Registry>,
    pub metrics: ManagerMetrics,
    pub settings: ManagerSettings,
}

#[derive(Clone, Debug)]
pub struct ManagerSettings {
    /// Larger request bodies get 413.
    pub max_body_bytes: usize,
    pub version: String,
    pub timeouts: crate::Timeouts,
    /// The refresh cookie and its Origin check (sessions-and-runtime.md 8).
    pub sessions: SessionCookieSettings,
}

/// One value implementing every service trait (the production services).
pub trait ManagerServiceSet:
    AuthService
    + UserService
    + RoleService
    + StrategyService
    + ScheduleIntentService
    + NodeService
    + SchedulerConfigService
    + AuditService
    + ReadinessService
    + 'static
{
}

impl<T> ManagerServiceSet for T where
    T: AuthService
        + UserService
        + RoleService
        + StrategyService
        + ScheduleIntentService
        + NodeService
        + SchedulerConfigService
        + AuditService
        + ReadinessService
        + 'static
{
}

impl ManagerApi {
    /// Every service from `services`.
    pub fn new<S: ManagerServiceSet>(
        services: Arc<S>,
        registry: Arc<Registry>,
        metrics: ManagerMetrics,
        settings: ManagerSettings,
    ) -> Self {
        Self {
            auth: services.clone(),
            users: services.clone(),
            roles: services.clone(),
            strategies: services.clone(),
            intents: services.clone(),
            nodes: services.clone(),
            scheduler_config: services.clone(),
            readiness: services.clone(),
            audit: services,
            registry,
            metrics,
            settings,
        }
    }
}
