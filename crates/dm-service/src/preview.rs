//! Task-by-task preview of hypothetical sets (targeting.md 11.6): the
//! resolution of section 10 with every candidate of every task kept, then
//! read back per candidate intent.

use std::collections::HashMap;

use gthulhu_domain::DmError;
use gthulhu_domain::preview::{PreviewCandidate, PreviewClaim, PreviewKind, PreviewReason, PreviewTask};

use crate::resolver::{self, Claims, Inputs, Source, expired, matches, pod_tasks};

/// The cap of `maxTasks` (targeting.md 11.6).
pub const MAX_TASKS: i64 = 1000;

pub fn check_max_tasks(max_tasks: i64) -> Result<usize, DmError> {
    usize::try_from(max_tasks)
        .ok()
        .filter(|&m| m as i64 <= MAX_TASKS)
        .ok_or_else(|| DmError::Validation(format!("maxTasks must be between 0 and {MAX_TASKS}")))
}

/// `ref` of each pod and node intent of the hypothetical sets, and which
/// of them are listed.
pub struct Refs<'a> {
    pub pods: &'a [(String, bool)],
    pub nodes: &'a [(String, bool)],
}

struct TaskOutcome {
    winner: Option<PreviewClaim>,
    reason: PreviewReason,
    overlaps: Vec<PreviewClaim>,
    /// The candidate itself wins the task.
    won: bool,
}

struct Reader<'a> {
    inputs: &'a Inputs<'a>,
    refs: &'a Refs<'a>,
    claims: &'a Claims,
    /// TGID → pod UID, for host tasks.
    pod_of: HashMap<u32, &'a str>,
    max_tasks: usize,
}

pub fn candidates(inputs: &Inputs<'_>, refs: &Refs<'_>, max_tasks: usize) -> (Vec<PreviewCandidate>, Claims) {
    let claims = resolver::claims(inputs);
    let pod_of = inputs
        .pods
        .pods
        .iter()
        .flat_map(|pod| pod.processes.iter().map(move |p| (p.pid, pod.pod_uid.as_str())))
        .collect();
    let reader = Reader {
        inputs,
        refs,
        claims: &claims,
        pod_of,
        max_tasks,
    };
    let mut out = Vec::new();
    for (i, (_, listed)) in refs.pods.iter().enumerate() {
        if *listed {
            out.push(reader.pod_candidate(i));
        }
    }
    for (j, (_, listed)) in refs.nodes.iter().enumerate() {
        if *listed {
            out.push(reader.node_candidate(j));
        }
    }
    (out, claims)
}

