//! Turns intents, node intents and legacy templates into one entry per
//! task against one snapshot of the pod index and the host task table
//! (targeting.md 10, which replaces decision-maker.md 5.2 steps 3–7 and
//! legacy-bss.md's "templates first, intents last").

use std::cell::OnceCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use gthulhu_domain::merkle;
use gthulhu_domain::{
    ConflictCounts, HostTaskSnapshot, Intent, LegacyPriority, PodMetadataSource, ProcessInfo, ProcessSnapshot,
    SchedulingDecision, Selector,
};
use regex::bytes::Regex;

use crate::decision_maker::LegacyPriorityMap;
use crate::intent_store::IntentState;
use crate::node_intent_store::NodeIntentState;
use crate::template_store::CompiledTemplate;

/// Everything one resolution reads.
pub struct Inputs<'a> {
    pub pods: &'a ProcessSnapshot,
    pub intents: &'a IntentState,
    pub node_intents: &'a NodeIntentState,
    /// `None` while the table is off or its first walk has not finished.
    pub host: Option<&'a HostTaskSnapshot>,
    pub templates: &'a [CompiledTemplate],
    pub metadata: &'a dyn PodMetadataSource,
    pub priorities: LegacyPriorityMap,
    /// The DM's clock, Unix seconds: intents expiring at or before it are skipped.
    pub now: i64,
    pub max_entries: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Sorted by `pid`.
    pub decisions: Vec<SchedulingDecision>,
    pub conflicts: ConflictCounts,
    pub truncated: usize,
    /// Held but expired: pod intents, node intents.
    pub expired: (usize, usize),
}

/// Where a candidate comes from; the variant order is the precedence of
/// 10.2 rule 1 (a derived `Ord` is not used: within a class the
/// comparison needs the Merkle keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Legacy(usize),
    Node(usize),
    Pod(usize),
}

impl Source {
    pub(crate) fn rank(self) -> u8 {
        match self {
            Self::Legacy(_) => 0,
            Self::Node(_) => 1,
            Self::Pod(_) => 2,
        }
    }
}

/// Merkle keys, built only for intents that meet another on one task.
struct Keys<'a> {
    inputs: &'a Inputs<'a>,
    pod: Vec<OnceCell<(String, String)>>,
    node: Vec<OnceCell<(String, String)>>,
}

impl<'a> Keys<'a> {
    fn new(inputs: &'a Inputs<'a>) -> Self {
        Self {
            inputs,
            pod: (0..inputs.intents.intents.len()).map(|_| OnceCell::new()).collect(),
            node: (0..inputs.node_intents.intents.len())
                .map(|_| OnceCell::new())
                .collect(),
        }
    }

    fn pod(&self, i: usize) -> &(String, String) {
        self.pod[i].get_or_init(|| {
            let intent = &self.inputs.intents.intents[i];
            (merkle::sort_key(intent), merkle::extended_leaf_serialization(intent))
        })
    }

    fn node(&self, i: usize) -> &(String, String) {
        self.node[i].get_or_init(|| {
            let intent = &self.inputs.node_intents.intents[i];
            (
                merkle::node::sort_key(intent),
                merkle::node::extended_leaf_serialization(intent),
            )
        })
    }

    /// Whether `challenger` beats `incumbent` for one task (10.2).
    fn beats(&self, challenger: Source, incumbent: Source) -> bool {
        match (challenger, incumbent) {
            (Source::Pod(a), Source::Pod(b)) => self.pod(a) > self.pod(b),
            (Source::Node(a), Source::Node(b)) => self.node(a) > self.node(b),
            (Source::Legacy(a), Source::Legacy(b)) => a >= b,
            (a, b) => a.rank() > b.rank(),
        }
    }
}

struct Candidates<'a> {
    keys: Keys<'a>,
    winners: HashMap<u32, Source>,
    conflicts: ConflictCounts,
    /// Every candidate per task, when a preview asks for them.
    all: Option<HashMap<u32, Vec<Source>>>,
}

