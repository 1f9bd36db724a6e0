//! Thousands of simulated Decision Makers behind one listener on
//! `0.0.0.0:<port>`: each loopback address `127.0.x.y` is one DM (told apart
//! by the connection's local address). A minimal HTTP/1.1 keep-alive server
//! answering what the Manager's DM client calls: the token, the intent push
//! (recorded, with the number of requests in flight) and the Merkle root.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gthulhu_domain::{Intent, merkle};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// The last set one simulated DM received.
#[derive(Clone, Debug)]
pub struct Received {
    pub intents: usize,
    pub root: String,
    pub at: Instant,
}

#[derive(Default)]
pub struct State {
    pub sets: Mutex<HashMap<IpAddr, Received>>,
    /// `POST /api/v1/intents` being handled now, and the most at once.
    in_flight: AtomicUsize,
    pub peak_in_flight: AtomicUsize,
    /// Any request being handled now, and the most at once.
    requests_in_flight: AtomicUsize,
    pub peak_requests: AtomicUsize,
    open_connections: AtomicUsize,
    pub peak_connections: AtomicUsize,
    pub connections: AtomicUsize,
    pub pushes: AtomicUsize,
    pub tokens: AtomicUsize,
    pub merkle_reads: AtomicUsize,
    /// Signalled after every push.
    pub pushed: Notify,
    /// How long a push takes to answer (a real DM recomputes its decisions).
    delay: std::time::Duration,
}

impl State {
    pub fn with_delay(delay: std::time::Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    pub fn reset_peaks(&self) {
        self.peak_in_flight.store(0, Ordering::SeqCst);
        self.peak_requests.store(0, Ordering::SeqCst);
        self.peak_connections
            .store(self.open_connections.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

/// Increments `current`, raising `peak`; decremented by the guard's drop.
struct Gauge<'a>(&'a AtomicUsize);

impl<'a> Gauge<'a> {
    fn enter(current: &'a AtomicUsize, peak: &AtomicUsize) -> Self {
        let now = current.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(now, Ordering::SeqCst);
        Self(current)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Deserialize)]
struct Push {
    #[serde(default)]
    intents: Vec<Intent>,
}

/// Binds `0.0.0.0:0` and serves until the runtime stops; returns the port.
pub async fn start(state: Arc<State>) -> anyhow::Result<u16> {
    let listener = TcpListener::bind("0.0.0.0:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let state = state.clone();
                    tokio::spawn(async move {
                        let _ = serve(stream, &state).await;
                    });
                }
                Err(e) => {
                    eprintln!("fake DM accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    });
    Ok(port)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn serve(mut stream: TcpStream, state: &State) -> anyhow::Result<()> {
    let local: SocketAddr = stream.local_addr()?;
    state.connections.fetch_add(1, Ordering::SeqCst);
    let _open = Gauge::enter(&state.open_connections, &state.peak_connections);
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        // Idle keep-alive connection: wait for the next request's first bytes.
        if buf.is_empty() {
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        // From its first byte to its answer, a request is in flight.
        let _request = Gauge::enter(&state.requests_in_flight, &state.peak_requests);
        let is_push = buf.starts_with(b"POST /api/v1/intents ");
        let _push = is_push.then(|| Gauge::enter(&state.in_flight, &state.peak_in_flight));
        // Headers.
        let head_end = loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                break end;
            }
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_string();
        let mut length = 0usize;
        let mut close = false;
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
                if name == "content-length" {
                    length = value.parse().unwrap_or(0);
                } else if name == "connection" && value.eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        let body_start = head_end + 4;
        while buf.len() < body_start + length {
            let mut chunk = vec![0u8; (body_start + length - buf.len()).min(1 << 20)];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body: Vec<u8> = buf[body_start..body_start + length].to_vec();
        buf.drain(..body_start + length);

        let mut parts = request_line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let path = path.split('?').next().unwrap_or_default();
        let (status, answer) = match (method, path) {
            ("POST", "/api/v1/auth/token") => {
                state.tokens.fetch_add(1, Ordering::Relaxed);
                let expires = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
                (
                    "200 OK",
                    format!(r#"{{"success":true,"data":{{"token":"t","expired_at":{expires}}}}}"#),
                )
            }
            ("POST", "/api/v1/intents") => {
                if !state.delay.is_zero() {
                    tokio::time::sleep(state.delay).await;
                }
                match serde_json::from_slice::<Push>(&body) {
                    Ok(push) => {
                        let received = Received {
                            intents: push.intents.len(),
                            root: merkle::root(&push.intents),
                            at: Instant::now(),
                        };
                        state
                            .sets
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(local.ip(), received);
                        state.pushes.fetch_add(1, Ordering::SeqCst);
                        state.pushed.notify_waiters();
                        ("200 OK", r#"{"success":true,"message":"ok"}"#.to_string())
                    }
                    Err(e) => ("400 Bad Request", json_error(&e.to_string())),
                }
            }
            ("GET", "/api/v1/intents/merkle") => {
                state.merkle_reads.fetch_add(1, Ordering::Relaxed);
                let root = state
                    .sets
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&local.ip())
                    .map(|r| r.root.clone())
                    .unwrap_or_else(|| merkle::root(&[] as &[Intent]));
                (
                    "200 OK",
                    format!(r#"{{"success":true,"data":{{"rootHash":"{root}"}}}}"#),
                )
            }
            _ => ("404 Not Found", json_error("not found")),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        stream.write_all(response.as_bytes()).await?;
        if close {
            return Ok(());
        }
    }
}

fn json_error(message: &str) -> String {
    serde_json::json!({"success": false, "error": message}).to_string()
}
