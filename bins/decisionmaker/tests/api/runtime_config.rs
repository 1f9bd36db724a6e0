//! `POST/GET /api/v1/runtime-config` against the fake scheduler daemon
//! (sessions-and-runtime.md 17, 21 items 13–14).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, spawn_app};

async fn post(app: &TestApp, body: Value) -> (u16, Value) {
    app.call(Method::POST, "/api/v1/runtime-config", Some(&body.to_string()))
        .await
}

fn gthulhu(version: &str) -> Value {
    json!({"configVersion": version, "mode": "gthulhu", "kernelMode": false, "sliceNsDefault": 20000000})
}

#[tokio::test]
async fn apply_sends_every_boolean_and_repeats_are_noops() {
    let app = spawn_app(Options::default()).await;
    let (s, b) = post(&app, gthulhu("v1")).await;
    assert_eq!((s, &b["data"]), (200, &json!({"noop": false})), "{b}");
    let sent = app.daemon.posts()[0].json.clone().unwrap();
    for key in [
        "kernelMode",
        "maxTimeWatchdog",
        "earlyProcessing",
        "builtinIdle",
        "monitoringEnabled",
    ] {
        assert_eq!(sent[key], false, "{key} sent explicitly: {sent}");
    }
    assert_eq!(sent["schedulerEnabled"], true, "derived from the mode");
    assert_eq!(
        (sent["mode"].as_str(), sent["schedulerName"].as_str()),
        (Some("gthulhu"), Some(""))
    );
    assert!(!app.daemon.config().kernel_mode);

    let (s, b) = post(&app, gthulhu("v1")).await;
    assert_eq!((s, &b["data"]), (200, &json!({"noop": true})), "{b}");
    let mut other = gthulhu("v1");
    other["kernelMode"] = json!(true);
    let (s, b) = post(&app, other).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (
            409,
            Some("configVersion \"v1\" is already applied with different content")
        )
    );
}

#[tokio::test]
async fn invalid_configs_are_refused_before_the_daemon() {
    let app = spawn_app(Options::default()).await;
    for (body, error) in [
        (
            json!({"configVersion": "v1", "mode": "fifo"}),
            "mode must be one of none, gthulhu, simple, scx",
        ),
        (
            json!({"configVersion": "v1", "mode": "scx", "schedulerName": "scx_foo"}),
            "schedulerName: unknown scx scheduler \"scx_foo\"",
        ),
        (json!({"mode": "simple"}), "configVersion is required"),
    ] {
        let (s, b) = post(&app, body).await;
        assert_eq!((s, b["error"].as_str()), (422, Some(error)));
    }
    for body in [
        json!({"configVersion": "v1", "kernelMode": "no"}),
        json!({"configVersion": null}),
    ] {
        let (s, b) = post(&app, body).await;
        assert_eq!((s, b["error"].as_str()), (400, Some("Invalid request payload")));
    }
    assert!(app.daemon.requests().is_empty(), "nothing reached the daemon");
}

#[tokio::test]
async fn daemon_refusals_and_outages() {
    let app = spawn_app(Options::default()).await;
    app.daemon.fail_next_post(500, "scx_lavd binary not found");
    let (s, b) = post(&app, gthulhu("v1")).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (
            422,
            Some("scheduler daemon rejected the config: scx_lavd binary not found")
        )
    );
    app.daemon.stop().await;
    let (s, b) = post(&app, gthulhu("v2")).await;
    assert_eq!((s, b["error"].as_str()), (503, Some("scheduler daemon unavailable")));
    let (s, b) = app.call(Method::GET, "/api/v1/runtime-config", None).await;
    assert_eq!((s, b["error"].as_str()), (503, Some("scheduler daemon unavailable")));
}

#[tokio::test]
async fn status_mirrors_the_daemon_with_explicit_booleans() {
    let app = spawn_app(Options::default()).await;
    let (s, b) = app.call(Method::GET, "/api/v1/runtime-config", None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (b["data"]["configVersion"].as_str(), b["data"]["applied"].as_bool()),
        (Some("bootstrap"), Some(false))
    );
    post(&app, gthulhu("v1")).await;
    let (_, b) = app.call(Method::GET, "/api/v1/runtime-config", None).await;
    let data = &b["data"];
    assert_eq!(
        (data["configVersion"].as_str(), data["applied"].as_bool()),
        (Some("v1"), Some(true))
    );
    assert_eq!(
        (data["kernelMode"].as_bool(), data["builtinIdle"].as_bool()),
        (Some(false), Some(false))
    );
    assert_eq!(data["restartCount"], 0);
    assert!(data["appliedAt"].as_str().is_some_and(|t| !t.is_empty()));
}

#[tokio::test]
async fn only_the_managers_role_may_apply() {
    let app = spawn_app(Options::default()).await;
    let token = app.scheduler_token().await;
    let r = app
        .client
        .post(app.url("/api/v1/runtime-config"))
        .bearer_auth(&token)
        .body(gthulhu("v1").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .get(app.url("/api/v1/runtime-config"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the scheduler's role may read it");
    assert!(app.daemon.posts().is_empty());
}
