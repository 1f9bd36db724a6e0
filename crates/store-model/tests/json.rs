//! The documents as redb stores them: JSON with the spec's field names.

use gthulhu_domain::manager::ScheduleIntent;
use gthulhu_repo_conformance::fixtures::{intent, role, strategy, user};
use gthulhu_store_model::{IntentDoc, RoleDoc, StrategyDoc, UserDoc};
use serde_json::{Value, json};

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[test]
fn records_use_the_collection_field_names() {
    let u = user("alice", &["admin"]);
    let stored = serde_json::to_value(UserDoc::from(&u)).unwrap();
    assert_eq!(
        keys(&stored),
        [
            "_id",
            "createdTime",
            "creatorID",
            "password",
            "roles",
            "status",
            "tokenVersion",
            "updatedTime",
            "updaterID",
            "username"
        ]
    );
    assert_eq!(stored["_id"], json!(u.id.to_string()));
    assert_eq!(stored["status"], json!(3));

    let r = serde_json::to_value(RoleDoc::from(&role("ops", &["user.read"]))).unwrap();
    assert_eq!(
        keys(&r["policies"][0]),
        ["k8sNamespace", "permissionKey", "policyNamespace", "self"]
    );

    let s = strategy(&u.id);
    let stored = serde_json::to_value(StrategyDoc::from(&s)).unwrap();
    assert_eq!(stored["k8sNamespace"], json!(["prod", "staging"]));
    assert_eq!(stored["creatorID"], json!(u.id.to_string()));

    let i = intent(&s, "p1", "n1");
    let stored = serde_json::to_value(IntentDoc::from(&i)).unwrap();
    for field in [
        "strategyID",
        "podID",
        "podName",
        "nodeID",
        "k8sNamespace",
        "executionTime",
    ] {
        assert!(stored.get(field).is_some(), "{field}");
    }
    assert_eq!(
        stored["podLabels"][0],
        json!({"key": "app.kubernetes.io/name", "value": "web"})
    );
    assert_eq!(stored["state"], json!(1));
    let back: IntentDoc = serde_json::from_value(stored).unwrap();
    assert_eq!(ScheduleIntent::from(back), i);
}
