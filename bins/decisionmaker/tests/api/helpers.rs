use gthulhu_fake_scheduler_daemon::{FakeDaemon, Options as DaemonOptions};
use std::sync::Arc;
use std::time::SystemTime;

use gthulhu_domain::{PodProcesses, ProcessInfo, ProcessSnapshot, ScanMode};
use gthulhu_test_support::apps::dm::{FixedIndex, over_index, spawn_dm, test_config};
use serde_json::Value;

pub const PRIVATE_KEY: &str = gthulhu_test_support::keys::DM_KEY_PKCS1;
pub const PUBLIC_KEY: &str = gthulhu_test_support::keys::DM_PUB;
pub const PUBLIC_KEY_PKCS1: &str = gthulhu_test_support::keys::DM_PUB_PKCS1;
pub const OTHER_PRIVATE_KEY: &str = gthulhu_test_support::keys::OTHER_KEY;
pub const OTHER_PUBLIC_KEY: &str = gthulhu_test_support::keys::OTHER_PUB;
pub const TTL_HOURS: i64 = gthulhu_test_support::apps::dm::TOKEN_TTL_HOURS;

pub const POD_A: &str = "31e4e721-a5a0-421a-ae1d-b7971ae30d6e";
pub const POD_B: &str = "e52d4a2a-6e5f-44d9-a8b8-37ff3daa7413";

/// The DM's serving certificate, key and client CA (`mtls.*`).
pub struct MtlsPems {
    pub cert: &'static str,
    pub key: &'static str,
    pub ca: &'static str,
}

#[derive(Default)]
pub struct Options {
    pub standalone: bool,
    pub max_body_bytes: Option<usize>,
    /// `None` keeps the index unbuilt (as before the first refresh).
    pub snapshot: Option<ProcessSnapshot>,
    pub tls: Option<MtlsPems>,
    pub timeouts: Option<gthulhu_rest::Timeouts>,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    index: Arc<FixedIndex>,
    /// The scheduler daemon behind `/api/v1/runtime-config`.
    pub daemon: FakeDaemon,
}

pub fn process(pid: u32, comm: &str, container: &str) -> ProcessInfo {
    ProcessInfo {
        pid,
        ppid: 1,
        comm: comm.into(),
        container_id: container.into(),
        ..Default::default()
    }
}

/// Pod A: pause, nginx, worker; pod B: pause, java.
pub fn two_pods() -> ProcessSnapshot {
    let cid = "d0f631ca1ddba8db3bcfcb9e057cdc98d0379f1bee00e75a545147a27dadd982";
    ProcessSnapshot {
        pods: vec![
            PodProcesses {
                pod_uid: POD_A.into(),
                processes: vec![
                    process(100, "pause", ""),
                    process(1234, "nginx", cid),
                    process(1235, "worker", cid),
                ],
            },
            PodProcesses {
                pod_uid: POD_B.into(),
                processes: vec![process(200, "pause", ""), process(2001, "java", "")],
            },
        ],
        scanned_at: SystemTime::now(),
        generation: 1,
        mode: ScanMode::Cgroups,
    }
}

/// The real app (its composition root) over a mocked process index whose
/// snapshot the test sets, with a fake scheduler daemon.
pub async fn spawn_app(options: Options) -> TestApp {
    let index = FixedIndex::new(options.snapshot);
    let daemon = FakeDaemon::start(DaemonOptions::default()).await.unwrap();
    let mut config = test_config(&daemon.url());
    config.standalone.enable = options.standalone;
    if let Some(max) = options.max_body_bytes {
        config.server.max_body_bytes = max;
    }
    if let Some(t) = options.timeouts {
        config.server.client_request_timeout_ms = t.client_request.as_millis() as u64;
        config.server.client_disconnect_timeout_ms = t.client_disconnect.as_millis() as u64;
        config.server.keep_alive_s = t.keep_alive.as_secs();
    }
    let tls = options.tls.is_some();
    if let Some(pems) = options.tls {
        config.mtls.enable = true;
        config.mtls.cert_pem = pems.cert.into();
        config.mtls.key_pem = pems.key.into();
        config.mtls.ca_pem = pems.ca.into();
    }
    let port = spawn_dm(config, over_index(index.clone())).await.port();
    let base = if tls {
        format!("https://localhost:{port}")
    } else {
        format!("http://127.0.0.1:{port}")
    };
    TestApp {
        base,
        client: reqwest::Client::new(),
        index,
        daemon,
    }
}

impl TestApp {
    /// The loopback address (plain HTTP apps only).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.base
            .trim_start_matches("http://")
            .parse()
            .expect("a plain HTTP app")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Swaps the index content, as a background refresh would.
    pub async fn set_snapshot(&self, snapshot: ProcessSnapshot) {
        self.index.set(snapshot);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    /// A token with the Manager's role (upstream's default `client_id`).
    pub async fn token(&self) -> String {
        self.token_for(serde_json::json!({"public_key": PUBLIC_KEY, "client_id": "manager-client"}))
            .await
    }

    /// A token as the scheduler asks for it: the public key alone.
    pub async fn scheduler_token(&self) -> String {
        self.token_for(serde_json::json!({"public_key": PUBLIC_KEY})).await
    }

    async fn token_for(&self, request: Value) -> String {
        let r = self
            .client
            .post(self.url("/api/v1/auth/token"))
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        body["data"]["token"].as_str().unwrap().to_string()
    }

    /// Sends `body` (raw text) with a Bearer token; returns status and JSON.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<&str>) -> (u16, Value) {
        let token = self.token().await;
        let mut req = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            req = req.header("Content-Type", "application/json").body(body.to_string());
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn merkle_root(&self) -> String {
        let (status, body) = self.call(reqwest::Method::GET, "/api/v1/intents/merkle", None).await;
        assert_eq!(status, 200);
        body["data"]["rootHash"].as_str().unwrap().to_string()
    }

    /// The Prometheus exposition of `/metrics`.
    pub async fn metrics_text(&self) -> String {
        let r = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }

    pub async fn scheduling(&self) -> Value {
        let (status, body) = self
            .call(reqwest::Method::GET, "/api/v1/scheduling/strategies", None)
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}
