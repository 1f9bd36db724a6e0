//! Standalone mode: the legacy BSS contract (legacy-bss.md 10.11).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, POD_A, spawn_app, two_pods};

fn standalone() -> Options {
    Options {
        standalone: true,
        snapshot: Some(two_pods()),
        ..Default::default()
    }
}

#[tokio::test]
async fn boolean_and_integer_priorities_become_integers() {
    let app = spawn_app(standalone()).await;
    let templates = r#"{"strategies":[
        {"priority":true,"execution_time":20000000,"pid":11},
        {"priority":false,"execution_time":10000000,"pid":12},
        {"priority":3,"pid":13},
        {"priority":true},
        {"priority":true,"selectors":[{"key":"nf","value":"upf"}]}]}"#;
    let (status, body) = app
        .call(Method::POST, "/api/v1/scheduling/strategies", Some(templates))
        .await;
    assert_eq!(
        (status, body["message"].as_str().unwrap()),
        (200, "Scheduling strategies saved successfully")
    );
    assert_eq!(
        app.scheduling().await["scheduling"],
        json!([
            {"priority": 1, "execution_time": 20000000, "pid": 11},
            {"priority": 20, "execution_time": 10000000, "pid": 12},
            {"priority": 3, "execution_time": 0, "pid": 13},
        ]),
        "pid templates pass through; no selectors and no pid, or no label source, produce nothing"
    );
}

#[tokio::test]
async fn an_intent_replaces_a_template_on_its_process_and_templates_never_touch_the_merkle_root() {
    let app = spawn_app(standalone()).await;
    let root = app.merkle_root().await;
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/scheduling/strategies",
            Some(r#"{"strategies":[{"priority":5,"pid":1234}]}"#),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.merkle_root().await, root);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/intents",
            Some(&format!(
                r#"{{"intents":[{{"podID":"{POD_A}","commandRegex":"nginx","priority":7}}]}}"#
            )),
        )
        .await;
    assert_eq!(status, 200);
    // One entry per task (targeting.md 10.2): the Manager intent beats the
    // legacy template on the same process.
    let entries = app.scheduling().await["scheduling"].clone();
    assert_eq!(
        entries,
        json!([{"priority": 7, "execution_time": 0, "pid": 1234, "command_regex": "nginx"}])
    );
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("gthulhu_dm_conflicts{kind=\"over_legacy\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn invalid_templates_are_rejected_and_leave_the_stored_ones() {
    let app = spawn_app(standalone()).await;
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/scheduling/strategies",
            Some(r#"{"strategies":[{"priority":1,"pid":9}]}"#),
        )
        .await;
    assert_eq!(status, 200);
    for (body, status, prefix) in [
        (
            r#"{"strategies":[{"priority":1,"command_regex":"("}]}"#,
            422,
            "strategies[0].command_regex: invalid regular expression: ",
        ),
        (
            r#"{"strategies":[{"pid":1},{"pid":-4}]}"#,
            422,
            "strategies[1].pid must be a positive integer",
        ),
        (
            r#"{"strategies":[{"selectors":[{"key":"","value":"x"}]}]}"#,
            422,
            "strategies[0].selectors[0].key is required",
        ),
        (
            r#"{"strategies":[{"priority":"high"}]}"#,
            400,
            "Invalid request payload: ",
        ),
        ("not json", 400, "Invalid request payload: "),
    ] {
        let (s, b) = app
            .call(Method::POST, "/api/v1/scheduling/strategies", Some(body))
            .await;
        assert_eq!(s, status, "{body}: {b}");
        assert!(b["error"].as_str().unwrap().starts_with(prefix), "{body}: {b}");
    }
    assert_eq!(
        app.scheduling().await["scheduling"],
        json!([{"priority": 1, "execution_time": 0, "pid": 9}])
    );
    let (status, _) = app
        .call(Method::POST, "/api/v1/scheduling/strategies", Some("{}"))
        .await;
    assert_eq!(status, 200, "an empty template list is accepted");
    assert_eq!(app.scheduling().await["scheduling"], json!([]));
}

#[tokio::test]
async fn metrics_read_back_cors_preflight_and_root() {
    let app = spawn_app(standalone()).await;
    let (status, body) = app.call(Method::GET, "/api/v1/metrics", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], false);
    assert_eq!(body["message"], "No metrics data available yet");
    assert_eq!(body["error"], "No metrics data available yet");
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/metrics",
            Some(r#"{"nr_queued":10,"nr_running":2}"#),
        )
        .await;
    assert_eq!(status, 200);
    let (_, body) = app.call(Method::GET, "/api/v1/metrics", None).await;
    assert_eq!(body["message"], "Metrics retrieved successfully");
    assert_eq!(body["data"]["nr_queued"], 10);
    assert_eq!(body["data"]["nr_sched_congested"], 0);
    assert!(body["metrics_timestamp"].as_str().unwrap().ends_with('Z'));

    let r = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/scheduling/strategies"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(r.headers()["access-control-allow-methods"], "POST, GET, OPTIONS");
    assert_eq!(
        r.headers()["access-control-allow-headers"],
        "Content-Type, Authorization, X-Request-ID"
    );
    let r = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let root: Value = r.json().await.unwrap();
    assert_eq!(root["message"], "BSS Metrics API Server");
    assert!(
        root["endpoints"]
            .as_str()
            .unwrap()
            .contains("/api/v1/metrics (GET, POST)")
    );
}
