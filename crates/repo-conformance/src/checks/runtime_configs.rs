//! Desired scheduler runtime configurations (sessions-and-runtime.md 15.1).

use std::sync::Arc;

use gthulhu_domain::manager::{NodeRuntimeConfig, ObjectId, RepoError, Repository, RuntimeApplyResult};
use tokio::task::JoinSet;

use super::names;
use crate::fixtures::{T0, runtime_config};

fn applied(success: bool, error: Option<&str>, at: i64) -> RuntimeApplyResult {
    RuntimeApplyResult {
        success,
        error: error.map(str::to_owned),
        at,
    }
}

fn node_names(records: &[NodeRuntimeConfig]) -> Vec<&str> {
    records.iter().map(|r| r.node_id.as_str()).collect()
}

pub async fn runtime_configs_upsert_and_get_round_trip(repo: Arc<dyn Repository>) {
    let fresh = runtime_config("node-a", "v1");
    repo.upsert_runtime_config(&fresh).await.unwrap();
    assert_eq!(repo.get_runtime_config("node-a").await.unwrap(), fresh);

    let mut reapplied = runtime_config("node-b", "2026-03-10T08:00:00.000Z");
    reapplied.config.mode = "gthulhu".into();
    reapplied.config.scheduler_name.clear();
    reapplied.config.kernel_mode = true;
    reapplied.config.monitoring_enabled = false;
    reapplied.config.slice_ns_min = 1_000_000;
    reapplied.last_apply_result = Some(applied(false, Some("decision maker is offline"), T0 + 5));
    reapplied.reapply_count = 2;
    reapplied.reapply_pod = Some("0b8f5a3e-1d2c-4f6a-9e7b-5c4d3b2a1f00".into());
    repo.upsert_runtime_config(&reapplied).await.unwrap();
    assert_eq!(repo.get_runtime_config("node-b").await.unwrap(), reapplied);

    let mut succeeded = runtime_config("node-c", "v1");
    succeeded.last_apply_result = Some(applied(true, None, T0));
    repo.upsert_runtime_config(&succeeded).await.unwrap();
    assert_eq!(repo.get_runtime_config("node-c").await.unwrap(), succeeded);
    assert_eq!(repo.get_runtime_config("node-a").await.unwrap(), fresh);
}

pub async fn runtime_configs_upsert_replaces_and_keeps_the_id(repo: Arc<dyn Repository>) {
    let mut first = runtime_config("node-a", "v1");
    first.last_apply_result = Some(applied(false, Some("boom"), T0));
    first.reapply_count = 3;
    first.reapply_pod = Some("pod-1".into());
    repo.upsert_runtime_config(&first).await.unwrap();
    let other = runtime_config("node-b", "v1");
    repo.upsert_runtime_config(&other).await.unwrap();

    let mut second = runtime_config("node-a", "v2");
    second.config.kernel_mode = true;
    second.config.slice_ns_default = 0;
    second.updated_at = T0 + 1_000;
    repo.upsert_runtime_config(&second).await.unwrap();
    let stored = repo.get_runtime_config("node-a").await.unwrap();
    assert_eq!(stored, NodeRuntimeConfig { id: first.id, ..second });
    assert_eq!(repo.get_runtime_config("node-b").await.unwrap(), other);
    assert_eq!(repo.list_runtime_configs().await.unwrap().len(), 2);
}

pub async fn runtime_configs_unknown_nodes_are_not_found(repo: Arc<dyn Repository>) {
    assert_eq!(repo.list_runtime_configs().await.unwrap(), vec![]);
    assert_eq!(repo.get_runtime_config("node-a").await, Err(RepoError::NotFound));
    assert_eq!(
        repo.record_runtime_apply("node-a", &applied(true, None, T0), 0, None)
            .await,
        Err(RepoError::NotFound)
    );
    repo.upsert_runtime_config(&runtime_config("node-a", "v1"))
        .await
        .unwrap();
    // A name is matched whole: neither a prefix nor an extension of it.
    for unknown in ["node-", "node-a1", "NODE-A", ""] {
        assert_eq!(
            repo.get_runtime_config(unknown).await,
            Err(RepoError::NotFound),
            "{unknown:?}"
        );
    }
    assert_eq!(repo.delete_runtime_configs(&names(&["node-a1"])).await.unwrap(), 0);
    assert_eq!(repo.list_runtime_configs().await.unwrap().len(), 1);
}

