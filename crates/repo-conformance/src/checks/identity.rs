//! Users, roles and permissions.

use std::sync::Arc;

use gthulhu_domain::manager::{ObjectId, RepoError, Repository, RolePolicy, UserStatus};

use super::{conflict, names};
use crate::fixtures::{T0, permission, role, user};

pub async fn ping_succeeds(repo: Arc<dyn Repository>) {
    repo.ping().await.expect("ping");
}

pub async fn users_create_get_and_list_in_id_order(repo: Arc<dyn Repository>) {
    assert!(repo.list_users().await.unwrap().is_empty());
    let a = user("alice", &["admin"]);
    let b = user("bob", &[]);
    let c = user("carol", &["dev", "ops"]);
    // Inserted out of id order: lists still follow the ids.
    for u in [&b, &c, &a] {
        repo.create_user(u).await.unwrap();
    }
    assert_eq!(repo.get_user(&a.id).await.unwrap(), a);
    assert_eq!(repo.get_user_by_username("bob").await.unwrap(), b);
    assert_eq!(repo.get_user_by_username("carol").await.unwrap(), c);
    assert_eq!(repo.list_users().await.unwrap(), vec![a, b, c]);
}

pub async fn users_duplicate_username_conflicts(repo: Arc<dyn Repository>) {
    let first = user("alice", &[]);
    repo.create_user(&first).await.unwrap();
    assert_eq!(
        repo.create_user(&user("alice", &["admin"])).await,
        Err(conflict("username"))
    );
    assert_eq!(repo.list_users().await.unwrap(), vec![first.clone()]);
    assert_eq!(repo.get_user_by_username("alice").await.unwrap(), first);
    // Usernames are compared exactly.
    repo.create_user(&user("Alice", &[])).await.unwrap();
    assert_eq!(repo.list_users().await.unwrap().len(), 2);
}

pub async fn users_unknown_ids_are_not_found(repo: Arc<dyn Repository>) {
    assert_eq!(repo.get_user(&ObjectId::new()).await, Err(RepoError::NotFound));
    assert_eq!(repo.get_user_by_username("nobody").await, Err(RepoError::NotFound));
    assert_eq!(repo.update_user(&user("ghost", &[])).await, Err(RepoError::NotFound));
    assert!(repo.list_users().await.unwrap().is_empty());
}

pub async fn users_update_replaces_only_mutable_fields(repo: Arc<dyn Repository>) {
    let original = user("alice", &["viewer"]);
    repo.create_user(&original).await.unwrap();
    let updater = ObjectId::new();
    let mut changed = original.clone();
    changed.password_hash = "$2b$12$zyxwvutsrqponmlkjihgfeu5wr1WnSHbIJjFaG7E0Bd0m8bvuMXFn6".into();
    changed.status = UserStatus::Active;
    changed.roles = vec!["dev".into(), "ops".into()];
    changed.updater_id = updater.clone();
    changed.updated_time = T0 + 5_000;
    // Not part of an update: these stay as stored.
    changed.username = "mallory".into();
    changed.created_time = 1;
    changed.creator_id = ObjectId::new();
    repo.update_user(&changed).await.unwrap();

    let mut expected = original.clone();
    expected.password_hash = changed.password_hash.clone();
    expected.status = UserStatus::Active;
    expected.roles = changed.roles.clone();
    expected.updater_id = updater;
    expected.updated_time = T0 + 5_000;
    assert_eq!(repo.get_user(&original.id).await.unwrap(), expected);
    assert_eq!(repo.get_user_by_username("alice").await.unwrap(), expected);
    assert_eq!(repo.get_user_by_username("mallory").await, Err(RepoError::NotFound));
    assert_eq!(repo.list_users().await.unwrap(), vec![expected]);
}

pub async fn users_count_with_role(repo: Arc<dyn Repository>) {
    for u in [user("a", &["admin", "ops"]), user("b", &["ops"]), user("c", &[])] {
        repo.create_user(&u).await.unwrap();
    }
    assert_eq!(repo.count_users_with_role("admin").await.unwrap(), 1);
    assert_eq!(repo.count_users_with_role("ops").await.unwrap(), 2);
    assert_eq!(repo.count_users_with_role("Ops").await.unwrap(), 0);
    assert_eq!(repo.count_users_with_role("nobody").await.unwrap(), 0);
}

