//! The last administrator guard (issue 9): a store where nobody can grant
//! permissions or edit roles any more is recoverable only by wiping it, so
//! a change that would leave no active user holding one of these keys
//! (without the `self` restriction) is refused with 409.

use gthulhu_domain::manager::{Role, ServiceError, ServiceResult, User, UserStatus};

use crate::ManagerServices;

const GUARDED_KEYS: [&str; 2] = ["user.permission.update", "role.update"];

/// The new version of one user or one role, not yet stored.
pub(crate) enum Proposed<'a> {
    User(&'a User),
    Role(&'a Role),
}

fn holders(key: &str, users: &[User], roles: &[Role]) -> usize {
    let granting: Vec<&str> = roles
        .iter()
        .filter(|r| r.policies.iter().any(|p| p.permission_key == key && !p.self_only))
        .map(|r| r.name.as_str())
        .collect();
    users
        .iter()
        .filter(|u| u.status != UserStatus::Inactive && u.roles.iter().any(|r| granting.contains(&r.as_str())))
        .count()
}

impl ManagerServices {
    pub(crate) async fn keep_an_administrator(&self, proposed: Proposed<'_>) -> ServiceResult<()> {
        let users = self.repo.list_users().await?;
        let roles = self.repo.list_roles().await?;
        let (mut users_after, mut roles_after) = (users.clone(), roles.clone());
        match proposed {
            Proposed::User(user) => users_after
                .iter_mut()
                .filter(|u| u.id == user.id)
                .for_each(|u| *u = user.clone()),
            Proposed::Role(role) => roles_after
                .iter_mut()
                .filter(|r| r.id == role.id)
                .for_each(|r| *r = role.clone()),
        }
        for key in GUARDED_KEYS {
            if holders(key, &users, &roles) > 0 && holders(key, &users_after, &roles_after) == 0 {
                return Err(ServiceError::Conflict(format!(
                    "the last active user holding {key} cannot lose it"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn counts_active_unrestricted_holders() {
        let admin = role("admin", vec![policy("role.update", false, "")]);
        let own = role("own", vec![policy("role.update", true, "")]);
        let users = [
            user("a", UserStatus::Active, &["admin"]),
            user("b", UserStatus::Inactive, &["admin"]),
            user("c", UserStatus::MustChangePassword, &["admin", "own"]),
            user("d", UserStatus::Active, &["own"]),
        ];
        assert_eq!(holders("role.update", &users, &[admin, own]), 2);
        assert_eq!(holders("user.permission.update", &users, &[]), 0);
    }
}
