//! MongoDB-specific behaviour beyond the shared conformance suite: stored
//! document shapes and indexes (manager.md 14.2), compensation of failed
//! multi-document writes, error mapping and secrecy of credentials.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bson::{Bson, Document, doc};
use futures_util::TryStreamExt;
use gthulhu_domain::Selector;
use gthulhu_domain::manager::{
    AuditEntry, AuditQuery, IntentState, ObjectId, Permission, RepoError, Repository, Role, RolePolicy, ScheduleIntent,
    ScheduleStrategy, StrategySpec, User, UserStatus,
};
use gthulhu_store_mongo::{MongoRepository, MongoSettings};

fn user(name: &str, roles: &[&str]) -> User {
    User {
        id: ObjectId::new(),
        username: name.into(),
        password_hash: "$2b$12$hash".into(),
        status: UserStatus::Active,
        roles: roles.iter().map(|r| r.to_string()).collect(),
        created_time: 1_700_000_000_000,
        updated_time: 1_700_000_000_000,
        creator_id: ObjectId::ZERO,
        updater_id: ObjectId::ZERO,
        token_version: 0,
    }
}

fn strategy(creator: &ObjectId) -> ScheduleStrategy {
    ScheduleStrategy {
        id: ObjectId::new(),
        spec: StrategySpec {
            strategy_namespace: "default".into(),
            label_selectors: vec![Selector {
                key: "app.kubernetes.io/name".into(),
                value: "web".into(),
            }],
            k8s_namespaces: vec!["prod".into()],
            command_regex: "^nginx".into(),
            priority: 10,
            execution_time: 20_000_000,
        },
        creator_id: creator.clone(),
        updater_id: creator.clone(),
        created_time: 1,
        updated_time: 1,
    }
}

fn intent(strategy: &ScheduleStrategy, pod: &str, node: &str) -> ScheduleIntent {
    ScheduleIntent {
        id: ObjectId::new(),
        strategy_id: strategy.id.clone(),
        pod_id: pod.into(),
        pod_name: format!("name-{pod}"),
        node_id: node.into(),
        k8s_namespace: "prod".into(),
        command_regex: strategy.spec.command_regex.clone(),
        priority: strategy.spec.priority,
        execution_time: strategy.spec.execution_time,
        pod_labels: BTreeMap::from([("app.kubernetes.io/name".into(), "web".into())]),
        state: IntentState::Initialized,
        creator_id: strategy.creator_id.clone(),
        updater_id: strategy.creator_id.clone(),
        created_time: 1,
        updated_time: 1,
    }
}

fn audit(user_id: Option<&ObjectId>, timestamp: i64) -> AuditEntry {
    AuditEntry {
        id: ObjectId::new(),
        user_id: user_id.cloned(),
        action: "role.create".into(),
        request_id: format!("req-{timestamp}"),
        timestamp,
        ip: "10.0.0.1".into(),
        status: 201,
        target: Some("t".into()),
        details: serde_json::json!({"name": "r", "password": "***", "n": 3, "nested": {"list": [1, "a", null]}}),
    }
}

/// A raw view of the test database, to check what is actually stored.
async fn raw(uri: &str, settings: &MongoSettings) -> mongodb::Database {
    mongodb::Client::with_uri_str(uri)
        .await
        .expect("raw client")
        .database(&settings.database)
}

/// An integer field's value: nx-27017 hands back small int64 values as
/// int32 (the stored types are checked in the crate's unit tests).
fn int(doc: &Document, field: &str) -> i64 {
    match doc.get(field) {
        Some(Bson::Int32(v)) => i64::from(*v),
        Some(Bson::Int64(v)) => *v,
        other => panic!("{field} is not an integer: {other:?}"),
    }
}

async fn raw_one(db: &mongodb::Database, collection: &str) -> Document {
    db.collection::<Document>(collection)
        .find_one(doc! {})
        .await
        .expect("raw read")
        .expect("a stored document")
}

