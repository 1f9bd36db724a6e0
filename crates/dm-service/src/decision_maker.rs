use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use gthulhu_domain::preview::{PreviewReport, PreviewRequest};
use gthulhu_domain::{
    ConflictCounts, DeleteIntents, DeleteNodeIntents, DmError, DmHealth, EncodedJson, HostTaskScope, HostTaskSnapshot,
    HostTaskTable, Intent, IntentService, NodeIntent, PodMeta, PodMetadataSource, PodReport, PodReportEntry,
    ProcessIndex, ProcessSnapshot, SchedulingDecision, SchedulingService, StrategyTemplate,
};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::encoded;
use crate::intent_store::{IntentState, IntentStore};
use crate::node_intent_store::{NodeIntentState, NodeIntentStore};
use crate::pattern_set::next_expiry;
use crate::preview::{self, Refs};
use crate::resolver::{self, Inputs};
use crate::template_store::{CompiledTemplate, TemplateStore};

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

/// How resolution is bounded (targeting.md 10.5, `resolve.max_entries`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResolveSettings {
    pub priorities: LegacyPriorityMap,
    pub max_entries: usize,
}

impl Default for ResolveSettings {
    fn default() -> Self {
        Self {
            priorities: LegacyPriorityMap::default(),
            max_entries: 32_768,
        }
    }
}

/// The last resolution and its poll body, built together so a poll never
/// sees one list's body with another's entries.
#[derive(Clone)]
struct Resolution {
    decisions: Arc<Vec<SchedulingDecision>>,
    answer: EncodedJson,
    conflicts: ConflictCounts,
    truncated: usize,
    expired: (usize, usize),
}

/// `None` while the index has never been built and there is something to
/// resolve.
type Resolved = Option<Resolution>;

/// The Merkle reply of the roots it was built for.
#[derive(Default)]
struct MerkleAnswer {
    roots: (String, String),
    answer: EncodedJson,
}

impl MerkleAnswer {
    /// Rebuilds the body only when a root moved.
    fn refresh(&mut self, root: &str, extended_root: &str) {
        if self.roots.0 != root || self.roots.1 != extended_root {
            self.answer = encoded::merkle(root, extended_root, SystemTime::now());
            self.roots = (root.to_string(), extended_root.to_string());
        }
    }
}

/// Longest `ref` of a preview item (targeting.md 11.6).
const MAX_REF_BYTES: usize = 128;

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// What the host task table must cover for these sets (targeting.md 9.1):
/// the host while any node intent is held, the processes of pods with a
/// `matchThreads` intent while such an intent is held, else nothing.
fn scope_for(intents: &IntentState, node_intents: usize, pods: Option<&ProcessSnapshot>) -> HostTaskScope {
    if node_intents > 0 {
        return HostTaskScope::Host;
    }
    let threaded: BTreeSet<u32> = intents
        .intents
        .iter()
        .filter(|i| i.match_threads)
        .filter_map(|i| pods.and_then(|p| p.pod(&i.pod_id)))
        .flat_map(|pod| pod.processes.iter().map(|p| p.pid))
        .collect();
    if intents.intents.iter().any(|i| i.match_threads) {
        HostTaskScope::PodThreads(threaded)
    } else {
        HostTaskScope::Off
    }
}

/// The node's decision maker: intents and templates in, PID-level
/// decisions out. Resolution runs when intents, templates, the process
/// index or pod metadata change, never on the scheduler's poll.
pub struct DecisionMaker {
    index: Arc<dyn ProcessIndex>,
    metadata: Arc<dyn PodMetadataSource>,
    host: Arc<dyn HostTaskTable>,
    intents: IntentStore,
    node_intents: NodeIntentStore,
    templates: TemplateStore,
    settings: ResolveSettings,
    resolved: ArcSwap<Resolved>,
    /// Serialises resolutions so an older one never overwrites a newer one.
    resolve_lock: Mutex<()>,
    /// Written under their locks after every change of their set, so the
    /// last writer builds the body of the last roots.
    merkle: Mutex<MerkleAnswer>,
    node_merkle: Mutex<MerkleAnswer>,
    /// Wakes the resolver task when the next expiry instant may have moved.
    expiry_changed: watch::Sender<()>,
}

