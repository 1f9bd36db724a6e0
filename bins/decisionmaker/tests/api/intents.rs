//! Intents, the Merkle root and resolution over HTTP (decision-maker.md 5, 7, 8, 15.5, 15.7).

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Options, POD_A, POD_B, spawn_app, two_pods};

const A: &str = r#"{"podName":"pod-a","podID":"pod-id-a","nodeID":"node-a","k8sNamespace":"default","commandRegex":"nginx","priority":1,"executionTime":100,"podLabels":{"z":"2","a":"1"}}"#;
const B: &str = r#"{"podName":"pod-b","podId":"pod-id-b","nodeId":"node-b","k8sNamespace":"kube-system","commandRegex":"busybox","executionTime":200,"podLabels":{"k2":"v2"}}"#;
const EMPTY_ROOT: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[tokio::test]
async fn merkle_roots_follow_posts_and_real_deletes() {
    let app = spawn_app(Options::default()).await;
    assert_eq!(app.merkle_root().await, EMPTY_ROOT);
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/intents",
            Some(&format!(r#"{{"intents":[{B},null,{A}]}}"#)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "timestamp": body["timestamp"]}),
        "no data key"
    );
    assert_eq!(
        app.merkle_root().await,
        "13b24eaff38439195da4f830abc27f5154e548f7ffd3572ce66a2c0d76970b1a"
    );

    let (status, _) = app
        .call(Method::DELETE, "/api/v1/intents", Some(r#"{"podId":"pod-id-b"}"#))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.merkle_root().await,
        "6a04252b7164b8fdb6bf7574e5caf9e3d223d2a1af5f7ff09e59f55e1e2dd430"
    );

    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/intents",
            Some(r#"{"intents":[{"podID":"x","commandRegex":"("}]}"#),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("intents[0].commandRegex: invalid regular expression: "),
        "{body}"
    );
    assert_eq!(
        app.merkle_root().await,
        "6a04252b7164b8fdb6bf7574e5caf9e3d223d2a1af5f7ff09e59f55e1e2dd430",
        "state unchanged"
    );

    let (status, _) = app
        .call(
            Method::DELETE,
            "/api/v1/intents",
            Some(r#"{"all":true,"podId":"ignored"}"#),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.merkle_root().await, EMPTY_ROOT);
}

#[tokio::test]
async fn delete_validation_and_payload_errors() {
    let app = spawn_app(Options::default()).await;
    for (body, status, error) in [
        ("{}", 422, "podId is required when 'all' is false"),
        (r#"{"pid":5}"#, 422, "podId is required when 'all' is false"),
        (r#"{"podId":"p","pid":-1}"#, 422, "pid must be a positive integer"),
        ("", 400, "Invalid request payload"),
        ("nope", 400, "Invalid request payload"),
        (r#"{"all":"yes"}"#, 400, "Invalid request payload"),
        (r#"{"podId":null,"pid":5}"#, 400, "Invalid request payload"),
    ] {
        let (s, b) = app.call(Method::DELETE, "/api/v1/intents", Some(body)).await;
        assert_eq!((s, b["error"].as_str().unwrap()), (status, error), "{body}");
    }
    for body in [
        "",
        "[]",
        r#"{"intents":{}}"#,
        r#"{"intents":[{"priority":"high"}]}"#,
        r#"{"intents":[{"priority":1.5}]}"#,
        r#"{"intents":[{"priority":null}]}"#,
        r#"{"intents":[{"commandRegex":null}]}"#,
    ] {
        let (s, b) = app.call(Method::POST, "/api/v1/intents", Some(body)).await;
        assert_eq!(
            (s, b["error"].as_str().unwrap()),
            (400, "Invalid request payload"),
            "{body}"
        );
    }
    let (s, _) = app
        .call(Method::POST, "/api/v1/intents", Some(r#"{"intents":null}"#))
        .await;
    assert_eq!(s, 200, "null intents mean none");
}

#[tokio::test]
async fn scheduling_entries_have_the_scheduler_shape() {
    let app = spawn_app(Options {
        snapshot: Some(two_pods()),
        ..Default::default()
    })
    .await;
    let intents = json!({"intents": [
        {"podName":"b","podID":POD_B,"nodeID":"n","priority":3,"executionTime":-5},
        {"podName":"a","podID":POD_A,"nodeID":"n","commandRegex":"gin","priority":1,"executionTime":20000000,"podLabels":{"nf":"upf","app":"busybox"}},
    ]});
    let (status, _) = app
        .call(Method::POST, "/api/v1/intents", Some(&intents.to_string()))
        .await;
    assert_eq!(status, 200);
    let body = app.scheduling().await;
    assert_eq!(body["message"], "Scheduling intents retrieved successfully");
    assert_eq!(
        body["scheduling"],
        json!([
            {"priority": 1, "execution_time": 20000000, "pid": 1234,
             "selectors": [{"key": "app", "value": "busybox"}, {"key": "nf", "value": "upf"}],
             "command_regex": "gin"},
            {"priority": 3, "execution_time": 0, "pid": 2001},
        ]),
        "sorted by pid, pause skipped, regex unanchored on comm, negative time as 0, selectors sorted"
    );
    let (status, _) = app
        .call(
            Method::DELETE,
            "/api/v1/intents",
            Some(&format!(r#"{{"podID":"{POD_B}","pid":2001}}"#)),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.scheduling().await["scheduling"].as_array().unwrap().len(),
        1,
        "pid exclusion"
    );
}

#[tokio::test]
async fn index_changes_reach_the_poll_without_a_scan_in_the_request() {
    let app = spawn_app(Options::default()).await;
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/intents",
            Some(&format!(r#"{{"intents":[{{"podID":"{POD_A}"}}]}}"#)),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app.call(Method::GET, "/api/v1/scheduling/strategies", None).await;
    assert_eq!(
        (status, body),
        (
            500,
            json!({"success": false, "error": "Failed to list scheduling intents"})
        )
    );
    app.set_snapshot(two_pods()).await;
    let pids: Vec<u64> = app.scheduling().await["scheduling"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids, vec![1234, 1235]);
}

#[tokio::test]
async fn a_sixteen_mib_intent_set_is_accepted() {
    let app = spawn_app(Options::default()).await;
    // Under the per-node intent limit (issue 9): large intents, not many.
    let one = format!(
        r#"{{"podName":"{}","podID":"00000000-0000-0000-0000-000000000000","nodeID":"node","k8sNamespace":"ns","podLabels":{{"app":"x"}}}}"#,
        "p".repeat(300)
    );
    let one = one.as_str();
    let n = (15 << 20) / one.len();
    let body = format!(r#"{{"intents":[{}]}}"#, vec![one; n].join(","));
    assert!(body.len() > 14 << 20);
    let (status, _) = app.call(Method::POST, "/api/v1/intents", Some(&body)).await;
    assert_eq!(status, 200);
}

/// Issue 9: the 16 MiB cap admitted ~400,000 intents in one set.
#[tokio::test]
async fn an_intent_set_over_the_per_node_limit_is_refused() {
    let app = spawn_app(Options::default()).await;
    let one = r#"{"podName":"p","podID":"00000000-0000-0000-0000-000000000000","nodeID":"node"}"#;
    let limit = gthulhu_domain::comm_regex::MAX_INTENTS_PER_SET;
    let body = format!(r#"{{"intents":[{}]}}"#, vec![one; limit + 1].join(","));
    let (status, reply) = app.call(Method::POST, "/api/v1/intents", Some(&body)).await;
    assert_eq!(status, 422);
    assert_eq!(
        reply["error"],
        format!("intents: at most {limit} intents per node (got {})", limit + 1)
    );
}
