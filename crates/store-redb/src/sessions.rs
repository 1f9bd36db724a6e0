//! Session families (sessions-and-runtime.md 11): table `auth_sessions`
//! and its index `sessions_by_user`; every operation one transaction, so a
//! rotation's compare-and-set cannot interleave with another write.

use gthulhu_domain::manager::{ObjectId, RepoResult, RevokeReason, Session, SessionRotation};
use gthulhu_store_model::{SessionDoc, UserDoc};
use redb::{ReadableTable, Table, TableHandle};

use crate::RedbRepository;
use crate::error::{Failure, conflict, not_found};
use crate::tables::*;

type BytesTable<'t> = Table<'t, &'static [u8], &'static [u8]>;

fn put(table: &mut BytesTable<'_>, doc: &SessionDoc) -> Result<(), Failure> {
    table.insert(&doc.id.bytes()[..], encode(doc)?.as_slice())?;
    Ok(())
}

/// Whether the family was live (not yet revoked).
fn revoke(doc: &mut SessionDoc, reason: RevokeReason, now: i64) -> bool {
    if doc.revoked {
        return false;
    }
    doc.revoked = true;
    doc.revoked_reason = Some(reason);
    doc.revoked_time = Some(now);
    true
}

impl RedbRepository {
    pub(crate) async fn bump_token_version_tx(&self, user_id: &ObjectId) -> RepoResult<i64> {
        let id = user_id.bytes();
        self.write(move |tx| {
            let mut users = tx.open_table(USERS)?;
            let mut doc: UserDoc = not_found(get_doc(&users, USERS.name(), &id)?)?;
            doc.token_version += 1;
            users.insert(&id[..], encode(&doc)?.as_slice())?;
            Ok(doc.token_version)
        })
        .await
    }

    pub(crate) async fn insert_session_tx(&self, session: &Session) -> RepoResult<()> {
        let doc = SessionDoc::from(session);
        self.write(move |tx| {
            let mut sessions = tx.open_table(AUTH_SESSIONS)?;
            if sessions.get(&doc.id.bytes()[..])?.is_some() {
                return Err(conflict("id"));
            }
            put(&mut sessions, &doc)?;
            tx.open_table(SESSIONS_BY_USER)?
                .insert(owner_key(&doc.user_id, &doc.id).as_slice(), EMPTY)?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn get_session_tx(&self, id: &ObjectId) -> RepoResult<Session> {
        let id = id.bytes();
        self.read(move |tx| {
            let doc: SessionDoc = not_found(get_doc(&tx.open_table(AUTH_SESSIONS)?, AUTH_SESSIONS.name(), &id)?)?;
            Ok(doc.into())
        })
        .await
    }

    pub(crate) async fn rotate_session_tx(&self, id: &ObjectId, rotation: &SessionRotation) -> RepoResult<()> {
        let (id, rotation) = (id.bytes(), rotation.clone());
        self.write(move |tx| {
            let mut sessions = tx.open_table(AUTH_SESSIONS)?;
            let mut doc: SessionDoc = not_found(get_doc(&sessions, AUTH_SESSIONS.name(), &id)?)?;
            if doc.revoked {
                return Err(conflict("revoked"));
            }
            if doc.jti != rotation.expected_jti {
                return Err(conflict("jti"));
            }
            doc.jti = rotation.new_jti;
            doc.token_hash = rotation.new_hash;
            doc.expires_at = rotation.new_expires_at;
            doc.last_used_time = rotation.now;
            put(&mut sessions, &doc)
        })
        .await
    }

    pub(crate) async fn revoke_session_tx(&self, id: &ObjectId, reason: RevokeReason, now: i64) -> RepoResult<()> {
        let id = id.bytes();
        self.write(move |tx| {
            let mut sessions = tx.open_table(AUTH_SESSIONS)?;
            let mut doc: SessionDoc = not_found(get_doc(&sessions, AUTH_SESSIONS.name(), &id)?)?;
            if revoke(&mut doc, reason, now) {
                put(&mut sessions, &doc)?;
            }
            Ok(())
        })
        .await
    }

    pub(crate) async fn revoke_user_sessions_tx(
        &self,
        user_id: &ObjectId,
        except: Option<ObjectId>,
        reason: RevokeReason,
        now: i64,
    ) -> RepoResult<u64> {
        let user = user_id.bytes();
        self.write(move |tx| {
            let mut sessions = tx.open_table(AUTH_SESSIONS)?;
            let docs: Vec<SessionDoc> = docs_by_prefix(
                &tx.open_table(SESSIONS_BY_USER)?,
                &sessions,
                AUTH_SESSIONS.name(),
                &user,
            )?;
            let mut revoked = 0;
            for mut doc in docs {
                if Some(&doc.id) != except.as_ref() && revoke(&mut doc, reason, now) {
                    put(&mut sessions, &doc)?;
                    revoked += 1;
                }
            }
            Ok(revoked)
        })
        .await
    }

    pub(crate) async fn list_user_sessions_tx(&self, user_id: &ObjectId, now: i64) -> RepoResult<Vec<Session>> {
        let user = user_id.bytes();
        self.read(move |tx| {
            let docs: Vec<SessionDoc> = docs_by_prefix(
                &tx.open_table(SESSIONS_BY_USER)?,
                &tx.open_table(AUTH_SESSIONS)?,
                AUTH_SESSIONS.name(),
                &user,
            )?;
            let mut live: Vec<Session> = docs.into_iter().map(Session::from).filter(|s| s.is_live(now)).collect();
            // Stable: equal times keep id order.
            live.sort_by_key(|s| s.last_used_time);
            Ok(live)
        })
        .await
    }

    pub(crate) async fn delete_expired_sessions_tx(&self, now: i64) -> RepoResult<u64> {
        self.write(move |tx| {
            let mut sessions = tx.open_table(AUTH_SESSIONS)?;
            let expired: Vec<SessionDoc> = all_docs::<SessionDoc, _>(&sessions, AUTH_SESSIONS.name())?
                .into_iter()
                .filter(|s| s.expires_at <= now)
                .collect();
            let mut by_user = tx.open_table(SESSIONS_BY_USER)?;
            for doc in &expired {
                sessions.remove(&doc.id.bytes()[..])?;
                by_user.remove(owner_key(&doc.user_id, &doc.id).as_slice())?;
            }
            Ok(expired.len() as u64)
        })
        .await
    }
}
