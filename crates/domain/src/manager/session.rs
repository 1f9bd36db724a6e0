//! Login sessions (sessions-and-runtime.md 2, 11): one record per session
//! family, rotated at every refresh. The refresh token itself is never
//! stored, only its SHA-256.

use serde::{Deserialize, Serialize};

use super::ObjectId;

/// Why a session family ended (stored as `revokedReason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    Logout,
    LogoutAll,
    /// An already rotated refresh token was presented again.
    Reuse,
    PasswordReset,
    PasswordChange,
    /// `auth.max_sessions_per_user` was reached by a new login.
    SessionLimit,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::Reuse => "reuse",
            Self::PasswordReset => "password_reset",
            Self::PasswordChange => "password_change",
            Self::SessionLimit => "session_limit",
        }
    }
}

/// One session family: the id is the `sid` claim of all its tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: ObjectId,
    pub user_id: ObjectId,
    /// `jti` of the current (newest) refresh token.
    pub jti: String,
    /// Lowercase hex SHA-256 of the current refresh token's compact JWT.
    pub token_hash: String,
    /// Milliseconds since the Unix epoch, as every stored time.
    pub created_time: i64,
    pub last_used_time: i64,
    /// `exp` of the current refresh token, in milliseconds.
    pub expires_at: i64,
    pub revoked: bool,
    pub revoked_reason: Option<RevokeReason>,
    pub revoked_time: Option<i64>,
    /// The client at creation: TCP peer address, first 256 bytes of `User-Agent`.
    pub ip: String,
    pub user_agent: String,
}

impl Session {
    /// Not revoked and not expired at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        !self.revoked && self.expires_at > now_ms
    }
}

/// A refresh: the compare-and-set of `Repository::rotate_session`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRotation {
    /// The stored `jti` must still be this one.
    pub expected_jti: String,
    pub new_jti: String,
    pub new_hash: String,
    pub new_expires_at: i64,
    /// Becomes `lastUsedTime`.
    pub now: i64,
}
