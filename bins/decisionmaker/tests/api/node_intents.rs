//! Node intents over HTTP (targeting.md 7, 8, 10): the routes' semantics,
//! both roots, and resolution against the host task table of this
//! machine's real `/proc`, with threads of this test process renamed.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, spawn_app};

const EMPTY_ROOT: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const P1: &str = r#"{"policyID":"65f000000000000000000001","nodeID":"node-a","commandRegex":"^kworker","priority":10,"executionTime":20000000}"#;
// Zero values omitted, as upstream's Manager sends them; camelCase aliases.
const P2: &str = r#"{"policyId":"65f000000000000000000002","nodeId":"node-a","commandRegex":"EngineCore"}"#;

async fn roots(app: &TestApp, path: &str) -> (String, String) {
    let (status, body) = app.call(Method::GET, path, None).await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    (
        data["rootHash"].as_str().unwrap().to_string(),
        data["extendedRootHash"].as_str().unwrap().to_string(),
    )
}

async fn node_roots(app: &TestApp) -> (String, String) {
    roots(app, "/api/v1/node-intents/merkle").await
}

#[tokio::test]
async fn posts_replace_the_set_and_deletes_trim_it_with_both_roots() {
    let app = spawn_app(Options::default()).await;
    assert_eq!(node_roots(&app).await, (EMPTY_ROOT.into(), EMPTY_ROOT.into()), "N11");
    assert_eq!(roots(&app, "/api/v1/intents/merkle").await.1, EMPTY_ROOT);

    let body = format!(r#"{{"policies":[{P2},null,{P1},{P2}]}}"#);
    let (status, reply) = app.call(Method::POST, "/api/v1/node-intents", Some(&body)).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply, json!({"success": true, "timestamp": reply["timestamp"]}));
    // N10: duplicates kept, sorted by key.
    let (root, extended) = node_roots(&app).await;
    assert_eq!(root, "6df5a95b114b7e6802197d1e7cf4729178512a68a17f654b191531fd75847028");
    assert_ne!(extended, root);

    // DELETE /api/v1/intents never touches node intents.
    let (status, _) = app
        .call(Method::DELETE, "/api/v1/intents", Some(r#"{"all":true}"#))
        .await;
    assert_eq!(status, 200);
    assert_eq!(node_roots(&app).await.0, root);

    let (status, _) = app
        .call(
            Method::DELETE,
            "/api/v1/node-intents",
            Some(r#"{"policyID":"65f000000000000000000002"}"#),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        node_roots(&app).await.0,
        "1ee11bce694ca06432fb4ea6876855b83c38bebc29aab284d30b6fb2a67e720c",
        "N1: one leaf is the root"
    );

    // An expiry moves only the extended root (X1–X3 on the wire).
    let dated = P1.replace('}', r#","expiresAt":"2026-03-11T08:00:00Z"}"#);
    let body = format!(r#"{{"policies":[{dated},{P2}]}}"#);
    assert_eq!(app.call(Method::POST, "/api/v1/node-intents", Some(&body)).await.0, 200);
    assert_eq!(
        node_roots(&app).await,
        (
            "b821425bbf8742c7093d6363a6ce03942d2c4e92aaaa1edb7792dfe6346ad4be".into(),
            "9061b93deeccd0a7833ea2690e209afe583a6c394cdf18517066b9a9ab60614c".into()
        )
    );

    let (status, _) = app
        .call(Method::DELETE, "/api/v1/node-intents", Some(r#"{"all":true}"#))
        .await;
    assert_eq!(status, 200);
    assert_eq!(node_roots(&app).await, (EMPTY_ROOT.into(), EMPTY_ROOT.into()));
}

#[tokio::test]
async fn invalid_sets_are_rejected_with_the_state_unchanged() {
    let app = spawn_app(Options::default()).await;
    let body = format!(r#"{{"policies":[{P1}]}}"#);
    assert_eq!(app.call(Method::POST, "/api/v1/node-intents", Some(&body)).await.0, 200);
    let before = node_roots(&app).await;
    let bad_regex = format!(r#"{{"policies":[{P2},{{"policyID":"x","commandRegex":"("}}]}}"#);
    let bad_time = format!(r#"{{"policies":[{P2},{{"policyID":"x","expiresAt":"soon"}}]}}"#);
    for (body, status, error) in [
        (
            bad_regex.as_str(),
            422,
            "policies[1].commandRegex: invalid regular expression: ",
        ),
        (bad_time.as_str(), 422, "policies[1].expiresAt: invalid RFC 3339 time"),
        ("not json", 400, "Invalid request payload"),
        (r#"{"policies":[{"priority":"high"}]}"#, 400, "Invalid request payload"),
        (r#"{"policies":{}}"#, 400, "Invalid request payload"),
    ] {
        let (got, reply) = app.call(Method::POST, "/api/v1/node-intents", Some(body)).await;
        assert_eq!(got, status, "{body}: {reply}");
        assert!(reply["error"].as_str().unwrap().starts_with(error), "{body}: {reply}");
    }
    for (body, status, error) in [
        ("{}", 422, "policyId is required when 'all' is false"),
        (
            r#"{"all":false,"policyId":""}"#,
            422,
            "policyId is required when 'all' is false",
        ),
        ("[", 400, "Invalid request payload"),
    ] {
        let (got, reply) = app.call(Method::DELETE, "/api/v1/node-intents", Some(body)).await;
        assert_eq!((got, reply["error"].as_str().unwrap()), (status, error), "{body}");
    }
    assert_eq!(node_roots(&app).await, before);
    // Missing and null sets are empty sets.
    for body in ["{}", r#"{"policies":null}"#] {
        assert_eq!(app.call(Method::POST, "/api/v1/node-intents", Some(body)).await.0, 200);
        assert_eq!(node_roots(&app).await.0, EMPTY_ROOT);
    }
}

/// Threads of this test process, renamed through
/// `/proc/self/task/<tid>/comm`; they exit when the value is dropped.
struct NamedThreads {
    tids: Vec<u32>,
    stop: Vec<mpsc::Sender<()>>,
}

fn current_tid() -> u32 {
    // `/proc/thread-self` links to `<tgid>/task/<tid>`.
    let link = std::fs::read_link("/proc/thread-self").unwrap();
    link.file_name().unwrap().to_str().unwrap().parse().unwrap()
}

fn rename(tid: u32, comm: &str) {
    std::fs::write(format!("/proc/self/task/{tid}/comm"), comm).unwrap();
}

impl NamedThreads {
    fn spawn(names: &[String]) -> Self {
        let mut tids = Vec::new();
        let mut stop = Vec::new();
        for name in names {
            let (tid_tx, tid_rx) = mpsc::channel();
            let (stop_tx, stop_rx) = mpsc::channel::<()>();
            let name = name.clone();
            std::thread::spawn(move || {
                let tid = current_tid();
                rename(tid, &name);
                tid_tx.send(tid).unwrap();
                let _ = stop_rx.recv();
            });
            tids.push(tid_rx.recv().unwrap());
            stop.push(stop_tx);
        }
        Self { tids, stop }
    }
}

impl Drop for NamedThreads {
    fn drop(&mut self) {
        self.stop.clear();
    }
}

fn tag() -> String {
    format!("gt{:06x}", std::process::id() & 0xff_ffff)
}

/// Waits until the answer's entries with these pids are exactly `want`.
async fn served(app: &TestApp, candidates: &[u32], want: &[(u32, i64)]) -> Vec<(u32, i64)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let body: Value = app.scheduling().await;
        let got: Vec<(u32, i64)> = body["scheduling"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["pid"].as_u64().unwrap() as u32, e["priority"].as_i64().unwrap()))
            .filter(|(pid, _)| candidates.contains(pid))
            .collect();
        if got == want || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn node_intents_serve_exactly_the_matching_threads_of_the_host() {
    let tag = tag();
    let names: Vec<String> = (0..3).map(|i| format!("{tag}-w{i}")).collect();
    let threads = NamedThreads::spawn(&names);
    let app = spawn_app(Options {
        snapshot: Some(crate::helpers::two_pods()),
        ..Options::default()
    })
    .await;
    let (status, health) = app.call(Method::GET, "/health", None).await;
    assert_eq!(status, 200);
    assert_eq!(health["checks"]["host_processes"], "off", "no node intent, no walk");

    let body = json!({"policies": [
        {"policyID": "65f000000000000000000001", "nodeID": "test-node", "commandRegex": format!("^{tag}-w[01]$"), "priority": 3},
        {"policyID": "65f000000000000000000002", "nodeID": "test-node", "commandRegex": format!("^{tag}-w1$"), "priority": 7},
    ]});
    let (status, reply) = app
        .call(Method::POST, "/api/v1/node-intents", Some(&body.to_string()))
        .await;
    assert_eq!(status, 200, "{reply}");
    let t = &threads.tids;
    let mut want = vec![(t[0], 3), (t[1], 7)];
    want.sort_unstable();
    assert_eq!(served(&app, t, &want).await, want, "w1: the greater policyId wins");

    let (_, health) = app.call(Method::GET, "/health", None).await;
    let host = health["checks"]["host_processes"].as_str().unwrap();
    assert!(host.starts_with("periodic every 100 ms, host: "), "{host}");
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("gthulhu_dm_conflicts{kind=\"node_over_node\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("gthulhu_dm_node_intents 2"), "{metrics}");

    // A rename takes a thread out; one back in brings it back.
    rename(t[0], &format!("{tag}-zz"));
    rename(t[2], &format!("{tag}-w0"));
    let mut want = vec![(t[1], 7), (t[2], 3)];
    want.sort_unstable();
    assert_eq!(served(&app, t, &want).await, want);

    let (status, _) = app
        .call(Method::DELETE, "/api/v1/node-intents", Some(r#"{"all":true}"#))
        .await;
    assert_eq!(status, 200);
    assert_eq!(served(&app, t, &[]).await, vec![]);
    let (_, health) = app.call(Method::GET, "/health", None).await;
    assert_eq!(
        health["checks"]["host_processes"], "off",
        "released with the last node intent"
    );
    drop(threads);
}

#[tokio::test]
async fn the_managers_date_header_tells_the_clock_skew() {
    let app = spawn_app(Options::default()).await;
    let (_, health) = app.call(Method::GET, "/health", None).await;
    assert_eq!(
        health["checks"]["clock"],
        "unknown: no dated request from the manager yet"
    );
    let token = app.token().await;
    // The Manager's clock 30 s behind this DM's: boosts end early here.
    let date = httpdate::fmt_http_date(std::time::SystemTime::now() - Duration::from_secs(30));
    let r = app
        .client
        .get(app.url("/api/v1/node-intents/merkle"))
        .bearer_auth(token)
        .header("Date", date)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, health) = app.call(Method::GET, "/health", None).await;
    let clock = health["checks"]["clock"].as_str().unwrap();
    assert!(
        clock == "skewed: +30s against the manager (boosts end early on this node)"
            || clock == "skewed: +31s against the manager (boosts end early on this node)",
        "{clock}"
    );
    assert!(app.metrics_text().await.contains("gthulhu_dm_clock_skew_seconds 3"));
}

#[tokio::test]
async fn a_preview_reports_the_hypothetical_answer_and_installs_nothing() {
    let app = spawn_app(Options {
        snapshot: Some(crate::helpers::two_pods()),
        ..Options::default()
    })
    .await;
    let body = json!({
        "intents": [{"ref": "candidate", "candidate": true, "podName": "web-1", "podID": crate::helpers::POD_A,
                     "nodeID": "test-node", "k8sNamespace": "demo", "commandRegex": "^nginx$", "priority": 1}],
        "nodeIntents": [{"ref": "policy:65f000000000000000000001", "policyID": "65f000000000000000000001",
                         "nodeID": "test-node", "commandRegex": "^nothing-matches-this$", "priority": 5}],
        "maxTasks": 2
    });
    let (status, reply) = app
        .call(Method::POST, "/api/v1/intents/preview", Some(&body.to_string()))
        .await;
    assert_eq!(status, 200, "{reply}");
    let data = &reply["data"];
    assert_eq!(data["hostTable"], "oneOff");
    let c = &data["candidates"][0];
    assert_eq!(
        (c["ref"].as_str(), c["kind"].as_str(), c["podFound"].as_bool()),
        (Some("candidate"), Some("pod"), Some(true))
    );
    assert_eq!(
        (c["taskCount"].as_u64(), c["matchingTaskCount"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(c["truncated"], true);
    assert_eq!(c["tasks"][0]["pid"], 1234);
    assert_eq!(c["tasks"][0]["reason"], "onlyMatch");
    assert_eq!(
        data["conflicts"],
        json!({"podOverPod": 0, "podOverNode": 0, "nodeOverNode": 0, "overLegacy": 0})
    );
    assert!(
        app.scheduling().await["scheduling"].as_array().unwrap().is_empty(),
        "nothing installed"
    );
    assert_eq!(node_roots(&app).await.0, EMPTY_ROOT);

    for (body, status, error) in [
        (r#"{"maxTasks":-1}"#, 422, "maxTasks must be between 0 and 1000"),
        (
            r#"{"nodeIntents":[{"commandRegex":"("}]}"#,
            422,
            "nodeIntents[0].commandRegex: invalid regular expression: ",
        ),
        (
            r#"{"intents":[{"expiresAt":"never"}]}"#,
            422,
            "intents[0].expiresAt: invalid RFC 3339 time",
        ),
        (r#"{"intents":{}}"#, 400, "Invalid request payload"),
    ] {
        let (got, reply) = app.call(Method::POST, "/api/v1/intents/preview", Some(body)).await;
        assert_eq!(got, status, "{body}: {reply}");
        assert!(reply["error"].as_str().unwrap().starts_with(error), "{body}: {reply}");
    }
}
