//! The two services as child processes, and the HTTP calls the demo makes
//! as the user (Manager) and as the scheduler (DM).

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// A running service; killed and reaped on drop.
pub struct Service {
    pub name: &'static str,
    pub base: String,
    pub log: PathBuf,
    child: Child,
}

/// An environment value as printed: secrets are shown as where they come from.
pub struct EnvVar {
    pub key: &'static str,
    pub value: OsString,
    pub shown: Option<String>,
}

impl EnvVar {
    pub fn new(key: &'static str, value: impl Into<OsString>) -> Self {
        Self {
            key,
            value: value.into(),
            shown: None,
        }
    }

    pub fn secret(key: &'static str, value: impl Into<OsString>, shown: String) -> Self {
        Self {
            key,
            value: value.into(),
            shown: Some(shown),
        }
    }
}

impl Service {
    /// Starts `binary` in the directory of `log` (away from the workspace's
    /// `./config`, so no configuration file applies) with only `env` among
    /// the `DM_*`/`MANAGER_*` variables (the caller's shell may have its
    /// own), output to `log`.
    pub fn start(
        name: &'static str,
        binary: &Path,
        env: &[EnvVar],
        base: String,
        log: PathBuf,
    ) -> anyhow::Result<Self> {
        let dir = log.parent().context("the log file has a directory")?.to_path_buf();
        let mut command = Command::new(binary);
        for (key, _) in std::env::vars_os() {
            if key
                .to_str()
                .is_some_and(|k| k.starts_with("DM_") || k.starts_with("MANAGER_") || k == "RUST_LOG")
            {
                command.env_remove(key);
            }
        }
        // Plain text logs: the services colour their output unless NO_COLOR is set.
        command.env("NO_COLOR", "1");
        let mut shown = Vec::new();
        for var in env {
            command.env(var.key, &var.value);
            let value = var
                .shown
                .clone()
                .unwrap_or_else(|| var.value.to_string_lossy().into_owned());
            shown.push(format!("{}={value}", var.key));
        }
        println!(
            "$ (cd {} && {} {} > {} 2>&1 &)",
            super::shown(&dir),
            shown.join(" "),
            binary.display(),
            log.file_name().unwrap_or_default().to_string_lossy()
        );
        let output = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = command
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        println!("{name}: pid {} on {base}", child.id());
        let service = Self { name, base, log, child };
        super::leftovers::record_process(&dir, service.child.id())?;
        Ok(service)
    }

    /// Fails, with the end of the log, if the process has exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "the {} exited ({status}); last lines of {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 20)
            );
        }
        Ok(())
    }

    /// Waits until `GET /health` answers 200.
    pub async fn wait_healthy(&mut self, http: &reqwest::Client, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.ensure_running()?;
            let ok = http
                .get(format!("{}/health", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                println!("{}: healthy", self.name);
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the {} did not answer GET /health within {timeout:?}; last lines of {}:\n{}",
                    self.name,
                    self.log.display(),
                    tail(&self.log, 20)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `lines` lines of a log file.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One call; any answer (status and JSON body, or the body as a string) is
/// returned, transport errors fail.
pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut request = http.request(method.clone(), url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.with_context(|| format!("{method} {url}"))?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, value))
}

/// `data.token` of a 200 answer.
pub fn token_of(status: u16, reply: &Value) -> Option<String> {
    (status == 200)
        .then(|| reply["data"]["token"].as_str().map(str::to_string))
        .flatten()
}

/// Logs in to the Manager, retrying while its storage comes up (503).
pub async fn login(http: &reqwest::Client, manager: &str, user: &str, password: &str) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = json!({"username": user, "password": password});
    loop {
        let (status, reply) = call(
            http,
            reqwest::Method::POST,
            &format!("{manager}/api/v1/auth/login"),
            None,
            Some(&body),
        )
        .await?;
        if let Some(token) = token_of(status, &reply) {
            return Ok(token);
        }
        if Instant::now() > deadline {
            bail!("logging in as {user} failed: HTTP {status}: {reply}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Logs in and trades the refresh token for a new pair, as the web UI does
/// when its access token expires; returns the rotated refresh token.
pub async fn login_and_refresh(
    http: &reqwest::Client,
    manager: &str,
    user: &str,
    password: &str,
) -> anyhow::Result<String> {
    let login = json!({"username": user, "password": password});
    let (status, reply) = call(
        http,
        reqwest::Method::POST,
        &format!("{manager}/api/v1/auth/login"),
        None,
        Some(&login),
    )
    .await?;
    let refresh = match reply["data"]["refreshToken"].as_str() {
        Some(token) if status == 200 => token.to_string(),
        _ => bail!("login for a refresh token failed: HTTP {status}: {reply}"),
    };
    let body = json!({"refreshToken": refresh});
    let (status, reply) = call(
        http,
        reqwest::Method::POST,
        &format!("{manager}/api/v1/auth/refresh"),
        None,
        Some(&body),
    )
    .await?;
    match reply["data"]["refreshToken"].as_str() {
        Some(rotated) if status == 200 && rotated != refresh => Ok(rotated.to_string()),
        _ => bail!("refreshing the session failed: HTTP {status}: {reply}"),
    }
}

/// A DM token for the holder of the DM key's public half, as the scheduler gets one.
pub async fn dm_token(http: &reqwest::Client, dm: &str, public_key_pem: &str) -> anyhow::Result<String> {
    let (status, reply) = call(
        http,
        reqwest::Method::POST,
        &format!("{dm}/api/v1/auth/token"),
        None,
        Some(&json!({"public_key": public_key_pem})),
    )
    .await?;
    token_of(status, &reply).with_context(|| format!("POST {dm}/api/v1/auth/token: HTTP {status}: {reply}"))
}

/// The PIDs in a `GET /api/v1/scheduling/strategies` answer, sorted.
pub fn scheduled_pids(answer: &Value) -> Vec<u32> {
    let mut pids: Vec<u32> = answer["scheduling"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["pid"].as_u64().and_then(|pid| u32::try_from(pid).ok()))
        .collect();
    pids.sort_unstable();
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pids_from_the_scheduler_answer() {
        let answer = json!({"success": true, "scheduling": [
            {"priority": 1, "execution_time": 20000000, "pid": 42},
            {"priority": 1, "execution_time": 20000000, "pid": 7},
            {"priority": 1, "execution_time": 20000000},
        ]});
        assert_eq!(scheduled_pids(&answer), [7, 42]);
        assert!(scheduled_pids(&json!({"success": false})).is_empty());
    }

    #[test]
    fn token_only_from_a_200_with_data_token() {
        let reply = json!({"success": true, "data": {"token": "t"}});
        assert_eq!(token_of(200, &reply).as_deref(), Some("t"));
        assert_eq!(token_of(503, &reply), None);
        assert_eq!(token_of(200, &json!({"success": true})), None);
    }
}
