//! Roles and permissions (manager.md 6). Users reference roles by name, so
//! a rename is propagated to every user, and the `admin` role is protected.

use async_trait::async_trait;
use gthulhu_domain::manager::{
    Caller, ObjectId, PERMISSIONS, Permission, RepoError, Role, RoleChange, RoleService, ServiceError, ServiceResult,
    now_ms,
};

use crate::ManagerServices;
use crate::admin_guard::Proposed;
use crate::validation;

pub(crate) const ADMIN_ROLE: &str = "admin";

fn role_not_found() -> ServiceError {
    ServiceError::NotFound("role not found".into())
}

fn name_taken() -> ServiceError {
    ServiceError::Conflict("role name already exists".into())
}

#[async_trait]
impl RoleService for ManagerServices {
    async fn create_role(&self, caller: &Caller, role: RoleChange) -> ServiceResult<ObjectId> {
        let name = role.name.unwrap_or_default();
        validation::role_name(&name)?;
        validation::role_description(role.description.as_deref().unwrap_or_default())?;
        let policies = role.policies.unwrap_or_default();
        validation::policies("rolePolicies", &policies)?;
        let now = now_ms();
        let role = Role {
            id: ObjectId::new(),
            name,
            description: role.description.unwrap_or_default(),
            policies,
            created_time: now,
            updated_time: now,
            creator_id: caller.user.id.clone(),
            updater_id: caller.user.id.clone(),
        };
        match self.repo.create_role(&role).await {
            Ok(()) => Ok(role.id),
            Err(RepoError::Conflict(_)) => Err(name_taken()),
            Err(e) => Err(e.into()),
        }
    }

    async fn update_role(&self, caller: &Caller, role_id: &str, change: RoleChange) -> ServiceResult<()> {
        let id = validation::parse_id(role_id, "invalid role ID")?;
        // An empty name is the zero value of an omitted field (manager.md 1.3).
        let new_name = change.name.filter(|n| !n.is_empty());
        if let Some(name) = &new_name {
            validation::role_name(name)?;
        }
        if let Some(policies) = &change.policies {
            validation::policies("rolePolicy", policies)?;
        }
        if let Some(description) = &change.description {
            validation::role_description(description)?;
        }
        let stored = match self.repo.get_role(&id).await {
            Err(RepoError::NotFound) => return Err(role_not_found()),
            other => other?,
        };
        let rename = new_name.filter(|n| *n != stored.name);
        if let Some(name) = &rename {
            if stored.name == ADMIN_ROLE {
                return Err(ServiceError::Conflict("the admin role cannot be renamed".into()));
            }
            if name == ADMIN_ROLE {
                return Err(name_taken());
            }
        }
        let mut role = stored.clone();
        if let Some(name) = &rename {
            role.name = name.clone();
        }
        if let Some(description) = change.description {
            role.description = description;
        }
        if let Some(policies) = change.policies {
            role.policies = policies;
            self.keep_an_administrator(Proposed::Role(&role)).await?;
        }
        role.updater_id = caller.user.id.clone();
        role.updated_time = now_ms();
        match self.repo.update_role(&role).await {
            Err(RepoError::NotFound) => return Err(role_not_found()),
            Err(RepoError::Conflict(_)) => return Err(name_taken()),
            other => other?,
        }
        if let Some(name) = rename
            && let Err(e) = {
                let renamed = self.repo.rename_role_in_users(&stored.name, &name).await;
                // Users' roles changed: the auth middleware's cache is stale.
                self.user_cache.invalidate_all();
                renamed
            }
        {
            // Put the old name back so users keep the role they hold.
            tracing::error!(error = %e, role = %stored.name, "renaming the role in users failed; reverting");
            if let Err(revert) = self.repo.update_role(&stored).await {
                tracing::error!(error = %revert, role = %stored.name, "reverting the role rename failed");
            }
            return Err(e.into());
        }
        Ok(())
    }

