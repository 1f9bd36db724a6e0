use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use gthulhu_domain::{
    DeleteIntents, DmError, DmHealth, EncodedJson, Intent, IntentService, PodMeta, PodMetadataSource, PodReport,
    PodReportEntry, ProcessIndex, SchedulingDecision, SchedulingService, StrategyTemplate,
};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::encoded;
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

/// The last resolution and its poll body, built together so a poll never
/// sees one list's body with another's entries.
#[derive(Clone)]
struct Resolution {
    decisions: Arc<Vec<SchedulingDecision>>,
    answer: EncodedJson,
}

/// `None` while the index has never been built and there is something to
/// resolve.
type Resolved = Option<Resolution>;

/// The Merkle reply of the root it was built for.
struct MerkleAnswer {
    root: String,
    answer: EncodedJson,
}

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
    /// Written under its lock after every intent change, so the last
    /// writer builds the body of the last root.
    merkle: Mutex<MerkleAnswer>,
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
            resolved: ArcSwap::from_pointee(None),
            resolve_lock: Mutex::new(()),
            merkle: Mutex::new(MerkleAnswer {
                root: String::new(),
                answer: EncodedJson::default(),
            }),
        });
        dm.refresh_merkle();
        dm.resolve();
        dm
    }

    /// Re-resolves the scheduling list from the current state. The poll
    /// body is rebuilt only when the list differs from the last one.
    pub fn resolve(&self) {
        let _guard = self.resolve_lock.lock();
        let intents = self.intents.load();
        let templates = self.templates.load();
        let next = if intents.intents.is_empty() && templates.is_empty() {
            Some(Vec::new())
        } else {
            self.index.snapshot().map(|snapshot| {
                resolver::resolve(&snapshot, &intents, &templates, self.metadata.as_ref(), self.priorities)
            })
        };
        let Some(next) = next else {
            self.resolved.store(Arc::new(None));
            return;
        };
        if let Some(current) = self.resolved.load().as_ref()
            && *current.decisions == next
        {
            return;
        }
        let answer = encoded::strategies(&next, SystemTime::now());
        self.resolved.store(Arc::new(Some(Resolution {
            decisions: Arc::new(next),
            answer,
        })));
    }

    /// Rebuilds the Merkle reply when the intent set's root moved.
    fn refresh_merkle(&self) {
        let mut merkle = self.merkle.lock();
        let root = self.merkle_root();
        if merkle.root != root {
            let answer = encoded::merkle(&root, SystemTime::now());
            *merkle = MerkleAnswer { root, answer };
        }
    }

    fn resolution(&self) -> Result<Resolution, DmError> {
        self.resolved
            .load()
            .as_ref()
            .clone()
            .ok_or_else(|| DmError::IndexUnavailable(self.index.health().last_error.unwrap_or_default()))
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
        self.refresh_merkle();
        self.resolve();
        Ok(())
    }

    fn delete(&self, request: DeleteIntents) -> Result<(), DmError> {
        self.intents.delete(&request)?;
        self.refresh_merkle();
        self.resolve();
        Ok(())
    }

    fn merkle_root(&self) -> String {
        self.intents.load().root.clone()
    }

    fn merkle_answer(&self) -> EncodedJson {
        self.merkle.lock().answer.clone()
    }

    fn count(&self) -> usize {
        self.intents.load().intents.len()
    }
}

impl SchedulingService for DecisionMaker {
    fn decisions(&self) -> Result<Arc<Vec<SchedulingDecision>>, DmError> {
        self.resolution().map(|r| r.decisions)
    }

    fn strategies_answer(&self) -> Result<EncodedJson, DmError> {
        self.resolution().map(|r| r.answer)
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
            resolved_entries: self.resolved.load().as_ref().as_ref().map_or(0, |r| r.decisions.len()),
        }
    }
}

#[cfg(test)]
mod answer_tests;
#[cfg(test)]
mod tests;
