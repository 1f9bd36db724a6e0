//! Interoperability with our own DM server over plain HTTP.

use gthulhu_dm_client::{ClientSettings, DEFAULT_TIMEOUT, HttpDecisionMakerClient};
use gthulhu_domain::manager::{DecisionMakerAdapter, DmClientError};
use gthulhu_domain::merkle::{self, EMPTY_ROOT};
use gthulhu_domain::{DeleteIntents, Intent};

use crate::helpers::{POD_A, client, spawn_real_dm};

pub fn intents() -> Vec<Intent> {
    vec![
        Intent {
            pod_name: "nginx".into(),
            pod_id: POD_A.into(),
            node_id: "test-node".into(),
            k8s_namespace: "default".into(),
            command_regex: "nginx".into(),
            priority: 10,
            execution_time: 20_000_000,
            pod_labels: [
                ("app".to_string(), "nginx".to_string()),
                ("a.b".to_string(), "2".to_string()),
            ]
            .into(),
            ..Default::default()
        },
        // Zero values are omitted on the wire; the DM must hash them as zeros.
        Intent {
            pod_id: "e52d4a2a-6e5f-44d9-a8b8-37ff3daa7413".into(),
            node_id: "test-node".into(),
            ..Default::default()
        },
    ]
}

#[tokio::test]
async fn pushed_set_has_the_local_merkle_root_and_one_token_serves_every_call() {
    let dm = spawn_real_dm(None).await;
    let client = client(None);
    assert_eq!(client.merkle_root(&dm.endpoint).await.unwrap(), EMPTY_ROOT);

    let set = intents();
    client.push_intents(&dm.endpoint, &set).await.unwrap();
    assert_eq!(client.merkle_root(&dm.endpoint).await.unwrap(), merkle::root(&set));

    let pods = client.pods_pids(&dm.endpoint).await.unwrap();
    assert_eq!(pods["node_name"], "test-node");
    assert_eq!(pods["pods"][0]["pod_uid"], POD_A);
    assert_eq!(pods["pods"][0]["processes"][0]["pid"], 1234);

    assert_eq!(dm.token_requests().await, 1, "the cached token is reused");
    // Every request is dated, so the DM knows its skew (targeting.md 13.4).
    let health: serde_json::Value = reqwest::get(format!("http://{}:{}/health", dm.endpoint.host, dm.endpoint.port))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let clock = health["checks"]["clock"].as_str().unwrap();
    assert!(clock.starts_with("ok: skew "), "{clock}");
}

#[tokio::test]
async fn deletes_and_an_empty_push_clear_the_set() {
    let dm = spawn_real_dm(None).await;
    let client = client(None);
    let set = intents();

    client.push_intents(&dm.endpoint, &set).await.unwrap();
    let delete_one = DeleteIntents {
        pod_id: POD_A.into(),
        ..Default::default()
    };
    client.delete_intents(&dm.endpoint, &delete_one).await.unwrap();
    assert_eq!(client.merkle_root(&dm.endpoint).await.unwrap(), merkle::root(&set[1..]));
    client
        .delete_intents(
            &dm.endpoint,
            &DeleteIntents {
                all: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(client.merkle_root(&dm.endpoint).await.unwrap(), EMPTY_ROOT);

    client.push_intents(&dm.endpoint, &set).await.unwrap();
    client.push_intents(&dm.endpoint, &[]).await.unwrap();
    assert_eq!(client.merkle_root(&dm.endpoint).await.unwrap(), EMPTY_ROOT);

    // The DM validates what it receives: an empty delete is a 422.
    let err = client
        .delete_intents(&dm.endpoint, &DeleteIntents::default())
        .await
        .unwrap_err();
    assert_eq!(err, DmClientError::Status(422));
}

#[tokio::test]
async fn a_foreign_public_key_gets_no_token() {
    let dm = spawn_real_dm(None).await;
    let client = HttpDecisionMakerClient::new(ClientSettings {
        public_key_pem: gthulhu_test_support::keys::OTHER_PUB.into(),
        client_id: "manager-client".into(),
        mtls: None,
        timeout: DEFAULT_TIMEOUT,
    })
    .unwrap();
    let err = client.merkle_root(&dm.endpoint).await.unwrap_err();
    assert_eq!(err, DmClientError::Token("status 401".into()));
}
