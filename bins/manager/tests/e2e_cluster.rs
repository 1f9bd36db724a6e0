//! End to end over a (fake) cluster: the real `gthulhu-manager` binary
//! watching the fake Kubernetes API server through the real `kube` client,
//! two real `gthulhu-decisionmaker` binaries found as `app=decisionmaker`
//! pods, and real `sleep` processes in real kubepods cgroups (manager.md
//! sections 9 to 12). A strategy becomes per-pod intents, each node's DM
//! serves exactly its pods' PIDs, pod relabels and deletions reach the DM
//! through the watch, a restarted DM is re-converged by the reconciler, and
//! an API server outage only affects `/ready`.
//!
//! Needs root (writable cgroupfs); skips with a printed reason otherwise.
//! The DM binary must be built (`cargo test --workspace` builds it).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gthulhu_fake_kube_apiserver::{FakeApiServer, node, pod};
use gthulhu_test_support::{CGROUP_ROOT, PodCgroup, uuid};
use serde_json::{Value, json};

/// One fixed key pair for the Manager (user JWTs, and the public half it
/// presents to DMs) and the DMs (which issue tokens to its holder).
const PRIVATE_KEY: &str = gthulhu_test_support::keys::DM_KEY_PKCS1;
const PUBLIC_KEY: &str = gthulhu_test_support::keys::DM_PUB;

/// cgroup v2, systemd driver, containerd: what the DM's scanner parses.
const POD_LAYOUT: &str =
    "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/cri-containerd-{cid}.scope";

const RECONCILER_INTERVAL: Duration = Duration::from_secs(2);
/// Generous bound for event-driven changes (watch event → intent → push → DM rescan).
const EVENT_DEADLINE: Duration = Duration::from_secs(8);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The cgroup v2 hierarchy: `unified` on a hybrid host, the root on a
/// pure v2 one; `None` on a cgroup-v1-only host.
fn v2_hierarchy() -> Option<PathBuf> {
    [Path::new(CGROUP_ROOT).join("unified"), PathBuf::from(CGROUP_ROOT)]
        .into_iter()
        .find(|dir| dir.join("cgroup.procs").is_file() && dir.join("cgroup.controllers").is_file())
}

/// Why this machine cannot run the test, if it cannot.
fn unsupported() -> Option<String> {
    let Some(hierarchy) = v2_hierarchy() else {
        return Some(format!("no cgroup v2 hierarchy under {CGROUP_ROOT}"));
    };
    let probe = hierarchy.join(format!("gthulhu-e2e-probe-{}", std::process::id()));
    if let Err(e) = fs::create_dir(&probe) {
        return Some(format!("cannot create cgroups under {}: {e}", hierarchy.display()));
    }
    let _ = fs::remove_dir(&probe);
    None
}

/// The DM binary next to the Manager's (same target directory).
fn dm_binary() -> PathBuf {
    let manager = Path::new(env!("CARGO_BIN_EXE_gthulhu-manager"));
    let dm = manager.with_file_name(format!("gthulhu-decisionmaker{}", std::env::consts::EXE_SUFFIX));
    assert!(
        dm.is_file(),
        "{} is missing: build it first with `cargo build -p gthulhu-decisionmaker` \
         (`cargo test --workspace` builds it)",
        dm.display()
    );
    dm
}

/// A pod's real cgroup (v2, `POD_LAYOUT`) for the real `sleep`s of a pod.
fn pod_cgroup() -> std::io::Result<PodCgroup> {
    PodCgroup::create(&v2_hierarchy().expect("checked by unsupported()"), POD_LAYOUT)
}

