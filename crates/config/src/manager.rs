use serde::{Deserialize, Serialize};

use crate::ConfigError;

mod auth;

pub use auth::{AuthConfig, AuthSettings, CookieSecureSetting};

/// The Manager's configuration (spec: manager.md 15.2). Every key is also
/// `MANAGER_<SECTION>_<KEY>` in the environment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawManagerConfig")]
pub struct ManagerConfig {
    pub server: ServerConfig,
    pub logging: LoggingConfig,
    pub storage: StorageConfig,
    pub mongodb: MongodbConfig,
    pub key: KeyConfig,
    pub account: AccountConfig,
    pub k8s: K8sConfig,
    pub leader_election: LeaderElectionConfig,
    pub auth: AuthConfig,
    pub mtls: MtlsConfig,
    pub reconciler: ReconcilerConfig,
}

/// What the sources hold. The loader splits an environment variable at the
/// first `_` after the prefix, so `MANAGER_LEADER_ELECTION_ENABLE` arrives
/// as `leader.election_enable`; it is folded into `leader_election` here.
#[derive(Default, Deserialize)]
#[serde(default)]
struct RawManagerConfig {
    server: ServerConfig,
    logging: LoggingConfig,
    storage: StorageConfig,
    mongodb: MongodbConfig,
    key: KeyConfig,
    account: AccountConfig,
    k8s: K8sConfig,
    leader_election: LeaderElectionConfig,
    leader: LeaderEnvKeys,
    auth: AuthConfig,
    mtls: MtlsConfig,
    reconciler: ReconcilerConfig,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct LeaderEnvKeys {
    election_enable: Option<bool>,
    #[serde(deserialize_with = "lenient_opt_string")]
    election_lease_name: Option<String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    election_namespace: Option<String>,
}

impl From<RawManagerConfig> for ManagerConfig {
    fn from(raw: RawManagerConfig) -> Self {
        let mut leader_election = raw.leader_election;
        if let Some(enable) = raw.leader.election_enable {
            leader_election.enable = enable;
        }
        if let Some(name) = raw.leader.election_lease_name {
            leader_election.lease_name = name;
        }
        if let Some(namespace) = raw.leader.election_namespace {
            leader_election.namespace = namespace;
        }
        Self {
            server: raw.server,
            logging: raw.logging,
            storage: raw.storage,
            mongodb: raw.mongodb,
            key: raw.key,
            account: raw.account,
            k8s: raw.k8s,
            leader_election,
            auth: raw.auth,
            mtls: raw.mtls,
            reconciler: raw.reconciler,
        }
    }
}

/// Where the Manager keeps its data, once `storage.backend = auto` is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageBackend {
    Redb,
    MongoDb,
}

impl ManagerConfig {
    /// `auto` picks MongoDB when `mongodb.uri` or `mongodb.host` is set (so
    /// upstream manifests setting `MANAGER_MONGODB_HOST` keep their
    /// database), the embedded redb store otherwise.
    pub fn storage_backend(&self) -> Result<StorageBackend, ConfigError> {
        match self.storage.backend.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => {
                let mongo = !self.mongodb.uri.trim().is_empty() || !self.mongodb.host.trim().is_empty();
                Ok(if mongo {
                    StorageBackend::MongoDb
                } else {
                    StorageBackend::Redb
                })
            }
            "redb" => Ok(StorageBackend::Redb),
            "mongodb" | "mongo" => Ok(StorageBackend::MongoDb),
            other => Err(ConfigError::Invalid(format!(
                "storage.backend: expected auto, redb or mongodb, found {other:?}"
            ))),
        }
    }
}

/// Environment values are typed by figment (`MANAGER_MONGODB_PORT=27017`
/// arrives as an integer, a numeric password as a number); every string
/// key takes them as their text.
pub(crate) fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct Text;
    impl serde::de::Visitor<'_> for Text {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(Text)
}

