//! `GET /api/v1/pods/pids` decodes as both the legacy and the current shape.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Options, POD_A, POD_B, spawn_app, two_pods};

#[tokio::test]
async fn both_shapes_with_pause_listed_and_pods_sorted() {
    let app = spawn_app(Options {
        snapshot: Some(two_pods()),
        ..Default::default()
    })
    .await;
    let (status, body) = app.call(Method::GET, "/api/v1/pods/pids", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["message"], "Pod-PID mappings retrieved successfully");
    assert_eq!(body["pods"], body["data"]["pods"]);
    assert_eq!(body["data"]["node_name"], "test-node");
    assert!(body["data"].get("node_id").is_none());
    let pods = body["pods"].as_array().unwrap();
    assert_eq!(pods[0]["pod_uid"], POD_A);
    assert_eq!(pods[1]["pod_uid"], POD_B);
    assert_eq!(pods[0]["pod_name"], "");
    assert_eq!(
        pods[0]["container_id"],
        "d0f631ca1ddba8db3bcfcb9e057cdc98d0379f1bee00e75a545147a27dadd982"
    );
    assert_eq!(
        pods[0]["processes"][0],
        json!({"pid": 100, "command": "pause", "ppid": 1, "container_id": ""})
    );
    assert_eq!(pods[1]["container_id"], "");
}

#[tokio::test]
async fn unbuilt_index_is_a_json_500() {
    let app = spawn_app(Options::default()).await;
    let (status, body) = app.call(Method::GET, "/api/v1/pods/pids", None).await;
    assert_eq!(
        (status, body),
        (
            500,
            json!({"success": false, "error": "Failed to retrieve pod information"})
        )
    );
}
