//! The Gthulhu domain: entities shared by the Manager and the Decision Maker,
//! the errors each layer reports, and the traits that the outer layers
//! (proc scanner, Kubernetes adapter, REST layer, binaries) implement or
//! depend on. Nothing here knows about HTTP, `/proc` or Kubernetes clients.

pub mod comm_regex;
pub mod decision;
pub mod encoded;
pub mod error;
pub mod host_tasks;
pub mod intent;
pub mod manager;
pub mod merkle;
pub mod metrics;
pub mod pod;
pub mod preview;
pub mod process;
pub mod runtime_config;
pub mod template;
pub mod traits;

mod serde_util;

pub use decision::{SchedulingDecision, Selector};
pub use encoded::{EncodedJson, parse_rfc3339_secs, rfc3339};
pub use error::{AuthError, DmError};
pub use host_tasks::{HostProcess, HostTableStatus, HostTask, HostTaskScope, HostTaskSnapshot, HostTaskTable};
pub use intent::{DeleteIntents, DeleteNodeIntents, Intent, NodeIntent};
pub use metrics::{ReceivedMetrics, SchedulerMetrics};
pub use pod::{PodMeta, PodMetadataStatus};
pub use process::{PodProcesses, ProcessInfo, ProcessSnapshot, ScanHealth, ScanMode};
pub use serde_util::null_as_empty;
pub use template::{LegacyPriority, StrategyTemplate};
pub use traits::*;
