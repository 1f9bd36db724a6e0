use serde::{Deserialize, Serialize};

use super::ObjectId;

/// One login attempt or authenticated mutation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: ObjectId,
    pub user_id: Option<ObjectId>,
    /// `auth.login`, a permission key, or `user.self.password`.
    pub action: String,
    pub request_id: String,
    pub timestamp: i64,
    pub ip: String,
    pub status: u16,
    pub target: Option<String>,
    /// The request body with passwords and keys replaced by `"***"`.
    pub details: serde_json::Value,
}

/// Newest first; `cursor` is the id of the last entry of the previous page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub user_ids: Vec<ObjectId>,
    pub action: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub limit: usize,
    pub cursor: Option<ObjectId>,
}
