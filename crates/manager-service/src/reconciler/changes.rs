//! Intent writes computed from strategies and pods, shared by both paths.

use crate::strategies::intent_for_pod;
use gthulhu_domain::manager::{IntentChanges, PodInfo, ScheduleIntent, ScheduleStrategy};
use std::collections::{BTreeSet, HashMap};

/// Intent writes, and the nodes they touch.
#[derive(Debug, Default)]
pub(super) struct Changes {
    pub(super) intents: IntentChanges,
    pub(super) nodes: BTreeSet<String>,
}

impl Changes {
    pub(super) fn delete(&mut self, gone: ScheduleIntent) {
        self.nodes.insert(gone.node_id);
        self.intents.delete.push(gone.id);
    }

    pub(super) fn absorb(&mut self, other: Changes) {
        self.intents.delete.extend(other.intents.delete);
        self.intents.update.extend(other.intents.update);
        self.intents.insert.extend(other.intents.insert);
        self.nodes.extend(other.nodes);
    }
}

/// Whether a stored intent's derived fields (manager.md 12.2 step 1) differ
/// from the ones the current pod and strategy give.
fn derived_fields_differ(stored: &ScheduleIntent, desired: &ScheduleIntent) -> bool {
    stored.pod_name != desired.pod_name
        || stored.node_id != desired.node_id
        || stored.k8s_namespace != desired.k8s_namespace
        || stored.pod_labels != desired.pod_labels
        || stored.command_regex != desired.command_regex
        || stored.priority != desired.priority
        || stored.execution_time != desired.execution_time
}

/// Compares `stored` (the strategy's intents of the pods under review) with
/// `pods` (those of them the strategy selects), by pod UID.
pub(super) fn refresh(
    strategy: &ScheduleStrategy,
    pods: &[&PodInfo],
    stored: Vec<ScheduleIntent>,
    now: i64,
) -> Changes {
    let mut changes = Changes::default();
    let mut by_pod: HashMap<String, ScheduleIntent> = HashMap::new();
    for intent in stored {
        // A duplicate (strategy, pod) pair cannot be inserted; if one exists
        // anyway, keep one.
        if let Some(duplicate) = by_pod.insert(intent.pod_id.clone(), intent) {
            changes.delete(duplicate);
        }
    }
    for pod in pods {
        let desired = intent_for_pod(strategy, pod, now);
        match by_pod.remove(&pod.uid) {
            None => {
                changes.nodes.insert(desired.node_id.clone());
                changes.intents.insert.push(desired);
            }
            Some(old) if derived_fields_differ(&old, &desired) => {
                changes.nodes.insert(old.node_id.clone());
                changes.nodes.insert(desired.node_id.clone());
                changes.intents.update.push(ScheduleIntent {
                    id: old.id,
                    created_time: old.created_time,
                    ..desired
                });
            }
            Some(_) => {}
        }
    }
    for (_, gone) in by_pod {
        changes.delete(gone);
    }
    changes
}
