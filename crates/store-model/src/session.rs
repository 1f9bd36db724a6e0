//! Session families (sessions-and-runtime.md 11.1): collection and table
//! `auth_sessions`.

use gthulhu_domain::manager::{ObjectId, RevokeReason, Session};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDoc {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    #[serde(rename = "userID")]
    pub user_id: ObjectId,
    pub jti: String,
    /// SHA-256 of the refresh token; the token itself is never stored.
    pub token_hash: String,
    pub created_time: i64,
    pub last_used_time: i64,
    pub expires_at: i64,
    #[serde(deserialize_with = "lenient_bool")]
    pub revoked: bool,
    #[serde(default)]
    pub revoked_reason: Option<RevokeReason>,
    #[serde(default)]
    pub revoked_time: Option<i64>,
    #[serde(default)]
    pub ip: String,
    #[serde(default)]
    pub user_agent: String,
}

/// Some MongoDB wire servers hand a boolean written by `$set` back as an
/// integer; 0 is false, anything else true.
fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct Flag;
    impl serde::de::Visitor<'_> for Flag {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a boolean")
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<bool, E> {
            Ok(v != 0)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<bool, E> {
            Ok(v != 0)
        }
    }
    d.deserialize_any(Flag)
}

impl From<&Session> for SessionDoc {
    fn from(s: &Session) -> Self {
        Self {
            id: s.id.clone(),
            user_id: s.user_id.clone(),
            jti: s.jti.clone(),
            token_hash: s.token_hash.clone(),
            created_time: s.created_time,
            last_used_time: s.last_used_time,
            expires_at: s.expires_at,
            revoked: s.revoked,
            revoked_reason: s.revoked_reason,
            revoked_time: s.revoked_time,
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
        }
    }
}

impl From<SessionDoc> for Session {
    fn from(d: SessionDoc) -> Self {
        Self {
            id: d.id,
            user_id: d.user_id,
            jti: d.jti,
            token_hash: d.token_hash,
            created_time: d.created_time,
            last_used_time: d.last_used_time,
            expires_at: d.expires_at,
            revoked: d.revoked,
            revoked_reason: d.revoked_reason,
            revoked_time: d.revoked_time,
            ip: d.ip,
            user_agent: d.user_agent,
        }
    }
}
