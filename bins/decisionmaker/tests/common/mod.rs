//! Starts the real `gthulhu-decisionmaker` binary for end-to-end tests.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const PRIVATE_KEY: &str = gthulhu_test_support::keys::DM_KEY_PKCS1;
pub const PUBLIC_KEY: &str = gthulhu_test_support::keys::DM_PUB;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Dm {
    pub child: Child,
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Drop for Dm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dm {
    /// Starts the binary on a free loopback port with the test key and
    /// `extra` environment, and waits until it answers and issues a token.
    pub async fn start(extra: &[(&str, &str)]) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_gthulhu-decisionmaker"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DM_SERVER_HOST", format!("127.0.0.1:{port}"))
            .env("DM_TOKEN_RSA_PRIVATE_KEY_PEM", PRIVATE_KEY)
            .env("DM_LOGGING_LEVEL", "info")
            .env("NODE_NAME", "e2e-node")
            .env("DM_CONFIG_DIR_PATH", "/nonexistent")
            .envs(extra.iter().copied())
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::null())
            .spawn()
            .expect("start gthulhu-decisionmaker");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while http.get(format!("{base}/health")).send().await.is_err() {
            assert!(Instant::now() < deadline, "DM did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let body: Value = http
            .post(format!("{base}/api/v1/auth/token"))
            // The Manager's client_id: these tests also write intents.
            .json(&json!({"public_key": PUBLIC_KEY, "client_id": "manager-client"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = body["data"]["token"].as_str().expect("token").to_string();
        Self {
            child,
            base,
            http,
            token,
        }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.base
            .trim_start_matches("http://")
            .parse()
            .expect("a loopback address")
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    pub async fn scheduled(&self) -> Vec<(u32, i64)> {
        let body = self
            .call(reqwest::Method::GET, "/api/v1/scheduling/strategies", None)
            .await;
        let mut v: Vec<(u32, i64)> = body["scheduling"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["pid"].as_u64().unwrap() as u32, e["priority"].as_i64().unwrap()))
            .collect();
        v.sort();
        v
    }

    /// Polls until the served set equals `want`; returns how long it took.
    pub async fn wait_for(&self, mut want: Vec<(u32, i64)>, within: Duration) -> Duration {
        want.sort();
        let started = Instant::now();
        loop {
            let got = self.scheduled().await;
            if got == want {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "served {got:?}, want {want:?} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
