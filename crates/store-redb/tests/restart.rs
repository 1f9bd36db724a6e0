//! redb-specific behaviour: data survives closing and reopening the file,
//! and the file is held by one repository at a time.

use gthulhu_domain::manager::{AuditQuery, IntentState, RepoError, Repository};
use gthulhu_repo_conformance::fixtures::{T0, audit, intent, permission, role, strategy, user};
use gthulhu_store_redb::RedbRepository;

#[tokio::test]
async fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/manager.redb");
    let alice = user("alice", &["admin"]);
    let admin = role("admin", &["user.read"]);
    let perm = permission("user.read", "Read user information");
    let s = strategy(&alice.id);
    let intents = [intent(&s, "p1", "n1"), intent(&s, "p2", "n2")];
    let entry = audit(Some(&alice.id), "auth.login", T0);

    let repo = RedbRepository::open(&path).unwrap();
    repo.create_user(&alice).await.unwrap();
    repo.create_role(&admin).await.unwrap();
    repo.upsert_permission(&perm).await.unwrap();
    repo.insert_strategy(&s, &intents).await.unwrap();
    repo.set_intent_state(&[intents[0].id.clone()], IntentState::Sent)
        .await
        .unwrap();
    repo.insert_audit(&entry).await.unwrap();
    repo.record_migration(1, "create_collections").await.unwrap();
    drop(repo);

    let repo = RedbRepository::open(&path).unwrap();
    assert_eq!(repo.get_user_by_username("alice").await.unwrap(), alice);
    assert_eq!(repo.list_roles().await.unwrap(), vec![admin.clone()]);
    assert_eq!(repo.list_permissions().await.unwrap(), vec![perm]);
    assert_eq!(
        repo.list_strategies_by_creator(&alice.id).await.unwrap(),
        vec![s.clone()]
    );
    let mut sent = intents[0].clone();
    sent.state = IntentState::Sent;
    assert_eq!(repo.list_intents_by_node("n1").await.unwrap(), vec![sent]);
    assert_eq!(repo.list_intents_by_strategy(&s.id).await.unwrap().len(), 2);
    let query = AuditQuery {
        user_ids: vec![alice.id.clone()],
        limit: 10,
        ..AuditQuery::default()
    };
    assert_eq!(repo.query_audit(&query).await.unwrap(), vec![entry]);
    assert_eq!(repo.applied_migrations().await.unwrap(), vec![1]);
    // Indexes survive too.
    assert_eq!(
        repo.create_user(&user("alice", &[])).await,
        Err(RepoError::Conflict("username".into()))
    );
    assert_eq!(
        repo.create_role(&role("admin", &[])).await,
        Err(RepoError::Conflict("name".into()))
    );
}

#[tokio::test]
async fn an_open_file_cannot_be_opened_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manager.redb");
    let first = RedbRepository::open(&path).unwrap();
    assert!(matches!(RedbRepository::open(&path), Err(RepoError::Unavailable(_))));
    first.ping().await.unwrap();
    drop(first);
    RedbRepository::open(&path).unwrap().ping().await.unwrap();
}

#[test]
fn an_unusable_path_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let err = RedbRepository::open(&file.join("manager.redb")).unwrap_err();
    assert!(matches!(err, RepoError::Unavailable(_)), "{err:?}");
    let garbage = dir.path().join("garbage.redb");
    std::fs::write(&garbage, vec![0x5a; 4096]).unwrap();
    assert!(RedbRepository::open(&garbage).is_err());
}

#[tokio::test]
async fn a_file_without_the_pod_index_gets_it_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manager.redb");
    let s = strategy(&gthulhu_domain::manager::ObjectId::new());
    let intents = [intent(&s, "p1", "n1"), intent(&s, "p2", "n2")];
    let repo = RedbRepository::open(&path).unwrap();
    repo.insert_strategy(&s, &intents).await.unwrap();
    drop(repo);

    // A file from before the index existed.
    let db = redb::Database::create(&path).unwrap();
    let tx = db.begin_write().unwrap();
    let index: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("intents_by_pod");
    assert!(tx.delete_table(index).unwrap());
    tx.commit().unwrap();
    drop(db);

    let repo = RedbRepository::open(&path).unwrap();
    assert_eq!(
        repo.list_intents_by_pods(&["p2".to_string()]).await.unwrap(),
        vec![intents[1].clone()]
    );
    repo.delete_strategy(&s.id).await.unwrap();
    assert!(
        repo.list_intents_by_pods(&["p1".to_string(), "p2".to_string()])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn intent_writes_that_skipped_the_fsync_survive_a_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manager.redb");
    let s = strategy(&gthulhu_domain::manager::ObjectId::new());
    let first = intent(&s, "p1", "n1");
    let second = intent(&s, "p2", "n1");
    let repo = RedbRepository::open(&path).unwrap();
    repo.insert_strategy(&s, std::slice::from_ref(&first)).await.unwrap();
    // Right after a durable commit: these skip the fsync, and redb's clean
    // close keeps them.
    let changes = gthulhu_domain::manager::IntentChanges {
        insert: vec![second.clone()],
        ..Default::default()
    };
    repo.apply_intent_changes(&changes).await.unwrap();
    repo.set_intent_state(std::slice::from_ref(&second.id), IntentState::Sent)
        .await
        .unwrap();
    drop(repo);

    let repo = RedbRepository::open(&path).unwrap();
    let mut sent = second;
    sent.state = IntentState::Sent;
    assert_eq!(repo.list_intents().await.unwrap(), vec![first, sent]);
}