fn lenient_opt_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    lenient_string(d).map(Some)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// `[host]:port`; an empty host listens dual-stack on all interfaces.
    #[serde(deserialize_with = "lenient_string")]
    pub host: String,
    /// Larger request bodies get 413.
    pub max_body_bytes: usize,
    /// A client must send a request's head within this time, then its
    /// whole body within this time again; 408 and a closed connection otherwise.
    pub client_request_timeout_ms: u64,
    /// After a response, how long the client may take to close its side.
    pub client_disconnect_timeout_ms: u64,
    /// Idle time a kept-alive connection may wait for its next request.
    pub keep_alive_s: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: ":8080".into(),
            max_body_bytes: 1 << 20,
            client_request_timeout_ms: 15_000,
            client_disconnect_timeout_ms: 1_000,
            keep_alive_s: 60,
        }
    }
}

impl ServerConfig {
    /// `":8080"` when the host is configured empty.
    pub fn listen_address(&self) -> &str {
        if self.host.trim().is_empty() {
            ":8080"
        } else {
            self.host.trim()
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggingConfig {
    /// `trace`, `debug`, `info`, `warn` or `error`; `RUST_LOG` wins when set.
    #[serde(deserialize_with = "lenient_string")]
    pub level: String,
    /// `auto` (JSON unless stdout is a terminal), `json` or `text`.
    #[serde(deserialize_with = "lenient_string")]
    pub format: String,
    /// Accepted for upstream compatibility; logs always go to stdout.
    pub console: bool,
    /// Accepted for upstream compatibility; ignored.
    #[serde(deserialize_with = "lenient_string")]
    pub file_path: String,
    /// Accepted for upstream compatibility; ignored.
    #[serde(deserialize_with = "lenient_string")]
    pub path: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "auto".into(),
            console: true,
            file_path: String::new(),
            path: String::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    /// `auto`, `redb` or `mongodb` (see [`ManagerConfig::storage_backend`]).
    #[serde(deserialize_with = "lenient_string")]
    pub backend: String,
    /// The embedded store's file; parent directories are created.
    #[serde(deserialize_with = "lenient_string")]
    pub redb_path: String,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: "auto".into(),
            redb_path: "data/manager.redb".into(),
        }
    }
}

// No `Debug` derive: the password must never reach a log through `{:?}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MongodbConfig {
    /// A full connection string; wins over the fields below when set.
    #[serde(deserialize_with = "lenient_string")]
    pub uri: String,
    #[serde(deserialize_with = "lenient_string")]
    pub host: String,
    /// A string, as upstream.
    #[serde(deserialize_with = "lenient_string")]
    pub port: String,
    #[serde(deserialize_with = "lenient_string")]
    pub user: String,
    #[serde(deserialize_with = "lenient_string")]
    pub password: String,
    #[serde(deserialize_with = "lenient_string")]
    pub database: String,
    /// Appended verbatim to the connection URI.
    #[serde(deserialize_with = "lenient_string")]
    pub options: String,
    pub ca_pem_enable: bool,
    #[serde(deserialize_with = "lenient_string")]
    pub ca_pem: String,
}

impl Default for MongodbConfig {
    fn default() -> Self {
        Self {
            uri: String::new(),
            host: String::new(),
            port: "27017".into(),
            user: String::new(),
            password: String::new(),
            database: "manager".into(),
            options: "authSource=admin&directConnection=true&ssl=false".into(),
            ca_pem_enable: false,
            ca_pem: String::new(),
        }
    }
}

impl std::fmt::Debug for MongodbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongodbConfig")
            .field("uri_set", &!self.uri.is_empty())
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("database", &self.database)
            .field("options", &self.options)
            .field("ca_pem_enable", &self.ca_pem_enable)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyConfig {
    /// PKCS#1 or PKCS#8 RSA key signing user JWTs; empty generates an
    /// ephemeral key (with a warning).
    #[serde(deserialize_with = "lenient_string")]
    pub rsa_private_key_pem: String,
    /// SPKI PEM sent to DMs in token requests; empty = the public half of
    /// `rsa_private_key_pem`.
    #[serde(deserialize_with = "lenient_string")]
    pub dm_public_key_pem: String,
    #[serde(deserialize_with = "lenient_string")]
    pub client_id: String,
}

