//! Users (manager.md 5). Passwords are hashed here, once per change.

use async_trait::async_trait;
use gthulhu_domain::manager::{
    Caller, ObjectId, RepoError, RevokeReason, ServiceError, ServiceResult, User, UserService, UserStatus, now_ms,
};

use crate::ManagerServices;
use crate::admin_guard::Proposed;
use crate::{passwords, scope, validation};

fn user_not_found() -> ServiceError {
    ServiceError::NotFound("user not found".into())
}

impl ManagerServices {
    /// The `self` rule of the password reset and permission update routes.
    fn check_target(caller: &Caller, id: &ObjectId) -> ServiceResult<()> {
        if scope::applies(&caller.grants, &caller.user.id, id) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden("forbidden".into()))
        }
    }

    async fn get_user_or_404(&self, id: &ObjectId) -> ServiceResult<User> {
        match self.repo.get_user(id).await {
            Err(RepoError::NotFound) => Err(user_not_found()),
            other => Ok(other?),
        }
    }

    /// Every user write of the services goes through here, so the auth
    /// middleware's cache drops the user's entry (user_cache.rs).
    async fn save_user(&self, user: &User) -> ServiceResult<()> {
        let saved = self.repo.update_user(user).await;
        self.user_cache.invalidate(&user.id);
        match saved {
            Err(RepoError::NotFound) => Err(user_not_found()),
            other => Ok(other?),
        }
    }
}

#[async_trait]
impl UserService for ManagerServices {
    async fn create_user(&self, caller: &Caller, username: &str, password: &str) -> ServiceResult<ObjectId> {
        validation::username(username)?;
        validation::new_password("password", password)?;
        let now = now_ms();
        let user = User {
            id: ObjectId::new(),
            username: username.into(),
            password_hash: self.passwords.hash(password).await?,
            status: UserStatus::MustChangePassword,
            roles: vec![],
            created_time: now,
            updated_time: now,
            creator_id: caller.user.id.clone(),
            updater_id: caller.user.id.clone(),
            token_version: 0,
        };
        match self.repo.create_user(&user).await {
            Ok(()) => Ok(user.id),
            Err(RepoError::Conflict(_)) => Err(ServiceError::Conflict("username already exists".into())),
            Err(e) => Err(e.into()),
        }
    }

    async fn reset_password(&self, caller: &Caller, user_id: &str, new_password: &str) -> ServiceResult<()> {
        let id = validation::parse_id(user_id, "invalid user ID")?;
        validation::new_password("newPassword", new_password)?;
        Self::check_target(caller, &id)?;
        // Issue 9: a stolen session must not be able to take the account over
        // for good; changing one's own password needs the current one.
        if id == caller.user.id {
            return Err(ServiceError::Forbidden(
                "use PUT /api/v1/users/self/password, with the current password, to change your own password".into(),
            ));
        }
        let mut user = self.get_user_or_404(&id).await?;
        user.password_hash = self.passwords.hash(new_password).await?;
        // An inactive user stays inactive: a reset must not reactivate them.
        if user.status != UserStatus::Inactive {
            user.status = UserStatus::MustChangePassword;
        }
        user.updater_id = caller.user.id.clone();
        user.updated_time = now_ms();
        self.save_user(&user).await?;
        // Decision (sessions-and-runtime.md 9): every token of the target
        // stops working, and its session families end.
        let bumped = self.repo.bump_token_version(&id).await;
        self.user_cache.invalidate(&id);
        bumped?;
        self.repo
            .revoke_user_sessions(&id, None, RevokeReason::PasswordReset, now_ms())
            .await?;
        Ok(())
    }

    async fn update_permissions(
        &self,
        caller: &Caller,
        user_id: &str,
        roles: Option<Vec<String>>,
        status: Option<i64>,
    ) -> ServiceResult<()> {
        let id = validation::parse_id(user_id, "invalid user ID")?;
        let status = status.map(validation::user_status).transpose()?;
        Self::check_target(caller, &id)?;
        let mut user = self.get_user_or_404(&id).await?;
        let guarded = roles.is_some() || status == Some(UserStatus::Inactive);
        if let Some(mut names) = roles {
            validation::user_roles(&names)?;
            let mut seen = std::collections::HashSet::new();
            names.retain(|name| seen.insert(name.clone()));
            let existing = self.repo.get_roles_by_names(&names).await?;
            if let Some(unknown) = names.iter().find(|n| !existing.iter().any(|r| &r.name == *n)) {
                return Err(ServiceError::Validation(format!("roles: unknown role \"{unknown}\"")));
            }
            user.roles = names;
        }
        if let Some(status) = status {
            user.status = status;
        }
        if guarded {
            self.keep_an_administrator(Proposed::User(&user)).await?;
        }
        user.updater_id = caller.user.id.clone();
        user.updated_time = now_ms();
        self.save_user(&user).await
    }

