//! A fake of the Gthulhu scheduler daemon's control API
//! (sessions-and-runtime.md 18 and 19): the POST semantics the Decision
//! Maker relies on, in memory, with failure injection, and a record of
//! every request (method, path, raw body) so tests can assert what was
//! sent byte for byte, e.g. that `"kernelMode":false` was present.

mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use gthulhu_domain::runtime_config::{RuntimeSchedulerConfig, SCX_SCHEDULERS};
pub use state::Recorded;
use state::{Answer, State};

/// How the daemon starts.
#[derive(Clone, Debug)]
pub struct Options {
    pub listen: SocketAddr,
    /// The scx binaries "next to the scheduler" (default: all 17).
    pub installed: Vec<String>,
    /// The runtime YAML at start-up (version `bootstrap`, not applied).
    pub initial: RuntimeSchedulerConfig,
    /// Added before every answer.
    pub delay: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            listen: ([127, 0, 0, 1], 0).into(),
            installed: SCX_SCHEDULERS.iter().map(|s| s.to_string()).collect(),
            initial: RuntimeSchedulerConfig {
                mode: "gthulhu".into(),
                scheduler_enabled: true,
                slice_ns_default: 20_000_000,
                slice_ns_min: 1_000_000,
                monitoring_enabled: true,
                ..Default::default()
            },
            delay: Duration::ZERO,
        }
    }
}

/// A running fake daemon; stops when dropped.
pub struct FakeDaemon {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    handle: ServerHandle,
}

struct Shared {
    state: Arc<Mutex<State>>,
    delay: Duration,
}

impl FakeDaemon {
    pub async fn start(options: Options) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State::new(options.installed, options.initial)));
        let shared = web::Data::new(Shared {
            state: state.clone(),
            delay: options.delay,
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(handle))
        })
        .workers(1)
        // One connection per request: after `stop` a client's pooled
        // connection could otherwise still reach the stopping worker, and
        // "the daemon is down" would depend on timing.
        .keep_alive(actix_web::http::KeepAlive::Disabled)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(options.listen)?;
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { addr, state, handle })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port`, what `daemon.endpoint` takes.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The requests to `POST /api/v1/runtime-config`.
    pub fn posts(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.method == "POST").collect()
    }

    /// The current runtime config (version included).
    pub fn config(&self) -> RuntimeSchedulerConfig {
        self.lock().status.config.clone()
    }

    /// The next valid POST answers `status` with `message` (recorded as
    /// `lastError`), as when an scx binary is missing.
    pub fn fail_next_post(&self, status: u16, message: &str) {
        self.lock().fail_next_post = Some((status, message.to_string()));
    }

    /// Back to version `bootstrap`, not applied, as after a restart;
    /// `count_restart` increments `restartCount` (an unexpected exit).
    pub fn reset_to_bootstrap(&self, count_restart: bool) {
        self.lock().reset_to_bootstrap(count_restart);
    }

    /// After every change, the previous settings come back (drift that
    /// re-applying never fixes).
    pub fn revert_after_apply(&self, on: bool) {
        self.lock().revert_after_apply = on;
    }

    /// Stops listening (connections are refused afterwards).
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        // Dropping the future is enough to stop; the runtime may be gone.
        drop(self.handle.stop(false));
    }
}

async fn handle(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    let method = req.method().as_str().to_string();
    let path = req.path().to_string();
    let mut state = shared.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    state.requests.push(Recorded {
        method: method.clone(),
        path: path.clone(),
        body: body.to_vec(),
        json: serde_json::from_slice(&body).ok(),
    });
    let answer: Answer = match (method.as_str(), path.as_str()) {
        ("GET", "/health") => return HttpResponse::Ok().content_type("text/plain").body("ok"),
        ("GET", "/api/v1/status") => state.status_answer(false),
        ("GET", "/api/v1/runtime-config") => state.status_answer(true),
        ("POST", "/api/v1/runtime-config") => state.post(&body, now_rfc3339()),
        _ => (404, serde_json::json!({"success": false, "error": "not found"})),
    };
    drop(state);
    let status =
        actix_web::http::StatusCode::from_u16(answer.0).unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(answer.1)
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
