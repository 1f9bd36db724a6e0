//! The audit log and migration bookkeeping.

use std::sync::Arc;

use gthulhu_domain::manager::{AuditEntry, AuditQuery, ObjectId, Repository};

use crate::fixtures::{T0, audit};

async fn insert_all(repo: &dyn Repository, entries: &[&AuditEntry]) {
    for entry in entries {
        repo.insert_audit(entry).await.unwrap();
    }
}

fn query(limit: usize) -> AuditQuery {
    AuditQuery {
        limit,
        ..AuditQuery::default()
    }
}

pub async fn audit_newest_first_with_limit(repo: Arc<dyn Repository>) {
    assert!(repo.query_audit(&query(10)).await.unwrap().is_empty());
    let user = ObjectId::new();
    let e1 = audit(Some(&user), "auth.login", T0 + 100);
    let e2 = audit(Some(&user), "user.create", T0 + 300);
    let mut e3 = audit(None, "auth.login", T0 + 200);
    e3.target = None;
    e3.status = 401;
    e3.details = serde_json::Value::Null;
    // Same time as e2, created later: newer.
    let e4 = audit(Some(&user), "role.update", T0 + 300);
    insert_all(&*repo, &[&e1, &e2, &e3, &e4]).await;

    assert_eq!(
        repo.query_audit(&query(10)).await.unwrap(),
        vec![e4.clone(), e2.clone(), e3, e1]
    );
    assert_eq!(repo.query_audit(&query(2)).await.unwrap(), vec![e4, e2]);
}

pub async fn audit_filters(repo: Arc<dyn Repository>) {
    let u1 = ObjectId::new();
    let u2 = ObjectId::new();
    let a = audit(Some(&u1), "auth.login", T0 + 1);
    let b = audit(Some(&u2), "user.create", T0 + 2);
    let c = audit(None, "auth.login", T0 + 3);
    let d = audit(Some(&u1), "user.create", T0 + 4);
    let e = audit(Some(&u2), "auth.login", T0 + 5);
    insert_all(&*repo, &[&a, &b, &c, &d, &e]).await;

    let run = |q: AuditQuery| {
        let repo = Arc::clone(&repo);
        async move { repo.query_audit(&AuditQuery { limit: 100, ..q }).await.unwrap() }
    };
    let by_users = |ids: &[&ObjectId]| AuditQuery {
        user_ids: ids.iter().map(|id| (*id).clone()).collect(),
        ..AuditQuery::default()
    };
    assert_eq!(run(by_users(&[&u1])).await, vec![d.clone(), a.clone()]);
    assert_eq!(
        run(by_users(&[&u1, &u2])).await,
        vec![e.clone(), d.clone(), b.clone(), a.clone()]
    );
    assert!(run(by_users(&[&ObjectId::new()])).await.is_empty());
    let login = Some("auth.login".to_string());
    assert_eq!(
        run(AuditQuery {
            action: login.clone(),
            ..AuditQuery::default()
        })
        .await,
        vec![e.clone(), c.clone(), a.clone()]
    );
    assert_eq!(
        run(AuditQuery {
            action: login,
            ..by_users(&[&u2])
        })
        .await,
        vec![e.clone()]
    );
    // Both bounds are inclusive.
    assert_eq!(
        run(AuditQuery {
            from_ms: Some(T0 + 2),
            to_ms: Some(T0 + 4),
            ..AuditQuery::default()
        })
        .await,
        vec![d.clone(), c.clone(), b.clone()]
    );
    assert_eq!(
        run(AuditQuery {
            from_ms: Some(T0 + 4),
            ..AuditQuery::default()
        })
        .await,
        vec![e, d.clone()]
    );
    assert_eq!(
        run(AuditQuery {
            to_ms: Some(T0 + 1),
            ..AuditQuery::default()
        })
        .await,
        vec![a.clone()]
    );
    assert_eq!(
        run(AuditQuery {
            from_ms: Some(T0 + 2),
            to_ms: Some(T0 + 4),
            ..by_users(&[&u1])
        })
        .await,
        vec![d]
    );
}

pub async fn audit_cursor_pages(repo: Arc<dyn Repository>) {
    let user = ObjectId::new();
    let e1 = audit(Some(&user), "auth.login", T0 + 10);
    let e2 = audit(Some(&user), "user.create", T0 + 20);
    let e3 = audit(Some(&user), "auth.login", T0 + 20);
    let e4 = audit(None, "auth.login", T0 + 30);
    let e5 = audit(Some(&user), "auth.login", T0 + 40);
    insert_all(&*repo, &[&e3, &e1, &e5, &e2, &e4]).await;

    let page = |cursor: Option<&AuditEntry>, q: AuditQuery| {
        let repo = Arc::clone(&repo);
        let cursor = cursor.map(|e| e.id.clone());
        async move { repo.query_audit(&AuditQuery { limit: 2, cursor, ..q }).await.unwrap() }
    };
    let all = AuditQuery::default;
    assert_eq!(page(None, all()).await, vec![e5.clone(), e4.clone()]);
    assert_eq!(page(Some(&e4), all()).await, vec![e3.clone(), e2.clone()]);
    assert_eq!(page(Some(&e2), all()).await, vec![e1.clone()]);
    assert!(page(Some(&e1), all()).await.is_empty());

    let mine = || AuditQuery {
        user_ids: vec![user.clone()],
        action: Some("auth.login".into()),
        ..AuditQuery::default()
    };
    assert_eq!(page(None, mine()).await, vec![e5.clone(), e3.clone()]);
    assert_eq!(page(Some(&e3), mine()).await, vec![e1]);
    // A cursor naming no entry ends the listing.
    let gone = audit(None, "auth.login", T0 + 50);
    assert!(page(Some(&gone), all()).await.is_empty());
}

pub async fn migrations_record_is_idempotent(repo: Arc<dyn Repository>) {
    assert!(repo.applied_migrations().await.unwrap().is_empty());
    repo.record_migration(2, "seed_permissions").await.unwrap();
    repo.record_migration(1, "create_collections").await.unwrap();
    repo.record_migration(10, "later").await.unwrap();
    assert_eq!(repo.applied_migrations().await.unwrap(), vec![1, 2, 10]);
    // Two replicas racing through the same step both succeed.
    repo.record_migration(1, "create_collections").await.unwrap();
    assert_eq!(repo.applied_migrations().await.unwrap(), vec![1, 2, 10]);
}
