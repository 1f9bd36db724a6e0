//! The scheduler daemon's control API as the Decision Maker uses it
//! (sessions-and-runtime.md 17 and 18): plain HTTP, no auth, on the
//! scheduler pod's loopback.

use std::time::Duration;

use async_trait::async_trait;
use gthulhu_domain::DmError;
use gthulhu_domain::RuntimeConfigService;
use gthulhu_domain::runtime_config::{RuntimeSchedulerConfig, RuntimeStatus};
use serde_json::Value;

/// Why a daemon endpoint cannot be used (a startup error).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndpointError {
    #[error("daemon.endpoint must be an http:// or https:// URL")]
    NotHttp,
    #[error("daemon client: {0}")]
    Client(String),
}

pub struct DaemonClient {
    http: reqwest::Client,
    endpoint: String,
}

impl DaemonClient {
    /// `timeout` bounds every daemon request.
    pub fn new(endpoint: &str, timeout: Duration) -> Result<Self, EndpointError> {
        let endpoint = endpoint.trim().trim_end_matches('/');
        let rest = endpoint
            .strip_prefix("http://")
            .or_else(|| endpoint.strip_prefix("https://"))
            .ok_or(EndpointError::NotHttp)?;
        if rest.is_empty() || reqwest::Url::parse(endpoint).is_err() {
            return Err(EndpointError::NotHttp);
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .no_proxy()
            .build()
            .map_err(|e| EndpointError::Client(e.to_string()))?;
        Ok(Self {
            http,
            endpoint: endpoint.to_string(),
        })
    }

    /// The daemon's JSON envelope (`{"success":bool,…}`) whatever the
    /// status; anything else (no answer, a timeout, HTML) is "unavailable".
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<serde_json::Map<String, Value>, DmError> {
        let unavailable = |detail: String| DmError::DaemonUnavailable(detail);
        let response = request.send().await.map_err(|e| unavailable(e.to_string()))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| unavailable(e.to_string()))?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) if map.get("success").is_some_and(Value::is_boolean) => Ok(map),
            _ => Err(unavailable(format!("HTTP {status} without the daemon's JSON envelope"))),
        }
    }
}

#[async_trait]
impl RuntimeConfigService for DaemonClient {
    #[tracing::instrument(skip_all, fields(version = %config.config_version))]
    async fn apply(&self, config: RuntimeSchedulerConfig) -> Result<bool, DmError> {
        let config = config.normalized();
        config.validate("").map_err(DmError::Validation)?;
        let url = format!("{}/api/v1/runtime-config", self.endpoint);
        // Serialised whole: every boolean goes out, `false` included.
        let answer = self.call(self.http.post(url).json(&config)).await?;
        if answer.get("success") != Some(&Value::Bool(true)) {
            let error = answer.get("error").and_then(Value::as_str).unwrap_or("unknown error");
            return Err(DmError::DaemonRejected(error.to_string()));
        }
        if answer.get("noop") != Some(&Value::Bool(true)) {
            return Ok(false);
        }
        // The daemon no-ops on a version it applied without looking at the
        // content: make sure it runs what was asked.
        let status = self.status().await?;
        if config.content_matches(&status.config.normalized()) {
            Ok(true)
        } else {
            Err(DmError::Conflict(format!(
                "configVersion {:?} is already applied with different content",
                config.config_version
            )))
        }
    }

    #[tracing::instrument(skip_all)]
    async fn status(&self) -> Result<RuntimeStatus, DmError> {
        let url = format!("{}/api/v1/status", self.endpoint);
        let answer = self.call(self.http.get(url)).await?;
        match (answer.get("success"), answer.get("data")) {
            (Some(Value::Bool(true)), Some(data)) => serde_json::from_value(data.clone())
                .map_err(|e| DmError::DaemonUnavailable(format!("status data: {e}"))),
            _ => Err(DmError::DaemonUnavailable("status without success and data".into())),
        }
    }
}
