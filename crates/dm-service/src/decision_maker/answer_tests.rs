//! The cached poll and Merkle bodies: what they hold, and when they change.

use std::io::Read;
use std::sync::{Arc, Mutex};

use flate2::read::GzDecoder;
use gthulhu_domain::{
    DeleteIntents, EncodedJson, IntentService, MockProcessIndex, ProcessSnapshot, ScanHealth, SchedulingService, merkle,
};
use serde_json::Value;
use tokio::sync::watch;

use super::tests::{POD_A, POD_B, intent, metadata, snapshot};
use super::{DecisionMaker, ResolveSettings};
use crate::test_host::FakeHostTable;

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

fn json(encoded: &EncodedJson) -> Value {
    assert_eq!(encoded.identity.last(), Some(&b'\n'), "bodies end with a newline");
    assert_eq!(
        gunzip(&encoded.gzip),
        encoded.identity,
        "gzip decodes to the identity body"
    );
    serde_json::from_slice(&encoded.identity).unwrap()
}

/// A decision maker over an index whose snapshot the test replaces.
fn dm_with_index(snapshot: ProcessSnapshot) -> (Arc<DecisionMaker>, Arc<Mutex<Arc<ProcessSnapshot>>>) {
    let current = Arc::new(Mutex::new(Arc::new(snapshot)));
    let (_tx, rx) = watch::channel(0);
    let mut index = MockProcessIndex::new();
    let c = current.clone();
    index
        .expect_snapshot()
        .returning(move || Some(c.lock().unwrap().clone()));
    index.expect_subscribe().returning(move || rx.clone());
    index.expect_health().returning(ScanHealth::default);
    let dm = DecisionMaker::new(
        Arc::new(index),
        metadata(vec![]),
        FakeHostTable::empty(),
        ResolveSettings::default(),
    );
    (dm, current)
}

fn scheduled_pids(dm: &DecisionMaker) -> Vec<u64> {
    json(&dm.strategies_answer().unwrap())["scheduling"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pid"].as_u64().unwrap())
        .collect()
}

#[test]
fn poll_body_holds_the_resolved_list_in_the_wire_shape() {
    let (dm, _) = dm_with_index(snapshot());
    dm.replace(vec![intent(POD_B, "", 5, 7), intent(POD_A, "gin", 1, 20_000_000)])
        .unwrap();
    let body = json(&dm.strategies_answer().unwrap());
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["success", "message", "timestamp", "scheduling"]);
    assert_eq!(body["message"], "Scheduling intents retrieved successfully");
    let expected = serde_json::to_value(dm.decisions().unwrap().as_slice()).unwrap();
    assert_eq!(body["scheduling"], expected);
    assert_eq!(scheduled_pids(&dm), [11, 21], "sorted by pid");
}

#[test]
fn poll_body_is_rebuilt_on_a_change_and_kept_otherwise() {
    let (dm, index) = dm_with_index(snapshot());
    let empty = dm.strategies_answer().unwrap();
    assert_eq!(json(&empty)["scheduling"], Value::Array(vec![]));

    dm.replace(vec![intent(POD_A, "", 1, 1)]).unwrap();
    let first = dm.strategies_answer().unwrap();
    assert_eq!(scheduled_pids(&dm), [11, 12]);

    // A refresh that resolves to the same list keeps the same buffers.
    dm.resolve();
    let again = dm.strategies_answer().unwrap();
    assert_eq!(again.identity.as_ptr(), first.identity.as_ptr());
    assert_eq!(again.gzip.as_ptr(), first.gzip.as_ptr());

    // A process gone from the index drops its entry.
    let mut next = snapshot();
    next.pods[0].processes.retain(|p| p.pid != 12);
    *index.lock().unwrap() = Arc::new(next);
    dm.resolve();
    assert_eq!(scheduled_pids(&dm), [11]);

    dm.delete(DeleteIntents {
        all: true,
        ..Default::default()
    })
    .unwrap();
    assert!(scheduled_pids(&dm).is_empty());
}

#[test]
fn merkle_body_follows_the_root() {
    let (dm, _) = dm_with_index(snapshot());
    let body = json(&dm.merkle_answer());
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["rootHash"], merkle::EMPTY_ROOT);

    dm.replace(vec![intent(POD_A, "", 1, 1)]).unwrap();
    let body = json(&dm.merkle_answer());
    assert_eq!(body["data"]["rootHash"], dm.merkle_root());
    assert_ne!(dm.merkle_root(), merkle::EMPTY_ROOT);

    let before = dm.merkle_answer();
    // Excluding one PID leaves the root, so the body stays.
    dm.delete(DeleteIntents {
        pod_id: POD_A.into(),
        pid: 11,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(dm.merkle_answer().identity.as_ptr(), before.identity.as_ptr());

    dm.delete(DeleteIntents {
        all: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(json(&dm.merkle_answer())["data"]["rootHash"], merkle::EMPTY_ROOT);
}
