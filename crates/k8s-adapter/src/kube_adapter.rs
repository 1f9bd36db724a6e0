//! The Manager's cluster adapter: a pod watch over every namespace feeding
//! the slim `PodCache`, and live node listing.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gthulhu_domain::Selector;
use gthulhu_domain::manager::{
    ClusterStatus, DecisionMakerEndpoint, K8sAdapter, K8sError, NodeInfo, PodEvent, PodInfo,
};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::ListParams;
use kube::runtime::watcher;
use kube::{Api, Client};
use tokio::sync::broadcast;

use crate::cache::PodCache;
use crate::link::{AbortOnDrop, Link, LinkState};
use crate::projection::{DmSelector, SlimPod, project_node, project_pod};
use crate::watch::{self, PodSink, Probe};

#[derive(Clone, Debug)]
pub struct KubeSettings {
    pub dm_selector: DmSelector,
    /// Bound on live calls (node list, recovery probes); manager.md 15.2.
    pub api_timeout: Duration,
    /// While the watch fails, how often a cheap list checks whether the
    /// API answers again (the watcher itself may be in a long backoff).
    pub probe_interval: Duration,
}

impl Default for KubeSettings {
    fn default() -> Self {
        Self {
            dm_selector: DmSelector::default(),
            api_timeout: Duration::from_secs(10),
            probe_interval: Duration::from_secs(2),
        }
    }
}

struct Shared {
    cache: PodCache,
    link: LinkState,
}

pub struct KubeAdapter {
    shared: Arc<Shared>,
    nodes: Api<Node>,
    api_timeout: Duration,
    _watch: AbortOnDrop,
}

impl KubeAdapter {
    /// Starts the pod watch in the background; queries answer once the
    /// first full list has arrived (manager.md 9: no partial sets).
    pub fn start(client: Client, settings: KubeSettings) -> Arc<Self> {
        let shared = Arc::new(Shared {
            cache: PodCache::default(),
            link: LinkState::new("pod watch"),
        });
        let mut sink = CacheSink {
            shared: shared.clone(),
            dm_selector: settings.dm_selector.clone(),
            listing: Vec::new(),
        };
        let probe = Probe {
            interval: settings.probe_interval,
            timeout: settings.api_timeout,
        };
        let pods = Api::all(client.clone());
        let watch = tokio::spawn(async move {
            let shared = sink.shared.clone();
            watch::run(pods, watcher::Config::default(), &shared.link, probe, &mut sink).await;
        });
        Arc::new(Self {
            shared,
            nodes: Api::all(client),
            api_timeout: settings.api_timeout,
            _watch: AbortOnDrop(watch),
        })
    }

    fn synced_cache(&self) -> Result<&PodCache, K8sError> {
        if self.shared.cache.is_synced() {
            Ok(&self.shared.cache)
        } else {
            Err(K8sError::NotSynced(match self.shared.link.get() {
                Link::Down(reason) => format!("pod cache not synced: {reason}"),
                Link::Starting | Link::Up => "pod cache not synced yet".into(),
            }))
        }
    }
}

#[async_trait]
impl K8sAdapter for KubeAdapter {
    async fn query_pods(&self, namespaces: &[String], selectors: &[Selector]) -> Result<Vec<PodInfo>, K8sError> {
        Ok(self.synced_cache()?.query(namespaces, selectors))
    }

    async fn get_pod(&self, uid: &str) -> Result<Option<PodInfo>, K8sError> {
        Ok(self.synced_cache()?.get(uid))
    }

    async fn list_decision_makers(&self) -> Result<Vec<DecisionMakerEndpoint>, K8sError> {
        Ok(self.synced_cache()?.decision_makers())
    }

    async fn list_nodes(&self) -> Result<Vec<NodeInfo>, K8sError> {
        let list = tokio::time::timeout(self.api_timeout, self.nodes.list(&ListParams::default()))
            .await
            .map_err(|_| K8sError::Unavailable(format!("listing nodes timed out after {:?}", self.api_timeout)))?
            .map_err(|e| K8sError::Unavailable(format!("listing nodes: {e}")))?;
        let mut nodes: Vec<NodeInfo> = list.items.iter().map(project_node).collect();
        nodes.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Ok(nodes)
    }

    fn status(&self) -> ClusterStatus {
        match (self.shared.link.get(), self.shared.cache.is_synced()) {
            (Link::Down(reason), _) => ClusterStatus::Unreachable(reason),
            (_, true) => ClusterStatus::Ready,
            (_, false) => ClusterStatus::Unreachable("pod cache not synced yet".into()),
        }
    }

    fn pod_events(&self) -> broadcast::Receiver<PodEvent> {
        self.shared.cache.subscribe()
    }
}

/// Keeps slim projections of the list in progress: full Pods are dropped
/// as they arrive, so a 150,000-pod relist never holds full objects.
struct CacheSink {
    shared: Arc<Shared>,
    dm_selector: DmSelector,
    listing: Vec<SlimPod>,
}

impl PodSink for CacheSink {
    fn init(&mut self) {
        self.listing.clear();
    }

    fn init_apply(&mut self, pod: Pod) {
        self.listing.extend(project_pod(&pod, &self.dm_selector));
    }

    fn init_done(&mut self) {
        let pods = std::mem::take(&mut self.listing);
        tracing::info!(pods = pods.len(), "pod cache synced");
        self.shared.cache.replace_all(pods);
    }

    fn apply(&mut self, pod: Pod) {
        if let Some(slim) = project_pod(&pod, &self.dm_selector) {
            self.shared.cache.apply(slim);
        }
    }

    fn delete(&mut self, pod: Pod) {
        if let Some(uid) = pod.metadata.uid.as_deref() {
            self.shared.cache.delete(uid);
        }
    }
}