impl Candidates<'_> {
    fn offer(&mut self, key: u32, source: Source) {
        if let Some(all) = self.all.as_mut() {
            all.entry(key).or_default().push(source);
        }
        match self.winners.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(source);
            }
            Entry::Occupied(mut slot) => {
                let incumbent = *slot.get();
                let (winner, loser) = if self.keys.beats(source, incumbent) {
                    slot.insert(source);
                    (source, incumbent)
                } else {
                    (incumbent, source)
                };
                let counter = match (winner, loser) {
                    (_, Source::Legacy(_)) => &mut self.conflicts.over_legacy,
                    (Source::Pod(_), Source::Pod(_)) => &mut self.conflicts.pod_over_pod,
                    (Source::Pod(_), Source::Node(_)) => &mut self.conflicts.pod_over_node,
                    _ => &mut self.conflicts.node_over_node,
                };
                *counter += 1;
            }
        }
    }
}

pub(crate) fn matches(regex: Option<&Regex>, comm: &str) -> bool {
    regex.is_none_or(|r| r.is_match(comm.as_bytes()))
}

fn selected(process: &ProcessInfo, regex: Option<&Regex>) -> bool {
    !process.is_pause() && matches(regex, &process.comm)
}

fn label_matches(labels: &std::collections::BTreeMap<String, String>, selector: &Selector) -> bool {
    match labels.get(&selector.key) {
        Some(value) => selector.value.is_empty() || *value == selector.value,
        None => false,
    }
}

pub fn resolve(inputs: &Inputs<'_>) -> Outcome {
    let (candidates, expired) = collect(inputs, false);
    let conflicts = candidates.conflicts;
    let (decisions, truncated) = build(inputs, candidates.winners);
    Outcome {
        decisions,
        conflicts,
        truncated,
        expired,
    }
}

/// Every candidate of every task and the winners (for a preview).
pub(crate) struct Claims {
    pub winners: HashMap<u32, Source>,
    pub all: HashMap<u32, Vec<Source>>,
    pub conflicts: ConflictCounts,
}

pub(crate) fn claims(inputs: &Inputs<'_>) -> Claims {
    let (candidates, _) = collect(inputs, true);
    Claims {
        winners: candidates.winners,
        all: candidates.all.unwrap_or_default(),
        conflicts: candidates.conflicts,
    }
}

/// Offers every candidate; returns them with the expired counts (pod, node).
fn collect<'a>(inputs: &'a Inputs<'a>, record: bool) -> (Candidates<'a>, (usize, usize)) {
    let mut candidates = Candidates {
        keys: Keys::new(inputs),
        winners: HashMap::new(),
        conflicts: ConflictCounts::default(),
        all: record.then(HashMap::new),
    };
    offer_templates(inputs, &mut candidates);
    let expired_nodes = offer_node_intents(inputs, &mut candidates);
    let expired_pods = offer_pod_intents(inputs, &mut candidates);
    (candidates, (expired_pods, expired_nodes))
}

pub(crate) fn expired(expiry: Option<i64>, now: i64) -> bool {
    expiry.is_some_and(|at| at <= now)
}

/// The pod's tasks a pod intent considers: with `matchThreads`, the
/// process's tasks once the table lists it (same start time), else the
/// process alone. `(tid, comm)`.
pub(crate) fn pod_tasks<'a>(inputs: &'a Inputs<'a>, intent: &Intent, process: &'a ProcessInfo) -> Vec<(u32, &'a str)> {
    let listed = intent
        .match_threads
        .then(|| inputs.host.and_then(|h| h.process(process.pid)))
        .flatten()
        .filter(|p| p.start_time == process.start_time);
    match listed {
        Some(host_process) => host_process.tasks.iter().map(|t| (t.tid, t.comm.as_str())).collect(),
        None => vec![(process.pid, process.comm.as_str())],
    }
}

fn offer_templates(inputs: &Inputs<'_>, candidates: &mut Candidates<'_>) {
    for (i, compiled) in inputs.templates.iter().enumerate() {
        let t = &compiled.template;
        if !t.selectors.is_empty() {
            for pod in &inputs.pods.pods {
                let Some(meta) = inputs.metadata.lookup(&pod.pod_uid) else {
                    continue;
                };
                if !t.selectors.iter().all(|s| label_matches(&meta.labels, s)) {
                    continue;
                }
                for p in pod.processes.iter().filter(|p| selected(p, compiled.regex.as_ref())) {
                    candidates.offer(p.pid, Source::Legacy(i));
                }
            }
        } else if let Ok(pid @ 1..) = u32::try_from(t.pid) {
            candidates.offer(pid, Source::Legacy(i));
        }
    }
}

