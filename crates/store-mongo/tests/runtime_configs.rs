//! MongoDB specifics of desired runtime configurations
//! (sessions-and-runtime.md 15.1): stored field names and BSON types, the
//! camelCase `config` with every key present (`false` and 0 included), and
//! the unique index on `nodeId`.

#[allow(dead_code)]
mod common;

use bson::{Bson, Document, doc};
use futures_util::TryStreamExt;
use gthulhu_domain::manager::{Repository, RuntimeApplyResult};
use gthulhu_repo_conformance::fixtures::{T0, runtime_config};
use gthulhu_store_mongo::MongoRepository;

const CONFIG_KEYS: [&str; 11] = [
    "configVersion",
    "mode",
    "schedulerName",
    "sliceNsDefault",
    "sliceNsMin",
    "kernelMode",
    "maxTimeWatchdog",
    "earlyProcessing",
    "builtinIdle",
    "schedulerEnabled",
    "monitoringEnabled",
];

async fn connected(uri: &str) -> (MongoRepository, mongodb::Database) {
    let settings = common::fresh_settings(uri);
    let repo = MongoRepository::connect(&settings).await.expect("connect");
    let raw = mongodb::Client::with_uri_str(uri)
        .await
        .expect("raw client")
        .database(&settings.database);
    (repo, raw)
}

async fn raw_record(db: &mongodb::Database, node: &str) -> Document {
    db.collection::<Document>("node_runtime_configs")
        .find_one(doc! {"nodeId": node})
        .await
        .expect("raw read")
        .expect("a stored record")
}

fn int(doc: &Document, field: &str) -> i64 {
    match doc.get(field) {
        Some(Bson::Int32(v)) => i64::from(*v),
        Some(Bson::Int64(v)) => *v,
        other => panic!("{field} is not an integer: {other:?}"),
    }
}

/// The stored `config`: exactly the keys of 13, each with its type.
fn assert_config(stored: &Document, kernel_mode: bool) {
    let config = stored.get_document("config").expect("config is a document");
    let mut keys: Vec<&str> = config.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = CONFIG_KEYS.to_vec();
    want.sort_unstable();
    assert_eq!(keys, want, "config keys: {config:?}");
    assert_eq!(config.get("kernelMode"), Some(&Bson::Boolean(kernel_mode)));
    assert_eq!(config.get("earlyProcessing"), Some(&Bson::Boolean(false)));
    assert_eq!(config.get("builtinIdle"), Some(&Bson::Boolean(false)));
    assert_eq!(config.get("maxTimeWatchdog"), Some(&Bson::Boolean(true)));
    assert_eq!(config.get("schedulerEnabled"), Some(&Bson::Boolean(true)));
    assert_eq!(config.get("monitoringEnabled"), Some(&Bson::Boolean(true)));
    assert_eq!(int(config, "sliceNsDefault"), 20_000_000);
    assert_eq!(int(config, "sliceNsMin"), 0);
    assert_eq!(config.get_str("schedulerName").unwrap(), "scx_lavd");
}

async fn record_documents_and_index(uri: &str) {
    let (repo, db) = connected(uri).await;
    let record = runtime_config("kind-worker", "2026-03-10T08:00:00.000Z");
    repo.upsert_runtime_config(&record).await.unwrap();
    let stored = raw_record(&db, "kind-worker").await;
    assert_eq!(stored.get_str("_id").unwrap(), record.id.to_string());
    assert_eq!(stored.get_str("configVersion").unwrap(), "2026-03-10T08:00:00.000Z");
    assert_eq!(stored.get_str("updatedBy").unwrap(), record.updated_by.to_string());
    assert_eq!(int(&stored, "updatedAt"), T0);
    assert_eq!(stored.get("lastApplyResult"), Some(&Bson::Null));
    assert_eq!(stored.get("reapplyCount"), Some(&Bson::Int32(0)));
    assert_eq!(stored.get("reapplyPod"), Some(&Bson::Null));
    assert_config(&stored, false);

    // A replacement is a `$set`: flags stay booleans, the id stays.
    let mut second = runtime_config("kind-worker", "v2");
    second.config.kernel_mode = true;
    repo.upsert_runtime_config(&second).await.unwrap();
    let stored = raw_record(&db, "kind-worker").await;
    assert_eq!(stored.get_str("_id").unwrap(), record.id.to_string());
    assert_eq!(stored.get_str("configVersion").unwrap(), "v2");
    assert_config(&stored, true);

    let result = RuntimeApplyResult {
        success: false,
        error: Some("decision maker is offline".into()),
        at: T0 + 1,
    };
    repo.record_runtime_apply("kind-worker", &result, 2, Some("pod-uid".into()))
        .await
        .unwrap();
    let stored = raw_record(&db, "kind-worker").await;
    let last = stored.get_document("lastApplyResult").unwrap();
    assert_eq!(last.get("success"), Some(&Bson::Boolean(false)));
    assert_eq!(last.get_str("error").unwrap(), "decision maker is offline");
    assert_eq!(int(last, "at"), T0 + 1);
    assert_eq!(stored.get("reapplyCount"), Some(&Bson::Int32(2)));
    assert_eq!(stored.get_str("reapplyPod").unwrap(), "pod-uid");
    assert_config(&stored, true);

    let succeeded = RuntimeApplyResult {
        success: true,
        error: None,
        at: T0 + 2,
    };
    repo.record_runtime_apply("kind-worker", &succeeded, 0, None)
        .await
        .unwrap();
    let stored = raw_record(&db, "kind-worker").await;
    let last = stored.get_document("lastApplyResult").unwrap();
    assert_eq!(last.get("success"), Some(&Bson::Boolean(true)));
    assert_eq!(last.get("error"), Some(&Bson::Null));
    assert_eq!(stored.get("reapplyPod"), Some(&Bson::Null));
    assert_eq!(
        repo.get_runtime_config("kind-worker").await.unwrap().last_apply_result,
        Some(succeeded)
    );

    let indexes: Vec<mongodb::IndexModel> = db
        .collection::<Document>("node_runtime_configs")
        .list_indexes()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    // Keys and uniqueness only: some wire servers choose their own index names.
    assert!(
        indexes
            .iter()
            .any(|i| i.keys == doc! {"nodeId": 1} && i.options.as_ref().and_then(|o| o.unique) == Some(true)),
        "node_runtime_configs lacks its unique index on nodeId: {indexes:?}"
    );
    let duplicate = db
        .collection::<Document>("node_runtime_configs")
        .insert_one(doc! {"_id": "other", "nodeId": "kind-worker"})
        .await;
    assert!(duplicate.is_err(), "a second record of one node is refused");
}

macro_rules! env_tests {
    ($($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $scenario() {
                match common::env_uri() {
                    Ok(uri) => super::$scenario(&uri).await,
                    Err(missing) => missing.report(),
                }
            }
        )*
    };
}

mod against_mongodb {
    use super::common;

    env_tests!(record_documents_and_index);
}