async fn connected(uri: &str) -> (MongoRepository, mongodb::Database) {
    let settings = common::fresh_settings(uri);
    let repo = MongoRepository::connect(&settings).await.expect("connect");
    (repo, raw(uri, &settings).await)
}

async fn stored_documents_use_the_spec_fields(uri: &str) {
    let (repo, db) = connected(uri).await;
    let admin = user("alice", &["admin"]);
    repo.create_user(&admin).await.unwrap();
    let role = Role {
        id: ObjectId::new(),
        name: "ops".into(),
        description: "d".into(),
        policies: vec![RolePolicy {
            permission_key: "user.read".into(),
            self_only: true,
            k8s_namespace: "prod".into(),
            policy_namespace: "p".into(),
        }],
        created_time: 5,
        updated_time: 6,
        creator_id: admin.id.clone(),
        updater_id: admin.id.clone(),
    };
    repo.create_role(&role).await.unwrap();
    let s = strategy(&admin.id);
    repo.insert_strategy(&s, &[intent(&s, "pod-1", "node-a")])
        .await
        .unwrap();
    repo.insert_audit(&audit(None, 7)).await.unwrap();
    repo.upsert_permission(&Permission {
        key: "user.read".into(),
        description: "Read".into(),
        resource: "user".into(),
        action: "read".into(),
    })
    .await
    .unwrap();
    repo.record_migration(1, "create_collections").await.unwrap();

    let u = raw_one(&db, "users").await;
    assert_eq!(u.get_str("_id").unwrap(), admin.id.to_string());
    assert_eq!(u.get_str("username").unwrap(), "alice");
    assert_eq!(u.get_str("password").unwrap(), "$2b$12$hash");
    assert_eq!(int(&u, "status"), 1);
    assert_eq!(u.get_array("roles").unwrap(), &vec![Bson::from("admin")]);
    assert_eq!(int(&u, "createdTime"), 1_700_000_000_000);
    assert_eq!(u.get_str("creatorID").unwrap(), ObjectId::ZERO.to_string());
    assert!(u.contains_key("updaterID") && u.contains_key("updatedTime"));

    let r = raw_one(&db, "roles").await;
    let policy = r.get_array("policies").unwrap()[0].as_document().unwrap().clone();
    assert_eq!(
        policy,
        doc! {"permissionKey": "user.read", "self": true, "k8sNamespace": "prod", "policyNamespace": "p"}
    );

    let st = raw_one(&db, "schedule_strategies").await;
    for field in ["strategyNamespace", "commandRegex", "creatorID", "updaterID"] {
        assert!(st.get_str(field).is_ok(), "strategy field {field}");
    }
    assert_eq!(int(&st, "priority"), 10);
    assert_eq!(int(&st, "executionTime"), 20_000_000);
    assert_eq!(st.get_array("k8sNamespace").unwrap(), &vec![Bson::from("prod")]);
    assert_eq!(
        st.get_array("labelSelectors").unwrap()[0].as_document().unwrap(),
        &doc! {"key": "app.kubernetes.io/name", "value": "web"}
    );

    let it = raw_one(&db, "schedule_intents").await;
    assert_eq!(it.get_str("strategyID").unwrap(), s.id.to_string());
    for field in [
        "podID",
        "podName",
        "nodeID",
        "k8sNamespace",
        "commandRegex",
        "creatorID",
    ] {
        assert!(it.get_str(field).is_ok(), "intent field {field}");
    }
    assert_eq!(int(&it, "state"), 1);
    assert_eq!(int(&it, "priority"), 10);
    assert_eq!(
        it.get_array("podLabels").unwrap(),
        &vec![Bson::from(doc! {"key": "app.kubernetes.io/name", "value": "web"})]
    );

    let a = raw_one(&db, "audit_logs").await;
    assert_eq!(a.get("user_id"), Some(&Bson::Null));
    assert_eq!(a.get_str("request_id").unwrap(), "req-7");
    assert_eq!(int(&a, "timestamp"), 7);
    assert_eq!(int(&a, "status"), 201);
    assert_eq!(a.get_str("target").unwrap(), "t");
    assert_eq!(a.get_document("details").unwrap().get_str("password").unwrap(), "***");

    let p = raw_one(&db, "permissions").await;
    assert!(p.get_str("_id").is_ok() && p.get_str("key").is_ok() && p.get_str("action").is_ok());

    let m = raw_one(&db, "schema_migrations").await;
    assert_eq!(int(&m, "_id"), 1);
    assert_eq!(m.get_str("name").unwrap(), "create_collections");
    assert!(int(&m, "appliedAt") > 0);
}

