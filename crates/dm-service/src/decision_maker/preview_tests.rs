//! The preview (targeting.md 11.6) over the real resolution: what each
//! candidate's tasks get, and that nothing is installed.

use gthulhu_domain::preview::{PreviewIntent, PreviewNodeIntent, PreviewReason, PreviewRequest};
use gthulhu_domain::{DmError, Intent, IntentService, NodeIntent, SchedulingService};
use serde_json::json;

use super::tests::{POD_A, index_with, intent, metadata, snapshot};
use super::{DecisionMaker, ResolveSettings};
use crate::test_host::{FakeHostTable, process};

fn dm() -> std::sync::Arc<DecisionMaker> {
    // Pod A's nginx (11) runs threads 13 and 14; a host agent (50) too.
    let host = FakeHostTable::with(vec![
        process(10, &[(10, "pause")]),
        process(11, &[(11, "nginx"), (13, "nginx-w"), (14, "nginx-w")]),
        process(12, &[(12, "sidecar")]),
        process(50, &[(50, "agent")]),
    ]);
    DecisionMaker::new(
        index_with(Some(snapshot())).0,
        metadata(vec![]),
        host,
        ResolveSettings::default(),
    )
}

fn request(intents: Vec<PreviewIntent>, node_intents: Vec<PreviewNodeIntent>, max_tasks: i64) -> PreviewRequest {
    PreviewRequest {
        intents: Some(intents),
        node_intents: Some(node_intents),
        max_tasks,
    }
}

fn candidate(intent: Intent) -> PreviewIntent {
    PreviewIntent {
        intent,
        reference: "candidate".into(),
        candidate: true,
    }
}

fn policy(re: &str, priority: i64) -> PreviewNodeIntent {
    PreviewNodeIntent {
        intent: NodeIntent {
            policy_id: "65f000000000000000000001".into(),
            node_id: "node-a".into(),
            command_regex: re.into(),
            priority,
            ..Default::default()
        },
        reference: "policy:65f000000000000000000001".into(),
        candidate: false,
    }
}

#[test]
fn a_pod_candidate_sees_its_tasks_winners_and_overlaps() {
    let dm = dm();
    let roots = (dm.merkle_root(), dm.node_merkle_root());
    let report = dm
        .preview(request(
            vec![candidate(intent(POD_A, "^nginx", 1, 20_000_000))],
            vec![policy("^nginx", 5)],
            50,
        ))
        .unwrap();
    assert_eq!(
        report.host_table, "oneOff",
        "the table was off: one walk for the preview"
    );
    assert_eq!(report.conflicts.pod_over_node, 1);
    let c = &report.candidates[0];
    assert_eq!((c.task_count, c.matching_task_count, c.winning_task_count), (3, 1, 1));
    assert_eq!(c.pod_found, Some(true));
    let body = serde_json::to_value(&c.tasks).unwrap();
    assert_eq!(
        body,
        json!([
            {"pid": 11, "tgid": 11, "comm": "nginx", "podID": POD_A, "matches": true,
             "winner": {"ref": "candidate", "kind": "pod", "priority": 1, "executionTime": 20000000},
             "reason": "podBeatsNode",
             "overlaps": [{"ref": "policy:65f000000000000000000001", "kind": "node", "priority": 5, "executionTime": 0}]},
            {"pid": 10, "tgid": 10, "comm": "pause", "podID": POD_A, "matches": false, "winner": null,
             "reason": "excludedPause", "overlaps": []},
            {"pid": 12, "tgid": 12, "comm": "sidecar", "podID": POD_A, "matches": false, "winner": null,
             "reason": "noMatch", "overlaps": []},
        ])
    );
    assert_eq!((dm.merkle_root(), dm.node_merkle_root()), roots, "nothing installed");
    assert!(dm.decisions().unwrap().is_empty());
}

#[test]
fn threads_and_node_candidates_list_matching_tasks_within_max_tasks() {
    let dm = dm();
    let threaded = Intent {
        match_threads: true,
        ..intent(POD_A, "^nginx", 1, 0)
    };
    let mut node = policy("^(nginx-w|agent)$", 5);
    node.candidate = true;
    let report = dm.preview(request(vec![candidate(threaded)], vec![node], 1)).unwrap();
    let pod = &report.candidates[0];
    assert_eq!(
        (pod.task_count, pod.matching_task_count, pod.winning_task_count),
        (5, 3, 3)
    );
    assert!(pod.truncated && pod.tasks.len() == 1);
    let node = &report.candidates[1];
    assert_eq!(
        (node.task_count, node.winning_task_count),
        (3, 1),
        "agent only: the pod wins its threads"
    );
    let agent: Vec<_> = node
        .tasks
        .iter()
        .map(|t| (t.pid, t.reason, t.pod_id.as_str()))
        .collect();
    assert_eq!(agent, vec![(13, PreviewReason::PodBeatsNode, POD_A)]);
    assert_eq!(report.conflicts.pod_over_node, 2);
}

#[test]
fn invalid_previews_name_the_array() {
    let dm = dm();
    let mut bad = policy("(", 1);
    bad.candidate = true;
    let err = dm.preview(request(vec![], vec![bad], 50)).unwrap_err();
    assert!(
        matches!(&err, DmError::Validation(m) if m.starts_with("nodeIntents[0].commandRegex: invalid regular expression: ")),
        "{err:?}"
    );
    assert_eq!(
        dm.preview(request(vec![], vec![], 1001)).unwrap_err(),
        DmError::Validation("maxTasks must be between 0 and 1000".into())
    );
    let mut long = candidate(intent(POD_A, "", 1, 0));
    long.reference = "x".repeat(129);
    assert_eq!(
        dm.preview(request(vec![long], vec![], 50)).unwrap_err(),
        DmError::Validation("intents[0].ref must be at most 128 bytes".into())
    );
}