    /// All users, or only the caller under `self` grants.
    async fn list_users(&self, caller: &Caller) -> ServiceResult<Vec<User>> {
        let mut users = self.repo.list_users().await?;
        users.retain(|u| scope::applies(&caller.grants, &caller.user.id, &u.id));
        Ok(users)
    }

    async fn change_own_password(&self, caller: &Caller, old_password: &str, new_password: &str) -> ServiceResult<()> {
        validation::new_password("newPassword", new_password)?;
        // Re-read: the hash must be the current one, not the one loaded
        // when the request was authorised.
        let mut user = match self.repo.get_user(&caller.user.id).await {
            Err(RepoError::NotFound) => return Err(ServiceError::Unauthorized("user not found".into())),
            other => other?,
        };
        if !passwords::verify(old_password, &user.password_hash).await {
            return Err(ServiceError::Forbidden("oldPassword is incorrect".into()));
        }
        user.password_hash = self.passwords.hash(new_password).await?;
        user.status = UserStatus::Active;
        user.updater_id = caller.user.id.clone();
        user.updated_time = now_ms();
        self.save_user(&user).await?;
        // The caller's own family (and its tokens) keeps working; every
        // other session of the caller ends.
        self.repo
            .revoke_user_sessions(
                &caller.user.id,
                caller.session_id.clone(),
                RevokeReason::PasswordChange,
                now_ms(),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use gthulhu_domain::manager::MockRepository;

    use super::*;
    use crate::testutil::*;

    fn capture_updates(repo: &mut MockRepository) -> Arc<Mutex<Vec<User>>> {
        let saved = Arc::new(Mutex::new(Vec::new()));
        let sink = saved.clone();
        repo.expect_update_user().returning(move |u| {
            sink.lock().unwrap().push(u.clone());
            Ok(())
        });
        saved
    }

    type Revocations = Arc<Mutex<Vec<(ObjectId, Option<ObjectId>, RevokeReason)>>>;

    /// Token-version bumps and session revocations, recorded.
    fn capture_revocations(repo: &mut MockRepository) -> (Arc<Mutex<Vec<ObjectId>>>, Revocations) {
        let (bumps, revoked) = (Arc::new(Mutex::new(Vec::new())), Revocations::default());
        let sink = bumps.clone();
        repo.expect_bump_token_version().returning(move |id| {
            sink.lock().unwrap().push(id.clone());
            Ok(1)
        });
        let sink = revoked.clone();
        repo.expect_revoke_user_sessions()
            .returning(move |user, except, reason, _| {
                sink.lock().unwrap().push((user.clone(), except, reason));
                Ok(1)
            });
        (bumps, revoked)
    }

    fn serving(target: User) -> MockRepository {
        let mut repo = MockRepository::new();
        repo.expect_get_user().returning(move |id| {
            if *id == target.id {
                Ok(target.clone())
            } else {
                Err(RepoError::NotFound)
            }
        });
        repo
    }

    #[tokio::test]
    async fn create_user_hashes_and_sets_status_3() {
        let admin = caller(vec![policy("user.create", false, "")]);
        let mut repo = MockRepository::new();
        let created = Arc::new(Mutex::new(None));
        let sink = created.clone();
        repo.expect_create_user().returning(move |u| {
            if u.username == "taken" {
                return Err(RepoError::Conflict("username".into()));
            }
            *sink.lock().unwrap() = Some(u.clone());
            Ok(())
        });
        let svc = services(repo);
        let id = svc.create_user(&admin, "alice", "initial").await.unwrap();
        let u = created.lock().unwrap().clone().unwrap();
        assert_eq!(u.id, id);
        assert_eq!(u.status, UserStatus::MustChangePassword);
        assert!(u.roles.is_empty());
        assert_eq!((&u.creator_id, &u.updater_id), (&admin.user.id, &admin.user.id));
        assert!(passwords::verify("initial", &u.password_hash).await);
        assert_eq!(
            svc.create_user(&admin, "taken", "pw").await,
            Err(ServiceError::Conflict("username already exists".into()))
        );
        assert_eq!(
            svc.create_user(&admin, "bob", &"p".repeat(73)).await,
            Err(ServiceError::Validation("password must be at most 72 bytes".into()))
        );
    }

    #[tokio::test]
    async fn reset_password_rules() {
        let target = user("alice", UserStatus::Active, &[]);
        let inactive = user("bob", UserStatus::Inactive, &[]);
        let admin = caller(vec![policy("user.password.reset", false, "")]);
        let own_only = caller(vec![policy("user.password.reset", true, "")]);

        let mut repo = serving(target.clone());
        let saved = capture_updates(&mut repo);
        let (bumps, revoked) = capture_revocations(&mut repo);
        let svc = services(repo);
        svc.reset_password(&admin, &target.id.to_string(), "temp")
            .await
            .unwrap();
        let u = saved.lock().unwrap().pop().unwrap();
        assert_eq!(u.status, UserStatus::MustChangePassword);
        assert!(passwords::verify("temp", &u.password_hash).await);
        // Every token of the target stops working, every family ends.
        assert_eq!(*bumps.lock().unwrap(), vec![target.id.clone()]);
        assert_eq!(
            *revoked.lock().unwrap(),
            vec![(target.id.clone(), None, RevokeReason::PasswordReset)]
        );

        assert_eq!(
            svc.reset_password(&admin, "nope", "temp").await,
            Err(ServiceError::Validation("invalid user ID".into()))
        );
        assert_eq!(
            svc.reset_password(&admin, &target.id.to_string(), "").await,
            Err(ServiceError::Validation("newPassword is required".into()))
        );
        assert_eq!(
            svc.reset_password(&own_only, &target.id.to_string(), "temp").await,
            Err(ServiceError::Forbidden("forbidden".into()))
        );
        assert_eq!(
            svc.reset_password(&admin, &ObjectId::new().to_string(), "temp").await,
            Err(user_not_found())
        );

        let mut repo = serving(inactive.clone());
        let saved = capture_updates(&mut repo);
        capture_revocations(&mut repo);
        services(repo)
            .reset_password(&admin, &inactive.id.to_string(), "temp")
            .await
            .unwrap();
        assert_eq!(saved.lock().unwrap()[0].status, UserStatus::Inactive);
    }

    #[tokio::test]
    async fn update_permissions_rules() {
        let target = user("alice", UserStatus::MustChangePassword, &["old"]);
        let admin = caller(vec![policy("user.permission.update", false, "")]);
        let mut repo = serving(target.clone());
        repo.expect_get_roles_by_names().returning(|names| {
            Ok(names
                .iter()
                .filter(|n| *n == "admin" || *n == "ops")
                .map(|n| role(n, vec![]))
                .collect())
        });
        // Nobody holds a guarded key: the last-administrator guard lets it be.
        repo.expect_list_users().returning(|| Ok(vec![]));
        repo.expect_list_roles().returning(|| Ok(vec![]));
        let saved = capture_updates(&mut repo);
        let svc = services(repo);
        let id = target.id.to_string();

        svc.update_permissions(
            &admin,
            &id,
            Some(vec!["ops".into(), "admin".into(), "ops".into()]),
            Some(1),
        )
        .await
        .unwrap();
        let u = saved.lock().unwrap().pop().unwrap();
        assert_eq!(u.roles, vec!["ops".to_string(), "admin".to_string()]);
        assert_eq!(u.status, UserStatus::Active);

        // Omitted fields keep their values; an empty list removes every role.
        svc.update_permissions(&admin, &id, None, None).await.unwrap();
        assert_eq!(saved.lock().unwrap().pop().unwrap().roles, vec!["old".to_string()]);
        svc.update_permissions(&admin, &id, Some(vec![]), None).await.unwrap();
        assert!(saved.lock().unwrap().pop().unwrap().roles.is_empty());

        assert_eq!(
            svc.update_permissions(&admin, &id, Some(vec!["ops".into(), "x".into()]), None)
                .await,
            Err(ServiceError::Validation("roles: unknown role \"x\"".into()))
        );
        assert_eq!(
            svc.update_permissions(&admin, &id, None, Some(4)).await,
            Err(ServiceError::Validation("status must be 1, 2 or 3".into()))
        );
        let self_only = caller(vec![policy("user.permission.update", true, "")]);
        assert_eq!(
            svc.update_permissions(&self_only, &id, None, Some(1)).await,
            Err(ServiceError::Forbidden("forbidden".into()))
        );
        assert!(saved.lock().unwrap().is_empty());
    }

    /// Issue 9: the only administrator removed its own roles and nothing
    /// could grant them back.
    #[tokio::test]
    async fn the_last_administrator_keeps_its_grants() {
        let admin_role = role("admin", vec![policy("user.permission.update", false, "")]);
        let last = user("root", UserStatus::Active, &["admin"]);
        let other = user("bob", UserStatus::Active, &[]);
        let me = caller(vec![policy("user.permission.update", false, "")]);
        let mut repo = serving(last.clone());
        let (users, roles) = (vec![last.clone(), other], vec![admin_role.clone()]);
        repo.expect_list_users().returning(move || Ok(users.clone()));
        repo.expect_list_roles().returning(move || Ok(roles.clone()));
        repo.expect_get_roles_by_names().returning(move |names| {
            Ok(vec![admin_role.clone()]
                .into_iter()
                .filter(|r| names.contains(&r.name))
                .collect())
        });
        let saved = capture_updates(&mut repo);
        let svc = services(repo);
        let id = last.id.to_string();
        let refused = Err(ServiceError::Conflict(
            "the last active user holding user.permission.update cannot lose it".into(),
        ));
        assert_eq!(svc.update_permissions(&me, &id, Some(vec![]), None).await, refused);
        assert_eq!(svc.update_permissions(&me, &id, None, Some(2)).await, refused);
        // Keeping the role, or a status that can still log in, is fine.
        svc.update_permissions(&me, &id, Some(vec!["admin".into()]), Some(3))
            .await
            .unwrap();
        assert_eq!(saved.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn resetting_ones_own_password_needs_the_current_one() {
        let me = caller(vec![policy("user.password.reset", false, "")]);
        let svc = services(serving(me.user.clone()));
        assert!(matches!(
            svc.reset_password(&me, &me.user.id.to_string(), "taken-over").await,
            Err(ServiceError::Forbidden(_))
        ));
    }

    #[tokio::test]
    async fn list_users_under_self_grant_is_only_the_caller() {
        let me = caller(vec![policy("user.read", true, "")]);
        let others = vec![
            user("a", UserStatus::Active, &[]),
            me.user.clone(),
            user("b", UserStatus::Active, &[]),
        ];
        let mut repo = MockRepository::new();
        let all = others.clone();
        repo.expect_list_users().returning(move || Ok(all.clone()));
        let svc = services(repo);
        assert_eq!(svc.list_users(&me).await.unwrap(), vec![me.user.clone()]);
        let admin = caller(vec![policy("user.read", false, ""), policy("user.read", true, "")]);
        assert_eq!(svc.list_users(&admin).await.unwrap(), others);
    }

    #[tokio::test]
    async fn change_own_password() {
        let me = user_with_password("alice", "initial", UserStatus::MustChangePassword).await;
        let own_session = ObjectId::new();
        let c = Caller {
            user: me.clone(),
            grants: vec![],
            session_id: Some(own_session.clone()),
        };
        let mut repo = serving(me.clone());
        let saved = capture_updates(&mut repo);
        let (bumps, revoked) = capture_revocations(&mut repo);
        let svc = services(repo);
        assert_eq!(
            svc.change_own_password(&c, "wrong", "mine").await,
            Err(ServiceError::Forbidden("oldPassword is incorrect".into()))
        );
        assert_eq!(
            svc.change_own_password(&c, "initial", "").await,
            Err(ServiceError::Validation("newPassword is required".into()))
        );
        svc.change_own_password(&c, "initial", "mine").await.unwrap();
        let u = saved.lock().unwrap().pop().unwrap();
        assert_eq!(u.status, UserStatus::Active);
        assert!(passwords::verify("mine", &u.password_hash).await);
        assert!(!passwords::verify("initial", &u.password_hash).await);
        // The caller's own session (and tokens) stay; the others end.
        assert!(bumps.lock().unwrap().is_empty());
        assert_eq!(
            *revoked.lock().unwrap(),
            vec![(me.id.clone(), Some(own_session), RevokeReason::PasswordChange)]
        );
    }
}