pub async fn users_rename_role_everywhere(repo: Arc<dyn Repository>) {
    let a = user("a", &["ops", "admin"]);
    let b = user("b", &["ops"]);
    let c = user("c", &["dev"]);
    // Already holds the new name: keeps it once.
    let d = user("d", &["ops", "dev"]);
    for u in [&a, &b, &c, &d] {
        repo.create_user(u).await.unwrap();
    }
    repo.rename_role_in_users("ops", "dev").await.unwrap();
    let roles: Vec<Vec<String>> = repo.list_users().await.unwrap().into_iter().map(|u| u.roles).collect();
    assert_eq!(
        roles,
        vec![
            names(&["dev", "admin"]),
            names(&["dev"]),
            names(&["dev"]),
            names(&["dev"])
        ]
    );
    assert_eq!(repo.count_users_with_role("ops").await.unwrap(), 0);
    assert_eq!(repo.count_users_with_role("dev").await.unwrap(), 4);
    let mut expected_a = a.clone();
    expected_a.roles = names(&["dev", "admin"]);
    assert_eq!(repo.get_user(&a.id).await.unwrap(), expected_a);

    repo.rename_role_in_users("missing", "other").await.unwrap();
    assert_eq!(repo.count_users_with_role("other").await.unwrap(), 0);
}

pub async fn roles_create_get_and_list_in_id_order(repo: Arc<dyn Repository>) {
    assert!(repo.list_roles().await.unwrap().is_empty());
    let mut a = role("admin", &["user.read", "role.read"]);
    a.policies.push(RolePolicy {
        permission_key: "schedule_strategy.create".into(),
        self_only: true,
        k8s_namespace: "team-a".into(),
        policy_namespace: "ns".into(),
    });
    let b = role("viewer", &[]);
    let c = role("ops", &["pod_pid_mapping.read"]);
    for r in [&c, &a, &b] {
        repo.create_role(r).await.unwrap();
    }
    assert_eq!(repo.get_role(&a.id).await.unwrap(), a);
    assert_eq!(repo.get_role(&b.id).await.unwrap(), b);
    assert_eq!(repo.list_roles().await.unwrap(), vec![a, b, c]);
}

pub async fn roles_duplicate_name_conflicts(repo: Arc<dyn Repository>) {
    let first = role("ops", &["user.read"]);
    repo.create_role(&first).await.unwrap();
    assert_eq!(repo.create_role(&role("ops", &[])).await, Err(conflict("name")));
    assert_eq!(repo.list_roles().await.unwrap(), vec![first]);
}

pub async fn roles_get_by_names_skips_unknown(repo: Arc<dyn Repository>) {
    let a = role("a", &[]);
    let b = role("b", &[]);
    let c = role("c", &[]);
    for r in [&a, &b, &c] {
        repo.create_role(r).await.unwrap();
    }
    let found = repo.get_roles_by_names(&names(&["c", "nope", "a", "a"])).await.unwrap();
    assert_eq!(found, vec![a, c]);
    assert!(repo.get_roles_by_names(&[]).await.unwrap().is_empty());
    assert!(repo.get_roles_by_names(&names(&["x"])).await.unwrap().is_empty());
}

