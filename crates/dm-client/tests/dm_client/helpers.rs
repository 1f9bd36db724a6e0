//! The real DM app of this workspace, in-process on a loopback port, and a
//! scriptable mock DM that records what the client sends.

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use gthulhu_dm_client::{ClientSettings, ClientTls, DEFAULT_TIMEOUT, HttpDecisionMakerClient};
use gthulhu_domain::manager::{DecisionMakerEndpoint, DmState};
use gthulhu_domain::{PodProcesses, ProcessInfo, ProcessSnapshot, ScanMode};
use gthulhu_test_support::apps::dm::{FixedIndex, over_index, spawn_dm, test_config};

pub const PUBLIC_KEY: &str = gthulhu_test_support::keys::DM_PUB;
pub const POD_A: &str = "31e4e721-a5a0-421a-ae1d-b7971ae30d6e";

pub fn endpoint(host: &str, port: u16) -> DecisionMakerEndpoint {
    DecisionMakerEndpoint {
        node_name: "test-node".into(),
        pod_name: "decisionmaker-0".into(),
        pod_uid: String::new(),
        host: host.into(),
        port,
        state: DmState::Online,
    }
}

pub fn client(mtls: Option<ClientTls>) -> HttpDecisionMakerClient {
    HttpDecisionMakerClient::new(ClientSettings {
        public_key_pem: PUBLIC_KEY.into(),
        client_id: "manager-client".into(),
        mtls,
        timeout: DEFAULT_TIMEOUT,
    })
    .unwrap()
}

pub struct RealDm {
    pub endpoint: DecisionMakerEndpoint,
}

/// Our DM (its composition root) with the test signing key and one pod on
/// the node; `tls` is its certificate, key and client CA.
pub async fn spawn_real_dm(tls: Option<(&str, &str, &str)>) -> RealDm {
    let index = FixedIndex::new(Some(ProcessSnapshot {
        pods: vec![PodProcesses {
            pod_uid: POD_A.into(),
            processes: vec![ProcessInfo {
                pid: 1234,
                ppid: 1,
                comm: "nginx".into(),
                ..Default::default()
            }],
        }],
        scanned_at: SystemTime::now(),
        generation: 1,
        mode: ScanMode::Cgroups,
    }));
    // No daemon: these tests never touch the runtime config.
    let mut config = test_config("http://127.0.0.1:9");
    config.daemon.timeout_sec = 1;
    config.token.token_duration_hr = 1;
    if let Some((cert, key, ca)) = tls {
        config.mtls.enable = true;
        config.mtls.cert_pem = cert.into();
        config.mtls.key_pem = key.into();
        config.mtls.ca_pem = ca.into();
    }
    let port = spawn_dm(config, over_index(index)).await.port();
    RealDm {
        endpoint: endpoint("127.0.0.1", port),
    }
}

impl RealDm {
    /// Token requests the DM served, from its own Prometheus counters.
    pub async fn token_requests(&self) -> u64 {
        let url = format!("http://{}:{}/metrics", self.endpoint.host, self.endpoint.port);
        let text = reqwest::get(url).await.unwrap().text().await.unwrap();
        text.lines()
            .filter(|l| l.starts_with("gthulhu_http_requests_total{") && l.contains(r#"route="/api/v1/auth/token""#))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    }
}

/// One request as the mock DM received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub authorization: String,
    pub content_type: String,
    pub body: String,
}

struct MockState {
    /// `expired_at` of issued tokens, relative to now.
    token_ttl_s: i64,
    token_status: u16,
    tokens_issued: u32,
    /// Replies to non-token requests, in order; then `200` with no data.
    replies: VecDeque<(u16, String)>,
    requests: Vec<Recorded>,
}

pub struct MockDm {
    pub endpoint: DecisionMakerEndpoint,
    state: Arc<Mutex<MockState>>,
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn mock_handler(req: HttpRequest, body: web::Bytes, state: web::Data<Arc<Mutex<MockState>>>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut state = state.lock().unwrap();
    let (status, reply) = if req.path() == "/api/v1/auth/token" {
        state.tokens_issued += 1;
        let body = serde_json::json!({
            "success": true,
            "data": {"token": format!("token-{}", state.tokens_issued), "expired_at": unix_now() + state.token_ttl_s},
        });
        (state.token_status, body.to_string())
    } else {
        state.requests.push(Recorded {
            method: req.method().to_string(),
            path: req.path().to_string(),
            authorization: header("authorization"),
            content_type: header("content-type"),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        state.replies.pop_front().unwrap_or((200, r#"{"success":true}"#.into()))
    };
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("application/json")
        .body(reply)
}

pub async fn spawn_mock_dm() -> MockDm {
    let state = Arc::new(Mutex::new(MockState {
        token_ttl_s: 3600,
        token_status: 200,
        tokens_issued: 0,
        replies: VecDeque::new(),
        requests: Vec::new(),
    }));
    let data = web::Data::new(state.clone());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(mock_handler)))
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    tokio::spawn(server);
    MockDm {
        endpoint: endpoint("127.0.0.1", port),
        state,
    }
}

impl MockDm {
    pub fn reply(&self, status: u16, body: &str) {
        self.state.lock().unwrap().replies.push_back((status, body.into()));
    }

    pub fn set_token_ttl(&self, seconds: i64) {
        self.state.lock().unwrap().token_ttl_s = seconds;
    }

    pub fn set_token_status(&self, status: u16) {
        self.state.lock().unwrap().token_status = status;
    }

    pub fn tokens_issued(&self) -> u32 {
        self.state.lock().unwrap().tokens_issued
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }
}
