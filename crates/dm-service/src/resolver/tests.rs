//! Resolution table tests (targeting.md 17 item 10).

use std::collections::{BTreeMap, HashSet};
use std::time::SystemTime;

use gthulhu_domain::{
    ConflictCounts, HostProcess, HostTaskScope, HostTaskSnapshot, Intent, LegacyPriority, MockPodMetadataSource,
    NodeIntent, PodProcesses, ProcessInfo, ProcessSnapshot, ScanMode, StrategyTemplate,
};

use super::{Inputs, Outcome, resolve};
use crate::decision_maker::LegacyPriorityMap;
use crate::intent_store::IntentStore;
use crate::node_intent_store::NodeIntentStore;
use crate::template_store::TemplateStore;
use crate::test_host::process;

const POD: &str = "11111111-1111-1111-1111-111111111111";

/// Pod `POD` runs pause (10) and `web` (11, threads 12 `web-w0`, 13
/// `web-w1`); the host also runs `agent` (50, thread 51 `agent-w`) and a
/// kernel thread `kworker/0:1` (2).
fn pods() -> ProcessSnapshot {
    let p = |pid: u32, comm: &str| ProcessInfo {
        pid,
        comm: comm.into(),
        ..Default::default()
    };
    ProcessSnapshot {
        pods: vec![PodProcesses {
            pod_uid: POD.into(),
            processes: vec![p(10, "pause"), p(11, "web")],
        }],
        scanned_at: SystemTime::now(),
        generation: 1,
        mode: ScanMode::Cgroups,
    }
}

fn host() -> HostTaskSnapshot {
    HostTaskSnapshot {
        processes: vec![
            process(2, &[(2, "kworker/0:1")]),
            process(10, &[(10, "pause")]),
            process(11, &[(11, "web"), (12, "web-w0"), (13, "web-w1")]),
            process(50, &[(50, "agent"), (51, "agent-w")]),
        ],
        generation: 1,
        scope: HostTaskScope::Host,
    }
}

fn pod_intent(re: &str, priority: i64) -> Intent {
    Intent {
        pod_id: POD.into(),
        pod_name: "web-1".into(),
        command_regex: re.into(),
        priority,
        pod_labels: BTreeMap::from([("app".into(), "web".into())]),
        ..Default::default()
    }
}

fn node_intent(policy: u32, re: &str, priority: i64) -> NodeIntent {
    NodeIntent {
        policy_id: format!("65f00000000000000000000{policy}"),
        node_id: "node-a".into(),
        command_regex: re.into(),
        priority,
        ..Default::default()
    }
}

struct Case {
    intents: Vec<Intent>,
    node_intents: Vec<NodeIntent>,
    templates: Vec<StrategyTemplate>,
    exclusion: Option<u32>,
    max_entries: usize,
    now: i64,
}

impl Default for Case {
    fn default() -> Self {
        Self {
            intents: Vec::new(),
            node_intents: Vec::new(),
            templates: Vec::new(),
            exclusion: None,
            max_entries: 32_768,
            now: 1_773_129_600,
        }
    }
}

impl Case {
    fn run(self) -> Outcome {
        let intents = IntentStore::default();
        intents.replace(self.intents).unwrap();
        if let Some(pid) = self.exclusion {
            intents
                .delete(&gthulhu_domain::DeleteIntents {
                    pod_id: POD.into(),
                    pid: i64::from(pid),
                    ..Default::default()
                })
                .unwrap();
        }
        let node_intents = NodeIntentStore::default();
        node_intents.replace(self.node_intents).unwrap();
        let templates = TemplateStore::default();
        templates.replace(self.templates).unwrap();
        let mut metadata = MockPodMetadataSource::new();
        metadata.expect_lookup().returning(|_| None);
        let (pods, host) = (pods(), host());
        resolve(&Inputs {
            pods: &pods,
            intents: &intents.load(),
            node_intents: &node_intents.load(),
            host: Some(&host),
            templates: &templates.load(),
            metadata: &metadata,
            priorities: LegacyPriorityMap::default(),
            now: self.now,
            max_entries: self.max_entries,
        })
    }
}

fn served(outcome: &Outcome) -> Vec<(u32, i64)> {
    outcome.decisions.iter().map(|d| (d.pid, d.priority)).collect()
}

#[test]
fn pod_intent_beats_node_intent_on_the_tgid_but_not_on_the_other_threads() {
    let out = Case {
        intents: vec![pod_intent("^web", 1)],
        node_intents: vec![node_intent(1, "^web", 5)],
        ..Default::default()
    }
    .run();
    assert_eq!(served(&out), vec![(11, 1), (12, 5), (13, 5)]);
    assert_eq!(
        out.conflicts,
        ConflictCounts {
            pod_over_node: 1,
            ..Default::default()
        }
    );
    assert!(out.decisions[0].selectors.len() == 1 && out.decisions[1].selectors.is_empty());
    assert_eq!(out.decisions[1].command_regex, "^web");
}

#[test]
fn node_intents_reach_host_processes_and_kernel_threads_but_never_pause() {
    let out = Case {
        node_intents: vec![node_intent(1, "", 9), node_intent(2, "^(kworker|agent|pause)", 4)],
        ..Default::default()
    }
    .run();
    // The empty pattern matches no task (as upstream); output by pid.
    assert_eq!(served(&out), vec![(2, 4), (50, 4), (51, 4)]);
}

