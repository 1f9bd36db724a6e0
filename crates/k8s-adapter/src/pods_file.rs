//! A cluster read from a `kubectl get pods -A -o json` file (config
//! `k8s.pods_file`): for demos and offline use. The file is re-read when it
//! changes and feeds the same cache and events as a real watch.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use gthulhu_domain::Selector;
use gthulhu_domain::manager::{
    ClusterStatus, DecisionMakerEndpoint, K8sAdapter, K8sError, NodeInfo, NodeStatus, PodEvent, PodInfo,
};
use k8s_openapi::api::core::v1::{Node, Pod};
use serde::Deserialize;
use tokio::sync::broadcast;

use crate::cache::PodCache;
use crate::link::{AbortOnDrop, Link, LinkState};
use crate::projection::{DmSelector, SlimPod, project_node, project_pod};

#[derive(Clone, Debug)]
pub struct PodsFileSettings {
    pub dm_selector: DmSelector,
    /// How often the file's modification time and size are checked.
    pub poll_interval: Duration,
}

impl Default for PodsFileSettings {
    fn default() -> Self {
        Self {
            dm_selector: DmSelector::default(),
            poll_interval: Duration::from_secs(1),
        }
    }
}

struct Shared {
    path: PathBuf,
    cache: PodCache,
    nodes: RwLock<Vec<NodeInfo>>,
    link: LinkState,
}

pub struct PodsFileAdapter {
    shared: Arc<Shared>,
    _poll: AbortOnDrop,
}

impl PodsFileAdapter {
    pub fn start(path: impl Into<PathBuf>, settings: PodsFileSettings) -> Arc<Self> {
        let shared = Arc::new(Shared {
            path: path.into(),
            cache: PodCache::default(),
            nodes: RwLock::default(),
            link: LinkState::new("pods file"),
        });
        let poll = tokio::spawn(poll_file(shared.clone(), settings));
        Arc::new(Self {
            shared,
            _poll: AbortOnDrop(poll),
        })
    }

    fn loaded_cache(&self) -> Result<&PodCache, K8sError> {
        if self.shared.cache.is_synced() {
            Ok(&self.shared.cache)
        } else {
            Err(K8sError::NotSynced(match self.shared.link.get() {
                Link::Down(reason) => reason,
                Link::Starting | Link::Up => format!("pods file {} not loaded yet", self.shared.path.display()),
            }))
        }
    }
}

#[async_trait]
impl K8sAdapter for PodsFileAdapter {
    async fn query_pods(&self, namespaces: &[String], selectors: &[Selector]) -> Result<Vec<PodInfo>, K8sError> {
        Ok(self.loaded_cache()?.query(namespaces, selectors))
    }

    async fn get_pod(&self, uid: &str) -> Result<Option<PodInfo>, K8sError> {
        Ok(self.loaded_cache()?.get(uid))
    }

    async fn list_decision_makers(&self) -> Result<Vec<DecisionMakerEndpoint>, K8sError> {
        Ok(self.loaded_cache()?.decision_makers())
    }

    async fn list_nodes(&self) -> Result<Vec<NodeInfo>, K8sError> {
        self.loaded_cache()?;
        Ok(self
            .shared
            .nodes
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone())
    }

    fn status(&self) -> ClusterStatus {
        match (self.shared.link.get(), self.shared.cache.is_synced()) {
            (Link::Down(reason), _) => ClusterStatus::Unreachable(reason),
            (_, true) => ClusterStatus::Ready,
            (_, false) => {
                ClusterStatus::Unreachable(format!("pods file {} not loaded yet", self.shared.path.display()))
            }
        }
    }

    fn pod_events(&self) -> broadcast::Receiver<PodEvent> {
        self.shared.cache.subscribe()
    }
}

/// What identifies a version of the file without reading it.
type Signature = (SystemTime, u64);

async fn poll_file(shared: Arc<Shared>, settings: PodsFileSettings) {
    let mut seen: Option<Signature> = None;
    let mut tick = tokio::time::interval(settings.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let signature = match tokio::fs::metadata(&shared.path).await {
            Ok(meta) => (meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.len()),
            Err(e) => {
                seen = None;
                shared.link.down(format!("pods file {}: {e}", shared.path.display()));
                continue;
            }
        };
        if seen == Some(signature) {
            continue;
        }
        // Remembered even when invalid: an unchanged broken file is not
        // re-parsed every second; the next write is.
        seen = Some(signature);
        match read_file(&shared.path, &settings.dm_selector).await {
            Ok(contents) => load(&shared, contents),
            Err(reason) => shared.link.down(reason),
        }
    }
}

struct Contents {
    pods: Vec<SlimPod>,
    nodes: Vec<NodeInfo>,
}