async fn indexes_are_created_idempotently(uri: &str) {
    let settings = common::fresh_settings(uri);
    MongoRepository::connect(&settings).await.unwrap();
    // A second Manager start on the same database must not fail.
    MongoRepository::connect(&settings).await.unwrap();
    let db = raw(uri, &settings).await;
    // By keys and uniqueness: some wire servers (nx-27017) replace the
    // requested index names with their own.
    let expected = [
        ("users", doc! {"username": 1}, true),
        ("roles", doc! {"name": 1}, true),
        ("permissions", doc! {"key": 1}, true),
        ("schedule_strategies", doc! {"creatorID": 1}, false),
        ("schedule_intents", doc! {"strategyID": 1, "podID": 1}, true),
        ("schedule_intents", doc! {"nodeID": 1}, false),
        ("schedule_intents", doc! {"creatorID": 1}, false),
        ("audit_logs", doc! {"user_id": 1, "timestamp": 1}, false),
    ];
    for (collection, keys, unique) in expected {
        let indexes: Vec<mongodb::IndexModel> = db
            .collection::<Document>(collection)
            .list_indexes()
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let found = indexes.iter().find(|i| i.keys == keys);
        let found = found.unwrap_or_else(|| panic!("{collection} lacks an index on {keys}: {indexes:?}"));
        let is_unique = found.options.as_ref().and_then(|o| o.unique).unwrap_or(false);
        assert_eq!(is_unique, unique, "{collection} {keys}");
    }
    let collections = db.list_collection_names().await.unwrap();
    assert!(collections.iter().any(|c| c == "schema_migrations"), "{collections:?}");
}

async fn conflicts_name_the_unique_field(uri: &str) {
    let (repo, _) = connected(uri).await;
    repo.create_user(&user("bob", &[])).await.unwrap();
    assert_eq!(
        repo.create_user(&user("bob", &[])).await,
        Err(RepoError::Conflict("username".into()))
    );
    let role = |name: &str| Role {
        id: ObjectId::new(),
        name: name.into(),
        description: String::new(),
        policies: vec![],
        created_time: 1,
        updated_time: 1,
        creator_id: ObjectId::ZERO,
        updater_id: ObjectId::ZERO,
    };
    let ops = role("ops");
    repo.create_role(&ops).await.unwrap();
    assert_eq!(
        repo.create_role(&role("ops")).await,
        Err(RepoError::Conflict("name".into()))
    );
    repo.create_role(&role("dev")).await.unwrap();
    let renamed = Role {
        name: "dev".into(),
        ..ops.clone()
    };
    assert_eq!(
        repo.update_role(&renamed).await,
        Err(RepoError::Conflict("name".into()))
    );
    assert_eq!(repo.get_role(&ops.id).await.unwrap().name, "ops");

    let s = strategy(&ObjectId::new());
    repo.insert_strategy(&s, &[intent(&s, "p1", "n1")]).await.unwrap();
    assert_eq!(
        repo.insert_intents(&[intent(&s, "p1", "n2")]).await,
        Err(RepoError::Conflict("strategyId+podId".into()))
    );
}