/// Rule 3: every task of the host whose own `comm` the (non-empty)
/// pattern matches; results memoised per distinct `comm`.
fn offer_node_intents(inputs: &Inputs<'_>, candidates: &mut Candidates<'_>) -> usize {
    let state = inputs.node_intents;
    let mut expired_count = 0;
    for (i, regex) in state.regexes.iter().enumerate() {
        if expired(state.expiries[i], inputs.now) {
            expired_count += 1;
            continue;
        }
        let (Some(regex), Some(host)) = (regex, inputs.host) else {
            continue;
        };
        let mut memo: HashMap<&str, bool> = HashMap::new();
        for task in host.processes.iter().flat_map(|p| &p.tasks) {
            if task.comm == "pause" {
                continue;
            }
            let hit = *memo
                .entry(task.comm.as_str())
                .or_insert_with(|| regex.is_match(task.comm.as_bytes()));
            if hit {
                candidates.offer(task.tid, Source::Node(i));
            }
        }
    }
    expired_count
}

/// Rules 1 and 2: the pod's processes by TGID, or with `matchThreads`
/// their tasks by TID once the table lists them (same start time).
fn offer_pod_intents(inputs: &Inputs<'_>, candidates: &mut Candidates<'_>) -> usize {
    let state = inputs.intents;
    let mut expired_count = 0;
    for (i, (intent, regex)) in state.intents.iter().zip(&state.regexes).enumerate() {
        if expired(state.expiries[i], inputs.now) {
            expired_count += 1;
            continue;
        }
        let Some(pod) = inputs.pods.pod(&intent.pod_id) else {
            continue;
        };
        for process in &pod.processes {
            if process.is_pause() || state.excludes(&intent.pod_id, process.pid) {
                continue;
            }
            for (tid, comm) in pod_tasks(inputs, intent, process) {
                if comm != "pause" && matches(regex.as_deref(), comm) {
                    candidates.offer(tid, Source::Pod(i));
                }
            }
        }
    }
    expired_count
}

/// The winners as entries: pod-derived, then node-derived, then legacy
/// (each by `pid`) up to the cap, then all by `pid`.
fn build(inputs: &Inputs<'_>, winners: HashMap<u32, Source>) -> (Vec<SchedulingDecision>, usize) {
    let mut ranked: Vec<(u32, Source)> = winners.into_iter().collect();
    ranked.sort_unstable_by_key(|&(pid, source)| (std::cmp::Reverse(source.rank()), pid));
    let truncated = ranked.len().saturating_sub(inputs.max_entries);
    ranked.truncate(inputs.max_entries);
    ranked.sort_unstable_by_key(|&(pid, _)| pid);
    let decisions = ranked
        .into_iter()
        .map(|(pid, source)| entry(inputs, pid, source))
        .collect();
    (decisions, truncated)
}

pub(crate) fn entry(inputs: &Inputs<'_>, pid: u32, source: Source) -> SchedulingDecision {
    match source {
        Source::Pod(i) => {
            let intent = &inputs.intents.intents[i];
            SchedulingDecision {
                priority: intent.priority,
                execution_time: u64::try_from(intent.execution_time).unwrap_or(0),
                pid,
                selectors: intent
                    .pod_labels
                    .iter()
                    .map(|(k, v)| Selector {
                        key: k.clone(),
                        value: v.clone(),
                    })
                    .collect(),
                command_regex: intent.command_regex.clone(),
            }
        }
        Source::Node(i) => {
            let intent = &inputs.node_intents.intents[i];
            SchedulingDecision {
                priority: intent.priority,
                execution_time: u64::try_from(intent.execution_time).unwrap_or(0),
                pid,
                selectors: Vec::new(),
                command_regex: intent.command_regex.clone(),
            }
        }
        Source::Legacy(template) => {
            let t = &inputs.templates[template].template;
            let priority = match t.priority {
                LegacyPriority::Flag(true) => inputs.priorities.when_true,
                LegacyPriority::Flag(false) => inputs.priorities.when_false,
                LegacyPriority::Level(level) => level,
            };
            // A pid template's entry carries neither selectors nor regex.
            let (selectors, command_regex) = if t.selectors.is_empty() {
                (Vec::new(), String::new())
            } else {
                (t.selectors.clone(), t.command_regex.clone())
            };
            SchedulingDecision {
                priority,
                execution_time: t.execution_time,
                pid,
                selectors,
                command_regex,
            }
        }
    }
}

#[cfg(test)]
mod tests;
