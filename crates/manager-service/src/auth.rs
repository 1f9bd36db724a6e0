//! Login (manager.md 4.1, sessions-and-runtime.md 3) and the auth
//! middleware's checks (manager.md 4.3 steps 3-9, as amended by
//! sessions-and-runtime.md 9).

use async_trait::async_trait;
use gthulhu_domain::manager::{
    AuditEntry, AuditService, AuthService, Caller, IssuedTokens, ObjectId, RepoError, RequestOrigin, ServiceError,
    ServiceResult, SessionAttempt, User, UserStatus, now_ms,
};
use secrecy::SecretString;

use crate::ManagerServices;
use crate::audit::http_status;
use crate::passwords;
use crate::rate_limit::Admission;

fn unauthorized(message: &str) -> ServiceError {
    ServiceError::Unauthorized(message.into())
}

impl ManagerServices {
    async fn attempt_login(
        &self,
        username: &str,
        password: &str,
        origin: &RequestOrigin,
    ) -> (ServiceResult<IssuedTokens>, Option<ObjectId>) {
        if username.is_empty() || password.is_empty() {
            return (
                Err(ServiceError::Validation("Username and password are required".into())),
                None,
            );
        }
        match self.login_limiter.admit(&origin.client_ip, username) {
            Admission::Refused => {
                return (
                    Err(ServiceError::TooManyRequests(
                        "too many login attempts, try again later".into(),
                    )),
                    None,
                );
            }
            Admission::Proceed(delay) if !delay.is_zero() => tokio::time::sleep(delay).await,
            Admission::Proceed(_) => {}
        }
        let user = match self.repo.get_user_by_username(username).await {
            Ok(user) => user,
            Err(RepoError::NotFound) => {
                // Same cost as a real verification, so timing does not tell
                // which usernames exist.
                self.passwords.verify_dummy(password).await;
                return (Err(unauthorized("user not found")), None);
            }
            Err(e) => return (Err(e.into()), None),
        };
        // The password is checked before the status, so only someone who
        // knows it learns that the account is inactive.
        let result = if !passwords::verify(password, &user.password_hash).await {
            Err(unauthorized("invalid password"))
        } else if user.status == UserStatus::Inactive {
            Err(unauthorized("user is inactive"))
        } else {
            self.open_session(&user, origin).await
        };
        (result, Some(user.id))
    }

    /// Step 4: the user, from the cache or (on a miss) one `get_user`.
    async fn cached_user(&self, id: &ObjectId) -> ServiceResult<User> {
        if let Some(user) = self.user_cache.get(id) {
            return Ok(user);
        }
        let generation = self.user_cache.generation();
        match self.repo.get_user(id).await {
            Ok(user) => {
                self.user_cache.insert(user.clone(), generation);
                Ok(user)
            }
            Err(RepoError::NotFound) => Err(unauthorized("user not found")),
            Err(e) => Err(e.into()),
        }
    }
}

#[async_trait]
impl AuthService for ManagerServices {
    async fn login(&self, username: &str, password: &str, origin: &RequestOrigin) -> ServiceResult<IssuedTokens> {
        let (result, user_id) = self.attempt_login(username, password, origin).await;
        self.record(AuditEntry {
            id: ObjectId::new(),
            user_id,
            action: "auth.login".into(),
            request_id: origin.request_id.clone(),
            timestamp: now_ms(),
            ip: origin.client_ip.clone(),
            status: result.as_ref().map_or_else(http_status, |_| 200),
            target: result.as_ref().ok().map(|t| t.session_id.to_string()),
            details: serde_json::json!({"username": username, "password": "***"}),
        })
        .await;
        result
    }

