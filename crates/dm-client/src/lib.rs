//! The Manager's client of Decision Makers (manager.md 11.2 to 11.4):
//! DM tokens cached per endpoint, replace-all intent delivery, deletes,
//! Merkle roots, pod PIDs and the scheduler runtime configuration, over
//! HTTP or mTLS.

mod runtime;
mod tls;
mod wire;

use std::collections::HashMap;
use std::error::Error as _;
use std::net::Ipv6Addr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use gthulhu_domain::manager::{DecisionMakerAdapter, DecisionMakerEndpoint, DmClientError};
use gthulhu_domain::runtime_config::{RuntimeSchedulerConfig, RuntimeStatus};
use gthulhu_domain::{DeleteIntents, Intent};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use wire::{PushIntents, TokenRequest, TokenResponse, WireDelete};

/// Per-request timeout of DM calls.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A cached token is dropped this long before its advertised expiry.
const TOKEN_EXPIRY_MARGIN_S: i64 = 60;

/// The Manager's mTLS material for DM calls (`mtls.*`), inline PEM.
#[derive(Clone, Debug)]
pub struct ClientTls {
    pub cert_pem: String,
    /// SEC1 EC, PKCS#8 or PKCS#1 RSA.
    pub key_pem: String,
    /// The only trusted root for DM certificates.
    pub ca_pem: String,
    /// Name checked on DM certificates; empty = the DM's address.
    pub server_name: String,
}

#[derive(Clone, Debug)]
pub struct ClientSettings {
    /// `key.dm_public_key_pem`, sent verbatim in token requests.
    pub public_key_pem: String,
    pub client_id: String,
    /// `Some` switches every DM call to `https` with a client certificate.
    pub mtls: Option<ClientTls>,
    pub timeout: Duration,
}

/// Startup errors; fatal for the Manager.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("load mTLS client certificate: {0}")]
    ClientCertificate(String),
    #[error("parse mTLS CA certificate: {0}")]
    CaCertificate(String),
    #[error("invalid mTLS server name {0:?}")]
    ServerName(String),
    #[error("build decision maker HTTP client: {0}")]
    Http(String),
}

struct CachedToken {
    token: String,
    /// Unix seconds after which the token is no longer used.
    valid_until: i64,
}

/// [`DecisionMakerAdapter`] over the DM's REST API, wire-compatible with
/// upstream DMs.
pub struct HttpDecisionMakerClient {
    http: reqwest::Client,
    scheme: &'static str,
    public_key_pem: String,
    client_id: String,
    /// By endpoint base URL (`scheme://host:port`).
    tokens: Mutex<HashMap<String, CachedToken>>,
}

impl HttpDecisionMakerClient {
    pub fn new(settings: ClientSettings) -> Result<Self, ClientError> {
        // DMs are reached directly at their pod addresses, never through an
        // environment-configured proxy.
        let mut builder = reqwest::Client::builder().timeout(settings.timeout).no_proxy();
        let scheme = match &settings.mtls {
            Some(mtls) => {
                builder = builder.use_preconfigured_tls(tls::client_config(mtls)?);
                "https"
            }
            None => "http",
        };
        let http = builder.build().map_err(|e| ClientError::Http(describe(&e)))?;
        Ok(Self {
            http,
            scheme,
            public_key_pem: settings.public_key_pem,
            client_id: settings.client_id,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    fn base_url(&self, dm: &DecisionMakerEndpoint) -> String {
        // Pod IPs may be IPv6, which URLs need in brackets.
        if dm.host.parse::<Ipv6Addr>().is_ok() {
            format!("{}://[{}]:{}", self.scheme, dm.host, dm.port)
        } else {
            format!("{}://{}:{}", self.scheme, dm.host, dm.port)
        }
    }

    fn cached_token(&self, base: &str) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        tokens
            .get(base)
            .filter(|t| unix_now() < t.valid_until)
            .map(|t| t.token.clone())
    }

    fn forget_token(&self, base: &str) {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner).remove(base);
    }

    async fn token(&self, base: &str) -> Result<String, DmClientError> {
        match self.cached_token(base) {
            Some(token) => Ok(token),
            None => self.fetch_token(base).await,
        }
    }

    async fn fetch_token(&self, base: &str) -> Result<String, DmClientError> {
        let request = TokenRequest {
            public_key: &self.public_key_pem,
            client_id: &self.client_id,
            expired_at: 0,
        };
        let response = self
            .http
            .post(format!("{base}/api/v1/auth/token"))
            .json(&request)
            .send()
            .await
            .map_err(|e| DmClientError::Unreachable(describe(&e)))?;
        if response.status() != StatusCode::OK {
            return Err(DmClientError::Token(format!("status {}", response.status().as_u16())));
        }
        let body: TokenResponse = response
            .json()
            .await
            .map_err(|e| DmClientError::Token(format!("invalid response: {}", describe(&e))))?;
        let data = body
            .data
            .ok_or_else(|| DmClientError::Token("response has no data".into()))?;
        let token = data
            .token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| DmClientError::Token("response has no data.token".into()))?;
        let valid_until = data.expired_at.unwrap_or(0).saturating_sub(TOKEN_EXPIRY_MARGIN_S);
        let now = unix_now();
        // A token too close to its expiry serves this call only.
        if valid_until > now {
            let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
            // Bounds the map while DM pods (and so endpoints) come and go.
            tokens.retain(|_, t| t.valid_until > now);
            tokens.insert(
                base.to_string(),
                CachedToken {
                    token: token.clone(),
                    valid_until,
                },
            );
        }
        Ok(token)
    }

