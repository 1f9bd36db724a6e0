//! The ports of the Decision Maker. Implementations live in the outer
//! crates (proc scanner, Kubernetes adapter, DM services); the REST layer
//! and the binaries only see these traits.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;

use crate::runtime_config::{RuntimeSchedulerConfig, RuntimeStatus};
use crate::{
    AuthError, DeleteIntents, DmError, Intent, PodMeta, PodMetadataStatus, ProcessInfo, ProcessSnapshot,
    ReceivedMetrics, ScanHealth, SchedulerMetrics, SchedulingDecision, StrategyTemplate,
};

/// The host's PID→pod index, kept current in the background.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait ProcessIndex: Send + Sync {
    /// The latest index; `None` until the first successful refresh.
    fn snapshot(&self) -> Option<Arc<ProcessSnapshot>>;
    /// Yields the snapshot generation each time the index changes.
    fn subscribe(&self) -> watch::Receiver<u64>;
    fn health(&self) -> ScanHealth;
    /// Thread IDs of a process (from `task/`), read on demand. Empty when
    /// the process is gone.
    fn threads(&self, pid: u32) -> Vec<u32>;
}

/// Names, namespaces and labels of the pods on this node, by UID.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait PodMetadataSource: Send + Sync {
    fn lookup(&self, uid: &str) -> Option<PodMeta>;
    fn status(&self) -> PodMetadataStatus;
    /// Yields a counter each time any pod's metadata changes.
    fn subscribe(&self) -> watch::Receiver<u64>;
}

/// A signed DM token and its `exp` in Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    pub expires_at: i64,
}

/// What a DM token may do (issue 9). The scheduler reads strategies and
/// posts metrics; only the Manager's token writes and reads intents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenRole {
    #[default]
    Scheduler,
    Manager,
}

/// The claims the DM puts in (and reads from) its tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenClaims {
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub iss: String,
    #[serde(default)]
    pub sub: String,
    #[serde(default)]
    pub exp: i64,
    #[serde(default)]
    pub nbf: i64,
    #[serde(default)]
    pub iat: i64,
    /// Absent from tokens issued before roles existed, and from tokens
    /// signed elsewhere with the shared key: [`TokenService::verify`]
    /// derives it then, from `client_id`, as at issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<TokenRole>,
}

impl TokenClaims {
    pub fn role(&self) -> TokenRole {
        self.role.unwrap_or_default()
    }
}

/// Issues tokens to holders of the DM's public key and verifies Bearers.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait TokenService: Send + Sync {
    fn issue(&self, public_key_pem: &str, client_id: &str) -> Result<IssuedToken, AuthError>;
    fn verify(&self, token: &str) -> Result<TokenClaims, AuthError>;
}

/// The node's intent set as pushed by the Manager.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait IntentService: Send + Sync {
    /// Replaces the whole set atomically; rejects it unchanged if any regex
    /// is invalid.
    fn replace(&self, intents: Vec<Intent>) -> Result<(), DmError>;
    fn delete(&self, request: DeleteIntents) -> Result<(), DmError>;
    /// 64-character lowercase hex root over every intent held.
    fn merkle_root(&self) -> String;
    /// The body of `GET /api/v1/intents/merkle`, built when the root last
    /// changed; its `timestamp` is the time of that change.
    fn merkle_answer(&self) -> crate::EncodedJson;
    fn count(&self) -> usize;
    /// `POST /api/v1/node-intents`: replaces the node-intent set; rejects
    /// it unchanged on any invalid regex or `expiresAt`.
    fn replace_node_intents(&self, intents: Vec<crate::NodeIntent>) -> Result<(), DmError>;
    fn delete_node_intents(&self, request: crate::DeleteNodeIntents) -> Result<(), DmError>;
    fn node_merkle_root(&self) -> String;
    /// The body of `GET /api/v1/node-intents/merkle`.
    fn node_merkle_answer(&self) -> crate::EncodedJson;
}

/// One pod of the node's pod → process report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodReportEntry {
    /// UID always set; name, namespace and labels when a metadata source knows the pod.
    pub meta: PodMeta,
    pub processes: Vec<ProcessInfo>,
}

/// The node's pod → process map at one scan time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodReport {
    pub pods: Vec<PodReportEntry>,
    pub scanned_at: SystemTime,
}

/// Losing candidates of the last resolution, by winner class over loser
/// class (targeting.md 10.4, `gthulhu_dm_conflicts{kind}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictCounts {
    pub pod_over_pod: usize,
    pub pod_over_node: usize,
    pub node_over_node: usize,
    pub over_legacy: usize,
}

/// What `/health` and the DM's own gauges report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmHealth {
    pub index_built: bool,
    pub scan: ScanHealth,
    pub pod_metadata: PodMetadataStatus,
    pub pods: usize,
    pub processes: usize,
    pub intents: usize,
    pub node_intents: usize,
    /// Held but expired, not resolved (targeting.md 13.3): pod, node.
    pub expired_intents: (usize, usize),
    pub templates: usize,
    /// Entries after de-duplication and the cap.
    pub resolved_entries: usize,
    /// Entries dropped by `resolve.max_entries`, and the count before it.
    pub truncated_entries: usize,
    pub conflicts: ConflictCounts,
    pub host_table: crate::HostTableStatus,
}

/// PID-level decisions for the local scheduler, and the node's process map.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait SchedulingService: Send + Sync {
    /// The last resolved list; never scans.
    fn decisions(&self) -> Result<Arc<Vec<SchedulingDecision>>, DmError>;
    /// The body of `GET /api/v1/scheduling/strategies` for `decisions()`,
    /// built when the list last changed; its `timestamp` is the time of
    /// that change. The poll sends it as is.
    fn strategies_answer(&self) -> Result<crate::EncodedJson, DmError>;
    fn pods(&self) -> Result<PodReport, DmError>;
    /// Standalone mode: replaces the legacy templates atomically; rejects
    /// them unchanged on any invalid field.
    fn replace_templates(&self, templates: Vec<StrategyTemplate>) -> Result<(), DmError>;
    fn health(&self) -> DmHealth;
    /// `POST /api/v1/intents/preview`: resolves the hypothetical sets as
    /// the answer would be, changing no state.
    fn preview(&self, request: crate::preview::PreviewRequest) -> Result<crate::preview::PreviewReport, DmError>;
}

/// The scheduler's last BSS counters.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait SchedulerMetricsService: Send + Sync {
    fn record(&self, metrics: SchedulerMetrics);
    fn latest(&self) -> Option<ReceivedMetrics>;
}

/// The local scheduler daemon's runtime configuration, through its control
/// API (sessions-and-runtime.md 17).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait::async_trait]
pub trait RuntimeConfigService: Send + Sync {
    /// Normalises, validates and sends `config`; `Ok(true)` when the daemon
    /// already ran that version with that content (no-op).
    async fn apply(&self, config: RuntimeSchedulerConfig) -> Result<bool, DmError>;
    async fn status(&self) -> Result<RuntimeStatus, DmError>;
}
