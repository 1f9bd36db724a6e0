//! Session families (sessions-and-runtime.md 2-6, 11): the family a login
//! opens, refresh with rotation and reuse detection, logout, logout-all,
//! and the sweep of expired records.
//!
//! The refresh token is held as a `SecretString` and only its SHA-256 is
//! stored; it never reaches a log or an error message.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gthulhu_domain::manager::{
    Caller, IssuedTokens, ObjectId, RepoError, Repository, RequestOrigin, RevokeReason, ServiceError, ServiceResult,
    Session, SessionAttempt, SessionFailure, SessionFailureReason, SessionRotation, User, UserStatus, now_ms,
};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::ManagerServices;
use crate::jwt::{Claims, REFRESH, Subject};

/// How often expired session records are deleted (on every replica).
pub const SESSION_SWEEP_INTERVAL: Duration = Duration::from_secs(600);

/// Bytes of `User-Agent` kept on a session record.
const USER_AGENT_BYTES: usize = 256;

/// 128 random bits, base64url without padding (22 characters).
pub(crate) fn new_jti() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Lowercase hex SHA-256 of the compact JWT: what a record stores.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn truncated(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

fn internal(e: String) -> ServiceError {
    ServiceError::Internal(format!("signing a token failed: {e}"))
}

/// A failed check, with its audit reason; `clear` clears the cookie.
fn refused(message: &str, reason: SessionFailureReason, clear: bool) -> SessionFailure {
    SessionFailure {
        error: ServiceError::Unauthorized(message.into()),
        reason: Some(reason),
        clear_cookie: clear,
    }
}

fn storage(e: RepoError) -> SessionFailure {
    SessionFailure {
        error: e.into(),
        reason: None,
        clear_cookie: false,
    }
}

fn invalid_token() -> SessionFailure {
    refused("Invalid or expired token", SessionFailureReason::Invalid, false)
}

/// A verified refresh token's identity (checks 4 and 5).
struct RefreshClaims {
    uid: ObjectId,
    sid: ObjectId,
    jti: String,
    token_version: i64,
}

fn refresh_claims(claims: Option<Claims>) -> Result<RefreshClaims, SessionFailure> {
    let claims = claims.ok_or_else(invalid_token)?;
    let not_refresh = || refused("invalid refresh token", SessionFailureReason::Invalid, false);
    if claims.token_type.as_deref() != Some(REFRESH) {
        return Err(not_refresh());
    }
    let sid = claims
        .sid
        .as_deref()
        .and_then(ObjectId::parse)
        .ok_or_else(not_refresh)?;
    let jti = claims.jti.filter(|j| !j.is_empty()).ok_or_else(not_refresh)?;
    let uid = ObjectId::parse(&claims.uid).ok_or_else(invalid_token)?;
    Ok(RefreshClaims {
        uid,
        sid,
        jti,
        token_version: claims.token_version,
    })
}

/// What an attempt yields once the token's signature verified.
type Checked<T> = (Option<RefreshClaims>, Result<T, SessionFailure>);

fn attempt<T>((claims, result): Checked<T>) -> SessionAttempt<T> {
    SessionAttempt {
        user_id: claims.as_ref().map(|c| c.uid.clone()),
        session_id: claims.map(|c| c.sid),
        result,
    }
}

impl ManagerServices {
    /// `exp` of a refresh token issued at `now_s` for a family created at
    /// `created_ms`: sliding, but never past `auth.session_max_age_s`.
    fn refresh_exp(&self, now_s: i64, created_ms: i64) -> i64 {
        let sliding = now_s.saturating_add(self.settings.refresh_ttl_s);
        match self.settings.session_max_age_s {
            0 => sliding,
            cap => sliding.min((created_ms / 1000).saturating_add(cap)),
        }
    }

    fn access_token(&self, user: &User, sid: &ObjectId, now_s: i64) -> ServiceResult<String> {
        let subject = subject(user, sid);
        self.jwt
            .sign_access(&subject, now_s, self.settings.access_ttl_s)
            .map_err(internal)
    }

    /// The second half of a login: revokes the user's least recently used
    /// families beyond `auth.max_sessions_per_user`, then opens a new one.
    pub(crate) async fn open_session(&self, user: &User, origin: &RequestOrigin) -> ServiceResult<IssuedTokens> {
        let now = now_ms();
        let live = self.repo.list_user_sessions(&user.id, now).await?;
        let keep = self.settings.max_sessions_per_user.saturating_sub(1);
        for old in live.iter().take(live.len().saturating_sub(keep)) {
            match self.repo.revoke_session(&old.id, RevokeReason::SessionLimit, now).await {
                // Swept meanwhile: nothing left to revoke.
                Ok(()) | Err(RepoError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let (sid, jti, now_s) = (ObjectId::new(), new_jti(), now / 1000);
        let exp = self.refresh_exp(now_s, now);
        let refresh = self
            .jwt
            .sign_refresh(&subject(user, &sid), &jti, now_s, exp)
            .map(SecretString::from)
            .map_err(internal)?;
        let session = Session {
            id: sid.clone(),
            user_id: user.id.clone(),
            jti,
            token_hash: token_hash(refresh.expose_secret()),
            created_time: now,
            last_used_time: now,
            expires_at: exp.saturating_mul(1000),
            revoked: false,
            revoked_reason: None,
            revoked_time: None,
            ip: origin.client_ip.clone(),
            user_agent: truncated(&origin.user_agent, USER_AGENT_BYTES),
        };
        self.repo.insert_session(&session).await?;
        Ok(IssuedTokens {
            access_token: self.access_token(user, &sid, now_s)?,
            refresh_token: refresh,
            refresh_expires_at: exp,
            session_id: sid,
        })
    }

    /// Checks 4-12 of sessions-and-runtime.md 4, then the rotation.
    pub(crate) async fn refresh_session(&self, token: &SecretString) -> SessionAttempt<IssuedTokens> {
        let claims = match refresh_claims(self.jwt.verify(token.expose_secret())) {
            Ok(claims) => claims,
            Err(failure) => return attempt((None, Err(failure))),
        };
        let result = self.rotate(token, &claims).await;
        attempt((Some(claims), result))
    }

    async fn rotate(&self, token: &SecretString, claims: &RefreshClaims) -> Result<IssuedTokens, SessionFailure> {
        use SessionFailureReason::*;
        let user = match self.repo.get_user(&claims.uid).await {
            Ok(user) => user,
            Err(RepoError::NotFound) => return Err(refused("user not found", NotFound, false)),
            Err(e) => return Err(storage(e)),
        };
        if user.status == UserStatus::Inactive {
            return Err(refused("user is inactive", Inactive, false));
        }
        if claims.token_version != user.token_version {
            return Err(refused("refresh token revoked", Revoked, true));
        }
        let session = match self.repo.get_session(&claims.sid).await {
            Ok(s) if s.user_id == user.id => s,
            Ok(_) | Err(RepoError::NotFound) => return Err(refused("refresh token not found", NotFound, true)),
            Err(e) => return Err(storage(e)),
        };
        let now = now_ms();
        if !session.is_live(now) {
            return Err(refused("refresh token revoked", Revoked, true));
        }
        if session.jti != claims.jti || session.token_hash != token_hash(token.expose_secret()) {
            return Err(self.reused(&session.id, now).await);
        }
        let (jti, now_s) = (new_jti(), now / 1000);
        let exp = self.refresh_exp(now_s, session.created_time);
        let refresh = self
            .jwt
            .sign_refresh(&subject(&user, &session.id), &jti, now_s, exp)
            .map(SecretString::from)
            .map_err(|e| storage_internal(internal(e)))?;
        let rotation = SessionRotation {
            expected_jti: claims.jti.clone(),
            new_jti: jti,
            new_hash: token_hash(refresh.expose_secret()),
            new_expires_at: exp.saturating_mul(1000),
            now,
        };
        match self.repo.rotate_session(&session.id, &rotation).await {
            Ok(()) => {}
            // A concurrent refresh of the same token won: this one is a reuse.
            Err(RepoError::Conflict(field)) if field == "jti" => return Err(self.reused(&session.id, now).await),
            Err(RepoError::Conflict(_)) => return Err(refused("refresh token revoked", Revoked, true)),
            Err(RepoError::NotFound) => return Err(refused("refresh token not found", NotFound, true)),
            Err(e) => return Err(storage(e)),
        }
        let access = self.access_token(&user, &session.id, now_s).map_err(storage_internal)?;
        Ok(IssuedTokens {
            access_token: access,
            refresh_token: refresh,
            refresh_expires_at: exp,
            session_id: session.id,
        })
    }

    /// Check 11: the whole family ends.
    async fn reused(&self, sid: &ObjectId, now: i64) -> SessionFailure {
        match self.repo.revoke_session(sid, RevokeReason::Reuse, now).await {
            Ok(()) | Err(RepoError::NotFound) => {
                tracing::warn!(session = %sid, "refresh token reused: session family revoked");
                refused("refresh token reused", SessionFailureReason::Reused, true)
            }
            Err(e) => storage(e),
        }
    }

    /// sessions-and-runtime.md 5: `exp` is not checked, and an already
    /// revoked family (or an older `jti` of it) logs out too.
    pub(crate) async fn end_session(&self, token: &SecretString) -> SessionAttempt<()> {
        use SessionFailureReason::*;
        let claims = match refresh_claims(self.jwt.verify_any_expiry(token.expose_secret())) {
            Ok(claims) => claims,
            Err(failure) => return attempt((None, Err(failure))),
        };
        let result = async {
            let user = match self.repo.get_user(&claims.uid).await {
                Ok(user) => user,
                Err(RepoError::NotFound) => return Err(refused("user not found", NotFound, true)),
                Err(e) => return Err(storage(e)),
            };
            if claims.token_version != user.token_version {
                return Err(refused("refresh token revoked", Revoked, true));
            }
            let not_found = || refused("refresh token not found", NotFound, true);
            match self.repo.get_session(&claims.sid).await {
                Ok(s) if s.user_id == user.id => {}
                Ok(_) | Err(RepoError::NotFound) => return Err(not_found()),
                Err(e) => return Err(storage(e)),
            }
            match self
                .repo
                .revoke_session(&claims.sid, RevokeReason::Logout, now_ms())
                .await
            {
                Ok(()) => Ok(()),
                Err(RepoError::NotFound) => Err(not_found()),
                Err(e) => Err(storage(e)),
            }
        }
        .await;
        attempt((Some(claims), result))
    }

    /// sessions-and-runtime.md 6: the version is bumped **before** the
    /// families are revoked, so a refresh racing this fails its check 8.
    pub(crate) async fn end_all_sessions(&self, caller: &Caller) -> ServiceResult<()> {
        let id = &caller.user.id;
        let bumped = self.repo.bump_token_version(id).await;
        self.user_cache.invalidate(id);
        match bumped {
            Ok(_) => {}
            Err(RepoError::NotFound) => return Err(ServiceError::Unauthorized("user not found".into())),
            Err(e) => return Err(e.into()),
        }
        self.repo
            .revoke_user_sessions(id, None, RevokeReason::LogoutAll, now_ms())
            .await?;
        Ok(())
    }
}

/// An internal failure of a refresh (signing): 500, nothing to audit as a check.
fn storage_internal(error: ServiceError) -> SessionFailure {
    SessionFailure {
        error,
        reason: None,
        clear_cookie: false,
    }
}

fn subject<'a>(user: &'a User, sid: &'a ObjectId) -> Subject<'a> {
    Subject {
        uid: &user.id,
        need_change_password: user.status == UserStatus::MustChangePassword,
        token_version: user.token_version,
        sid,
    }
}

/// Deletes expired session records every `interval`, for ever. Failures
/// (storage not connected yet, an outage) are logged and retried at the
/// next tick; deletes are idempotent, so every replica may run this.
pub async fn run_session_sweeper(repo: Arc<dyn Repository>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match repo.delete_expired_sessions(now_ms()).await {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(deleted, "expired session records deleted"),
            Err(RepoError::Unavailable(e)) => tracing::debug!(error = %e, "session sweep skipped: storage unavailable"),
            Err(e) => tracing::warn!(error = %e, "session sweep failed"),
        }
    }
}

#[cfg(test)]
#[path = "sessions_tests.rs"]
mod tests;
