//! Admin bootstrap (manager.md 3.3): at every start, after migrations,
//! create the configured admin if no user has that username. An existing
//! admin's password is never re-synced from the configuration.

use gthulhu_domain::manager::{ObjectId, RepoError, Repository, ServiceError, User, UserStatus, now_ms};

use crate::passwords::{self, MAX_PASSWORD_BYTES};
use crate::roles::ADMIN_ROLE;

/// The shipped default password; the binary warns while the admin uses it.
pub const DEFAULT_ADMIN_PASSWORD: &str = "your-password-here";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootstrapOutcome {
    /// The admin user was created by this call.
    pub created: bool,
    /// The admin's stored hash verifies against [`DEFAULT_ADMIN_PASSWORD`].
    pub default_password_in_use: bool,
}

async fn outcome_for_existing(existing: &User) -> BootstrapOutcome {
    BootstrapOutcome {
        created: false,
        default_password_in_use: passwords::verify(DEFAULT_ADMIN_PASSWORD, &existing.password_hash).await,
    }
}

pub async fn bootstrap_admin(
    repo: &dyn Repository,
    email: &str,
    password: &str,
    bcrypt_cost: u32,
) -> Result<BootstrapOutcome, ServiceError> {
    match repo.get_user_by_username(email).await {
        Ok(existing) => return Ok(outcome_for_existing(&existing).await),
        Err(RepoError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    if email.is_empty() {
        return Err(ServiceError::Validation("account.admin_email must not be empty".into()));
    }
    if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
        return Err(ServiceError::Validation(format!(
            "account.admin_password must be 1 to {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    let now = now_ms();
    let admin = User {
        id: ObjectId::new(),
        username: email.into(),
        password_hash: passwords::hash(password, bcrypt_cost).await?,
        status: UserStatus::Active,
        roles: vec![ADMIN_ROLE.into()],
        created_time: now,
        updated_time: now,
        creator_id: ObjectId::ZERO,
        updater_id: ObjectId::ZERO,
        token_version: 0,
    };
    match repo.create_user(&admin).await {
        Ok(()) => Ok(BootstrapOutcome {
            created: true,
            default_password_in_use: password == DEFAULT_ADMIN_PASSWORD,
        }),
        // Another replica created it meanwhile: report on the stored one.
        Err(RepoError::Conflict(_)) => Ok(outcome_for_existing(&repo.get_user_by_username(email).await?).await),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use gthulhu_domain::manager::MockRepository;

    use super::*;

    fn users_repo(users: Arc<Mutex<Vec<User>>>) -> MockRepository {
        let mut repo = MockRepository::new();
        let u = users.clone();
        repo.expect_get_user_by_username().returning(move |name| {
            u.lock()
                .unwrap()
                .iter()
                .find(|x| x.username == name)
                .cloned()
                .ok_or(RepoError::NotFound)
        });
        repo.expect_create_user().returning(move |user| {
            users.lock().unwrap().push(user.clone());
            Ok(())
        });
        repo
    }

    #[tokio::test]
    async fn creates_the_admin_once_and_never_resyncs() {
        let users = Arc::new(Mutex::new(Vec::new()));
        let repo = users_repo(users.clone());
        let out = bootstrap_admin(&repo, "admin@example.com", DEFAULT_ADMIN_PASSWORD, 4)
            .await
            .unwrap();
        assert_eq!(
            out,
            BootstrapOutcome {
                created: true,
                default_password_in_use: true
            }
        );
        let admin = users.lock().unwrap()[0].clone();
        assert_eq!(admin.roles, vec!["admin".to_string()]);
        assert_eq!(admin.status, UserStatus::Active);
        assert_eq!(
            (admin.creator_id.clone(), admin.updater_id.clone()),
            (ObjectId::ZERO, ObjectId::ZERO)
        );
        assert!(admin.password_hash.starts_with("$2b$04$"));

        // A changed configured password does not touch the stored one.
        let out = bootstrap_admin(&repo, "admin@example.com", "new-config-pass", 4)
            .await
            .unwrap();
        assert_eq!(
            out,
            BootstrapOutcome {
                created: false,
                default_password_in_use: true
            }
        );
        assert_eq!(users.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn reports_a_changed_password() {
        let users = Arc::new(Mutex::new(Vec::new()));
        let repo = users_repo(users.clone());
        let out = bootstrap_admin(&repo, "root@example.com", "s3cret", 4).await.unwrap();
        assert!(out.created && !out.default_password_in_use);
        let out = bootstrap_admin(&repo, "root@example.com", DEFAULT_ADMIN_PASSWORD, 4)
            .await
            .unwrap();
        assert!(!out.created && !out.default_password_in_use);
    }

    #[tokio::test]
    async fn rejects_unusable_configuration_and_storage_errors() {
        let repo = users_repo(Arc::new(Mutex::new(Vec::new())));
        assert!(matches!(
            bootstrap_admin(&repo, "", "pw", 4).await,
            Err(ServiceError::Validation(_))
        ));
        assert!(matches!(
            bootstrap_admin(&repo, "a@b", &"p".repeat(73), 4).await,
            Err(ServiceError::Validation(_))
        ));
        let mut down = MockRepository::new();
        down.expect_get_user_by_username()
            .returning(|_| Err(RepoError::Unavailable("down".into())));
        assert_eq!(
            bootstrap_admin(&down, "a@b", "pw", 4).await,
            Err(ServiceError::StorageUnavailable)
        );
    }

    #[tokio::test]
    async fn a_concurrent_creation_is_reported_as_existing() {
        let stored = User {
            id: ObjectId::new(),
            username: "admin@example.com".into(),
            password_hash: passwords::hash("other", 4).await.unwrap(),
            status: UserStatus::Active,
            roles: vec!["admin".into()],
            created_time: 1,
            updated_time: 1,
            creator_id: ObjectId::ZERO,
            updater_id: ObjectId::ZERO,
            token_version: 0,
        };
        let mut repo = MockRepository::new();
        let mut lookups = 0;
        repo.expect_get_user_by_username().times(2).returning(move |_| {
            lookups += 1;
            if lookups == 1 {
                Err(RepoError::NotFound)
            } else {
                Ok(stored.clone())
            }
        });
        repo.expect_create_user()
            .returning(|_| Err(RepoError::Conflict("username".into())));
        let out = bootstrap_admin(&repo, "admin@example.com", DEFAULT_ADMIN_PASSWORD, 4)
            .await
            .unwrap();
        assert_eq!(
            out,
            BootstrapOutcome {
                created: false,
                default_password_in_use: false
            }
        );
    }
}
