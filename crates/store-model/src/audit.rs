//! The audit log.

use gthulhu_domain::manager::{AuditEntry, ObjectId};
use serde::{Deserialize, Serialize};

/// The field names are snake_case, as upstream's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub user_id: Option<ObjectId>,
    pub action: String,
    pub request_id: String,
    pub timestamp: i64,
    pub ip: String,
    /// An int32 in BSON; a stored value outside `u16` does not decode.
    pub status: u16,
    pub target: Option<String>,
    /// Null when the document has none.
    #[serde(default)]
    pub details: serde_json::Value,
}

impl From<&AuditEntry> for AuditDoc {
    fn from(e: &AuditEntry) -> Self {
        Self {
            id: e.id.clone(),
            user_id: e.user_id.clone(),
            action: e.action.clone(),
            request_id: e.request_id.clone(),
            timestamp: e.timestamp,
            ip: e.ip.clone(),
            status: e.status,
            target: e.target.clone(),
            details: e.details.clone(),
        }
    }
}

impl From<AuditDoc> for AuditEntry {
    fn from(d: AuditDoc) -> Self {
        Self {
            id: d.id,
            user_id: d.user_id,
            action: d.action,
            request_id: d.request_id,
            timestamp: d.timestamp,
            ip: d.ip,
            status: d.status,
            target: d.target,
            details: d.details,
        }
    }
}