async fn failed_multi_document_writes_leave_nothing_behind(uri: &str) {
    let (repo, _) = connected(uri).await;
    let creator = ObjectId::new();

    // insert_strategy: the second intent clashes with the first.
    let s = strategy(&creator);
    let clash = [intent(&s, "p1", "n1"), intent(&s, "p2", "n1"), intent(&s, "p1", "n2")];
    assert_eq!(
        repo.insert_strategy(&s, &clash).await,
        Err(RepoError::Conflict("strategyId+podId".into()))
    );
    assert_eq!(repo.get_strategy(&s.id).await, Err(RepoError::NotFound));
    assert!(repo.list_intents().await.unwrap().is_empty());

    // insert_intents: all or nothing.
    let kept = strategy(&creator);
    let original = vec![intent(&kept, "p1", "n1"), intent(&kept, "p2", "n2")];
    repo.insert_strategy(&kept, &original).await.unwrap();
    let batch = [intent(&kept, "p3", "n1"), intent(&kept, "p2", "n1")];
    assert!(matches!(repo.insert_intents(&batch).await, Err(RepoError::Conflict(_))));
    assert_eq!(repo.list_intents().await.unwrap(), original);

    // replace_strategy: a clash among the new intents restores the old state.
    let mut changed = kept.clone();
    changed.spec.priority = 99;
    let bad = [intent(&changed, "p7", "n1"), intent(&changed, "p7", "n2")];
    assert!(matches!(
        repo.replace_strategy(&changed, &bad).await,
        Err(RepoError::Conflict(_))
    ));
    assert_eq!(repo.get_strategy(&kept.id).await.unwrap(), kept);
    assert_eq!(repo.list_intents_by_strategy(&kept.id).await.unwrap(), original);

    // update_intents: a clash puts back the ones already replaced.
    let mut first = original[0].clone();
    first.priority = 42;
    let mut second = original[1].clone();
    second.pod_id = "p1".into();
    assert!(matches!(
        repo.update_intents(&[first, second]).await,
        Err(RepoError::Conflict(_))
    ));
    assert_eq!(repo.list_intents().await.unwrap(), original);
}

