//! The hostile intent bodies of the issue 9 report, over HTTP: 3,000
//! intents sharing one Unicode-heavy pattern are stored (compiled once) and
//! the DM keeps answering its other clients while the body is applied;
//! 3,000 distinct patterns are refused with the limit named. Memory and
//! latency under these bodies are measured by `cargo xtask bench dm-hostile`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, POD_A, spawn_app, two_pods};

fn body(pattern: impl Fn(usize) -> String) -> String {
    let intents: Vec<Value> = (0..3000)
        .map(|i| {
            json!({"podName": format!("p{i}"), "podID": POD_A, "nodeID": "n", "commandRegex": pattern(i),
                   "priority": 1, "executionTime": 1000})
        })
        .collect();
    json!({ "intents": intents }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shared_pattern_is_stored_and_the_dm_keeps_answering() {
    let app = spawn_app(Options {
        snapshot: Some(two_pods()),
        ..Default::default()
    })
    .await;
    let shared = body(|_| r"\w{20}N".into());
    let posts = {
        let token = app.token().await;
        let (client, url) = (app.client.clone(), app.url("/api/v1/intents"));
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..5 {
                let r = client
                    .post(&url)
                    .bearer_auth(&token)
                    .body(shared.clone())
                    .send()
                    .await
                    .unwrap();
                statuses.push(r.status().as_u16());
            }
            statuses
        })
    };
    // Other clients are served meanwhile (the set is applied off the worker).
    while !posts.is_finished() {
        let r = app.client.get(app.url("/health")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(posts.await.unwrap(), vec![200; 5]);
    let (status, body) = app.call(Method::GET, "/api/v1/intents/merkle", None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn distinct_patterns_past_the_limit_are_refused_by_name() {
    let app = spawn_app(Options::default()).await;
    let before = app.merkle_root().await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/intents",
            Some(&body(|i| format!(r"\w{{20}}N{i}"))),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("intents: at most 256 distinct commandRegex values per node"))
    );
    assert_eq!(app.merkle_root().await, before, "a refused set changes nothing");
}
