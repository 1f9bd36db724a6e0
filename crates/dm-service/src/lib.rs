//! The Decision Maker's application services. They hold the node's state
//! in memory (intents, legacy templates, the resolved scheduling list, the
//! last scheduler metrics) and implement the domain's service traits; the
//! process index and pod metadata come in through domain ports.

mod decision_maker;
mod encoded;
mod intent_store;
mod metrics_store;
mod no_pod_metadata;
mod node_intent_store;
mod pattern_set;
mod preview;
mod resolver;
mod template_store;
#[cfg(test)]
mod test_host;
mod token;
mod versioned;

pub use decision_maker::{DecisionMaker, LegacyPriorityMap, ResolveSettings};
pub use metrics_store::SchedulerMetricsStore;
pub use no_pod_metadata::NoPodMetadata;
pub use token::{DM_TOKEN_ISSUER, ManagerClients, RsaTokenService, TokenKeyError};