impl DecisionMaker {
    pub fn new(
        index: Arc<dyn ProcessIndex>,
        metadata: Arc<dyn PodMetadataSource>,
        host: Arc<dyn HostTaskTable>,
        settings: ResolveSettings,
    ) -> Arc<Self> {
        let dm = Arc::new(Self {
            index,
            metadata,
            host,
            intents: IntentStore::default(),
            node_intents: NodeIntentStore::default(),
            templates: TemplateStore::default(),
            settings,
            resolved: ArcSwap::from_pointee(None),
            resolve_lock: Mutex::new(()),
            merkle: Mutex::default(),
            node_merkle: Mutex::default(),
            expiry_changed: watch::Sender::new(()),
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
        let node_intents = self.node_intents.load();
        let templates = self.templates.load();
        let pods = self.index.snapshot();
        self.host
            .set_scope(scope_for(&intents, node_intents.intents.len(), pods.as_deref()));
        let next = if intents.intents.is_empty() && node_intents.intents.is_empty() && templates.is_empty() {
            Some(resolver::Outcome::default())
        } else {
            pods.map(|pods| {
                let host = self.host.snapshot();
                resolver::resolve(&self.inputs(&pods, &intents, &node_intents, host.as_deref(), &templates))
            })
        };
        let Some(next) = next else {
            self.resolved.store(Arc::new(None));
            return;
        };
        let current = self.resolved.load();
        let answer = match current.as_ref() {
            Some(current) if *current.decisions == next.decisions => {
                if (current.conflicts, current.truncated, current.expired)
                    == (next.conflicts, next.truncated, next.expired)
                {
                    return;
                }
                current.answer.clone()
            }
            _ => encoded::strategies(&next.decisions, SystemTime::now()),
        };
        self.resolved.store(Arc::new(Some(Resolution {
            decisions: Arc::new(next.decisions),
            answer,
            conflicts: next.conflicts,
            truncated: next.truncated,
            expired: next.expired,
        })));
    }

    /// What a resolution reads besides the sets: this DM's metadata,
    /// settings and clock.
    fn inputs<'a>(
        &'a self,
        pods: &'a ProcessSnapshot,
        intents: &'a IntentState,
        node_intents: &'a NodeIntentState,
        host: Option<&'a HostTaskSnapshot>,
        templates: &'a [CompiledTemplate],
    ) -> Inputs<'a> {
        Inputs {
            pods,
            intents,
            node_intents,
            host,
            templates,
            metadata: self.metadata.as_ref(),
            priorities: self.settings.priorities,
            now: unix_now(),
            max_entries: self.settings.max_entries,
        }
    }

    /// Rebuilds the Merkle replies whose roots moved.
    fn refresh_merkle(&self) {
        let intents = self.intents.load();
        self.merkle.lock().refresh(&intents.root, &intents.extended_root);
        let nodes = self.node_intents.load();
        self.node_merkle.lock().refresh(&nodes.root, &nodes.extended_root);
        self.expiry_changed.send_replace(());
    }

    /// The next instant an held intent expires, by the DM's clock.
    fn next_expiry(&self) -> Option<SystemTime> {
        let now = unix_now();
        let pods = next_expiry(&self.intents.load().expiries, now);
        let nodes = next_expiry(&self.node_intents.load().expiries, now);
        let at = pods.into_iter().chain(nodes).min()?;
        Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(at).unwrap_or(0)))
    }

    /// After any change of a set: new roots, new scope, new answer.
    fn changed(&self) {
        self.refresh_merkle();
        self.resolve();
    }

    fn resolution(&self) -> Result<Resolution, DmError> {
        self.resolved
            .load()
            .as_ref()
            .clone()
            .ok_or_else(|| DmError::IndexUnavailable(self.index.health().last_error.unwrap_or_default()))
    }

    /// Re-resolves whenever the process index, pod metadata or the host
    /// task table change, and at each intent's expiry instant by the DM's
    /// own clock (so boosts end even when the Manager is unreachable),
    /// until `shutdown` flips to true.
    pub fn spawn_resolver(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let dm = Arc::clone(self);
        let mut index_changes = dm.index.subscribe();
        let mut metadata_changes = dm.metadata.subscribe();
        let mut host_changes = dm.host.subscribe();
        let mut expiry_changes = dm.expiry_changed.subscribe();
        tokio::spawn(async move {
            let (mut index_open, mut metadata_open, mut host_open) = (true, true, true);
            loop {
                let until_expiry = dm
                    .next_expiry()
                    .map(|at| at.duration_since(SystemTime::now()).unwrap_or_default());
                tokio::select! {
                    changed = index_changes.changed(), if index_open => index_open = changed.is_ok(),
                    changed = metadata_changes.changed(), if metadata_open => metadata_open = changed.is_ok(),
                    changed = host_changes.changed(), if host_open => host_open = changed.is_ok(),
                    // Only re-arms the expiry timer.
                    _ = expiry_changes.changed() => continue,
                    () = sleep_or_never(until_expiry) => {}
                    _ = shutdown.changed() => return,
                }
                if *shutdown.borrow() {
                    return;
                }
                dm.resolve();
            }
        })
    }
}

