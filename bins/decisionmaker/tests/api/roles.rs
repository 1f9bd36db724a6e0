//! Token roles (issue 9): a token from the public key alone is the
//! scheduler's and cannot touch intents; the Manager's `client_id` can.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{Options, spawn_app};

#[tokio::test]
async fn a_scheduler_token_reads_strategies_and_posts_metrics_but_cannot_touch_intents() {
    let app = spawn_app(Options {
        snapshot: Some(crate::helpers::two_pods()),
        ..Options::default()
    })
    .await;
    let scheduler = app.scheduler_token().await;
    let send = |method: Method, path: &str, body: Option<&'static str>| {
        let mut request = app.client.request(method, app.url(path)).bearer_auth(&scheduler);
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body);
        }
        request.send()
    };
    for (method, path, body) in [
        (Method::POST, "/api/v1/intents", Some(r#"{"intents":[]}"#)),
        (Method::DELETE, "/api/v1/intents", Some(r#"{"all":true}"#)),
        (Method::GET, "/api/v1/intents/merkle", None),
        (Method::POST, "/api/v1/node-intents", Some(r#"{"policies":[]}"#)),
        (Method::DELETE, "/api/v1/node-intents", Some(r#"{"all":true}"#)),
        (Method::GET, "/api/v1/node-intents/merkle", None),
        (Method::POST, "/api/v1/intents/preview", Some("{}")),
    ] {
        let r = send(method.clone(), path, body).await.unwrap();
        assert_eq!(r.status(), 403, "{method} {path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["success"], false);
        assert!(body["error"].as_str().unwrap().contains("scheduler role"), "{body}");
    }
    let r = send(Method::GET, "/api/v1/scheduling/strategies", None).await.unwrap();
    assert_eq!(r.status(), 200);
    let r = send(
        Method::POST,
        "/api/v1/metrics",
        Some(r#"{"usersched_last_run_at":1,"nr_queued":0,"nr_scheduled":0,"nr_running":0,"nr_online_cpus":2,"nr_user_dispatches":0,"nr_kernel_dispatches":0,"nr_cancel_dispatches":0,"nr_bounce_dispatches":0,"nr_failed_dispatches":0,"nr_sched_congested":0}"#),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);

    // The Manager's client_id (upstream's default) writes intents.
    let (status, _) = app
        .call(Method::POST, "/api/v1/intents", Some(r#"{"intents":[]}"#))
        .await;
    assert_eq!(status, 200);
}
