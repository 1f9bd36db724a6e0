//! Multi-document writes: in a transaction where the server runs them,
//! otherwise ordered, with compensating writes on failure; and the reads
//! they share.

use bson::{Document, doc};
use futures_util::TryStreamExt;
use gthulhu_domain::manager::{ObjectId, RepoError, RepoResult, ScheduleIntent};
use gthulhu_store_model::IntentDoc;
use mongodb::error::ErrorKind;
use mongodb::{ClientSession, Collection};
use serde::de::DeserializeOwned;

use crate::MongoRepository;
use crate::error::map;

pub(crate) const STRATEGY_POD: &str = "strategyId+podId";

/// Runs a driver action inside `session` when there is one.
macro_rules! maybe_in {
    ($session:expr, $action:expr) => {
        match $session.as_deref_mut() {
            Some(s) => $action.session(s).await,
            None => $action.await,
        }
    };
}
pub(crate) use maybe_in;

impl MongoRepository {
    /// A session in a started transaction, when transactions work.
    pub(crate) async fn begin(&self) -> RepoResult<Option<ClientSession>> {
        if !self.transactions {
            return Ok(None);
        }
        let mut session = self.client.start_session().await.map_err(|e| map(e, ""))?;
        session.start_transaction().await.map_err(|e| map(e, ""))?;
        Ok(Some(session))
    }

    /// Commits on success, aborts on failure.
    pub(crate) async fn finish<T>(session: Option<ClientSession>, result: RepoResult<T>) -> RepoResult<T> {
        let Some(mut session) = session else {
            return result;
        };
        match result {
            Ok(value) => {
                session.commit_transaction().await.map_err(|e| map(e, STRATEGY_POD))?;
                Ok(value)
            }
            Err(e) => {
                if let Err(abort) = session.abort_transaction().await {
                    tracing::warn!(error = %abort, "aborting a MongoDB transaction failed");
                }
                Err(e)
            }
        }
    }

    pub(crate) async fn find_all<T>(
        &self,
        coll: &Collection<T>,
        filter: Document,
        unique_field: &str,
    ) -> RepoResult<Vec<T>>
    where
        T: DeserializeOwned + Send + Sync,
    {
        coll.find(filter)
            .sort(doc! {"_id": 1})
            .await
            .map_err(|e| map(e, unique_field))?
            .try_collect()
            .await
            .map_err(|e| map(e, unique_field))
    }

    pub(crate) async fn find_intents(&self, filter: Document) -> RepoResult<Vec<ScheduleIntent>> {
        Ok(self
            .find_all(&self.intents, filter, STRATEGY_POD)
            .await?
            .into_iter()
            .map(ScheduleIntent::from)
            .collect())
    }

    /// Ordered insert of intents; without a transaction, a failure deletes
    /// the ones already inserted, so the call is all or nothing.
    pub(crate) async fn insert_intent_docs(
        &self,
        docs: &[IntentDoc],
        session: &mut Option<&mut ClientSession>,
    ) -> RepoResult<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let Err(e) = maybe_in!(session, self.intents.insert_many(docs)) else {
            return Ok(());
        };
        if session.is_none() {
            // Ordered: everything before the first failing document went in.
            let inserted = match e.kind.as_ref() {
                ErrorKind::InsertMany(m) => m
                    .write_errors
                    .as_ref()
                    .and_then(|errors| errors.iter().map(|w| w.index).min())
                    .unwrap_or(docs.len()),
                _ => docs.len(),
            };
            let ids: Vec<&ObjectId> = docs[..inserted].iter().map(|d| &d.id).collect();
            self.compensate(
                "insert intents",
                self.intents.delete_many(doc! {"_id": {"$in": id_strings(ids)}}),
            )
            .await;
        }
        Err(map(e, STRATEGY_POD))
    }

    /// Best-effort undo of a partial write; its own failure is only logged.
    pub(crate) async fn compensate<R>(
        &self,
        what: &str,
        undo: impl std::future::IntoFuture<Output = mongodb::error::Result<R>>,
    ) {
        if let Err(e) = undo.await {
            tracing::error!(error = %e, operation = what, "MongoDB compensation failed; data may be partial");
        }
    }
}

pub(crate) fn not_found_unless_matched(matched: u64) -> RepoResult<()> {
    if matched == 0 { Err(RepoError::NotFound) } else { Ok(()) }
}

pub(crate) fn id_strings<'a>(ids: impl IntoIterator<Item = &'a ObjectId>) -> Vec<String> {
    ids.into_iter().map(ToString::to_string).collect()
}