impl Default for KeyConfig {
    fn default() -> Self {
        Self {
            rsa_private_key_pem: String::new(),
            dm_public_key_pem: String::new(),
            client_id: "manager-client".into(),
        }
    }
}

impl std::fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyConfig")
            .field("rsa_private_key_pem_set", &!self.rsa_private_key_pem.is_empty())
            .field("dm_public_key_pem", &self.dm_public_key_pem)
            .field("client_id", &self.client_id)
            .finish()
    }
}

/// The bootstrap admin, created at startup when no user has that name.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountConfig {
    #[serde(deserialize_with = "lenient_string")]
    pub admin_email: String,
    #[serde(deserialize_with = "lenient_string")]
    pub admin_password: String,
}

impl Default for AccountConfig {
    fn default() -> Self {
        Self {
            admin_email: "admin@example.com".into(),
            admin_password: "your-password-here".into(),
        }
    }
}

impl std::fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountConfig")
            .field("admin_email", &self.admin_email)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct K8sConfig {
    /// Use the pod's service account.
    pub in_cluster: bool,
    /// Else `$KUBECONFIG`, then `~/.kube/config`.
    #[serde(deserialize_with = "lenient_string")]
    pub kube_config_path: String,
    /// Read pods from a `kubectl get pods -A -o json` file instead of a cluster.
    #[serde(deserialize_with = "lenient_string")]
    pub pods_file: String,
    /// The label of Decision Maker pods: `key=value`, or `key` for any
    /// value (validated at startup).
    #[serde(deserialize_with = "lenient_string")]
    pub decision_maker_selector: String,
    /// Seconds before retrying a cluster that could not be reached at
    /// startup; doubles per failure up to 60 s.
    pub retry_initial_s: u64,
    /// Accepted for upstream compatibility; ignored (no custom resources).
    #[serde(deserialize_with = "lenient_string")]
    pub crd_namespace: String,
}

impl Default for K8sConfig {
    fn default() -> Self {
        Self {
            in_cluster: false,
            kube_config_path: String::new(),
            pods_file: String::new(),
            decision_maker_selector: "app=decisionmaker".into(),
            retry_initial_s: 5,
            crd_namespace: String::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LeaderElectionConfig {
    pub enable: bool,
    #[serde(deserialize_with = "lenient_string")]
    pub lease_name: String,
    /// Empty = the pod's namespace.
    #[serde(deserialize_with = "lenient_string")]
    pub namespace: String,
}

impl Default for LeaderElectionConfig {
    fn default() -> Self {
        Self {
            enable: false,
            lease_name: "gthulhu-manager".into(),
            namespace: String::new(),
        }
    }
}

/// The Manager's client side of DM calls.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MtlsConfig {
    pub enable: bool,
    /// Name verified on DM certificates; empty = the DM's pod IP.
    #[serde(deserialize_with = "lenient_string")]
    pub server_name: String,
    #[serde(deserialize_with = "lenient_string")]
    pub cert_pem: String,
    /// SEC1 EC, PKCS#8 or PKCS#1 RSA.
    #[serde(deserialize_with = "lenient_string")]
    pub key_pem: String,
    #[serde(deserialize_with = "lenient_string")]
    pub ca_pem: String,
}

impl Default for MtlsConfig {
    fn default() -> Self {
        Self {
            enable: false,
            server_name: "localhost".into(),
            cert_pem: String::new(),
            key_pem: String::new(),
            ca_pem: String::new(),
        }
    }
}

impl std::fmt::Debug for MtlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MtlsConfig")
            .field("enable", &self.enable)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReconcilerConfig {
    pub initial_delay_s: u64,
    pub interval_s: u64,
    /// Nodes pushed at once (by a reconcile pass or a strategy change);
    /// bounds the Manager's outbound connections on large clusters.
    pub max_concurrent_pushes: usize,
}

impl Default for ReconcilerConfig {
    fn default() -> Self {
        Self {
            initial_delay_s: 5,
            interval_s: 30,
            max_concurrent_pushes: 64,
        }
    }
}

// figment::Jail dictates the closures' (large) error type.
#[cfg(test)]
#[allow(clippy::result_large_err)]
mod tests;