    async fn authorize(&self, bearer_token: &str, permission_key: &str) -> ServiceResult<Caller> {
        let claims = self
            .jwt
            .verify(bearer_token)
            .ok_or_else(|| unauthorized("Invalid or expired token"))?;
        // 3a. Tokens without `tokenType` predate sessions: access tokens.
        if claims.token_type.as_deref().is_some_and(|t| t != crate::jwt::ACCESS) {
            return Err(unauthorized("invalid token type"));
        }
        // Only this Manager signs tokens, so an unparsable uid means a token
        // that is not ours in any useful sense.
        let uid = ObjectId::parse(&claims.uid).ok_or_else(|| unauthorized("Invalid or expired token"))?;
        let user = self.cached_user(&uid).await?;
        // 4a. Logout-all and password resets bump the stored version.
        if claims.token_version != user.token_version {
            return Err(unauthorized("token revoked"));
        }
        if user.status == UserStatus::Inactive {
            return Err(unauthorized("user is inactive"));
        }
        let session_id = claims.sid.as_deref().and_then(ObjectId::parse);
        if permission_key.is_empty() {
            return Ok(Caller {
                user,
                grants: vec![],
                session_id,
            });
        }
        if user.status == UserStatus::MustChangePassword && permission_key != "user.permission.update" {
            return Err(ServiceError::Forbidden("password change required".into()));
        }
        let roles = self.repo.get_roles_by_names(&user.roles).await?;
        let grants: Vec<_> = roles
            .into_iter()
            .flat_map(|role| role.policies)
            .filter(|policy| policy.permission_key == permission_key)
            .collect();
        if grants.is_empty() {
            return Err(ServiceError::Forbidden("permission denied".into()));
        }
        Ok(Caller {
            user,
            grants,
            session_id,
        })
    }

    async fn refresh(&self, refresh_token: &SecretString) -> SessionAttempt<IssuedTokens> {
        self.refresh_session(refresh_token).await
    }

    async fn logout(&self, refresh_token: &SecretString) -> SessionAttempt<()> {
        self.end_session(refresh_token).await
    }

    async fn logout_all(&self, caller: &Caller) -> ServiceResult<()> {
        self.end_all_sessions(caller).await
    }
}

#[cfg(test)]
mod tests {
    use gthulhu_domain::manager::{MockRepository, RolePolicy};
    use mockall::predicate::eq;

    use super::*;
    use crate::testutil::*;

    fn from(client_ip: &str) -> RequestOrigin {
        RequestOrigin {
            client_ip: client_ip.into(),
            request_id: format!("req-{client_ip}"),
            user_agent: "test-agent".into(),
        }
    }

    fn repo_with_user(user: User, roles: Vec<gthulhu_domain::manager::Role>) -> MockRepository {
        let mut repo = MockRepository::new();
        let by_id = user.clone();
        repo.expect_get_user().returning(move |id| {
            if *id == by_id.id {
                Ok(by_id.clone())
            } else {
                Err(RepoError::NotFound)
            }
        });
        repo.expect_get_roles_by_names()
            .returning(move |names| Ok(roles.iter().filter(|r| names.contains(&r.name)).cloned().collect()));
        repo
    }

    async fn login_with(repo: MockRepository, user: &str, pass: &str) -> ServiceResult<()> {
        services(repo).login(user, pass, &from("10.0.0.1")).await.map(|_| ())
    }

    fn login_repo(user: Option<User>) -> MockRepository {
        let mut repo = MockRepository::new();
        repo.expect_get_user_by_username().returning(move |name| match &user {
            Some(u) if u.username == name => Ok(u.clone()),
            _ => Err(RepoError::NotFound),
        });
        repo.expect_insert_audit().returning(|_| Ok(()));
        repo.expect_list_user_sessions().returning(|_, _| Ok(vec![]));
        repo.expect_insert_session().returning(|_| Ok(()));
        repo
    }

