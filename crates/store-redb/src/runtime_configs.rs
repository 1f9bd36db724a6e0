//! Desired scheduler runtime configurations (sessions-and-runtime.md 15.1):
//! table `node_runtime_configs`, keyed by node name; every operation one
//! transaction, so an upsert keeps the stored id and a recorded apply
//! cannot interleave with a replacement.

use gthulhu_domain::manager::{NodeRuntimeConfig, RepoResult, RuntimeApplyResult};
use gthulhu_store_model::RuntimeConfigDoc;
use redb::TableHandle;

use crate::RedbRepository;
use crate::error::not_found;
use crate::tables::*;

impl RedbRepository {
    pub(crate) async fn upsert_runtime_config_tx(&self, record: &NodeRuntimeConfig) -> RepoResult<()> {
        let mut doc = RuntimeConfigDoc::from(record);
        self.write(move |tx| {
            let mut table = tx.open_table(NODE_RUNTIME_CONFIGS)?;
            let key = doc.node_id.clone();
            if let Some(stored) = get_doc::<RuntimeConfigDoc, _>(&table, NODE_RUNTIME_CONFIGS.name(), key.as_bytes())? {
                doc.id = stored.id;
            }
            table.insert(key.as_bytes(), encode(&doc)?.as_slice())?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn get_runtime_config_tx(&self, node_id: &str) -> RepoResult<NodeRuntimeConfig> {
        let key = node_id.to_owned();
        self.read(move |tx| {
            let table = tx.open_table(NODE_RUNTIME_CONFIGS)?;
            let doc: RuntimeConfigDoc = not_found(get_doc(&table, NODE_RUNTIME_CONFIGS.name(), key.as_bytes())?)?;
            Ok(doc.into())
        })
        .await
    }

    pub(crate) async fn list_runtime_configs_tx(&self) -> RepoResult<Vec<NodeRuntimeConfig>> {
        self.read(|tx| {
            let docs: Vec<RuntimeConfigDoc> =
                all_docs(&tx.open_table(NODE_RUNTIME_CONFIGS)?, NODE_RUNTIME_CONFIGS.name())?;
            Ok(docs.into_iter().map(NodeRuntimeConfig::from).collect())
        })
        .await
    }

    pub(crate) async fn delete_runtime_configs_tx(&self, node_ids: &[String]) -> RepoResult<u64> {
        let node_ids = node_ids.to_vec();
        self.write(move |tx| {
            let mut table = tx.open_table(NODE_RUNTIME_CONFIGS)?;
            let mut deleted = 0;
            for node in &node_ids {
                if table.remove(node.as_bytes())?.is_some() {
                    deleted += 1;
                }
            }
            Ok(deleted)
        })
        .await
    }

    pub(crate) async fn record_runtime_apply_tx(
        &self,
        node_id: &str,
        result: &RuntimeApplyResult,
        reapply_count: i32,
        reapply_pod: Option<String>,
    ) -> RepoResult<()> {
        let (key, result) = (node_id.to_owned(), result.clone());
        self.write(move |tx| {
            let mut table = tx.open_table(NODE_RUNTIME_CONFIGS)?;
            let mut doc: RuntimeConfigDoc = not_found(get_doc(&table, NODE_RUNTIME_CONFIGS.name(), key.as_bytes())?)?;
            doc.last_apply_result = Some(result);
            doc.reapply_count = reapply_count;
            doc.reapply_pod = reapply_pod;
            table.insert(key.as_bytes(), encode(&doc)?.as_slice())?;
            Ok(())
        })
        .await
    }
}