    /// One authenticated call; on 401 the token is renewed and the call
    /// retried once (the DM may have restarted with another key).
    async fn call(
        &self,
        dm: &DecisionMakerEndpoint,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response, DmClientError> {
        let base = self.base_url(dm);
        let url = format!("{base}{path}");
        let token = self.token(&base).await?;
        let response = self.send(&method, &url, &token, body.as_ref()).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        self.forget_token(&base);
        let token = self.fetch_token(&base).await?;
        self.send(&method, &url, &token, body.as_ref()).await
    }

    async fn send(
        &self,
        method: &Method,
        url: &str,
        token: &str,
        body: Option<&Vec<u8>>,
    ) -> Result<Response, DmClientError> {
        // Dated, so the DM can report its skew (targeting.md 13.4).
        let mut request = self.http.request(method.clone(), url).bearer_auth(token).header(
            reqwest::header::DATE,
            httpdate::fmt_http_date(std::time::SystemTime::now()),
        );
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body.clone());
        }
        request
            .send()
            .await
            .map_err(|e| DmClientError::Unreachable(describe(&e)))
    }

    /// The call's response when it is a 200.
    async fn call_ok(
        &self,
        dm: &DecisionMakerEndpoint,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response, DmClientError> {
        let response = self.call(dm, method, path, body).await?;
        match response.status() {
            StatusCode::OK => Ok(response),
            status => Err(DmClientError::Status(status.as_u16())),
        }
    }
}

#[async_trait]
impl DecisionMakerAdapter for HttpDecisionMakerClient {
    async fn push_intents(&self, dm: &DecisionMakerEndpoint, intents: &[Intent]) -> Result<(), DmClientError> {
        let body = to_json(&PushIntents {
            intents: intents.iter().map(Into::into).collect(),
        })?;
        self.call_ok(dm, Method::POST, "/api/v1/intents", Some(body))
            .await
            .map(drop)
    }

    async fn delete_intents(&self, dm: &DecisionMakerEndpoint, request: &DeleteIntents) -> Result<(), DmClientError> {
        let body = to_json(&WireDelete::from(request))?;
        self.call_ok(dm, Method::DELETE, "/api/v1/intents", Some(body))
            .await
            .map(drop)
    }

    async fn merkle_root(&self, dm: &DecisionMakerEndpoint) -> Result<String, DmClientError> {
        let mut body = read_json(self.call_ok(dm, Method::GET, "/api/v1/intents/merkle", None).await?).await?;
        let root = body
            .get_mut("data")
            .and_then(|data| data.get_mut("rootHash"))
            .map(Value::take);
        match root {
            None | Some(Value::Null) => Err(DmClientError::EmptyRoot),
            Some(Value::String(root)) if root.is_empty() => Err(DmClientError::EmptyRoot),
            Some(Value::String(root)) => Ok(root),
            Some(other) => Err(DmClientError::InvalidResponse(format!(
                "rootHash is not a string: {other}"
            ))),
        }
    }

    async fn pods_pids(&self, dm: &DecisionMakerEndpoint) -> Result<Value, DmClientError> {
        let mut body = read_json(self.call_ok(dm, Method::GET, "/api/v1/pods/pids", None).await?).await?;
        match body.get_mut("data").map(Value::take) {
            Some(data @ Value::Object(_)) => Ok(data),
            _ => Err(DmClientError::InvalidResponse("response has no data object".into())),
        }
    }

    async fn apply_runtime_config(
        &self,
        dm: &DecisionMakerEndpoint,
        config: &RuntimeSchedulerConfig,
    ) -> Result<(), DmClientError> {
        self.post_runtime_config(dm, config).await
    }

    async fn runtime_config(&self, dm: &DecisionMakerEndpoint) -> Result<RuntimeStatus, DmClientError> {
        self.get_runtime_config(dm).await
    }
}

fn to_json(body: &impl serde::Serialize) -> Result<Vec<u8>, DmClientError> {
    serde_json::to_vec(body).map_err(|e| DmClientError::InvalidResponse(format!("encode request: {e}")))
}

async fn read_json(response: Response) -> Result<Value, DmClientError> {
    response
        .json()
        .await
        .map_err(|e| DmClientError::InvalidResponse(describe(&e)))
}

/// The error with its causes: reqwest's own text omits why a connection
/// or handshake failed.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use gthulhu_domain::manager::DmState;

    use super::*;

    fn client() -> HttpDecisionMakerClient {
        HttpDecisionMakerClient::new(ClientSettings {
            public_key_pem: String::new(),
            client_id: "manager-client".into(),
            mtls: None,
            timeout: DEFAULT_TIMEOUT,
        })
        .unwrap()
    }

    fn endpoint(host: &str) -> DecisionMakerEndpoint {
        DecisionMakerEndpoint {
            node_name: "n".into(),
            pod_name: "dm".into(),
            pod_uid: String::new(),
            host: host.into(),
            port: 8080,
            state: DmState::Online,
        }
    }

    #[test]
    fn base_urls() {
        assert_eq!(client().base_url(&endpoint("10.0.0.7")), "http://10.0.0.7:8080");
        assert_eq!(client().base_url(&endpoint("fd00::7")), "http://[fd00::7]:8080");
        assert_eq!(client().base_url(&endpoint("dm.example")), "http://dm.example:8080");
    }
}
