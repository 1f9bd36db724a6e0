//! The real `gthulhu-manager` binary on a free loopback port, for the
//! startup and cluster tests (the end-to-end test keeps its own, which also
//! captures logs).

#![allow(dead_code)] // each test file uses its own subset

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const PRIVATE_KEY: &str = gthulhu_test_support::keys::DM_KEY_PKCS1;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Manager {
    pub child: Child,
    pub base: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Manager {
    /// Starts the binary with `dir` as its working directory and waits for
    /// `/health`.
    pub async fn start(dir: tempfile::TempDir, extra: &[(&str, &str)]) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_gthulhu-manager"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MANAGER_SERVER_HOST", format!("127.0.0.1:{port}"))
            .env("MANAGER_CONFIG_DIR_PATH", "/nonexistent")
            .env("MANAGER_KEY_RSA_PRIVATE_KEY_PEM", PRIVATE_KEY)
            .envs(extra.iter().copied())
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("start gthulhu-manager");
        let m = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            dir,
        };
        m.wait_ready("/health", |_| true).await;
        m
    }

    /// Status 0 when the request could not be made.
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or(Value::Null)),
            Err(_) => (0, Value::Null),
        }
    }

    /// Polls `path` until it answers and `done` holds.
    pub async fn wait_ready(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = self.get(path, None).await;
            if status != 0 && done(&body) {
                return body;
            }
            assert!(Instant::now() < deadline, "{path} never got there: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The bootstrap admin's login.
    pub async fn login(&self) -> (u16, Value) {
        let body = json!({"username": "admin@example.com", "password": "your-password-here"});
        let r = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    pub async fn admin_token(&self) -> String {
        let (_, body) = self.login().await;
        body["data"]["token"].as_str().expect("a token").to_string()
    }
}
