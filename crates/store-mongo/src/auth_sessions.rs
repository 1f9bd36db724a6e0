//! Session families (sessions-and-runtime.md 11) in `auth_sessions`, and
//! the users' `tokenVersion`. A rotation is one `updateOne` filtered on
//! `_id` and the expected `jti` (compare-and-set); a version bump is `$inc`.

use bson::doc;
use futures_util::TryStreamExt;
use gthulhu_domain::manager::{ObjectId, RepoError, RepoResult, RevokeReason, Session, SessionRotation};
use gthulhu_store_model::SessionDoc;
use mongodb::options::ReturnDocument;

use crate::MongoRepository;
use crate::error::map;

impl MongoRepository {
    pub(crate) async fn bump_token_version_doc(&self, user_id: &ObjectId) -> RepoResult<i64> {
        let updated = self
            .users
            .find_one_and_update(
                doc! {"_id": user_id.to_string()},
                doc! {"$inc": {"tokenVersion": 1_i64}},
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| map(e, ""))?;
        updated.map(|u| u.token_version).ok_or(RepoError::NotFound)
    }

    pub(crate) async fn insert_session_doc(&self, session: &Session) -> RepoResult<()> {
        self.sessions
            .insert_one(SessionDoc::from(session))
            .await
            .map_err(|e| map(e, "id"))?;
        Ok(())
    }

    pub(crate) async fn get_session_doc(&self, id: &ObjectId) -> RepoResult<Session> {
        let found = self
            .sessions
            .find_one(doc! {"_id": id.to_string()})
            .await
            .map_err(|e| map(e, ""))?;
        found.map(Session::from).ok_or(RepoError::NotFound)
    }

    pub(crate) async fn rotate_session_doc(&self, id: &ObjectId, rotation: &SessionRotation) -> RepoResult<()> {
        let filter = doc! {"_id": id.to_string(), "jti": &rotation.expected_jti, "revoked": false};
        let update = doc! {"$set": {
            "jti": &rotation.new_jti,
            "tokenHash": &rotation.new_hash,
            "expiresAt": rotation.new_expires_at,
            "lastUsedTime": rotation.now,
        }};
        let result = self.sessions.update_one(filter, update).await.map_err(|e| map(e, ""))?;
        if result.matched_count > 0 {
            return Ok(());
        }
        // Lost the compare-and-set: say why (the record is only read to
        // classify the failure; nothing is written).
        match self.get_session_doc(id).await? {
            stored if stored.revoked => Err(RepoError::Conflict("revoked".into())),
            _ => Err(RepoError::Conflict("jti".into())),
        }
    }

    pub(crate) async fn revoke_session_doc(&self, id: &ObjectId, reason: RevokeReason, now: i64) -> RepoResult<()> {
        let result = self
            .sessions
            .update_one(
                doc! {"_id": id.to_string(), "revoked": false},
                doc! {"$set": {"revoked": true, "revokedReason": reason.as_str(), "revokedTime": now}},
            )
            .await
            .map_err(|e| map(e, ""))?;
        if result.matched_count > 0 {
            return Ok(());
        }
        // Already revoked (idempotent), or no such record.
        self.get_session_doc(id).await.map(|_| ())
    }

    pub(crate) async fn revoke_user_sessions_docs(
        &self,
        user_id: &ObjectId,
        except: Option<ObjectId>,
        reason: RevokeReason,
        now: i64,
    ) -> RepoResult<u64> {
        let mut filter = doc! {"userID": user_id.to_string(), "revoked": false};
        if let Some(except) = except {
            filter.insert("_id", doc! {"$ne": except.to_string()});
        }
        let result = self
            .sessions
            .update_many(
                filter,
                doc! {"$set": {"revoked": true, "revokedReason": reason.as_str(), "revokedTime": now}},
            )
            .await
            .map_err(|e| map(e, ""))?;
        Ok(result.modified_count)
    }

    pub(crate) async fn list_user_sessions_docs(&self, user_id: &ObjectId, now: i64) -> RepoResult<Vec<Session>> {
        let filter = doc! {"userID": user_id.to_string(), "revoked": false, "expiresAt": {"$gt": now}};
        let docs: Vec<SessionDoc> = self
            .sessions
            .find(filter)
            .sort(doc! {"lastUsedTime": 1, "_id": 1})
            .await
            .map_err(|e| map(e, ""))?
            .try_collect()
            .await
            .map_err(|e| map(e, ""))?;
        Ok(docs.into_iter().map(Session::from).collect())
    }

    pub(crate) async fn delete_expired_session_docs(&self, now: i64) -> RepoResult<u64> {
        let result = self
            .sessions
            .delete_many(doc! {"expiresAt": {"$lte": now}})
            .await
            .map_err(|e| map(e, ""))?;
        Ok(result.deleted_count)
    }
}