/// The `items` of a `List`/`PodList`; each is decoded by its `kind`.
#[derive(Deserialize)]
struct ItemList {
    items: Vec<serde_json::Value>,
}

async fn read_file(path: &Path, dm_selector: &DmSelector) -> Result<Contents, String> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| format!("pods file {}: {e}", path.display()))?;
    parse(&bytes, dm_selector).map_err(|e| format!("pods file {}: {e}", path.display()))
}

fn parse(bytes: &[u8], dm_selector: &DmSelector) -> Result<Contents, String> {
    let list: ItemList = serde_json::from_slice(bytes).map_err(|e| format!("not a kubectl JSON list: {e}"))?;
    let mut pods = Vec::with_capacity(list.items.len());
    let mut nodes = Vec::new();
    for (i, item) in list.items.into_iter().enumerate() {
        if item.get("kind").and_then(|k| k.as_str()) == Some("Node") {
            let node: Node = serde_json::from_value(item).map_err(|e| format!("item {i} (Node): {e}"))?;
            nodes.push(project_node(&node));
        } else {
            let pod: Pod = serde_json::from_value(item).map_err(|e| format!("item {i} (Pod): {e}"))?;
            pods.extend(project_pod(&pod, dm_selector));
        }
    }
    if nodes.is_empty() {
        // No Node items: the nodes the pods run on, state unknown.
        let names: BTreeSet<&str> = pods
            .iter()
            .map(|p| p.info.node_name.as_str())
            .filter(|n| !n.is_empty())
            .collect();
        nodes = names
            .into_iter()
            .map(|name| NodeInfo {
                name: name.to_string(),
                status: NodeStatus::Unknown,
            })
            .collect();
    }
    nodes.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(Contents { pods, nodes })
}

/// The first load is a full sync (`Resynced`); later ones are diffed so
/// that an edit of the file looks like the watch events it stands for.
fn load(shared: &Shared, contents: Contents) {
    let pods = contents.pods.len();
    *shared.nodes.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = contents.nodes;
    if shared.cache.is_synced() {
        let present: HashSet<String> = contents.pods.iter().map(|p| p.info.uid.clone()).collect();
        for uid in shared.cache.uids() {
            if !present.contains(&uid) {
                shared.cache.delete(&uid);
            }
        }
        for pod in contents.pods {
            shared.cache.apply(pod);
        }
    } else {
        shared.cache.replace_all(contents.pods);
    }
    tracing::info!(file = %shared.path.display(), pods, "pods file loaded");
    shared.link.up();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pods_and_nodes_and_derives_nodes_otherwise() {
        let with_nodes = br#"{"kind":"List","items":[
            {"kind":"Pod","metadata":{"uid":"u1","name":"a","namespace":"ns"},"spec":{"nodeName":"n2","containers":[]}},
            {"kind":"Node","metadata":{"name":"n9"},"status":{"conditions":[{"type":"Ready","status":"True"}]}}]}"#;
        let c = parse(with_nodes, &DmSelector::default()).unwrap();
        assert_eq!(c.pods.len(), 1);
        assert_eq!(
            c.nodes,
            [NodeInfo {
                name: "n9".into(),
                status: NodeStatus::Ready
            }]
        );

        let pods_only = br#"{"apiVersion":"v1","kind":"List","items":[
            {"metadata":{"uid":"u1","name":"a","namespace":"ns"},"spec":{"nodeName":"n2","containers":[]}},
            {"metadata":{"uid":"u2","name":"b","namespace":"ns"},"spec":{"nodeName":"n1","containers":[]}},
            {"metadata":{"uid":"u3","name":"c","namespace":"ns"},"spec":{"nodeName":"n1","containers":[]}},
            {"metadata":{"uid":"u4","name":"d","namespace":"ns"},"spec":{"containers":[]}}]}"#;
        let c = parse(pods_only, &DmSelector::default()).unwrap();
        assert_eq!(c.pods.len(), 4);
        let names: Vec<_> = c.nodes.iter().map(|n| (n.name.as_str(), n.status)).collect();
        assert_eq!(names, [("n1", NodeStatus::Unknown), ("n2", NodeStatus::Unknown)]);
    }

    #[test]
    fn invalid_documents_name_the_problem() {
        let err = |bytes: &[u8]| parse(bytes, &DmSelector::default()).err().unwrap();
        assert!(err(b"{not json").contains("not a kubectl JSON list"));
        assert!(err(br#"{"kind":"Pod","metadata":{}}"#).contains("items"));
        assert!(err(br#"{"items":[{"metadata":{"labels":"x"}}]}"#).contains("item 0 (Pod)"));
    }
}