#[test]
fn within_a_class_the_greatest_merkle_key_wins() {
    // Pod keys differ only in priority text: "9" sorts after "10".
    let out = Case {
        intents: vec![pod_intent("web", 10), pod_intent("web", 9)],
        node_intents: vec![node_intent(1, "agent", 1), node_intent(2, "agent", 2)],
        ..Default::default()
    }
    .run();
    assert_eq!(served(&out), vec![(11, 9), (50, 2), (51, 2)]);
    assert_eq!(
        out.conflicts,
        ConflictCounts {
            pod_over_pod: 1,
            node_over_node: 2,
            ..Default::default()
        }
    );
    // Order of the posted sets does not matter.
    let swapped = Case {
        intents: vec![pod_intent("web", 9), pod_intent("web", 10)],
        node_intents: vec![node_intent(2, "agent", 2), node_intent(1, "agent", 1)],
        ..Default::default()
    }
    .run();
    assert_eq!(swapped, out);
}

#[test]
fn match_threads_gives_one_entry_per_thread_and_exclusions_cover_threads() {
    let threaded = Intent {
        match_threads: true,
        ..pod_intent("^web", 3)
    };
    let out = Case {
        intents: vec![threaded.clone()],
        ..Default::default()
    }
    .run();
    assert_eq!(served(&out), vec![(11, 3), (12, 3), (13, 3)]);
    let excluded = Case {
        intents: vec![threaded],
        exclusion: Some(11),
        ..Default::default()
    }
    .run();
    assert!(excluded.decisions.is_empty());
}

#[test]
fn a_template_and_an_intent_on_one_process_give_the_intent_entry() {
    let out = Case {
        intents: vec![pod_intent("web", 7)],
        templates: vec![
            StrategyTemplate {
                priority: LegacyPriority::Level(3),
                pid: 11,
                ..Default::default()
            },
            StrategyTemplate {
                priority: LegacyPriority::Level(4),
                pid: 11,
                ..Default::default()
            },
        ],
        ..Default::default()
    }
    .run();
    assert_eq!(served(&out), vec![(11, 7)]);
    assert_eq!(
        out.conflicts,
        ConflictCounts {
            over_legacy: 2,
            ..Default::default()
        }
    );
}

#[test]
fn later_legacy_template_wins_among_templates() {
    let level = |l, pid| StrategyTemplate {
        priority: LegacyPriority::Level(l),
        pid,
        ..Default::default()
    };
    let out = Case {
        templates: vec![level(3, 40), level(4, 40), level(5, 30)],
        ..Default::default()
    }
    .run();
    assert_eq!(served(&out), vec![(30, 5), (40, 4)]);
}

#[test]
fn expired_intents_are_held_but_not_resolved() {
    let dated = |at: &str| Intent {
        expires_at: Some(at.into()),
        ..pod_intent("web", 1)
    };
    let out = Case {
        intents: vec![dated("2026-03-10T08:00:00Z"), dated("2026-03-10T08:00:01Z")],
        node_intents: vec![NodeIntent {
            expires_at: Some("2026-03-10T07:00:00Z".into()),
            ..node_intent(1, "agent", 1)
        }],
        now: 1_773_129_600,
        ..Default::default()
    }
    .run();
    // 08:00:00 is the DM's now: expired; 08:00:01 still serves.
    assert_eq!(served(&out), vec![(11, 1)]);
    assert_eq!(out.expired, (1, 1));
}

#[test]
fn the_cap_keeps_pod_then_node_then_legacy_entries_by_pid() {
    let case = || Case {
        intents: vec![pod_intent("web", 1)],
        node_intents: vec![node_intent(1, "^(agent|kworker)", 2)],
        templates: vec![StrategyTemplate {
            priority: LegacyPriority::Level(3),
            pid: 1,
            ..Default::default()
        }],
        max_entries: 3,
        ..Default::default()
    };
    let out = case().run();
    assert_eq!(served(&out), vec![(2, 2), (11, 1), (50, 2)]);
    assert_eq!(out.truncated, 2);
    let all = Case {
        max_entries: 32_768,
        ..case()
    }
    .run();
    assert_eq!(all.truncated, 0);
    let pids: Vec<u32> = all.decisions.iter().map(|d| d.pid).collect();
    let mut sorted = pids.clone();
    sorted.sort_unstable();
    assert_eq!(pids, sorted);
    assert_eq!(pids.iter().collect::<HashSet<_>>().len(), pids.len());
}

#[test]
fn match_threads_falls_back_to_the_process_when_the_table_lacks_it() {
    let threaded = Intent {
        match_threads: true,
        ..pod_intent("^web", 3)
    };
    let intents = IntentStore::default();
    intents.replace(vec![threaded]).unwrap();
    let none = NodeIntentStore::default();
    let templates = TemplateStore::default();
    let metadata = MockPodMetadataSource::new();
    let pods = pods();
    // The table lists pid 11 with another start time: a reused PID.
    let stale = HostTaskSnapshot {
        processes: vec![HostProcess {
            start_time: 99,
            ..process(11, &[(11, "web"), (12, "web-w0")])
        }],
        ..Default::default()
    };
    for host in [None, Some(&stale)] {
        let out = resolve(&Inputs {
            pods: &pods,
            intents: &intents.load(),
            node_intents: &none.load(),
            host,
            templates: &templates.load(),
            metadata: &metadata,
            priorities: LegacyPriorityMap::default(),
            now: 0,
            max_entries: 10,
        });
        assert_eq!(served(&out), vec![(11, 3)]);
    }
}
