use serde::{Deserialize, Serialize};

/// The Decision Maker's configuration (spec: decision-maker.md 12.2).
/// Every key is also `DM_<SECTION>_<KEY>` in the environment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DmConfig {
    pub server: ServerConfig,
    pub logging: LoggingConfig,
    pub token: TokenConfig,
    pub mtls: MtlsConfig,
    pub scan: ScanConfig,
    pub resolve: ResolveConfig,
    pub clock: ClockConfig,
    pub standalone: StandaloneConfig,
    pub daemon: DaemonConfig,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// `[host]:port`; an empty host listens dual-stack on all interfaces.
    pub host: String,
    /// Larger request bodies get 413 (`POST /api/v1/intents` always takes 16 MiB).
    pub max_body_bytes: usize,
    /// A client must send a request's head within this time, then its
    /// whole body within this time again; 408 and a closed connection otherwise.
    pub client_request_timeout_ms: u64,
    /// After a response, how long the client may take to close its side.
    pub client_disconnect_timeout_ms: u64,
    /// Idle time a kept-alive connection may wait for its next request.
    pub keep_alive_s: u64,
    /// HTTP worker threads (0 counts as 1). One scheduler and the Manager
    /// are the clients, and a poll is a buffer write: a worker per core
    /// (actix's default) only adds threads and their buffers.
    pub workers: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: ":8080".into(),
            max_body_bytes: 1 << 20,
            client_request_timeout_ms: 15_000,
            client_disconnect_timeout_ms: 1_000,
            keep_alive_s: 60,
            workers: 2,
        }
    }
}

impl ServerConfig {
    /// Upstream's fallback when the host is configured empty.
    pub fn listen_address(&self) -> &str {
        if self.host.trim().is_empty() {
            ":8082"
        } else {
            self.host.trim()
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggingConfig {
    /// `trace`, `debug`, `info`, `warn` or `error`; `RUST_LOG` wins when set.
    pub level: String,
    /// Accepted for upstream compatibility; logs always go to stdout.
    pub path: String,
    /// `auto` (JSON unless stdout is a terminal), `json` or `text`.
    pub format: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            path: String::new(),
            format: "auto".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenConfig {
    /// Accepted and ignored: auth is always on, as upstream.
    pub enable: bool,
    /// PKCS#1 or PKCS#8 RSA key; empty generates an ephemeral key (with a warning).
    pub rsa_private_key_pem: String,
    pub token_duration_hr: i64,
    /// `client_id`s whose tokens may write intents (the Manager's role);
    /// with mTLS on, any `client_id` may. Others get the scheduler's role.
    /// In the environment: `DM_TOKEN_MANAGER_CLIENT_IDS='[manager-client]'`.
    pub manager_client_ids: Vec<String>,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            enable: true,
            rsa_private_key_pem: String::new(),
            token_duration_hr: 24,
            manager_client_ids: vec!["manager-client".into()],
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MtlsConfig {
    pub enable: bool,
    /// Inline PEM: the server certificate, optionally followed by intermediates.
    pub cert_pem: String,
    /// Inline PEM: SEC1 EC, PKCS#8 or PKCS#1 RSA.
    pub key_pem: String,
    /// Inline PEM: CA that client certificates must chain to.
    pub ca_pem: String,
    /// Accepted for upstream compatibility; not used by the DM.
    pub server_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScanConfig {
    pub proc_root: String,
    pub cgroup_root: String,
    pub refresh_interval_ms: u64,
    pub watch_cgroups: bool,
    /// Host task table pass (targeting.md 9.3); below 100 raised to 100.
    pub host_refresh_interval_ms: u64,
    /// Every TGID fully re-read within this period; at least the pass.
    pub host_full_refresh_interval_ms: u64,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            proc_root: "/proc".into(),
            cgroup_root: "/sys/fs/cgroup".into(),
            refresh_interval_ms: 1000,
            watch_cgroups: true,
            host_refresh_interval_ms: 1000,
            host_full_refresh_interval_ms: 10_000,
        }
    }
}

/// Bounds of the scheduler's answer (targeting.md 10.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResolveConfig {
    /// Entries beyond this are dropped (pod-derived kept first).
    pub max_entries: usize,
}

impl Default for ResolveConfig {
    fn default() -> Self {
        Self { max_entries: 32_768 }
    }
}

/// Skew against the Manager's clock (targeting.md 13.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClockConfig {
    /// A larger skew is reported as `skewed` in `/health`; ≤ 0 means 5.
    pub max_skew_s: i64,
}

impl Default for ClockConfig {
    fn default() -> Self {
        Self { max_skew_s: 5 }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StandaloneConfig {
    /// Serve the legacy BSS API (templates, `GET /api/v1/metrics`, CORS).
    pub enable: bool,
    pub in_cluster: bool,
    pub kube_config_path: String,
    /// Falls back to `NODE_NAME`.
    pub node_name: String,
    pub pod_cache_ttl_s: u64,
    pub legacy_priority_true: i64,
    pub legacy_priority_false: i64,
}

impl Default for StandaloneConfig {
    fn default() -> Self {
        Self {
            enable: false,
            in_cluster: true,
            kube_config_path: String::new(),
            node_name: String::new(),
            pod_cache_ttl_s: 30,
            legacy_priority_true: 1,
            legacy_priority_false: 20,
        }
    }
}

/// The scheduler daemon's control API (sessions-and-runtime.md 17.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DaemonConfig {
    /// An `http://` or `https://` URL (checked at startup).
    pub endpoint: String,
    /// Per daemon request; <= 0 means 5.
    pub timeout_sec: i64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            endpoint: "http://127.0.0.1:18080".into(),
            timeout_sec: 5,
        }
    }
}

impl DaemonConfig {
    pub fn timeout(&self) -> std::time::Duration {
        let seconds = if self.timeout_sec > 0 { self.timeout_sec } else { 5 };
        std::time::Duration::from_secs(seconds.unsigned_abs())
    }
}

// figment::Jail dictates the closures' (large) error type.
#[cfg(test)]
#[allow(clippy::result_large_err)]
mod tests {
    use std::path::Path;

