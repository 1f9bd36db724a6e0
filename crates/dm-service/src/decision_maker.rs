use std::sync::Arc;

use arc_swap::ArcSwap;
use gthulhu_domain::{
    DeleteIntents, DmError, DmHealth, Intent, IntentService, PodMeta, PodMetadataSource, PodReport, PodReportEntry,
    ProcessIndex, SchedulingDecision, SchedulingService, StrategyTemplate,
};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::intent_store::IntentStore;
use crate::resolver;
use crate::template_store::TemplateStore;

/// Integers sent for a legacy template's boolean `priority`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegacyPriorityMap {
    pub when_true: i64,
    pub when_false: i64,
}

impl Default for LegacyPriorityMap {
    fn default() -> Self {
        Self {
            when_true: 1,
            when_false: 20,
        }
    }
}

/// The last resolution: `None` while the index has never been built and
/// there is something to resolve.
type Resolved = Option<Arc<Vec<SchedulingDecision>>>;

/// The node's decision maker: intents and templates in, PID-level
/// decisions out. Resolution runs when intents, templates, the process
/// index or pod metadata change, never on the scheduler's poll.
pub struct DecisionMaker {
    index: Arc<dyn ProcessIndex>,
    metadata: Arc<dyn PodMetadataSource>,
    intents: IntentStore,
    templates: TemplateStore,
    priorities: LegacyPriorityMap,
    resolved: ArcSwap<Resolved>,
    /// Serialises resolutions so an older one never overwrites a newer one.
    resolve_lock: Mutex<()>,
}

impl DecisionMaker {
    pub fn new(
        index: Arc<dyn ProcessIndex>,
        metadata: Arc<dyn PodMetadataSource>,
        priorities: LegacyPriorityMap,
    ) -> Arc<Self> {
        let dm = Arc::new(Self {
            index,
            metadata,
            intents: IntentStore::default(),
            templates: TemplateStore::default(),
            priorities,
            resolved: ArcSwap::from_pointee(Some(Arc::new(Vec::new()))),
            resolve_lock: Mutex::new(()),
        });
        dm.resolve();
        dm
    }

    /// Re-resolves the scheduling list from the current state.
    pub fn resolve(&self) {
        let _guard = self.resolve_lock.lock();
        let intents = self.intents.load();
        let templates = self.templates.load();
        let next = if intents.intents.is_empty() && templates.is_empty() {
            Some(Arc::new(Vec::new()))
        } else {
            self.index.snapshot().map(|snapshot| {
                Arc::new(resolver::resolve(
                    &snapshot,
                    &intents,
                    &templates,
                    self.metadata.as_ref(),
                    self.priorities,
                ))
            })
        };
        self.resolved.store(Arc::new(next));
    }

    /// Re-resolves whenever the process index or pod metadata change,
    /// until `shutdown` flips to true.
    pub fn spawn_resolver(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let dm = Arc::clone(self);
        let mut index_changes = dm.index.subscribe();
        let mut metadata_changes = dm.metadata.subscribe();
        tokio::spawn(async move {
            let mut index_open = true;
            let mut metadata_open = true;
            loop {
                tokio::select! {
                    changed = index_changes.changed(), if index_open => index_open = changed.is_ok(),
                    changed = metadata_changes.changed(), if metadata_open => metadata_open = changed.is_ok(),
                    _ = shutdown.changed() => return,
                }
                if *shutdown.borrow() {
                    return;
                }
                dm.resolve();
                if !index_open && !metadata_open {
                    let _ = shutdown.changed().await;
                    return;
                }
            }
        })
    }
}

impl IntentService for DecisionMaker {
    fn replace(&self, intents: Vec<Intent>) -> Result<(), DmError> {
        self.intents.replace(intents)?;
        self.resolve();
        Ok(())
    }

    fn delete(&self, request: DeleteIntents) -> Result<(), DmError> {
        self.intents.delete(&request)?;
        self.resolve();
        Ok(())
    }

    fn merkle_root(&self) -> String {
        self.intents.load().root.clone()
    }

    fn count(&self) -> usize {
        self.intents.load().intents.len()
    }
}

impl SchedulingService for DecisionMaker {
    fn decisions(&self) -> Result<Arc<Vec<SchedulingDecision>>, DmError> {
        self.resolved
            .load()
            .as_ref()
            .clone()
            .ok_or_else(|| DmError::IndexUnavailable(self.index.health().last_error.unwrap_or_default()))
    }

    fn pods(&self) -> Result<PodReport, DmError> {
        let snapshot = self
            .index
            .snapshot()
            .ok_or_else(|| DmError::IndexUnavailable(self.index.health().last_error.unwrap_or_default()))?;
        let pods = snapshot
            .pods
            .iter()
            .map(|pod| PodReportEntry {
                meta: self.metadata.lookup(&pod.pod_uid).unwrap_or_else(|| PodMeta {
                    uid: pod.pod_uid.clone(),
                    ..Default::default()
                }),
                processes: pod.processes.clone(),
            })
            .collect();
        let last_scan = self.index.health().last_scan_at.unwrap_or(snapshot.scanned_at);
        Ok(PodReport {
            pods,
            scanned_at: last_scan.max(snapshot.scanned_at),
        })
    }

    fn replace_templates(&self, templates: Vec<StrategyTemplate>) -> Result<(), DmError> {
        self.templates.replace(templates)?;
        self.resolve();
        Ok(())
    }

    fn health(&self) -> DmHealth {
        let snapshot = self.index.snapshot();
        DmHealth {
            index_built: snapshot.is_some(),
            scan: self.index.health(),
            pod_metadata: self.metadata.status(),
            pods: snapshot.as_ref().map_or(0, |s| s.pods.len()),
            processes: snapshot.as_ref().map_or(0, |s| s.process_count()),
            intents: self.intents.load().intents.len(),
            templates: self.templates.load().len(),
            resolved_entries: self.resolved.load().as_ref().as_ref().map_or(0, |r| r.len()),
        }
    }
}

#[cfg(test)]
mod tests;
