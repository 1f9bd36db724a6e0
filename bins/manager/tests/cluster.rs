//! The real `gthulhu-manager` binary with a cluster: a pods file, or the
//! fake API server through a kubeconfig (manager.md 15.2 `k8s.*`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gthulhu_fake_kube_apiserver::{FakeApiServer, node, pod};
use serde_json::{Value, json};

const PRIVATE_KEY: &str = include_str!("../../../crates/dm-service/testdata/dm_key_pkcs1.pem");

struct Manager {
    child: Child,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Manager {
    async fn start(dir: tempfile::TempDir, extra: &[(&str, &str)]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
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
            _dir: dir,
        };
        m.wait_ready("/health", |_| true).await;
        m
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or(Value::Null)),
            Err(_) => (0, Value::Null),
        }
    }

    async fn wait_ready(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
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

    async fn admin_token(&self) -> String {
        let body = json!({"username": "admin@example.com", "password": "your-password-here"});
        let r = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        body["data"]["token"].as_str().expect("a token").to_string()
    }

    async fn node_names(&self) -> Vec<(String, String)> {
        let token = self.admin_token().await;
        let (status, body) = self.get("/api/v1/nodes", Some(&token)).await;
        assert_eq!(status, 200, "{body}");
        body["data"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["name"].as_str().unwrap().into(), n["status"].as_str().unwrap().into()))
            .collect()
    }
}

fn all_ok(body: &Value) -> bool {
    body["data"]["checks"]["kubernetes"] == "ok" && body["data"]["checks"]["storage"] == "ok"
}

#[tokio::test]
async fn pods_file_is_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pods.json");
    let items = json!({"kind": "List", "items": [
        {"kind": "Pod", "metadata": {"uid": "u1", "name": "web", "namespace": "prod"},
         "spec": {"nodeName": "node-b", "containers": []}, "status": {"phase": "Running"}},
        {"kind": "Pod", "metadata": {"uid": "u2", "name": "db", "namespace": "prod"},
         "spec": {"nodeName": "node-a", "containers": []}, "status": {"phase": "Running"}},
    ]});
    std::fs::write(&file, items.to_string()).unwrap();
    let m = Manager::start(dir, &[("MANAGER_K8S_PODS_FILE", file.to_str().unwrap())]).await;
    m.wait_ready("/ready", all_ok).await;
    // No Node items: the pods' nodes, state unknown.
    assert_eq!(
        m.node_names().await,
        [("node-a".into(), "Unknown".into()), ("node-b".into(), "Unknown".into())]
    );
}

#[tokio::test]
async fn kubeconfig_points_at_a_cluster() {
    let server = FakeApiServer::start().await.unwrap();
    server.upsert_pod(pod("prod", "web", "u1", Some("n1"), &[("app", "web")], "Running"));
    server.upsert_node(node("n2", false));
    server.upsert_node(node("n1", true));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    let m = Manager::start(dir, &[("MANAGER_K8S_KUBE_CONFIG_PATH", kubeconfig.to_str().unwrap())]).await;
    m.wait_ready("/ready", all_ok).await;
    assert_eq!(
        m.node_names().await,
        [("n1".into(), "Ready".into()), ("n2".into(), "NotReady".into())]
    );

    server.set_available(false);
    let body = m
        .wait_ready("/ready", |b| {
            b["data"]["checks"]["kubernetes"]
                .as_str()
                .is_some_and(|s| s.starts_with("unreachable"))
        })
        .await;
    assert_eq!(body["success"], false);
}