    #[tokio::test]
    async fn login_issues_a_token_that_authorizes() {
        let u = user_with_password("alice", "pw", UserStatus::MustChangePassword).await;
        let mut repo = login_repo(Some(u.clone()));
        let uid = u.id.clone();
        repo.expect_get_user().with(eq(uid)).returning(move |_| Ok(u.clone()));
        let svc = services(repo);
        let tokens = svc.login("alice", "pw", &from("10.0.0.1")).await.unwrap();
        let claims = svc.jwt.verify(&tokens.access_token).unwrap();
        assert!(claims.need_change_password);
        assert_eq!(claims.iss, "bss-api-server");
        assert_eq!(claims.exp - claims.iat, 900);
        assert_eq!(claims.token_type.as_deref(), Some("access"));
        assert_eq!(claims.sid, Some(tokens.session_id.to_string()));
        // Status 3 may use routes open to any token.
        let caller = svc.authorize(&tokens.access_token, "").await.unwrap();
        assert_eq!(caller.session_id, Some(tokens.session_id));
    }

    #[tokio::test]
    async fn login_failures() {
        let active = user_with_password("alice", "pw", UserStatus::Active).await;
        let inactive = user_with_password("bob", "pw", UserStatus::Inactive).await;
        let mut not_bcrypt = active.clone();
        not_bcrypt.password_hash = "pw".into();
        let cases = [
            (
                Some(active.clone()),
                "",
                "pw",
                ServiceError::Validation("Username and password are required".into()),
            ),
            (
                Some(active.clone()),
                "alice",
                "",
                ServiceError::Validation("Username and password are required".into()),
            ),
            (None, "alice", "pw", unauthorized("user not found")),
            (Some(active.clone()), "alice", "wrong", unauthorized("invalid password")),
            (Some(inactive.clone()), "bob", "pw", unauthorized("user is inactive")),
            (Some(inactive), "bob", "wrong", unauthorized("invalid password")),
            (Some(not_bcrypt), "alice", "pw", unauthorized("invalid password")),
        ];
        for (user, name, pass, want) in cases {
            assert_eq!(
                login_with(login_repo(user), name, pass).await,
                Err(want),
                "{name}/{pass}"
            );
        }
        let mut down = MockRepository::new();
        down.expect_get_user_by_username()
            .returning(|_| Err(RepoError::Unavailable("timeout".into())));
        down.expect_insert_audit().returning(|_| Ok(()));
        assert_eq!(
            login_with(down, "alice", "pw").await,
            Err(ServiceError::StorageUnavailable)
        );
    }

