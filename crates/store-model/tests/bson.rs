//! The documents as MongoDB stores them: BSON with the spec's types.

use std::collections::BTreeMap;

use bson::{Bson, doc};
use gthulhu_domain::manager::{AuditEntry, IntentState, ObjectId, ScheduleIntent, User, UserStatus};
use gthulhu_store_model::{AuditDoc, IntentDoc, UserDoc};

fn intent() -> ScheduleIntent {
    ScheduleIntent {
        id: ObjectId::new(),
        strategy_id: ObjectId::new(),
        pod_id: "uid".into(),
        pod_name: "web-0".into(),
        node_id: "node-a".into(),
        k8s_namespace: "prod".into(),
        command_regex: "^nginx".into(),
        priority: 10,
        execution_time: 20,
        pod_labels: BTreeMap::from([
            ("app.kubernetes.io/name".into(), "web".into()),
            ("tier".into(), "fe".into()),
        ]),
        state: IntentState::Sent,
        creator_id: ObjectId::ZERO,
        updater_id: ObjectId::ZERO,
        created_time: 1,
        updated_time: 2,
    }
}

#[test]
fn intent_document_has_the_spec_types() {
    let original = intent();
    let stored = bson::to_document(&IntentDoc::from(&original)).unwrap();
    assert_eq!(stored.get("_id"), Some(&Bson::String(original.id.to_string())));
    assert_eq!(
        stored.get("strategyID"),
        Some(&Bson::String(original.strategy_id.to_string()))
    );
    assert_eq!(stored.get("priority"), Some(&Bson::Int64(10)));
    assert_eq!(stored.get("executionTime"), Some(&Bson::Int64(20)));
    assert_eq!(stored.get("createdTime"), Some(&Bson::Int64(1)));
    assert_eq!(stored.get("state"), Some(&Bson::Int32(2)));
    assert_eq!(
        stored.get_array("podLabels").unwrap(),
        &vec![
            Bson::from(doc! {"key": "app.kubernetes.io/name", "value": "web"}),
            Bson::from(doc! {"key": "tier", "value": "fe"}),
        ]
    );
    let back: IntentDoc = bson::from_document(stored).unwrap();
    assert_eq!(ScheduleIntent::from(back), original);
}

#[test]
fn narrowed_integers_still_decode() {
    // Some servers return small int64 values as int32.
    let mut stored = bson::to_document(&IntentDoc::from(&intent())).unwrap();
    stored.insert("priority", Bson::Int32(10));
    stored.insert("state", Bson::Int64(1));
    let back = ScheduleIntent::from(bson::from_document::<IntentDoc>(stored).unwrap());
    assert_eq!((back.priority, back.state), (10, IntentState::Initialized));
}

#[test]
fn user_and_audit_documents_have_the_spec_types() {
    let user = User {
        id: ObjectId::new(),
        username: "alice".into(),
        password_hash: "$2b$12$x".into(),
        status: UserStatus::Inactive,
        roles: vec!["admin".into()],
        created_time: 1,
        updated_time: 2,
        creator_id: ObjectId::ZERO,
        updater_id: ObjectId::ZERO,
        token_version: 0,
    };
    let stored = bson::to_document(&UserDoc::from(&user)).unwrap();
    assert_eq!(stored.get("status"), Some(&Bson::Int32(2)));
    assert_eq!(stored.get("password"), Some(&Bson::String("$2b$12$x".into())));
    assert_eq!(stored.get("creatorID"), Some(&Bson::String(ObjectId::ZERO.to_string())));

    let entry = AuditEntry {
        id: ObjectId::new(),
        user_id: None,
        action: "auth.login".into(),
        request_id: "r".into(),
        timestamp: 5,
        ip: "10.0.0.1".into(),
        status: 401,
        target: None,
        details: serde_json::json!({"username": "a", "password": "***"}),
    };
    let stored = bson::to_document(&AuditDoc::from(&entry)).unwrap();
    assert_eq!(stored.get("user_id"), Some(&Bson::Null));
    assert_eq!(stored.get("target"), Some(&Bson::Null));
    assert_eq!(stored.get("status"), Some(&Bson::Int32(401)));
    assert_eq!(stored.get("timestamp"), Some(&Bson::Int64(5)));
    assert_eq!(
        stored.get_document("details").unwrap(),
        &doc! {"username": "a", "password": "***"}
    );
    let back = AuditEntry::from(bson::from_document::<AuditDoc>(stored).unwrap());
    assert_eq!(back, entry);
}