impl Reader<'_> {
    fn claim(&self, source: Source) -> PreviewClaim {
        let entry = resolver::entry(self.inputs, 0, source);
        let (reference, kind) = match source {
            Source::Pod(i) => (self.refs.pods[i].0.clone(), PreviewKind::Pod),
            Source::Node(j) => (self.refs.nodes[j].0.clone(), PreviewKind::Node),
            Source::Legacy(t) => (format!("legacy:{t}"), PreviewKind::Legacy),
        };
        PreviewClaim {
            reference,
            kind,
            priority: entry.priority,
            execution_time: i64::try_from(entry.execution_time).unwrap_or(i64::MAX),
        }
    }

    /// The task's winner, the others that claim it, and why.
    fn outcome(&self, key: u32, own: Source, no_entry: PreviewReason) -> TaskOutcome {
        let all = self.claims.all.get(&key).map(Vec::as_slice).unwrap_or_default();
        let overlaps = all.iter().filter(|&&s| s != own).map(|&s| self.claim(s)).collect();
        let Some(&winner) = self.claims.winners.get(&key) else {
            return TaskOutcome {
                winner: None,
                reason: no_entry,
                overlaps,
                won: false,
            };
        };
        let reason = if all.len() == 1 {
            PreviewReason::OnlyMatch
        } else if all.iter().filter(|s| s.rank() == winner.rank()).count() > 1 {
            PreviewReason::LastByMerkleKey
        } else {
            let runner_up = all
                .iter()
                .filter(|s| **s != winner)
                .map(|s| s.rank())
                .max()
                .unwrap_or(0);
            match (winner.rank(), runner_up) {
                (2, 1) => PreviewReason::PodBeatsNode,
                (2, _) => PreviewReason::PodBeatsLegacy,
                _ => PreviewReason::NodeBeatsLegacy,
            }
        };
        TaskOutcome {
            winner: Some(self.claim(winner)),
            reason,
            overlaps,
            won: winner == own,
        }
    }

    fn task(&self, pid: u32, tgid: u32, comm: &str, pod_id: &str, matches: bool, outcome: TaskOutcome) -> PreviewTask {
        PreviewTask {
            pid,
            tgid,
            comm: comm.to_string(),
            pod_id: pod_id.to_string(),
            matches,
            winner: outcome.winner,
            reason: outcome.reason,
            overlaps: outcome.overlaps,
        }
    }

    fn pod_candidate(&self, i: usize) -> PreviewCandidate {
        let state = self.inputs.intents;
        let intent = &state.intents[i];
        let regex = state.regexes[i].as_deref();
        let is_expired = expired(state.expiries[i], self.inputs.now);
        let pod = self.inputs.pods.pod(&intent.pod_id);
        let mut tasks = Vec::new();
        let mut winning = 0;
        for process in pod.iter().flat_map(|p| &p.processes) {
            let excluded = state.excludes(&intent.pod_id, process.pid);
            for (tid, comm) in pod_tasks(self.inputs, intent, process) {
                let pause = comm == "pause" || process.is_pause();
                let hit = !pause && matches(regex, comm);
                let no_entry = if pause {
                    PreviewReason::ExcludedPause
                } else if excluded {
                    PreviewReason::ExcludedPid
                } else if is_expired && hit {
                    PreviewReason::IntentExpired
                } else {
                    PreviewReason::NoMatch
                };
                let outcome = self.outcome(tid, Source::Pod(i), no_entry);
                winning += usize::from(outcome.won);
                tasks.push(self.task(tid, process.pid, comm, &intent.pod_id, hit, outcome));
            }
        }
        self.finish(
            self.refs.pods[i].0.clone(),
            PreviewKind::Pod,
            Some((intent.pod_id.clone(), pod.is_some())),
            is_expired,
            tasks,
            winning,
        )
    }

    fn node_candidate(&self, j: usize) -> PreviewCandidate {
        let state = self.inputs.node_intents;
        let is_expired = expired(state.expiries[j], self.inputs.now);
        let mut tasks = Vec::new();
        let mut winning = 0;
        if let (Some(regex), Some(host)) = (state.regexes[j].as_deref(), self.inputs.host) {
            for process in &host.processes {
                for task in process
                    .tasks
                    .iter()
                    .filter(|t| t.comm != "pause" && regex.is_match(t.comm.as_bytes()))
                {
                    let no_entry = if is_expired {
                        PreviewReason::IntentExpired
                    } else {
                        PreviewReason::NoMatch
                    };
                    let outcome = self.outcome(task.tid, Source::Node(j), no_entry);
                    winning += usize::from(outcome.won);
                    let pod_id = self.pod_of.get(&process.tgid).copied().unwrap_or_default();
                    tasks.push(self.task(task.tid, process.tgid, &task.comm, pod_id, true, outcome));
                }
            }
        }
        self.finish(
            self.refs.nodes[j].0.clone(),
            PreviewKind::Node,
            None,
            is_expired,
            tasks,
            winning,
        )
    }

    /// Matching tasks first, then by pid; at most `max_tasks` listed,
    /// counts complete.
    fn finish(
        &self,
        reference: String,
        kind: PreviewKind,
        pod: Option<(String, bool)>,
        expired: bool,
        mut tasks: Vec<PreviewTask>,
        winning: usize,
    ) -> PreviewCandidate {
        tasks.sort_by_key(|t| (!t.matches, t.pid));
        let task_count = tasks.len();
        let matching_task_count = tasks.iter().filter(|t| t.matches).count();
        let truncated = task_count > self.max_tasks;
        tasks.truncate(self.max_tasks);
        let (pod_id, pod_found) = pod.map_or((None, None), |(id, found)| (Some(id), Some(found)));
        PreviewCandidate {
            reference,
            kind,
            pod_id,
            pod_found,
            expired,
            task_count,
            matching_task_count,
            winning_task_count: winning,
            truncated,
            tasks,
        }
    }
}
