//! The polled replies in both encodings: gzip when accepted, the same
//! bytes once decoded, and new bodies after a change.

use std::io::Read;

use flate2::read::GzDecoder;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, VARY};
use serde_json::Value;

use crate::helpers::*;

/// Status, `Content-Encoding`, `Vary` and the body as received.
async fn get(app: &TestApp, path: &str, accept: Option<&str>) -> (u16, Option<String>, Option<String>, Vec<u8>) {
    let token = app.token().await;
    let mut req = app.client.get(app.url(path)).bearer_auth(token);
    if let Some(accept) = accept {
        req = req.header(ACCEPT_ENCODING, accept);
    }
    let r = req.send().await.unwrap();
    let header = |name| r.headers().get(name).map(|v| v.to_str().unwrap().to_string());
    let (status, encoding, vary) = (r.status().as_u16(), header(CONTENT_ENCODING), header(VARY));
    (status, encoding, vary, r.bytes().await.unwrap().to_vec())
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// Both encodings of `path`: the identity body, checked to equal the
/// decoded gzip one.
async fn both(app: &TestApp, path: &str) -> Value {
    let (status, encoding, vary, identity) = get(app, path, None).await;
    assert_eq!(
        (status, encoding, vary.as_deref()),
        (200, None, Some("accept-encoding"))
    );
    let (status, encoding, vary, gzip) = get(app, path, Some("gzip")).await;
    assert_eq!(
        (status, encoding.as_deref(), vary.as_deref()),
        (200, Some("gzip"), Some("accept-encoding"))
    );
    assert_ne!(gzip, identity, "{path}: the gzip reply is compressed");
    assert_eq!(gunzip(&gzip), identity, "{path}: gzip decodes to the identity body");
    assert_eq!(identity.last(), Some(&b'\n'));
    serde_json::from_slice(&identity).unwrap()
}

fn pids(body: &Value) -> Vec<u64> {
    body["scheduling"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pid"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn polled_replies_in_both_encodings_follow_every_change() {
    let app = spawn_app(Options {
        snapshot: Some(two_pods()),
        ..Default::default()
    })
    .await;
    assert!(pids(&both(&app, "/api/v1/scheduling/strategies").await).is_empty());
    let empty_root = both(&app, "/api/v1/intents/merkle").await;

    let intents = format!(r#"{{"intents":[{{"podID":"{POD_A}","commandRegex":"nginx","priority":1}}]}}"#);
    let (status, _) = app.call(reqwest::Method::POST, "/api/v1/intents", Some(&intents)).await;
    assert_eq!(status, 200);
    assert_eq!(pids(&both(&app, "/api/v1/scheduling/strategies").await), [1234]);
    let root = both(&app, "/api/v1/intents/merkle").await;
    assert_ne!(root["data"]["rootHash"], empty_root["data"]["rootHash"]);
    assert_eq!(root["data"]["rootHash"].as_str().unwrap(), app.merkle_root().await);

    // An index change alone rebuilds the poll's bodies.
    let mut snapshot = two_pods();
    snapshot.pods[0].processes.push(process(1236, "nginx", ""));
    app.set_snapshot(snapshot).await;
    assert_eq!(pids(&both(&app, "/api/v1/scheduling/strategies").await), [1234, 1236]);
}

#[tokio::test]
async fn gzip_refused_or_unknown_codings_get_identity() {
    let app = spawn_app(Options {
        snapshot: Some(two_pods()),
        ..Default::default()
    })
    .await;
    for accept in ["gzip;q=0", "br, deflate", "identity"] {
        let (status, encoding, _, body) = get(&app, "/api/v1/scheduling/strategies", Some(accept)).await;
        assert_eq!((status, encoding), (200, None), "{accept}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["success"], true);
    }
}
