//! The Decision Maker's view of the pods on its own node: names,
//! namespaces and labels by UID, from a pod watch scoped with
//! `spec.nodeName=<node>` (the API server filters, so a DM never receives
//! the rest of the cluster).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use gthulhu_domain::{PodMeta, PodMetadataSource, PodMetadataStatus};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher;
use kube::{Api, Client};
use tokio::sync::watch;

use crate::link::{AbortOnDrop, Link, LinkState};
use crate::watch::{self as pod_watch, PodSink, Probe};

const PROBE: Probe = Probe {
    interval: Duration::from_secs(2),
    timeout: Duration::from_secs(10),
};

struct Shared {
    node: String,
    pods: RwLock<HashMap<String, PodMeta>>,
    synced: AtomicBool,
    changes: watch::Sender<u64>,
    link: LinkState,
}

impl Shared {
    fn bump(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, PodMeta>> {
        self.pods.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub struct NodePodMetadata {
    shared: Arc<Shared>,
    _watch: AbortOnDrop,
}

impl NodePodMetadata {
    pub fn start(client: Client, node: &str) -> Arc<Self> {
        let shared = Arc::new(Shared {
            node: node.to_string(),
            pods: RwLock::default(),
            synced: AtomicBool::new(false),
            changes: watch::Sender::new(0),
            link: LinkState::new("node pod watch"),
        });
        let config = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
        let mut sink = MetaSink {
            shared: shared.clone(),
            listing: HashMap::new(),
        };
        let pods = Api::all(client);
        let watch = tokio::spawn(async move {
            let shared = sink.shared.clone();
            pod_watch::run(pods, config, &shared.link, PROBE, &mut sink).await;
        });
        Arc::new(Self {
            shared,
            _watch: AbortOnDrop(watch),
        })
    }
}

impl PodMetadataSource for NodePodMetadata {
    fn lookup(&self, uid: &str) -> Option<PodMeta> {
        self.shared
            .pods
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(uid)
            .cloned()
    }

    fn status(&self) -> PodMetadataStatus {
        match (self.shared.link.get(), self.shared.synced.load(Ordering::Acquire)) {
            (Link::Down(reason), _) => {
                PodMetadataStatus::Degraded(format!("pod watch on node {}: {reason}", self.shared.node))
            }
            (_, true) => PodMetadataStatus::Ready,
            (_, false) => {
                PodMetadataStatus::Degraded(format!("pod watch on node {}: not synced yet", self.shared.node))
            }
        }
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }
}

fn meta_of(pod: &Pod) -> Option<PodMeta> {
    let m = &pod.metadata;
    Some(PodMeta {
        uid: m.uid.clone().filter(|u| !u.is_empty())?,
        name: m.name.clone().unwrap_or_default(),
        namespace: m.namespace.clone().unwrap_or_default(),
        labels: m.labels.clone().unwrap_or_default(),
    })
}

/// Buffers a full list, then swaps it in: lookups never see a half-built map.
struct MetaSink {
    shared: Arc<Shared>,
    listing: HashMap<String, PodMeta>,
}

impl PodSink for MetaSink {
    fn init(&mut self) {
        self.listing.clear();
    }

    fn init_apply(&mut self, pod: Pod) {
        if let Some(meta) = meta_of(&pod) {
            self.listing.insert(meta.uid.clone(), meta);
        }
    }

    fn init_done(&mut self) {
        let fresh = std::mem::take(&mut self.listing);
        tracing::info!(node = %self.shared.node, pods = fresh.len(), "node pod metadata synced");
        let changed = {
            let mut held = self.shared.write();
            let changed = *held != fresh;
            *held = fresh;
            changed
        };
        self.shared.synced.store(true, Ordering::Release);
        if changed {
            self.shared.bump();
        }
    }

    fn apply(&mut self, pod: Pod) {
        let Some(meta) = meta_of(&pod) else { return };
        {
            let mut held = self.shared.write();
            // Status churn leaves the metadata as it was: no reason to
            // store it again or re-resolve the node's selectors.
            if held.get(&meta.uid) == Some(&meta) {
                return;
            }
            held.insert(meta.uid.clone(), meta);
        }
        self.shared.bump();
    }

    fn delete(&mut self, pod: Pod) {
        let gone = pod
            .metadata
            .uid
            .as_deref()
            .and_then(|uid| self.shared.write().remove(uid));
        if gone.is_some() {
            self.shared.bump();
        }
    }
}
