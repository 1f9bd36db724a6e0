//! What goes on the wire, and how replies are read, against a recording
//! mock DM.

use std::net::TcpListener;

use gthulhu_domain::manager::{DecisionMakerAdapter, DmClientError};
use gthulhu_domain::{DeleteIntents, Intent};

use crate::helpers::{client, endpoint, spawn_mock_dm};
use crate::real_dm::intents;

#[tokio::test]
async fn pushes_omit_zero_values_and_carry_bearer_and_json() {
    let dm = spawn_mock_dm().await;
    let client = client(None);
    client.push_intents(&dm.endpoint, &intents()).await.unwrap();
    client.push_intents(&dm.endpoint, &[Intent::default()]).await.unwrap();
    client.push_intents(&dm.endpoint, &[]).await.unwrap();

    let requests = dm.requests();
    let bodies: Vec<&str> = requests.iter().map(|r| r.body.as_str()).collect();
    assert_eq!(
        bodies,
        [
            r#"{"intents":[{"podName":"nginx","podID":"31e4e721-a5a0-421a-ae1d-b7971ae30d6e","nodeID":"test-node","k8sNamespace":"default","commandRegex":"nginx","priority":10,"executionTime":20000000,"podLabels":{"a.b":"2","app":"nginx"}},{"podID":"e52d4a2a-6e5f-44d9-a8b8-37ff3daa7413","nodeID":"test-node"}]}"#,
            r#"{"intents":[{}]}"#,
            r#"{"intents":[]}"#,
        ]
    );
    for r in &requests {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/api/v1/intents"));
        assert_eq!(r.authorization, "Bearer token-1");
        assert_eq!(r.content_type, "application/json");
    }
    assert_eq!(dm.tokens_issued(), 1);
}

#[tokio::test]
async fn delete_bodies_are_upstreams() {
    let dm = spawn_mock_dm().await;
    let client = client(None);
    let pod = DeleteIntents {
        pod_id: "uid-1".into(),
        ..Default::default()
    };
    client.delete_intents(&dm.endpoint, &pod).await.unwrap();
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

    let requests = dm.requests();
    let sent: Vec<(&str, &str, &str)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.body.as_str()))
        .collect();
    assert_eq!(
        sent,
        [
            ("DELETE", "/api/v1/intents", r#"{"podId":"uid-1"}"#),
            ("DELETE", "/api/v1/intents", r#"{"all":true}"#)
        ]
    );
}

#[tokio::test]
async fn merkle_replies() {
    let dm = spawn_mock_dm().await;
    let client = client(None);
    let root = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    dm.reply(
        200,
        &format!(r#"{{"success":true,"data":{{"rootHash":"{root}"}},"timestamp":"2026-03-10T08:00:00Z"}}"#),
    );
    assert_eq!(client.merkle_root(&dm.endpoint).await.unwrap(), root);
    let request = &dm.requests()[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/api/v1/intents/merkle")
    );
    assert_eq!(request.authorization, "Bearer token-1");

    dm.reply(500, r#"{"success":false,"error":"boom"}"#);
    let err = client.merkle_root(&dm.endpoint).await.unwrap_err();
    assert_eq!(err, DmClientError::Status(500));
    assert!(err.to_string().contains("non-OK status 500"), "{err}");

    for body in [
        r#"{"success":true,"data":null}"#,
        r#"{"success":true}"#,
        r#"{"success":true,"data":{"rootHash":""}}"#,
    ] {
        dm.reply(200, body);
        let err = client.merkle_root(&dm.endpoint).await.unwrap_err();
        assert_eq!(err, DmClientError::EmptyRoot, "{body}");
        assert!(err.to_string().contains("empty merkle root"));
    }

    dm.reply(200, "not json");
    assert!(matches!(
        client.merkle_root(&dm.endpoint).await,
        Err(DmClientError::InvalidResponse(_))
    ));
    assert_eq!(dm.tokens_issued(), 1);
}

#[tokio::test]
async fn pods_pids_returns_the_data_object() {
    let dm = spawn_mock_dm().await;
    let client = client(None);
    dm.reply(
        200,
        r#"{"success":true,"pods":[],"data":{"pods":[],"timestamp":"t","node_name":"n1"}}"#,
    );
    let data = client.pods_pids(&dm.endpoint).await.unwrap();
    assert_eq!(data, serde_json::json!({"pods":[],"timestamp":"t","node_name":"n1"}));
    assert_eq!(dm.requests()[0].path, "/api/v1/pods/pids");

    dm.reply(200, r#"{"success":true,"data":null}"#);
    assert!(matches!(
        client.pods_pids(&dm.endpoint).await,
        Err(DmClientError::InvalidResponse(_))
    ));
    dm.reply(500, r#"{"success":false,"error":"Failed to retrieve pod information"}"#);
    assert_eq!(
        client.pods_pids(&dm.endpoint).await.unwrap_err(),
        DmClientError::Status(500)
    );
}

#[tokio::test]
async fn a_401_renews_the_token_and_retries_once() {
    let dm = spawn_mock_dm().await;
    let client = client(None);
    dm.reply(401, r#"{"success":false,"error":"Invalid or expired token: x"}"#);
    client.push_intents(&dm.endpoint, &[]).await.unwrap();
    let auth: Vec<String> = dm.requests().into_iter().map(|r| r.authorization).collect();
    assert_eq!(auth, ["Bearer token-1", "Bearer token-2"]);

    // The renewed token is cached.
    client.push_intents(&dm.endpoint, &[]).await.unwrap();
    assert_eq!(dm.requests()[2].authorization, "Bearer token-2");

    // A second 401 is final: no further retry.
    dm.reply(401, "{}");
    dm.reply(401, "{}");
    let err = client.push_intents(&dm.endpoint, &[]).await.unwrap_err();
    assert_eq!(err, DmClientError::Status(401));
    assert_eq!(dm.requests().len(), 5);
    assert_eq!(dm.tokens_issued(), 3);
}

#[tokio::test]
async fn tokens_near_expiry_are_not_cached() {
    let dm = spawn_mock_dm().await;
    let client = client(None);
    // Within the 60 s margin: used for the call that asked, then renewed.
    dm.set_token_ttl(59);
    client.push_intents(&dm.endpoint, &[]).await.unwrap();
    client.push_intents(&dm.endpoint, &[]).await.unwrap();
    assert_eq!(dm.tokens_issued(), 2);
    dm.set_token_ttl(120);
    client.push_intents(&dm.endpoint, &[]).await.unwrap();
    client.push_intents(&dm.endpoint, &[]).await.unwrap();
    assert_eq!(dm.tokens_issued(), 3);
}

#[tokio::test]
async fn token_and_transport_failures() {
    let dm = spawn_mock_dm().await;
    dm.set_token_status(401);
    let err = client(None).merkle_root(&dm.endpoint).await.unwrap_err();
    assert_eq!(err, DmClientError::Token("status 401".into()));
    assert!(dm.requests().is_empty(), "no call without a token");

    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = client(None)
        .merkle_root(&endpoint("127.0.0.1", port))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DmClientError::Unreachable(detail) if detail.contains("onnect")),
        "{err}"
    );
}