pub async fn runtime_configs_list_sorted_by_node_name(repo: Arc<dyn Repository>) {
    // Inserted out of name order, so id order would differ.
    for node in ["worker-2", "control-plane", "worker-10", "worker-1"] {
        repo.upsert_runtime_config(&runtime_config(node, "v1")).await.unwrap();
    }
    let listed = repo.list_runtime_configs().await.unwrap();
    assert_eq!(
        node_names(&listed),
        ["control-plane", "worker-1", "worker-10", "worker-2"]
    );
    assert_eq!(listed[3], repo.get_runtime_config("worker-2").await.unwrap());
}

pub async fn runtime_configs_record_apply_sets_only_its_fields(repo: Arc<dyn Repository>) {
    let record = runtime_config("node-a", "v1");
    let other = runtime_config("node-b", "v1");
    repo.upsert_runtime_config(&record).await.unwrap();
    repo.upsert_runtime_config(&other).await.unwrap();

    let failed = applied(false, Some("re-apply stopped after 3 attempts"), T0 + 30_000);
    repo.record_runtime_apply("node-a", &failed, 3, Some("pod-uid-1".into()))
        .await
        .unwrap();
    let expected = NodeRuntimeConfig {
        last_apply_result: Some(failed),
        reapply_count: 3,
        reapply_pod: Some("pod-uid-1".into()),
        ..record.clone()
    };
    assert_eq!(repo.get_runtime_config("node-a").await.unwrap(), expected);
    assert_eq!(repo.get_runtime_config("node-b").await.unwrap(), other);

    // Back to a success without error and no pod.
    let ok = applied(true, None, T0 + 60_000);
    repo.record_runtime_apply("node-a", &ok, 0, None).await.unwrap();
    let expected = NodeRuntimeConfig {
        last_apply_result: Some(ok),
        ..record
    };
    assert_eq!(repo.get_runtime_config("node-a").await.unwrap(), expected);
}

pub async fn runtime_configs_delete_counts_and_skips_unknown(repo: Arc<dyn Repository>) {
    for node in ["node-a", "node-b", "node-c"] {
        repo.upsert_runtime_config(&runtime_config(node, "v1")).await.unwrap();
    }
    assert_eq!(repo.delete_runtime_configs(&[]).await.unwrap(), 0);
    let deleted = repo
        .delete_runtime_configs(&names(&["node-c", "unknown", "node-a"]))
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    assert_eq!(node_names(&repo.list_runtime_configs().await.unwrap()), ["node-b"]);
    assert_eq!(repo.get_runtime_config("node-a").await, Err(RepoError::NotFound));
    assert_eq!(repo.delete_runtime_configs(&names(&["node-a"])).await.unwrap(), 0);
    // A deleted node can be configured again, as a new record.
    let again = runtime_config("node-a", "v2");
    repo.upsert_runtime_config(&again).await.unwrap();
    assert_eq!(repo.get_runtime_config("node-a").await.unwrap(), again);
}

pub async fn concurrent_runtime_config_upserts_of_one_node_leave_one_record(repo: Arc<dyn Repository>) {
    let mut tasks = JoinSet::new();
    for i in 0..8 {
        let repo = Arc::clone(&repo);
        tasks.spawn(async move {
            let record = runtime_config("node-a", &format!("v{i}"));
            repo.upsert_runtime_config(&record).await.map(|()| record)
        });
    }
    let mut written: Vec<NodeRuntimeConfig> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        written.push(joined.unwrap().expect("every upsert succeeds"));
    }
    let listed = repo.list_runtime_configs().await.unwrap();
    assert_eq!(listed.len(), 1, "one record per node: {listed:?}");
    let stored = &listed[0];
    let ids: Vec<&ObjectId> = written.iter().map(|r| &r.id).collect();
    assert!(ids.contains(&&stored.id), "the id of one of the upserts");
    assert!(
        written.iter().any(|r| r.config == stored.config),
        "the config of one of the upserts"
    );
}
