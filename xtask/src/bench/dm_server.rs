//! The real `gthulhu-decisionmaker` binary on loopback, driven as the
//! Manager (intents) and the scheduler (token, strategies poll) drive it.

use std::fs::File;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use gthulhu_domain::Intent;
use serde_json::{Value, json};

use super::interrupt;

/// The test key pair of the DM service crate: the DM signs tokens with the
/// private key and hands them to holders of the public one.
const PRIVATE_KEY_PEM: &str = gthulhu_test_support::keys::DM_KEY_PKCS1;
const PUBLIC_KEY_PEM: &str = gthulhu_test_support::keys::DM_PUB;

/// Caps the concurrent polling phase whatever its duration.
const MAX_CONCURRENT_POLLS: usize = 2_000_000;

/// A running DM; killed and reaped on drop.
pub struct DmServer {
    child: Child,
    poller: Poller,
}

/// What one scheduler needs to poll: cheap to clone into tasks.
#[derive(Clone)]
pub struct Poller {
    client: reqwest::Client,
    base: String,
    token: String,
}

/// Throughput and memory while several pollers hammer the strategies route.
pub struct Load {
    pub polls: usize,
    pub elapsed: Duration,
    /// Highest VmRSS sampled while polling.
    pub peak_rss_kib: u64,
}

impl Poller {
    /// One scheduler poll, body read in full (compressed when `gzip`: the
    /// scheduler sends `Accept-Encoding: gzip`); returns the body.
    pub async fn poll(&self, gzip: bool) -> anyhow::Result<bytes::Bytes> {
        let mut request = self
            .client
            .get(format!("{}/api/v1/scheduling/strategies", self.base))
            .bearer_auth(&self.token);
        if gzip {
            request = request.header(reqwest::header::ACCEPT_ENCODING, "gzip");
        }
        let response = request.send().await?;
        ensure!(
            response.status().is_success(),
            "strategies poll: HTTP {}",
            response.status()
        );
        let encoded = response
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .is_some_and(|v| v == "gzip");
        ensure!(
            encoded == gzip,
            "strategies poll: Content-Encoding gzip is {encoded}, asked {gzip}"
        );
        Ok(response.bytes().await?)
    }
}

