//! Users, roles and permissions.

use gthulhu_domain::manager::{ObjectId, Permission, Role, RolePolicy, User, UserStatus};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub username: String,
    /// The bcrypt hash.
    pub password: String,
    pub status: UserStatus,
    pub roles: Vec<String>,
    pub created_time: i64,
    pub updated_time: i64,
    #[serde(rename = "creatorID")]
    pub creator_id: ObjectId,
    #[serde(rename = "updaterID")]
    pub updater_id: ObjectId,
    /// Absent in documents written before sessions existed: 0.
    #[serde(default)]
    pub token_version: i64,
}

impl From<&User> for UserDoc {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            username: u.username.clone(),
            password: u.password_hash.clone(),
            status: u.status,
            roles: u.roles.clone(),
            created_time: u.created_time,
            updated_time: u.updated_time,
            creator_id: u.creator_id.clone(),
            updater_id: u.updater_id.clone(),
            token_version: u.token_version,
        }
    }
}

impl From<UserDoc> for User {
    fn from(d: UserDoc) -> Self {
        Self {
            id: d.id,
            username: d.username,
            password_hash: d.password,
            status: d.status,
            roles: d.roles,
            created_time: d.created_time,
            updated_time: d.updated_time,
            creator_id: d.creator_id,
            updater_id: d.updater_id,
            token_version: d.token_version,
        }
    }
}

/// A user's roles after renaming `old` to `new`; a user already holding
/// `new` keeps it once.
pub fn rename_role(roles: Vec<String>, old: &str, new: &str) -> Vec<String> {
    let mut renamed = Vec::with_capacity(roles.len());
    for role in roles {
        let role = if role == old { new.to_owned() } else { role };
        if !renamed.contains(&role) {
            renamed.push(role);
        }
    }
    renamed
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub name: String,
    pub description: String,
    pub policies: Vec<RolePolicy>,
    pub created_time: i64,
    pub updated_time: i64,
    #[serde(rename = "creatorID")]
    pub creator_id: ObjectId,
    #[serde(rename = "updaterID")]
    pub updater_id: ObjectId,
}

impl From<&Role> for RoleDoc {
    fn from(r: &Role) -> Self {
        Self {
            id: r.id.clone(),
            name: r.name.clone(),
            description: r.description.clone(),
            policies: r.policies.clone(),
            created_time: r.created_time,
            updated_time: r.updated_time,
            creator_id: r.creator_id.clone(),
            updater_id: r.updater_id.clone(),
        }
    }
}

impl From<RoleDoc> for Role {
    fn from(d: RoleDoc) -> Self {
        Self {
            id: d.id,
            name: d.name,
            description: d.description,
            policies: d.policies,
            created_time: d.created_time,
            updated_time: d.updated_time,
            creator_id: d.creator_id,
            updater_id: d.updater_id,
        }
    }
}

/// The `_id` is assigned when the key is first stored: listing by `_id`
/// keeps first-insertion order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub key: String,
    pub description: String,
    pub resource: String,
    /// `create`, `read`, `update` or `delete`.
    pub action: String,
}

impl PermissionDoc {
    pub fn new(id: ObjectId, p: &Permission) -> Self {
        Self {
            id,
            key: p.key.clone(),
            description: p.description.clone(),
            resource: p.resource.clone(),
            action: p.action.clone(),
        }
    }
}

impl From<PermissionDoc> for Permission {
    fn from(d: PermissionDoc) -> Self {
        Self {
            key: d.key,
            description: d.description,
            resource: d.resource,
            action: d.action,
        }
    }
}