    use figment::Jail;

    use super::*;
    use crate::{Value, load};

    fn load_dm(file: Option<&Path>, overrides: &[(&str, Value)]) -> Result<DmConfig, crate::ConfigError> {
        load("DM_", file, overrides)
    }

    #[test]
    fn defaults_without_file_or_env() {
        Jail::expect_with(|_| {
            let c = load_dm(None, &[]).unwrap();
            assert_eq!(c, DmConfig::default());
            assert_eq!(c.server.listen_address(), ":8080");
            Ok(())
        });
    }

    #[test]
    fn env_overrides_every_key_including_absent_ones() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "dm.toml",
                "[server]\nhost = \":9000\"\n[token]\ntoken_duration_hr = 3\n",
            )?;
            jail.set_env("DM_SERVER_HOST", "127.0.0.1:7000");
            jail.set_env("DM_MTLS_ENABLE", "true");
            jail.set_env(
                "DM_TOKEN_RSA_PRIVATE_KEY_PEM",
                "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n",
            );
            jail.set_env("DM_SCAN_REFRESH_INTERVAL_MS", "250");
            jail.set_env("DM_SERVER_CLIENT_REQUEST_TIMEOUT_MS", "2500");
            jail.set_env("DM_TOKEN_MANAGER_CLIENT_IDS", "[mgr-a, mgr-b]");
            jail.set_env("DM_STANDALONE_LEGACY_PRIORITY_FALSE", "0");
            jail.set_env("DM_SERVER_WORKERS", "1");
            jail.set_env("DM_SCAN_HOST_FULL_REFRESH_INTERVAL_MS", "3000");
            jail.set_env("DM_RESOLVE_MAX_ENTRIES", "100");
            jail.set_env("DM_CONFIG_NAME", "dm");
            let c = load_dm(Some(Path::new("dm.toml")), &[]).unwrap();
            assert_eq!(c.server.workers, 1);
            assert_eq!(c.server.host, "127.0.0.1:7000");
            assert!(c.mtls.enable);
            assert!(c.token.rsa_private_key_pem.contains("\nabc\n"));
            assert_eq!(c.token.token_duration_hr, 3);
            assert_eq!(c.scan.refresh_interval_ms, 250);
            assert_eq!(c.server.client_request_timeout_ms, 2500);
            assert_eq!(c.token.manager_client_ids, ["mgr-a", "mgr-b"]);
            assert_eq!(c.standalone.legacy_priority_false, 0);
            assert_eq!(c.scan.host_full_refresh_interval_ms, 3000);
            assert_eq!(c.resolve.max_entries, 100);
            Ok(())
        });
    }

    #[test]
    fn flags_beat_env_and_empty_host_means_8082() {
        Jail::expect_with(|jail| {
            jail.set_env("DM_SERVER_HOST", ":1");
            let c = load_dm(
                None,
                &[
                    ("server.host", Value::from(":2")),
                    ("standalone.in_cluster", Value::from(false)),
                ],
            )
            .unwrap();
            assert_eq!(c.server.host, ":2");
            assert!(!c.standalone.in_cluster);
            jail.set_env("DM_SERVER_HOST", "");
            let c = load_dm(None, &[]).unwrap();
            assert_eq!(c.server.listen_address(), ":8082");
            Ok(())
        });
    }

    #[test]
    fn bad_values_name_the_key_not_the_value() {
        Jail::expect_with(|jail| {
            jail.set_env("DM_SCAN_REFRESH_INTERVAL_MS", "secret-ish");
            let e = load_dm(None, &[]).unwrap_err().to_string();
            assert!(e.contains("scan.refresh_interval_ms"), "{e}");
            assert!(!e.contains("secret-ish"), "{e}");
            assert!(load_dm(Some(Path::new("/nonexistent/dm.toml")), &[]).is_err());
            Ok(())
        });
    }

    #[test]
    fn shipped_config_file_parses_to_the_documented_defaults() {
        Jail::expect_with(|_| {
            let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/dm_config.toml");
            let c = load_dm(Some(&shipped), &[]).unwrap();
            assert_eq!(c, DmConfig::default());
            Ok(())
        });
    }
}
