//! The Manager's domain: identity and RBAC, strategies and the intents
//! derived from them, the audit log, and the ports to storage, Kubernetes
//! and the Decision Makers (spec: manager.md).

mod audit;
mod error;
mod id;
mod identity;
mod k8s;
mod ports;
mod runtime;
mod services;
mod session;
mod strategy;

pub use audit::{AuditEntry, AuditQuery};
pub use error::{K8sError, RepoError, ServiceError};
pub use id::ObjectId;
pub use identity::{PERMISSIONS, Permission, Role, RolePolicy, User, UserStatus};
pub use k8s::{ClusterStatus, DecisionMakerEndpoint, DmState, NodeInfo, NodeStatus, PodEvent, PodInfo};
pub use ports::*;
#[cfg(any(test, feature = "mocks"))]
pub use runtime::MockSchedulerConfigService;
pub use runtime::{
    MAX_REAPPLIES, NodeRuntimeConfig, RuntimeApplyResult, RuntimeDrift, RuntimeNodeResult, SchedulerConfigService,
};
pub use services::*;
pub use session::{RevokeReason, Session, SessionRotation};
pub use strategy::{IntentChanges, IntentState, ScheduleIntent, ScheduleStrategy, StrategySpec};

/// Milliseconds since the Unix epoch: the unit of every stored time.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
