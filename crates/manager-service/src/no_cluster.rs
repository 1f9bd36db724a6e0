//! The cluster adapter without a cluster: it knows no pods, nodes or
//! Decision Makers, and says so instead of inventing any.
//! [`DeferredCluster`](crate::DeferredCluster) answers the same way until
//! it connects.

use async_trait::async_trait;
use gthulhu_domain::Selector;
use gthulhu_domain::manager::{
    ClusterStatus, DecisionMakerEndpoint, K8sAdapter, K8sError, NodeInfo, PodEvent, PodInfo,
};
use tokio::sync::broadcast;

const NOT_CONFIGURED: &str = "no cluster configured";

#[derive(Clone, Copy, Debug, Default)]
pub struct NoCluster;

#[async_trait]
impl K8sAdapter for NoCluster {
    async fn query_pods(&self, _namespaces: &[String], _selectors: &[Selector]) -> Result<Vec<PodInfo>, K8sError> {
        Err(K8sError::NotConfigured(NOT_CONFIGURED.into()))
    }

    async fn get_pod(&self, _uid: &str) -> Result<Option<PodInfo>, K8sError> {
        Err(K8sError::NotConfigured(NOT_CONFIGURED.into()))
    }

    /// No cluster, no Decision Makers: pushes find nobody to call.
    async fn list_decision_makers(&self) -> Result<Vec<DecisionMakerEndpoint>, K8sError> {
        Ok(vec![])
    }

    async fn list_nodes(&self) -> Result<Vec<NodeInfo>, K8sError> {
        Err(K8sError::NotConfigured(NOT_CONFIGURED.into()))
    }

    fn status(&self) -> ClusterStatus {
        ClusterStatus::NotConfigured(NOT_CONFIGURED.into())
    }

    /// No cache, so no events: the sender is dropped at once and receivers
    /// see a closed channel.
    fn pod_events(&self) -> broadcast::Receiver<PodEvent> {
        broadcast::channel(1).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_not_configured_and_invents_nothing() {
        let c = NoCluster;
        assert!(matches!(c.query_pods(&[], &[]).await, Err(K8sError::NotConfigured(_))));
        assert!(matches!(c.get_pod("uid").await, Err(K8sError::NotConfigured(_))));
        assert!(matches!(c.list_nodes().await, Err(K8sError::NotConfigured(_))));
        assert!(c.list_decision_makers().await.unwrap().is_empty());
        assert_eq!(c.status(), ClusterStatus::NotConfigured("no cluster configured".into()));
    }
}
