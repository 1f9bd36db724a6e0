//! Session families (sessions-and-runtime.md 11), keyed by id.

use std::collections::BTreeMap;

use gthulhu_domain::manager::{ObjectId, RepoError, RepoResult, RevokeReason, Session, SessionRotation};

#[derive(Debug, Default)]
pub struct Sessions {
    by_id: BTreeMap<ObjectId, Session>,
}

impl Sessions {
    pub fn insert(&mut self, session: &Session) -> RepoResult<()> {
        if self.by_id.contains_key(&session.id) {
            return Err(RepoError::Conflict("id".into()));
        }
        self.by_id.insert(session.id.clone(), session.clone());
        Ok(())
    }

    pub fn get(&self, id: &ObjectId) -> RepoResult<Session> {
        self.by_id.get(id).cloned().ok_or(RepoError::NotFound)
    }

    pub fn rotate(&mut self, id: &ObjectId, rotation: &SessionRotation) -> RepoResult<()> {
        let stored = self.by_id.get_mut(id).ok_or(RepoError::NotFound)?;
        if stored.revoked {
            return Err(RepoError::Conflict("revoked".into()));
        }
        if stored.jti != rotation.expected_jti {
            return Err(RepoError::Conflict("jti".into()));
        }
        stored.jti.clone_from(&rotation.new_jti);
        stored.token_hash.clone_from(&rotation.new_hash);
        stored.expires_at = rotation.new_expires_at;
        stored.last_used_time = rotation.now;
        Ok(())
    }

    pub fn revoke(&mut self, id: &ObjectId, reason: RevokeReason, now: i64) -> RepoResult<()> {
        let stored = self.by_id.get_mut(id).ok_or(RepoError::NotFound)?;
        revoke(stored, reason, now);
        Ok(())
    }

    pub fn revoke_user(&mut self, user: &ObjectId, except: Option<&ObjectId>, reason: RevokeReason, now: i64) -> u64 {
        let mut revoked = 0;
        for session in self.by_id.values_mut() {
            if session.user_id == *user && Some(&session.id) != except && revoke(session, reason, now) {
                revoked += 1;
            }
        }
        revoked
    }

    pub fn live_of(&self, user: &ObjectId, now: i64) -> Vec<Session> {
        let mut live: Vec<Session> = self
            .by_id
            .values()
            .filter(|s| s.user_id == *user && s.is_live(now))
            .cloned()
            .collect();
        // Stable: equal times keep id order.
        live.sort_by_key(|s| s.last_used_time);
        live
    }

    pub fn delete_expired(&mut self, now: i64) -> u64 {
        let before = self.by_id.len();
        self.by_id.retain(|_, s| s.expires_at > now);
        (before - self.by_id.len()) as u64
    }
}

/// Whether the session was live (not yet revoked).
fn revoke(session: &mut Session, reason: RevokeReason, now: i64) -> bool {
    if session.revoked {
        return false;
    }
    session.revoked = true;
    session.revoked_reason = Some(reason);
    session.revoked_time = Some(now);
    true
}
