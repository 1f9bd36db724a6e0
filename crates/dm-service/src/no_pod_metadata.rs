use gthulhu_domain::{PodMeta, PodMetadataSource, PodMetadataStatus};
use tokio::sync::watch;

/// The pod metadata source used when no Kubernetes pod watch is wired:
/// selector templates match nothing, and `/health` says why.
pub struct NoPodMetadata {
    changes: watch::Sender<u64>,
    reason: String,
}

impl NoPodMetadata {
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            changes: watch::Sender::new(0),
            reason: reason.into(),
        }
    }
}

impl PodMetadataSource for NoPodMetadata {
    fn lookup(&self, _uid: &str) -> Option<PodMeta> {
        None
    }

    fn status(&self) -> PodMetadataStatus {
        PodMetadataStatus::NotConfigured(self.reason.clone())
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}