    async fn delete_role(&self, _caller: &Caller, role_id: &str) -> ServiceResult<()> {
        let id = validation::parse_id(role_id, "invalid role ID")?;
        let role = match self.repo.get_role(&id).await {
            Err(RepoError::NotFound) => return Err(role_not_found()),
            other => other?,
        };
        if role.name == ADMIN_ROLE {
            return Err(ServiceError::Conflict("the admin role cannot be deleted".into()));
        }
        let holders = self.repo.count_users_with_role(&role.name).await?;
        if holders > 0 {
            return Err(ServiceError::Conflict(format!(
                "role is still assigned to {holders} user(s)"
            )));
        }
        match self.repo.delete_role(&id).await {
            Err(RepoError::NotFound) => Err(role_not_found()),
            other => Ok(other?),
        }
    }

    async fn list_roles(&self, _caller: &Caller) -> ServiceResult<Vec<Role>> {
        Ok(self.repo.list_roles().await?)
    }

    /// In the order of the permission table, whatever order they were stored in.
    async fn list_permissions(&self, _caller: &Caller) -> ServiceResult<Vec<Permission>> {
        let mut permissions = self.repo.list_permissions().await?;
        permissions.sort_by_key(|p| {
            PERMISSIONS
                .iter()
                .position(|(key, ..)| *key == p.key)
                .unwrap_or(usize::MAX)
        });
        Ok(permissions)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use gthulhu_domain::manager::MockRepository;
    use mockall::predicate::eq;

    use super::*;
    use crate::testutil::*;

    fn admin() -> Caller {
        caller(vec![policy("role.update", false, "")])
    }

    fn serving(roles: Vec<Role>) -> MockRepository {
        let mut repo = MockRepository::new();
        repo.expect_get_role()
            .returning(move |id| roles.iter().find(|r| r.id == *id).cloned().ok_or(RepoError::NotFound));
        repo
    }

    #[tokio::test]
    async fn create_role_validates_and_maps_conflicts() {
        let mut repo = MockRepository::new();
        repo.expect_create_role().returning(|r| {
            if r.name == "admin" {
                Err(RepoError::Conflict("name".into()))
            } else {
                Ok(())
            }
        });
        let svc = services(repo);
        let change = |name: &str, key: &str| RoleChange {
            name: Some(name.into()),
            description: None,
            policies: Some(vec![policy(key, false, "")]),
        };
        assert!(svc.create_role(&admin(), change("ops", "role.read")).await.is_ok());
        assert_eq!(
            svc.create_role(&admin(), change("admin", "role.read")).await,
            Err(name_taken())
        );
        assert_eq!(
            svc.create_role(&admin(), change("", "role.read")).await,
            Err(ServiceError::Validation("name is required".into()))
        );
        assert_eq!(
            svc.create_role(&admin(), change("ops", "nope")).await,
            Err(ServiceError::Validation(
                "rolePolicies[0].permissionKey: unknown permission key \"nope\"".into()
            ))
        );
    }

    #[tokio::test]
    async fn rename_propagates_to_users() {
        let ops = role("ops", vec![]);
        let mut repo = serving(vec![ops.clone()]);
        let updated = Arc::new(Mutex::new(Vec::new()));
        let sink = updated.clone();
        repo.expect_update_role().returning(move |r| {
            sink.lock().unwrap().push(r.clone());
            Ok(())
        });
        repo.expect_rename_role_in_users()
            .with(eq("ops"), eq("operators"))
            .times(1)
            .returning(|_, _| Ok(()));
        let change = RoleChange {
            name: Some("operators".into()),
            description: Some("d".into()),
            policies: None,
        };
        services(repo)
            .update_role(&admin(), &ops.id.to_string(), change)
            .await
            .unwrap();
        let r = updated.lock().unwrap().pop().unwrap();
        assert_eq!((r.name.as_str(), r.description.as_str()), ("operators", "d"));
        assert_eq!(r.policies, ops.policies);
    }

    #[tokio::test]
    async fn failed_propagation_reverts_the_rename() {
        let ops = role("ops", vec![]);
        let mut repo = serving(vec![ops.clone()]);
        let updated = Arc::new(Mutex::new(Vec::new()));
        let sink = updated.clone();
        repo.expect_update_role().returning(move |r| {
            sink.lock().unwrap().push(r.name.clone());
            Ok(())
        });
        repo.expect_rename_role_in_users()
            .returning(|_, _| Err(RepoError::Unavailable("down".into())));
        let change = RoleChange {
            name: Some("operators".into()),
            ..Default::default()
        };
        assert_eq!(
            services(repo).update_role(&admin(), &ops.id.to_string(), change).await,
            Err(ServiceError::StorageUnavailable)
        );
        assert_eq!(
            *updated.lock().unwrap(),
            vec!["operators".to_string(), "ops".to_string()]
        );
    }

    #[tokio::test]
    async fn update_role_errors() {
        let admin_role = role("admin", vec![]);
        let ops = role("ops", vec![]);
        let mut repo = serving(vec![admin_role.clone(), ops.clone()]);
        // Nobody holds a guarded key: the last-administrator guard lets it be.
        repo.expect_list_users().returning(|| Ok(vec![]));
        repo.expect_list_roles().returning(|| Ok(vec![]));
        repo.expect_update_role().returning(|r| {
            if r.name == "taken" {
                Err(RepoError::Conflict("name".into()))
            } else {
                Ok(())
            }
        });
        let svc = services(repo);
        let rename = |n: &str| RoleChange {
            name: Some(n.into()),
            ..Default::default()
        };
        let run = |id: &ObjectId, change| {
            let svc = svc.clone();
            let id = id.to_string();
            async move { svc.update_role(&admin(), &id, change).await }
        };
        assert_eq!(
            run(&admin_role.id, rename("root")).await,
            Err(ServiceError::Conflict("the admin role cannot be renamed".into()))
        );
        assert_eq!(run(&ops.id, rename("admin")).await, Err(name_taken()));
        assert_eq!(run(&ops.id, rename("taken")).await, Err(name_taken()));
        assert_eq!(run(&ObjectId::new(), rename("x")).await, Err(role_not_found()));
        assert_eq!(
            svc.update_role(&admin(), "bad", rename("x")).await,
            Err(ServiceError::Validation("invalid role ID".into()))
        );
        // The admin role's policies may change, and "renaming" it to its own
        // name (or to "") is no rename.
        let keep = RoleChange {
            name: Some("admin".into()),
            description: None,
            policies: Some(vec![policy("role.read", false, "")]),
        };
        assert!(run(&admin_role.id, keep).await.is_ok());
        assert!(run(&admin_role.id, rename("")).await.is_ok());
    }

    #[tokio::test]
    async fn delete_role_rules() {
        let admin_role = role("admin", vec![]);
        let ops = role("ops", vec![]);
        let idle = role("idle", vec![]);
        let mut repo = serving(vec![admin_role.clone(), ops.clone(), idle.clone()]);
        repo.expect_count_users_with_role()
            .returning(|name| Ok(if name == "ops" { 2 } else { 0 }));
        repo.expect_delete_role()
            .with(eq(idle.id.clone()))
            .times(1)
            .returning(|_| Ok(()));
        let svc = services(repo);
        let c = admin();
        assert_eq!(
            svc.delete_role(&c, &admin_role.id.to_string()).await,
            Err(ServiceError::Conflict("the admin role cannot be deleted".into()))
        );
        assert_eq!(
            svc.delete_role(&c, &ops.id.to_string()).await,
            Err(ServiceError::Conflict("role is still assigned to 2 user(s)".into()))
        );
        assert_eq!(
            svc.delete_role(&c, &ObjectId::new().to_string()).await,
            Err(role_not_found())
        );
        assert!(svc.delete_role(&c, &idle.id.to_string()).await.is_ok());
    }

    #[tokio::test]
    async fn permissions_in_table_order() {
        let mut repo = MockRepository::new();
        repo.expect_list_permissions().returning(|| {
            Ok(PERMISSIONS
                .iter()
                .rev()
                .map(|(key, resource, action, description)| Permission {
                    key: key.to_string(),
                    resource: resource.to_string(),
                    action: action.to_string(),
                    description: description.to_string(),
                })
                .collect())
        });
        let keys: Vec<String> = services(repo)
            .list_permissions(&admin())
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.key)
            .collect();
        let want: Vec<String> = PERMISSIONS.iter().map(|(k, ..)| k.to_string()).collect();
        assert_eq!(keys, want);
    }
}