pub async fn roles_update_and_rename(repo: Arc<dyn Repository>) {
    let original = role("ops", &["user.read"]);
    let other = role("dev", &[]);
    repo.create_role(&original).await.unwrap();
    repo.create_role(&other).await.unwrap();

    let mut same_name = original.clone();
    same_name.description = "operators".into();
    repo.update_role(&same_name).await.unwrap();
    assert_eq!(repo.get_role(&original.id).await.unwrap(), same_name);

    let mut renamed = same_name.clone();
    renamed.name = "operators".into();
    renamed.policies = vec![RolePolicy {
        permission_key: "role.update".into(),
        self_only: true,
        k8s_namespace: "team-b".into(),
        policy_namespace: String::new(),
    }];
    renamed.updater_id = ObjectId::new();
    renamed.updated_time = T0 + 1_000;
    repo.update_role(&renamed).await.unwrap();
    assert_eq!(repo.get_role(&original.id).await.unwrap(), renamed);
    assert!(repo.get_roles_by_names(&names(&["ops"])).await.unwrap().is_empty());
    assert_eq!(
        repo.get_roles_by_names(&names(&["operators"])).await.unwrap(),
        vec![renamed.clone()]
    );
    assert_eq!(repo.list_roles().await.unwrap(), vec![renamed.clone(), other]);

    // The old name is free again; the new one is taken.
    repo.create_role(&role("ops", &[])).await.unwrap();
    assert_eq!(repo.create_role(&role("operators", &[])).await, Err(conflict("name")));
}

pub async fn roles_update_onto_taken_name_conflicts(repo: Arc<dyn Repository>) {
    let a = role("a", &[]);
    let b = role("b", &["user.read"]);
    repo.create_role(&a).await.unwrap();
    repo.create_role(&b).await.unwrap();
    let mut clash = b.clone();
    clash.name = "a".into();
    clash.description = "changed".into();
    assert_eq!(repo.update_role(&clash).await, Err(conflict("name")));
    assert_eq!(repo.get_role(&b.id).await.unwrap(), b);
    assert_eq!(repo.get_roles_by_names(&names(&["a", "b"])).await.unwrap(), vec![a, b]);
}

pub async fn roles_unknown_ids_are_not_found(repo: Arc<dyn Repository>) {
    let ghost = role("ghost", &[]);
    assert_eq!(repo.get_role(&ghost.id).await, Err(RepoError::NotFound));
    assert_eq!(repo.update_role(&ghost).await, Err(RepoError::NotFound));
    assert_eq!(repo.delete_role(&ghost.id).await, Err(RepoError::NotFound));
    assert!(repo.list_roles().await.unwrap().is_empty());
    assert!(repo.get_roles_by_names(&names(&["ghost"])).await.unwrap().is_empty());
}

pub async fn roles_delete_frees_the_name(repo: Arc<dyn Repository>) {
    let a = role("a", &[]);
    let b = role("b", &[]);
    repo.create_role(&a).await.unwrap();
    repo.create_role(&b).await.unwrap();
    repo.delete_role(&a.id).await.unwrap();
    assert_eq!(repo.get_role(&a.id).await, Err(RepoError::NotFound));
    assert_eq!(repo.delete_role(&a.id).await, Err(RepoError::NotFound));
    assert_eq!(repo.list_roles().await.unwrap(), vec![b.clone()]);
    assert!(repo.get_roles_by_names(&names(&["a"])).await.unwrap().is_empty());
    let again = role("a", &["user.read"]);
    repo.create_role(&again).await.unwrap();
    assert_eq!(repo.list_roles().await.unwrap(), vec![b, again]);
}

pub async fn permissions_upsert_keeps_order_and_updates(repo: Arc<dyn Repository>) {
    assert!(repo.list_permissions().await.unwrap().is_empty());
    let p1 = permission("user.create", "Create a new user");
    let p2 = permission("role.read", "Read roles");
    let p3 = permission("audit_log.read", "Read the audit log");
    for p in [&p1, &p2, &p3] {
        repo.upsert_permission(p).await.unwrap();
    }
    assert_eq!(
        repo.list_permissions().await.unwrap(),
        vec![p1.clone(), p2.clone(), p3.clone()]
    );

    let mut p2_changed = p2.clone();
    p2_changed.description = "Read every role".into();
    p2_changed.resource = "roles".into();
    p2_changed.action = "update".into();
    repo.upsert_permission(&p2_changed).await.unwrap();
    repo.upsert_permission(&p1).await.unwrap();
    let p0 = permission("permission.read", "Read permissions");
    repo.upsert_permission(&p0).await.unwrap();
    assert_eq!(repo.list_permissions().await.unwrap(), vec![p1, p2_changed, p3, p0]);
}