    #[tokio::test]
    async fn every_attempt_is_audited() {
        let u = user_with_password("alice", "pw", UserStatus::Active).await;
        let uid = u.id.clone();
        let mut repo = MockRepository::new();
        repo.expect_get_user_by_username().returning(move |name| {
            if name == "alice" {
                Ok(u.clone())
            } else {
                Err(RepoError::NotFound)
            }
        });
        let entries = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = entries.clone();
        repo.expect_insert_audit().returning(move |e| {
            sink.lock().unwrap().push(e.clone());
            Ok(())
        });
        repo.expect_list_user_sessions().returning(|_, _| Ok(vec![]));
        repo.expect_insert_session().returning(|_| Ok(()));
        let svc = services(repo);
        let sid = svc.login("alice", "pw", &from("10.0.0.9")).await.unwrap().session_id;
        svc.login("alice", "bad", &from("10.0.0.9")).await.unwrap_err();
        svc.login("nobody", "pw", &from("10.0.0.9")).await.unwrap_err();
        let entries = entries.lock().unwrap();
        let summary: Vec<_> = entries
            .iter()
            .map(|e| (e.user_id.clone(), e.status, e.target.clone()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (Some(uid.clone()), 200, Some(sid.to_string())),
                (Some(uid), 401, None),
                (None, 401, None)
            ]
        );
        for e in entries.iter() {
            assert_eq!(e.action, "auth.login");
            assert_eq!(e.ip, "10.0.0.9");
            assert_eq!(e.request_id, "req-10.0.0.9");
            assert_eq!(e.details["password"], "***");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn login_is_refused_per_ip_and_slowed_per_username() {
        let mut repo = login_repo(None);
        repo.expect_insert_audit().returning(|_| Ok(()));
        let svc = services_with(repo, |s| s.login_rate_per_min = 2);
        let svc = |user: &'static str, ip: &'static str| {
            let svc = svc.clone();
            async move { svc.login(user, "x", &from(ip)).await.map(|_| ()) }
        };
        let too_many = Err(ServiceError::TooManyRequests(
            "too many login attempts, try again later".into(),
        ));
        assert_eq!(svc("a", "ip1").await, Err(unauthorized("user not found")));
        assert_eq!(svc("b", "ip1").await, Err(unauthorized("user not found")));
        assert_eq!(svc("c", "ip1").await, too_many);
        assert_eq!(svc("a", "ip2").await, Err(unauthorized("user not found")));
        // The name is over its limit: slowed down, not refused.
        let started = tokio::time::Instant::now();
        assert_eq!(svc("a", "ip3").await, Err(unauthorized("user not found")));
        assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    }

    /// Issue 9: ten wrong passwords from ten addresses locked the real user
    /// out (429) for a minute, on demand.
    #[tokio::test(start_paused = true)]
    async fn wrong_passwords_from_many_addresses_do_not_lock_the_owner_out() {
        let u = user_with_password("admin@example.com", "right", UserStatus::Active).await;
        let svc = services(login_repo(Some(u)));
        for i in 0..10 {
            let attempt = svc
                .login("admin@example.com", "wrong", &from(&format!("10.0.0.{i}")))
                .await
                .map(|_| ());
            assert_eq!(attempt, Err(unauthorized("invalid password")));
        }
        assert!(svc.login("admin@example.com", "right", &from("10.0.1.1")).await.is_ok());
    }

    #[tokio::test]
    async fn authorize_follows_the_middleware_steps() {
        let role = role(
            "ops",
            vec![policy("role.read", false, ""), policy("role.read", true, "team-a")],
        );
        let active = user("alice", UserStatus::Active, &["ops", "gone"]);
        let must_change = user("carol", UserStatus::MustChangePassword, &["ops"]);
        let inactive = user("bob", UserStatus::Inactive, &["ops"]);
        let svc = services(MockRepository::new());
        let token = |u: &User| svc.jwt.sign_legacy(&u.id, false, 60);
        let check = |u: &User, tok: String, key: &'static str| {
            let repo = repo_with_user(u.clone(), vec![role.clone()]);
            async move { services(repo).authorize(&tok, key).await }
        };

        let caller = check(&active, token(&active), "role.read").await.unwrap();
        assert_eq!(caller.grants, role.policies);
        assert_eq!(
            check(&active, token(&active), "role.delete").await,
            Err(ServiceError::Forbidden("permission denied".into()))
        );
        assert_eq!(
            check(&active, token(&active), "").await.unwrap().grants,
            Vec::<RolePolicy>::new()
        );
        assert_eq!(
            check(&active, "garbage".into(), "").await,
            Err(unauthorized("Invalid or expired token"))
        );
        assert_eq!(
            check(&inactive, token(&inactive), "").await,
            Err(unauthorized("user is inactive"))
        );
        assert_eq!(
            check(&must_change, token(&must_change), "role.read").await,
            Err(ServiceError::Forbidden("password change required".into()))
        );
        assert!(check(&must_change, token(&must_change), "").await.is_ok());
        // Status 3 may reach user.permission.update, then needs a grant like anyone.
        assert_eq!(
            check(&must_change, token(&must_change), "user.permission.update").await,
            Err(ServiceError::Forbidden("permission denied".into()))
        );
        let stranger = user("dave", UserStatus::Active, &[]);
        assert_eq!(
            check(&active, token(&stranger), "").await,
            Err(unauthorized("user not found"))
        );

        let mut down = MockRepository::new();
        down.expect_get_user()
            .returning(|_| Err(RepoError::Unavailable("down".into())));
        assert_eq!(
            services(down).authorize(&token(&active), "").await,
            Err(ServiceError::StorageUnavailable)
        );
    }
}
