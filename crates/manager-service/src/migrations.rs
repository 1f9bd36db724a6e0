//! Startup migrations (manager.md 14.4): the declarative files of
//! `/migrations` (format in its README), embedded here and applied once each,
//! in version order, through the `Repository` trait, so both backends run
//! the same steps. Released files are never edited; new ones are appended.

use gthulhu_domain::manager::{ObjectId, Permission, RepoError, Repository, Role, RolePolicy, ServiceError, now_ms};
use serde::Deserialize;

/// (file name, contents), in version order.
const FILES: [(&str, &str); 7] = [
    (
        "0001_create_collections.json",
        include_str!("../../../migrations/0001_create_collections.json"),
    ),
    (
        "0002_seed_permissions.json",
        include_str!("../../../migrations/0002_seed_permissions.json"),
    ),
    (
        "0003_seed_admin_role.json",
        include_str!("../../../migrations/0003_seed_admin_role.json"),
    ),
    (
        "0004_audit_log_read.json",
        include_str!("../../../migrations/0004_audit_log_read.json"),
    ),
    (
        "0005_auth_sessions.json",
        include_str!("../../../migrations/0005_auth_sessions.json"),
    ),
    (
        "0006_scheduler_config_permissions.json",
        include_str!("../../../migrations/0006_scheduler_config_permissions.json"),
    ),
    (
        "0007_node_runtime_configs.json",
        include_str!("../../../migrations/0007_node_runtime_configs.json"),
    ),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Migration {
    version: u32,
    name: String,
    #[serde(default)]
    description: String,
    steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", deny_unknown_fields)]
enum Step {
    UpsertPermissions {
        permissions: Vec<Permission>,
    },
    EnsureRole {
        name: String,
        description: String,
        policies: Vec<RolePolicy>,
    },
    GrantPermission {
        role: String,
        #[serde(rename = "permissionKey")]
        permission_key: String,
    },
}

fn load() -> Result<Vec<Migration>, ServiceError> {
    FILES
        .iter()
        .map(|(file, text)| {
            serde_json::from_str(text)
                .map_err(|e| ServiceError::Internal(format!("migration {file} is malformed: {e}")))
        })
        .collect()
}

async fn apply(repo: &dyn Repository, step: &Step) -> Result<(), RepoError> {
    match step {
        Step::UpsertPermissions { permissions } => {
            for permission in permissions {
                repo.upsert_permission(permission).await?;
            }
        }
        Step::EnsureRole {
            name,
            description,
            policies,
        } => {
            if repo.get_roles_by_names(std::slice::from_ref(name)).await?.is_empty() {
                let now = now_ms();
                let role = Role {
                    id: ObjectId::new(),
                    name: name.clone(),
                    description: description.clone(),
                    policies: policies.clone(),
                    created_time: now,
                    updated_time: now,
                    creator_id: ObjectId::ZERO,
                    updater_id: ObjectId::ZERO,
                };
                match repo.create_role(&role).await {
                    // Another replica created it first.
                    Err(RepoError::Conflict(_)) => {}
                    other => other?,
                }
            }
        }
        Step::GrantPermission { role, permission_key } => {
            let Some(mut stored) = repo.get_roles_by_names(std::slice::from_ref(role)).await?.pop() else {
                tracing::warn!(%role, %permission_key, "role to grant a permission to does not exist; skipped");
                return Ok(());
            };
            if !stored.policies.iter().any(|p| &p.permission_key == permission_key) {
                stored.policies.push(RolePolicy {
                    permission_key: permission_key.clone(),
                    ..RolePolicy::default()
                });
                stored.updated_time = now_ms();
                repo.update_role(&stored).await?;
            }
        }
    }
    Ok(())
}

/// Applies every embedded migration not yet recorded, in version order;
/// returns the versions applied by this call.
pub async fn run_migrations(repo: &dyn Repository) -> Result<Vec<u32>, ServiceError> {
    let migrations = load()?;
    let applied = repo.applied_migrations().await?;
    let mut newly = Vec::new();
    for migration in migrations.iter().filter(|m| !applied.contains(&m.version)) {
        for step in &migration.steps {
            apply(repo, step).await?;
        }
        repo.record_migration(migration.version, &migration.name).await?;
        tracing::info!(
            version = migration.version,
            name = %migration.name,
            description = %migration.description,
            "migration applied"
        );
        newly.push(migration.version);
    }
    Ok(newly)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Mutex};

    use gthulhu_domain::manager::{MockRepository, PERMISSIONS};

    use super::*;

    #[derive(Default)]
    pub(crate) struct Store {
        pub permissions: Vec<Permission>,
        pub roles: Vec<Role>,
        pub applied: Vec<(u32, String)>,
        pub writes: usize,
    }

    /// A repository mock backed by `store` for what migrations touch.
    pub(crate) fn store_repo(store: Arc<Mutex<Store>>) -> MockRepository {
        let mut repo = MockRepository::new();
        let s = store.clone();
        repo.expect_applied_migrations()
            .returning(move || Ok(s.lock().unwrap().applied.iter().map(|(v, _)| *v).collect()));
        let s = store.clone();
        repo.expect_record_migration().returning(move |v, name| {
            s.lock().unwrap().applied.push((v, name.to_string()));
            Ok(())
        });
        let s = store.clone();
        repo.expect_upsert_permission().returning(move |p| {
            let mut s = s.lock().unwrap();
            s.writes += 1;
            match s.permissions.iter_mut().find(|q| q.key == p.key) {
                Some(q) => *q = p.clone(),
                None => s.permissions.push(p.clone()),
            }
            Ok(())
        });
        let s = store.clone();
        repo.expect_get_roles_by_names().returning(move |names| {
            Ok(s.lock()
                .unwrap()
                .roles
                .iter()
                .filter(|r| names.contains(&r.name))
                .cloned()
                .collect())
        });
        let s = store.clone();
        repo.expect_create_role().returning(move |r| {
            let mut s = s.lock().unwrap();
            s.writes += 1;
            s.roles.push(r.clone());
            Ok(())
        });
        let s = store;
        repo.expect_update_role().returning(move |r| {
            let mut s = s.lock().unwrap();
            s.writes += 1;
            let stored = s.roles.iter_mut().find(|q| q.id == r.id).ok_or(RepoError::NotFound)?;
            *stored = r.clone();
            Ok(())
        });
        repo
    }

    #[test]
    fn files_are_numbered_in_order_and_named_as_specified() {
        let migrations = load().unwrap();
        let got: Vec<(u32, &str)> = migrations.iter().map(|m| (m.version, m.name.as_str())).collect();
        assert_eq!(
            got,
            [
                (1, "create_collections"),
                (2, "seed_permissions"),
                (3, "seed_admin_role"),
                (4, "audit_log_read"),
                (5, "auth_sessions"),
                (6, "scheduler_config_permissions"),
                (7, "node_runtime_configs")
            ]
        );
        for ((file, _), m) in FILES.iter().zip(&migrations) {
            assert_eq!(*file, format!("{:04}_{}.json", m.version, m.name));
        }
    }

    #[test]
    fn unknown_ops_and_fields_are_rejected() {
        let bad_op = r#"{"version":9,"name":"x","steps":[{"op":"dropEverything"}]}"#;
        let bad_field =
            r#"{"version":9,"name":"x","steps":[{"op":"grantPermission","role":"a","permissionKey":"k","self":true}]}"#;
        assert!(serde_json::from_str::<Migration>(bad_op).is_err());
        assert!(serde_json::from_str::<Migration>(bad_field).is_err());
    }

    #[tokio::test]
    async fn fresh_store_gets_permissions_and_admin_role_once() {
        let store = Arc::new(Mutex::new(Store::default()));
        let repo = store_repo(store.clone());
        assert_eq!(run_migrations(&repo).await.unwrap(), vec![1, 2, 3, 4, 5, 6, 7]);
        {
            let s = store.lock().unwrap();
            let keys: Vec<&str> = s.permissions.iter().map(|p| p.key.as_str()).collect();
            let want: Vec<&str> = PERMISSIONS.iter().map(|(k, ..)| *k).collect();
            assert_eq!(keys, want);
            for (p, (key, resource, action, description)) in s.permissions.iter().zip(PERMISSIONS) {
                assert_eq!(
                    (
                        p.key.as_str(),
                        p.resource.as_str(),
                        p.action.as_str(),
                        p.description.as_str()
                    ),
                    (key, resource, action, description)
                );
            }
            assert_eq!(s.roles.len(), 1);
            let admin = &s.roles[0];
            assert_eq!(admin.name, "admin");
            assert_eq!(admin.description, "Administrator role with all permissions");
            assert_eq!(admin.creator_id, ObjectId::ZERO);
            let policy_keys: Vec<&str> = admin.policies.iter().map(|p| p.permission_key.as_str()).collect();
            assert_eq!(policy_keys, want);
            assert!(
                admin
                    .policies
                    .iter()
                    .all(|p| !p.self_only && p.k8s_namespace.is_empty())
            );
        }
        let writes = store.lock().unwrap().writes;
        assert_eq!(run_migrations(&repo).await.unwrap(), Vec::<u32>::new());
        assert_eq!(store.lock().unwrap().writes, writes);
        assert_eq!(store.lock().unwrap().applied.len(), 7);
    }

    #[tokio::test]
    async fn upgrade_from_version_3_grants_audit_log_read_to_the_existing_admin() {
        let store = Arc::new(Mutex::new(Store::default()));
        let repo = store_repo(store.clone());
        // A database migrated by an older build: versions 1-3, admin edited
        // by an operator (one policy dropped).
        for m in load().unwrap().iter().take(3) {
            for step in &m.steps {
                apply(&repo, step).await.unwrap();
            }
            store.lock().unwrap().applied.push((m.version, m.name.clone()));
        }
        store.lock().unwrap().roles[0].policies.remove(0);
        assert_eq!(run_migrations(&repo).await.unwrap(), vec![4, 5, 6, 7]);
        let s = store.lock().unwrap();
        let keys: Vec<&str> = s.roles[0].policies.iter().map(|p| p.permission_key.as_str()).collect();
        assert_eq!(keys.len(), 18);
        assert_eq!(
            keys[15..],
            ["audit_log.read", "scheduler_config.read", "scheduler_config.update"]
        );
        assert!(!keys.contains(&"user.create"), "operator edits are kept");
        assert_eq!(s.permissions.len(), 19);
    }

    #[tokio::test]
    async fn steps_are_idempotent_when_bookkeeping_was_lost() {
        let store = Arc::new(Mutex::new(Store::default()));
        let repo = store_repo(store.clone());
        run_migrations(&repo).await.unwrap();
        store.lock().unwrap().applied.clear();
        assert_eq!(run_migrations(&repo).await.unwrap(), vec![1, 2, 3, 4, 5, 6, 7]);
        let s = store.lock().unwrap();
        assert_eq!(s.roles.len(), 1);
        assert_eq!(s.roles[0].policies.len(), 19);
        assert_eq!(s.permissions.len(), 19);
    }

    #[tokio::test]
    async fn storage_down_is_unavailable() {
        let mut repo = MockRepository::new();
        repo.expect_applied_migrations()
            .returning(|| Err(RepoError::Unavailable("down".into())));
        assert_eq!(run_migrations(&repo).await, Err(ServiceError::StorageUnavailable));
    }
}
