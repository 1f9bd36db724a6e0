//! Desired scheduler runtime configurations (sessions-and-runtime.md 15.1)
//! in `node_runtime_configs`, unique by `nodeId`. An upsert is one
//! `updateOne` with `upsert` whose `_id` is only `$setOnInsert`, so a
//! replaced record keeps its id; a recorded apply is one `$set`.

use bson::{Document, doc};
use futures_util::TryStreamExt;
use gthulhu_domain::manager::{NodeRuntimeConfig, RepoError, RepoResult, RuntimeApplyResult};
use gthulhu_store_model::RuntimeConfigDoc;

use crate::MongoRepository;
use crate::error::{is_duplicate, map};
use crate::session::not_found_unless_matched;

/// What a duplicate key on this collection most likely hit.
const NODE_ID: &str = "nodeId";

fn encode_error(e: bson::ser::Error) -> RepoError {
    RepoError::Other(format!("encode runtime config: {e}"))
}

impl MongoRepository {
    pub(crate) async fn upsert_runtime_config_doc(&self, record: &NodeRuntimeConfig) -> RepoResult<()> {
        let mut fields = bson::to_document(&RuntimeConfigDoc::from(record)).map_err(encode_error)?;
        let id = fields.remove("_id");
        let filter = doc! {"nodeId": &record.node_id};
        let update = doc! {"$set": fields, "$setOnInsert": {"_id": id}};
        // Two first upserts of one node can both try to insert; the loser's
        // duplicate key means the record exists now, and a retry updates it.
        match self.upsert_once(&filter, &update).await {
            Err(e) if is_duplicate(&e) => self.upsert_once(&filter, &update).await,
            other => other,
        }
        .map_err(|e| map(e, NODE_ID))
    }

    async fn upsert_once(&self, filter: &Document, update: &Document) -> mongodb::error::Result<()> {
        self.runtime_configs
            .update_one(filter.clone(), update.clone())
            .upsert(true)
            .await
            .map(|_| ())
    }

    pub(crate) async fn get_runtime_config_doc(&self, node_id: &str) -> RepoResult<NodeRuntimeConfig> {
        let found = self
            .runtime_configs
            .find_one(doc! {"nodeId": node_id})
            .await
            .map_err(|e| map(e, ""))?;
        found.map(NodeRuntimeConfig::from).ok_or(RepoError::NotFound)
    }

    pub(crate) async fn list_runtime_config_docs(&self) -> RepoResult<Vec<NodeRuntimeConfig>> {
        let docs: Vec<RuntimeConfigDoc> = self
            .runtime_configs
            .find(doc! {})
            .sort(doc! {"nodeId": 1})
            .await
            .map_err(|e| map(e, ""))?
            .try_collect()
            .await
            .map_err(|e| map(e, ""))?;
        Ok(docs.into_iter().map(NodeRuntimeConfig::from).collect())
    }

    pub(crate) async fn delete_runtime_config_docs(&self, node_ids: &[String]) -> RepoResult<u64> {
        if node_ids.is_empty() {
            return Ok(0);
        }
        let result = self
            .runtime_configs
            .delete_many(doc! {"nodeId": {"$in": node_ids}})
            .await
            .map_err(|e| map(e, ""))?;
        Ok(result.deleted_count)
    }

    pub(crate) async fn record_runtime_apply_doc(
        &self,
        node_id: &str,
        result: &RuntimeApplyResult,
        reapply_count: i32,
        reapply_pod: Option<String>,
    ) -> RepoResult<()> {
        let update = doc! {"$set": {
            "lastApplyResult": bson::to_bson(result).map_err(encode_error)?,
            "reapplyCount": reapply_count,
            "reapplyPod": reapply_pod,
        }};
        let outcome = self
            .runtime_configs
            .update_one(doc! {"nodeId": node_id}, update)
            .await
            .map_err(|e| map(e, ""))?;
        not_found_unless_matched(outcome.matched_count)
    }
}