async fn strategies_and_intents_round_trip(uri: &str) {
    let (repo, _) = connected(uri).await;
    let creator = ObjectId::new();
    let s = strategy(&creator);
    let intents = vec![intent(&s, "p1", "node-a"), intent(&s, "p2", "node-b")];
    repo.insert_strategy(&s, &intents).await.unwrap();
    assert_eq!(repo.get_strategy(&s.id).await.unwrap(), s);
    assert_eq!(
        repo.list_strategies_by_creator(&creator).await.unwrap(),
        vec![s.clone()]
    );
    assert!(
        repo.list_strategies_by_creator(&ObjectId::new())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(repo.list_intents_by_creator(&creator).await.unwrap(), intents);
    assert_eq!(
        repo.list_intents_by_node("node-b").await.unwrap(),
        vec![intents[1].clone()]
    );
    assert_eq!(
        repo.get_intents(&[intents[1].id.clone(), ObjectId::new()])
            .await
            .unwrap(),
        vec![intents[1].clone()]
    );

    repo.set_intent_state(&[intents[0].id.clone()], IntentState::Sent)
        .await
        .unwrap();
    assert_eq!(
        repo.get_intents(&[intents[0].id.clone()]).await.unwrap()[0].state,
        IntentState::Sent
    );

    let mut replaced = s.clone();
    replaced.spec.label_selectors.clear();
    replaced.updated_time = 9;
    let new_intents = vec![intent(&replaced, "p3", "node-c")];
    repo.replace_strategy(&replaced, &new_intents).await.unwrap();
    assert_eq!(repo.get_strategy(&s.id).await.unwrap(), replaced);
    assert_eq!(repo.list_intents().await.unwrap(), new_intents);
    assert_eq!(
        repo.replace_strategy(&strategy(&creator), &[]).await,
        Err(RepoError::NotFound)
    );

    assert_eq!(repo.delete_strategy(&s.id).await.unwrap(), new_intents);
    assert_eq!(repo.delete_strategy(&s.id).await, Err(RepoError::NotFound));
    assert!(repo.list_strategies().await.unwrap().is_empty());
    assert!(repo.list_intents().await.unwrap().is_empty());
}

async fn audit_queries_page_newest_first(uri: &str) {
    let (repo, _) = connected(uri).await;
    let alice = ObjectId::new();
    let bob = ObjectId::new();
    // Inserted out of time order: ordering is by timestamp, then id.
    let entries = [
        audit(Some(&alice), 300),
        audit(Some(&bob), 100),
        audit(Some(&alice), 100),
        audit(None, 200),
        audit(Some(&alice), 400),
    ];
    for e in &entries {
        repo.insert_audit(e).await.unwrap();
    }
    let all = repo
        .query_audit(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let order: Vec<_> = all.iter().map(|e| e.id.clone()).collect();
    let expected = [&entries[4], &entries[0], &entries[3], &entries[2], &entries[1]];
    assert_eq!(order, expected.iter().map(|e| e.id.clone()).collect::<Vec<_>>());
    assert_eq!(all[0], entries[4], "round trip, details included");

    let page = |cursor: Option<ObjectId>| AuditQuery {
        user_ids: vec![alice.clone()],
        limit: 2,
        cursor,
        ..AuditQuery::default()
    };
    let first = repo.query_audit(&page(None)).await.unwrap();
    assert_eq!(first, vec![entries[4].clone(), entries[0].clone()]);
    let second = repo.query_audit(&page(Some(first[1].id.clone()))).await.unwrap();
    assert_eq!(second, vec![entries[2].clone()]);

    let ranged = repo
        .query_audit(&AuditQuery {
            from_ms: Some(100),
            to_ms: Some(300),
            action: Some("role.create".into()),
            user_ids: vec![alice.clone(), bob.clone()],
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(ranged.len(), 3);
    assert!(
        ranged
            .iter()
            .all(|e| (100..=300).contains(&e.timestamp) && e.user_id.is_some())
    );
    let other_action = AuditQuery {
        action: Some("auth.login".into()),
        limit: 10,
        ..AuditQuery::default()
    };
    assert!(repo.query_audit(&other_action).await.unwrap().is_empty());
}

async fn users_roles_and_migrations(uri: &str) {
    let (repo, db) = connected(uri).await;
    let mut carol = user("carol", &["ops", "dev"]);
    let dave = user("dave", &["dev"]);
    repo.create_user(&carol).await.unwrap();
    repo.create_user(&dave).await.unwrap();
    assert_eq!(repo.get_user_by_username("carol").await.unwrap(), carol);
    assert_eq!(repo.get_user_by_username("nobody").await, Err(RepoError::NotFound));
    assert_eq!(repo.list_users().await.unwrap(), vec![carol.clone(), dave.clone()]);
    assert_eq!(repo.count_users_with_role("dev").await.unwrap(), 2);

    carol.password_hash = "$2b$12$other".into();
    carol.status = UserStatus::MustChangePassword;
    carol.roles = vec!["ops".into()];
    carol.updated_time += 1;
    carol.updater_id = dave.id.clone();
    repo.update_user(&carol).await.unwrap();
    assert_eq!(repo.get_user(&carol.id).await.unwrap(), carol);
    assert_eq!(repo.update_user(&user("ghost", &[])).await, Err(RepoError::NotFound));

    repo.rename_role_in_users("ops", "dev").await.unwrap();
    assert_eq!(repo.get_user(&carol.id).await.unwrap().roles, vec!["dev".to_string()]);
    assert_eq!(repo.count_users_with_role("ops").await.unwrap(), 0);

    let role = Role {
        id: ObjectId::new(),
        name: "dev".into(),
        description: String::new(),
        policies: vec![],
        created_time: 1,
        updated_time: 1,
        creator_id: ObjectId::ZERO,
        updater_id: ObjectId::ZERO,
    };
    repo.create_role(&role).await.unwrap();
    let names = ["nope".to_string(), "dev".to_string()];
    assert_eq!(repo.get_roles_by_names(&names).await.unwrap(), vec![role.clone()]);
    repo.delete_role(&role.id).await.unwrap();
    assert_eq!(repo.delete_role(&role.id).await, Err(RepoError::NotFound));
    assert_eq!(repo.get_role(&role.id).await, Err(RepoError::NotFound));

    assert!(repo.applied_migrations().await.unwrap().is_empty());
    repo.record_migration(2, "seed_permissions").await.unwrap();
    repo.record_migration(1, "create_collections").await.unwrap();
    assert_eq!(repo.applied_migrations().await.unwrap(), vec![1, 2]);
    repo.record_migration(1, "again").await.unwrap();
    assert_eq!(repo.applied_migrations().await.unwrap(), vec![1, 2]);
    let first = db
        .collection::<Document>("schema_migrations")
        .find_one(doc! {"_id": 1})
        .await
        .expect("raw read")
        .expect("migration 1 is recorded");
    assert_eq!(
        first.get_str("name").unwrap(),
        "create_collections",
        "the first record is kept"
    );
}

/// Each scenario against `MONGODB_URI` (one fresh database per test).
macro_rules! env_tests {
    ($($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $scenario() {
                match common::env_uri() {
                    Ok(uri) => super::$scenario(&uri).await,
                    Err(missing) => missing.report(),
                }
            }
        )*

        /// Every scenario against a real `mongo` container, standalone and
        /// as a replica set (transactions), when Docker is reachable.
        #[tokio::test]
        async fn in_docker_containers() {
            if let Err(missing) = common::docker() {
                return missing.report();
            }
            for replica_set in [false, true] {
                let (_container, uri) = common::start_container(replica_set).await;
                let repo = common::fresh_repo(&uri).await;
                assert_eq!(repo.uses_transactions(), replica_set);
                $( super::$scenario(&uri).await; )*
            }
        }
    };
}

mod against_mongodb {
    use super::common;

    env_tests!(
        stored_documents_use_the_spec_fields,
        indexes_are_created_idempotently,
        conflicts_name_the_unique_field,
        failed_multi_document_writes_leave_nothing_behind,
        strategies_and_intents_round_trip,
        audit_queries_page_newest_first,
        users_roles_and_migrations,
    );
}

/// Needs no server: nothing listens on port 1.
#[tokio::test]
async fn unreachable_server_is_unavailable_without_leaking_credentials() {
    let settings = MongoSettings {
        host: "127.0.0.1".into(),
        port: "1".into(),
        user: "admin".into(),
        password: "s3cr3t-p@ss".into(),
        options: "serverSelectionTimeoutMS=300&connectTimeoutMS=300".into(),
        ..MongoSettings::default()
    };
    let started = Instant::now();
    let error = MongoRepository::connect(&settings).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    let RepoError::Unavailable(message) = &error else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert!(!message.contains("s3cr3t"), "{message}");
    assert!(!message.contains("%40ss"), "{message}");
}

/// Ids are stored as hex strings, which sort in creation order.
#[tokio::test]
async fn ids_sort_in_creation_order() {
    let uri = match common::env_uri() {
        Ok(uri) => uri,
        Err(missing) => return missing.report(),
    };
    let (repo, db) = connected(&uri).await;
    for name in ["u1", "u2", "u3"] {
        repo.create_user(&user(name, &[])).await.unwrap();
    }
    let names: Vec<String> = db
        .collection::<Document>("users")
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .unwrap()
        .map_ok(|d| d.get_str("username").unwrap().to_owned())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(names, ["u1", "u2", "u3"]);
}
