//! The release binaries the Manager parts run: the fake Kubernetes API
//! server and the Manager, each killed and reaped on drop.

use std::ffi::OsString;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::release_binary;
use crate::bench::interrupt;

/// The Manager's key (user JWTs; its public half is what it shows DMs).
const PRIVATE_KEY_PEM: &str = gthulhu_test_support::keys::DM_KEY_PKCS1;

/// A child process, killed and reaped on drop.
pub struct Service {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Service {
    fn spawn(name: &'static str, mut cmd: Command, log: PathBuf) -> anyhow::Result<Self> {
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting the {name}"))?;
        Ok(Self { name, child, log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the process has exited, pointing at its log.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the {} exited ({status}); see {}", self.name, self.log.display());
        }
        Ok(())
    }

    /// `VmRSS` and `VmHWM` of `/proc/<pid>/status`, KiB.
    pub fn rss_kib(&self) -> anyhow::Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok((field("VmRSS:"), field("VmHWM:")))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The fake API server, serving the pods of `load`, with a kubeconfig for
/// it written to `dir/kubeconfig`.
pub fn start_fake_apiserver(load: Option<&Path>, dir: &Path) -> anyhow::Result<(Service, PathBuf)> {
    let kubeconfig = dir.join("kubeconfig");
    let _ = std::fs::remove_file(&kubeconfig);
    let mut cmd = Command::new(release_binary("fake-kube-apiserver"));
    cmd.arg("--kubeconfig").arg(&kubeconfig);
    if let Some(load) = load {
        cmd.arg("--load").arg(load);
    }
    let mut service = Service::spawn("fake API server", cmd, dir.join("fake-apiserver.log"))?;
    let started = Instant::now();
    // The kubeconfig is written once the pods are loaded.
    while !kubeconfig.is_file() {
        interrupt::check()?;
        service.check_alive()?;
        if started.elapsed() > Duration::from_secs(300) {
            bail!("the fake API server did not write its kubeconfig within 300 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Written, not necessarily flushed: give it a moment.
    std::thread::sleep(Duration::from_millis(100));
    Ok((service, kubeconfig))
}

/// A running Manager and how to call it.
pub struct Manager {
    pub service: Service,
    pub base: String,
    pub http: reqwest::Client,
}

/// Starts the Manager with redb in `dir` and `env` on top; returns once
/// `/health` answers.
pub async fn start_manager(dir: &Path, env: &[(&str, OsString)]) -> anyhow::Result<Manager> {
    let port = free_port()?;
    let mut cmd = Command::new(release_binary("gthulhu-manager"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MANAGER_SERVER_HOST", format!("127.0.0.1:{port}"))
        .env("MANAGER_CONFIG_DIR_PATH", "/nonexistent")
        .env("MANAGER_KEY_RSA_PRIVATE_KEY_PEM", PRIVATE_KEY_PEM)
        .env("MANAGER_LOGGING_FORMAT", "text")
        .env("MANAGER_LOGGING_LEVEL", "info")
        .env("NO_COLOR", "1")
        .env("MANAGER_STORAGE_REDB_PATH", dir.join("manager.redb"))
        .current_dir(dir);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let mut service = Service::spawn("Manager", cmd, dir.join("manager.log"))?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().no_proxy().build()?;
    let started = Instant::now();
    loop {
        interrupt::check()?;
        service.check_alive()?;
        if let Ok(r) = http.get(format!("{base}/health")).send().await
            && r.status().is_success()
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the Manager did not answer /health within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Manager { service, base, http })
}

impl Manager {
    /// Waits until `/ready` answers 200 (storage up, pod cache synced).
    pub async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            interrupt::check()?;
            self.service.check_alive()?;
            let r = self.http.get(format!("{}/ready", self.base)).send().await;
            if let Ok(r) = r
                && r.status().is_success()
            {
                return Ok(started.elapsed());
            }
            if started.elapsed() > within {
                bail!("the Manager was not ready within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The bootstrap admin's token.
    pub async fn login(&self) -> anyhow::Result<String> {
        let body = json!({"username": "admin@example.com", "password": "your-password-here"});
        let r: Value = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        r["data"]["token"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("login failed: {r}"))
    }
}