async fn sleep_or_never(duration: Option<Duration>) {
    match duration {
        Some(duration) => tokio::time::sleep(duration).await,
        None => std::future::pending().await,
    }
}

impl IntentService for DecisionMaker {
    fn replace(&self, intents: Vec<Intent>) -> Result<(), DmError> {
        self.intents.replace(intents)?;
        self.changed();
        Ok(())
    }

    fn delete(&self, request: DeleteIntents) -> Result<(), DmError> {
        self.intents.delete(&request)?;
        self.changed();
        Ok(())
    }

    fn replace_node_intents(&self, intents: Vec<NodeIntent>) -> Result<(), DmError> {
        self.node_intents.replace(intents)?;
        self.changed();
        Ok(())
    }

    fn delete_node_intents(&self, request: DeleteNodeIntents) -> Result<(), DmError> {
        self.node_intents.delete(&request)?;
        self.changed();
        Ok(())
    }

    fn node_merkle_root(&self) -> String {
        self.node_intents.load().root.clone()
    }

    fn node_merkle_answer(&self) -> EncodedJson {
        self.node_merkle.lock().answer.clone()
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

    fn preview(&self, request: PreviewRequest) -> Result<PreviewReport, DmError> {
        let max_tasks = preview::check_max_tasks(request.max_tasks)?;
        let (pod_refs, pod_intents): (Vec<_>, Vec<_>) = request
            .intents
            .unwrap_or_default()
            .into_iter()
            .map(|p| ((p.reference, p.candidate), p.intent))
            .unzip();
        let (node_refs, node_intents): (Vec<_>, Vec<_>) = request
            .node_intents
            .unwrap_or_default()
            .into_iter()
            .map(|p| ((p.reference, p.candidate), p.intent))
            .unzip();
        for (array, refs) in [("intents", &pod_refs), ("nodeIntents", &node_refs)] {
            if let Some(i) = refs.iter().position(|(r, _)| r.len() > MAX_REF_BYTES) {
                return Err(DmError::Validation(format!(
                    "{array}[{i}].ref must be at most {MAX_REF_BYTES} bytes"
                )));
            }
        }
        let current = self.intents.load();
        let mut intents = IntentState::validated("intents", pod_intents, &current)?;
        intents.exclusions = current.exclusions.clone();
        let node_intents = NodeIntentState::validated("nodeIntents", node_intents, &self.node_intents.load())?;
        let pods = self
            .index
            .snapshot()
            .ok_or_else(|| DmError::IndexUnavailable(self.index.health().last_error.unwrap_or_default()))?;
        let needs_host = !node_intents.intents.is_empty() || intents.intents.iter().any(|i| i.match_threads);
        let (host, host_table) = match self.host.snapshot().filter(|s| s.scope == HostTaskScope::Host) {
            Some(table) => (Some(table), "periodic"),
            None if needs_host => (self.host.walk_once(), "oneOff"),
            None => (None, "off"),
        };
        let templates = self.templates.load();
        let inputs = self.inputs(&pods, &intents, &node_intents, host.as_deref(), &templates);
        let refs = Refs {
            pods: &pod_refs,
            nodes: &node_refs,
        };
        let (candidates, claims) = preview::candidates(&inputs, &refs, max_tasks);
        Ok(PreviewReport {
            generated_at: gthulhu_domain::rfc3339(SystemTime::now()),
            host_table,
            candidates,
            conflicts: claims.conflicts,
        })
    }

    fn health(&self) -> DmHealth {
        let snapshot = self.index.snapshot();
        let resolved = self.resolved.load();
        let resolved = resolved.as_ref().as_ref();
        DmHealth {
            index_built: snapshot.is_some(),
            scan: self.index.health(),
            pod_metadata: self.metadata.status(),
            pods: snapshot.as_ref().map_or(0, |s| s.pods.len()),
            processes: snapshot.as_ref().map_or(0, |s| s.process_count()),
            intents: self.intents.load().intents.len(),
            node_intents: self.node_intents.load().intents.len(),
            expired_intents: resolved.map_or((0, 0), |r| r.expired),
            templates: self.templates.load().len(),
            resolved_entries: resolved.map_or(0, |r| r.decisions.len()),
            truncated_entries: resolved.map_or(0, |r| r.truncated),
            conflicts: resolved.map(|r| r.conflicts).unwrap_or_default(),
            host_table: self.host.status(),
        }
    }
}

#[cfg(test)]
mod answer_tests;
#[cfg(test)]
mod preview_tests;
#[cfg(test)]
mod tests;
