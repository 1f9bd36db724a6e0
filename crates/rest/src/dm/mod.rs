//! The Decision Maker's HTTP API (spec: decision-maker.md, legacy-bss.md 10).

mod auth;
mod clock;
mod handlers;
mod openapi;
mod prometheus;
mod server;

use std::sync::Arc;

use gthulhu_domain::{IntentService, RuntimeConfigService, SchedulerMetricsService, SchedulingService, TokenService};
use prometheus_client::registry::Registry;

pub use auth::{Bearer, ManagerBearer};
pub use clock::{ClockSkew, ClockSkewGauge};
pub use openapi::{document as openapi_document, operations as openapi_operations};
pub use prometheus::register_dm_metrics;
pub use server::{DmServer, serve, serve_with_workers};

/// `POST /api/v1/intents` must take at least this much (a node's full set).
pub const INTENTS_BODY_LIMIT: usize = 16 << 20;

/// What the DM's handlers depend on: domain services only, injected by
/// the binary (or a test) without knowing their implementations.
pub struct DmApi {
    pub tokens: Arc<dyn TokenService>,
    pub intents: Arc<dyn IntentService>,
    pub scheduling: Arc<dyn SchedulingService>,
    pub metrics: Arc<dyn SchedulerMetricsService>,
    /// The local scheduler daemon's runtime configuration.
    pub runtime: Arc<dyn RuntimeConfigService>,
    /// Skew against the Manager, from its requests' `Date` header.
    pub clock: Arc<ClockSkew>,
    /// Frozen after every component registered its metrics.
    pub registry: Arc<Registry>,
    pub http_metrics: crate::HttpMetrics,
    pub settings: DmSettings,
}

#[derive(Clone, Debug)]
pub struct DmSettings {
    /// Serve the legacy BSS routes and CORS.
    pub standalone: bool,
    pub max_body_bytes: usize,
    /// `data.node_name` of `GET /api/v1/pods/pids`.
    pub node_name: String,
    pub version: String,
    pub timeouts: crate::Timeouts,
}