impl DmServer {
    /// Starts the DM over the given roots, waits for `/health` and fetches a token.
    pub async fn start(binary: &Path, proc_root: &Path, cgroup_root: &Path, log: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let log_file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new(binary);
        // Only the settings below: no DM_* or RUST_LOG from the caller's shell.
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with("DM_") || k == "RUST_LOG") {
                command.env_remove(key);
            }
        }
        let child = command
            .env("DM_SERVER_HOST", format!("127.0.0.1:{port}"))
            .env("DM_TOKEN_RSA_PRIVATE_KEY_PEM", PRIVATE_KEY_PEM)
            .env("DM_SCAN_PROC_ROOT", proc_root)
            .env("DM_SCAN_CGROUP_ROOT", cgroup_root)
            .env("DM_SCAN_REFRESH_INTERVAL_MS", "1000")
            .env("DM_LOGGING_LEVEL", "warn")
            // Away from the workspace's ./config, so no configuration file applies.
            .current_dir(log.parent().context("log file has a directory")?)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        println!(
            "dm: started {} (pid {}) on {base}; log {}",
            binary.display(),
            child.id(),
            log.display()
        );
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()?;
        let mut server = Self {
            child,
            poller: Poller {
                client,
                base,
                token: String::new(),
            },
        };
        server.wait_healthy(Duration::from_secs(15)).await?;
        server.poller.token = server.token().await?;
        Ok(server)
    }

    async fn wait_healthy(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            interrupt::check()?;
            if let Some(status) = self.child.try_wait()? {
                bail!("the DM exited during startup ({status}); see its log");
            }
            let url = format!("{}/health", self.poller.base);
            if self
                .poller
                .client
                .get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "the DM did not answer /health within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn token(&self) -> anyhow::Result<String> {
        let reply: Value = self
            .poller
            .client
            .post(format!("{}/api/v1/auth/token", self.poller.base))
            // The Manager's client_id: its role also writes intents.
            .json(&json!({ "public_key": PUBLIC_KEY_PEM, "client_id": "manager-client" }))
            .send()
            .await?
            .json()
            .await?;
        reply["data"]["token"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("no data.token in the token reply: {reply}"))
    }

    /// `POST /api/v1/intents` (replace all), as the Manager does.
    pub async fn post_intents(&self, intents: &[Intent]) -> anyhow::Result<()> {
        let response = self
            .poller
            .client
            .post(format!("{}/api/v1/intents", self.poller.base))
            .bearer_auth(&self.poller.token)
            .json(&json!({ "intents": intents }))
            .send()
            .await?;
        let status = response.status();
        ensure!(
            status.is_success(),
            "posting intents: HTTP {status}: {}",
            response.text().await?
        );
        Ok(())
    }

    /// The DM's base URL (`http://127.0.0.1:<port>`), for callers with their own client.
    pub fn base_url(&self) -> &str {
        &self.poller.base
    }

    /// `POST /api/v1/intents` with a prepared JSON body: the status and
    /// reply text, whatever they are (a refused body is a result here).
    pub async fn post_intents_body(&self, body: Vec<u8>) -> anyhow::Result<(reqwest::StatusCode, String)> {
        let response = self
            .poller
            .client
            .post(format!("{}/api/v1/intents", self.poller.base))
            .bearer_auth(&self.poller.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        Ok((status, response.text().await?))
    }

    /// Polls until the answer lists `expected` entries (the DM has indexed
    /// the processes and resolved the intents).
    pub async fn wait_resolved(&self, expected: usize, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut seen = 0;
        while Instant::now() < deadline {
            interrupt::check()?;
            let reply: Value = self
                .poller
                .client
                .get(format!("{}/api/v1/scheduling/strategies", self.poller.base))
                .bearer_auth(&self.poller.token)
                .send()
                .await?
                .json()
                .await?;
            seen = reply["scheduling"].as_array().map_or(0, Vec::len);
            if seen == expected {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the DM lists {seen} entries after {timeout:?}, expected {expected}")
    }

    /// One timed-by-the-caller scheduler poll; the body as received.
    pub async fn poll(&self, gzip: bool) -> anyhow::Result<bytes::Bytes> {
        self.poller.poll(gzip).await
    }

    /// A poller of another server answering the same route (the framework
    /// ceiling), with this server's client and token.
    pub fn poller_at(&self, base: String) -> Poller {
        Poller {
            base,
            ..self.poller.clone()
        }
    }

    /// `pollers` concurrent schedulers poll back to back for `duration`
    /// (gzip, as the scheduler asks) while the DM's VmRSS is sampled.
    pub async fn hammer(&self, pollers: usize, duration: Duration) -> anyhow::Result<Load> {
        let polls = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let deadline = started + duration;
        let tasks: Vec<_> = (0..pollers)
            .map(|_| {
                let poller = self.poller.clone();
                let polls = Arc::clone(&polls);
                tokio::spawn(async move {
                    while Instant::now() < deadline
                        && !interrupt::interrupted()
                        && polls.load(Ordering::Relaxed) < MAX_CONCURRENT_POLLS
                    {
                        poller.poll(true).await?;
                        polls.fetch_add(1, Ordering::Relaxed);
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        let mut peak_rss_kib = self.rss_kib()?;
        while !tasks.iter().all(|t| t.is_finished()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            peak_rss_kib = peak_rss_kib.max(self.rss_kib()?);
        }
        let elapsed = started.elapsed();
        for task in tasks {
            task.await??;
        }
        interrupt::check()?;
        Ok(Load {
            polls: polls.load(Ordering::Relaxed),
            elapsed,
            peak_rss_kib,
        })
    }

    /// The DM's current resident set (VmRSS), KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        status_kib(self.child.id(), "VmRSS:")
    }

    /// The DM's peak resident set since it started (VmHWM), KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        status_kib(self.child.id(), "VmHWM:")
    }

    /// Resets VmHWM to the current VmRSS (`5` into `/proc/<pid>/clear_refs`),
    /// so [`Self::peak_rss_kib`] then reports the peak since this call.
    pub fn reset_peak_rss(&self) -> anyhow::Result<()> {
        let path = format!("/proc/{}/clear_refs", self.child.id());
        std::fs::write(&path, "5").with_context(|| format!("writing 5 to {path}"))
    }
}

impl Drop for DmServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `kB` field of `/proc/<pid>/status`.
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// A loopback port free right now (the DM binds it a moment later).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