/// A child process whose output goes to a log file; killed on drop, and
/// its log printed when the test is failing.
struct Service {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Service {
    fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> Self {
        let out = File::create(&log).expect("create log file");
        let err = out.try_clone().unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Self {
            name: name.to_string(),
            child: Some(child),
            log,
        }
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("----- last lines of {} ({}) -----", self.name, self.log.display());
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// Polls `url` until it answers; fails early if the process exits.
async fn wait_up(http: &reqwest::Client, service: &mut Service, url: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if http.get(url).send().await.is_ok() {
            return true;
        }
        if service.exited().is_some() {
            return false;
        }
        assert!(Instant::now() < deadline, "{} did not come up at {url}", service.name);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Dm {
    node: String,
    port: u16,
    base: String,
    http: reqwest::Client,
    token: String,
    service: Service,
}

impl Dm {
    /// Starts the DM binary for `node` on `port`, scanning the real /proc
    /// and /sys/fs/cgroup. Retries briefly if the port is not free yet (restart).
    async fn start(node: &str, port: u16, logs: &Path) -> Self {
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        for attempt in 0..20 {
            let mut cmd = Command::new(dm_binary());
            cmd.env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("DM_SERVER_HOST", format!("127.0.0.1:{port}"))
                .env("DM_TOKEN_RSA_PRIVATE_KEY_PEM", PRIVATE_KEY)
                .env("DM_LOGGING_LEVEL", "info")
                .env("DM_LOGGING_FORMAT", "text")
                .env("NO_COLOR", "1")
                .env("DM_SCAN_REFRESH_INTERVAL_MS", "250")
                .env("DM_CONFIG_DIR_PATH", "/nonexistent")
                .env("NODE_NAME", node)
                .current_dir(logs);
            let log = logs.join(format!("dm-{node}-{attempt}.log"));
            let mut service = Service::spawn(&format!("DM {node}"), cmd, log);
            if !wait_up(&http, &mut service, &format!("{base}/health")).await {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let body: Value = http
                .post(format!("{base}/api/v1/auth/token"))
                .json(&json!({"public_key": PUBLIC_KEY}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let token = body["data"]["token"].as_str().expect("DM token").to_string();
            return Self {
                node: node.to_string(),
                port,
                base,
                http,
                token,
                service,
            };
        }
        panic!("DM {node} never started on port {port}");
    }

    /// The (pid, priority) pairs the scheduler would receive, sorted.
    async fn scheduled(&self) -> Vec<(u32, i64)> {
        let r = self
            .http
            .get(format!("{}/api/v1/scheduling/strategies", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "DM {} scheduling/strategies", self.node);
        let body: Value = r.json().await.unwrap();
        let mut v: Vec<(u32, i64)> = body["scheduling"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|e| (e["pid"].as_u64().unwrap() as u32, e["priority"].as_i64().unwrap()))
            .collect();
        v.sort_unstable();
        v
    }

    /// Polls until the served set is exactly `pids` at `priority`; returns how long it took.
    async fn wait_for(&self, pids: &[u32], priority: i64, within: Duration, what: &str) -> Duration {
        let mut want: Vec<(u32, i64)> = pids.iter().map(|&p| (p, priority)).collect();
        want.sort_unstable();
        let started = Instant::now();
        loop {
            let got = self.scheduled().await;
            if got == want {
                eprintln!("{what}: DM {} converged after {:?}", self.node, started.elapsed());
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "{what}: DM {} serves {got:?}, want {want:?} within {within:?}",
                self.node
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

struct Manager {
    base: String,
    http: reqwest::Client,
    _service: Service,
}

impl Manager {
    async fn start(kubeconfig: &Path, dir: &Path) -> Self {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gthulhu-manager"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MANAGER_SERVER_HOST", format!("127.0.0.1:{port}"))
            .env("MANAGER_CONFIG_DIR_PATH", "/nonexistent")
            .env("MANAGER_KEY_RSA_PRIVATE_KEY_PEM", PRIVATE_KEY)
            .env("MANAGER_LOGGING_FORMAT", "text")
            .env("NO_COLOR", "1")
            .env("MANAGER_STORAGE_REDB_PATH", dir.join("manager.redb"))
            .env("MANAGER_K8S_KUBE_CONFIG_PATH", kubeconfig)
            // The pipeline runs only while this replica holds the Lease, so
            // the DM-restart step below also proves the election works.
            .env("MANAGER_LEADER_ELECTION_ENABLE", "true")
            .env("MANAGER_LEADER_ELECTION_NAMESPACE", "gthulhu")
            .env("POD_NAME", "manager-e2e")
            .env("MANAGER_RECONCILER_INITIAL_DELAY_S", "1")
            .env(
                "MANAGER_RECONCILER_INTERVAL_S",
                RECONCILER_INTERVAL.as_secs().to_string(),
            )
            .current_dir(dir);
        let mut service = Service::spawn("Manager", cmd, dir.join("manager.log"));
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        assert!(
            wait_up(&http, &mut service, &format!("{base}/health")).await,
            "the Manager exited at startup"
        );
        Self {
            base,
            http,
            _service: service,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn login(&self) -> (u16, Value) {
        let body = json!({"username": "admin@example.com", "password": "your-password-here"});
        self.call(reqwest::Method::POST, "/api/v1/auth/login", None, Some(body))
            .await
    }

    async fn token(&self) -> String {
        let (s, b) = self.login().await;
        assert_eq!(s, 200, "login: {b}");
        b["data"]["token"].as_str().expect("token").to_string()
    }

    /// Polls `/ready` until it answers `status`; returns the last body.
    async fn wait_ready(&self, status: u16, within: Duration) -> Value {
        let started = Instant::now();
        loop {
            let (s, body) = self.call(reqwest::Method::GET, "/ready", None, None).await;
            if s == status {
                eprintln!("/ready answered {status} after {:?}: {body}", started.elapsed());
                return body;
            }
            assert!(
                started.elapsed() < within,
                "/ready still {s} (want {status}) after {within:?}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Creates or replaces a running pod in the fake cluster, with
/// `status.podIP` and optionally a container port named `http` (how the
/// Manager finds DMs).
fn put_pod(
    fake: &FakeApiServer,
    (namespace, name, uid, node): (&str, &str, &str, &str),
    labels: &[(&str, &str)],
    http_port: Option<u16>,
) {
    let mut value = serde_json::to_value(pod(namespace, name, uid, Some(node), labels, "Running")).unwrap();
    value["status"]["podIP"] = json!("127.0.0.1");
    value["status"]["hostIP"] = json!("127.0.0.1");
    if let Some(port) = http_port {
        value["spec"]["containers"][0]["ports"] = json!([{"name": "http", "containerPort": port}]);
    }
    fake.upsert_pod(serde_json::from_value(value).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategies_reach_each_nodes_decision_maker_and_follow_the_cluster() {
    if let Some(reason) = unsupported() {
        gthulhu_test_support::precondition::skip_or_fail(&format!(
            "strategies_reach_each_nodes_decision_maker_and_follow_the_cluster: {reason}"
        ));
        return;
    }
    let test_started = Instant::now();
    let dir = tempfile::tempdir().unwrap();

    // Real processes: two web pods on node-a, one on node-b. Every DM scans
    // the same machine, so node-a's DM sees web-3's process too and must
    // still not serve it (intents are per node).
    let mut web1 = pod_cgroup().expect("create pod cgroup");
    let mut web2 = pod_cgroup().expect("create pod cgroup");
    let mut web3 = pod_cgroup().expect("create pod cgroup");
    web1.spawn(Path::new("sleep"));
    web1.spawn(Path::new("sleep"));
    web2.spawn(Path::new("sleep"));
    web3.spawn(Path::new("sleep"));

    // The cluster.
    let fake = FakeApiServer::start().await.expect("start the fake API server");
    fake.upsert_node(node("node-a", true));
    fake.upsert_node(node("node-b", true));
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig).unwrap();

    let (port_a, port_b) = (free_port(), free_port());
    let mut dm_a = Dm::start("node-a", port_a, dir.path()).await;
    let dm_b = Dm::start("node-b", port_b, dir.path()).await;
    let dm_labels = [("app", "decisionmaker")];
    put_pod(&fake, ("gthulhu", "dm-a", &uuid(), "node-a"), &dm_labels, Some(port_a));
    put_pod(&fake, ("gthulhu", "dm-b", &uuid(), "node-b"), &dm_labels, Some(port_b));
    let web = [("app", "web")];
    put_pod(&fake, ("default", "web-1", &web1.uid, "node-a"), &web, None);
    put_pod(&fake, ("default", "web-2", &web2.uid, "node-a"), &web, None);
    put_pod(&fake, ("default", "web-3", &web3.uid, "node-b"), &web, None);
    // Not selected by the strategy's labels.
    put_pod(&fake, ("default", "db-1", &uuid(), "node-a"), &[("app", "db")], None);

    let manager = Manager::start(&kubeconfig, dir.path()).await;
    let ready = manager.wait_ready(200, Duration::from_secs(20)).await;
    assert_eq!(ready["data"]["checks"]["kubernetes"], "ok", "{ready}");
    let token = manager.token().await;

    let (s, b) = manager
        .call(reqwest::Method::GET, "/api/v1/nodes", Some(&token), None)
        .await;
    assert_eq!(s, 200, "{b}");
    let nodes: Vec<(&str, &str)> = b["data"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| (n["name"].as_str().unwrap(), n["status"].as_str().unwrap()))
        .collect();
    assert_eq!(nodes, [("node-a", "Ready"), ("node-b", "Ready")], "{b}");

    // Both DMs start empty.
    assert_eq!(dm_a.scheduled().await, vec![]);
    assert_eq!(dm_b.scheduled().await, vec![]);

    // 1. A strategy: every app=web pod, processes named sleep, priority 1.
    let (s, b) = manager
        .call(
            reqwest::Method::POST,
            "/api/v1/strategies",
            Some(&token),
            Some(json!({
                "strategyNamespace": "e2e",
                "labelSelectors": [{"key": "app", "value": "web"}],
                "commandRegex": "sleep",
                "priority": 1,
                "executionTime": 20_000_000,
            })),
        )
        .await;
    assert_eq!(s, 200, "create strategy: {b}");
    assert_eq!(b["data"]["matchedPods"], 3, "{b}");
    let node_a_pids: Vec<u32> = web1.pids().into_iter().chain(web2.pids()).collect();
    dm_a.wait_for(&node_a_pids, 1, EVENT_DEADLINE, "strategy created").await;
    dm_b.wait_for(&web3.pids(), 1, EVENT_DEADLINE, "strategy created").await;

    // One intent per matched pod, on its node, marked Sent (2) once its DM took it.
    let started = Instant::now();
    loop {
        let (s, b) = manager
            .call(reqwest::Method::GET, "/api/v1/intents/self", Some(&token), None)
            .await;
        assert_eq!(s, 200, "{b}");
        let intents = b["data"]["intents"].as_array().expect("intents");
        let mut pods: Vec<(&str, &str)> = intents
            .iter()
            .map(|i| (i["podName"].as_str().unwrap(), i["nodeId"].as_str().unwrap()))
            .collect();
        pods.sort_unstable();
        assert_eq!(
            pods,
            [("web-1", "node-a"), ("web-2", "node-a"), ("web-3", "node-b")],
            "{b}"
        );
        if intents.iter().all(|i| i["state"] == 2) {
            break;
        }
        assert!(started.elapsed() < EVENT_DEADLINE, "intents never all Sent: {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The Manager proxies a node's pods/pids from its DM.
    let (s, b) = manager
        .call(
            reqwest::Method::GET,
            "/api/v1/nodes/node-a/pods/pids",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["node_name"], "node-a", "{b}");
    let listed = b["data"]["pods"].as_array().expect("pods");
    assert!(
        listed.iter().any(|p| p["pod_uid"] == web1.uid.as_str()),
        "web-1 is among node-a's pods: {b}"
    );

    // 2. Relabel web-1 (a watch MODIFIED event): its PIDs leave node-a's set.
    put_pod(
        &fake,
        ("default", "web-1", &web1.uid, "node-a"),
        &[("app", "other")],
        None,
    );
    dm_a.wait_for(&web2.pids(), 1, EVENT_DEADLINE, "web-1 relabelled").await;

    // 3. Delete web-2 (a watch DELETED event): node-a's set empties.
    assert!(fake.delete_pod("default", "web-2"));
    dm_a.wait_for(&[], 1, EVENT_DEADLINE, "web-2 deleted").await;
    // node-b was not affected.
    assert_eq!(dm_b.scheduled().await, vec![(web3.pids()[0], 1)]);

    // Bring a node-a pod back under the strategy, so the DM restart below
    // has something to lose.
    put_pod(&fake, ("default", "web-1", &web1.uid, "node-a"), &web, None);
    dm_a.wait_for(&web1.pids(), 1, EVENT_DEADLINE, "web-1 labelled back")
        .await;

    // 4. Restart node-a's DM on the same port: it comes back empty, and the
    // reconciler's Merkle check re-sends the set within one period.
    dm_a.service.kill();
    let dm_a = Dm::start("node-a", dm_a.port, dir.path()).await;
    let took = dm_a
        .wait_for(
            &web1.pids(),
            1,
            RECONCILER_INTERVAL + Duration::from_secs(4),
            "DM restarted",
        )
        .await;
    eprintln!("restarted DM re-converged after {took:?} (reconciler interval {RECONCILER_INTERVAL:?})");

    // 5. The API server goes away: the Manager keeps serving, /ready says 503.
    fake.set_available(false);
    let body = manager.wait_ready(503, Duration::from_secs(15)).await;
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["data"]["checks"]["storage"], "ok", "{body}");
    let k8s = body["data"]["checks"]["kubernetes"].as_str().unwrap_or_default();
    assert!(k8s.starts_with("unreachable"), "{body}");
    let (s, b) = manager.call(reqwest::Method::GET, "/health", None, None).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("healthy")));
    let (s, b) = manager.login().await;
    assert_eq!(s, 200, "login while the API server is down: {b}");
    let (s, b) = manager
        .call(reqwest::Method::GET, "/api/v1/nodes", Some(&token), None)
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (503, Some("kubernetes API unavailable")),
        "{b}"
    );
    // The DMs keep what they were given.
    let mut want: Vec<(u32, i64)> = web1.pids().into_iter().map(|p| (p, 1)).collect();
    want.sort_unstable();
    assert_eq!(dm_a.scheduled().await, want);

    // 6. It comes back: /ready is 200 again.
    fake.set_available(true);
    let body = manager.wait_ready(200, Duration::from_secs(20)).await;
    assert_eq!(body["data"]["checks"]["kubernetes"], "ok", "{body}");
    // And the pipeline still follows the cluster.
    assert!(fake.delete_pod("default", "web-3"));
    dm_b.wait_for(&[], 1, EVENT_DEADLINE, "web-3 deleted after the outage")
        .await;

    eprintln!("e2e_cluster took {:?}", test_started.elapsed());
    drop(manager);
    drop((dm_a, dm_b));
    fake.stop().await;
}
