//! Loading the Manager's configuration from files and the environment.

use std::path::Path;

use figment::Jail;

use super::*;
use crate::{Value, load};

fn load_manager(file: Option<&Path>, overrides: &[(&str, Value)]) -> Result<ManagerConfig, ConfigError> {
    load("MANAGER_", file, overrides)
}

/// Every key of manager.md 15.2, its environment variable and a
/// non-default value.
const EVERY_KEY: [(&str, &str); 52] = [
    ("MANAGER_SERVER_HOST", "127.0.0.1:9000"),
    ("MANAGER_SERVER_MAX_BODY_BYTES", "2048"),
    ("MANAGER_SERVER_CLIENT_REQUEST_TIMEOUT_MS", "3000"),
    ("MANAGER_SERVER_CLIENT_DISCONNECT_TIMEOUT_MS", "1000"),
    ("MANAGER_SERVER_KEEP_ALIVE_S", "30"),
    ("MANAGER_LOGGING_LEVEL", "debug"),
    ("MANAGER_LOGGING_FORMAT", "json"),
    ("MANAGER_LOGGING_CONSOLE", "false"),
    ("MANAGER_LOGGING_FILE_PATH", "/var/log/m.log"),
    ("MANAGER_LOGGING_PATH", "/var/log"),
    ("MANAGER_STORAGE_BACKEND", "mongodb"),
    ("MANAGER_STORAGE_REDB_PATH", "/data/m.redb"),
    ("MANAGER_MONGODB_URI", "mongodb://db:27017"),
    ("MANAGER_MONGODB_HOST", "mongo.svc"),
    ("MANAGER_MONGODB_PORT", "27018"),
    ("MANAGER_MONGODB_USER", "u"),
    ("MANAGER_MONGODB_PASSWORD", "p@ss"),
    ("MANAGER_MONGODB_DATABASE", "db2"),
    ("MANAGER_MONGODB_OPTIONS", "tls=false"),
    ("MANAGER_MONGODB_CA_PEM_ENABLE", "true"),
    (
        "MANAGER_MONGODB_CA_PEM",
        "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n",
    ),
    (
        "MANAGER_KEY_RSA_PRIVATE_KEY_PEM",
        "-----BEGIN RSA PRIVATE KEY-----\nk\n-----END RSA PRIVATE KEY-----\n",
    ),
    (
        "MANAGER_KEY_DM_PUBLIC_KEY_PEM",
        "-----BEGIN PUBLIC KEY-----\nd\n-----END PUBLIC KEY-----\n",
    ),
    ("MANAGER_KEY_CLIENT_ID", "other-client"),
    ("MANAGER_ACCOUNT_ADMIN_EMAIL", "root@example.org"),
    ("MANAGER_ACCOUNT_ADMIN_PASSWORD", "s3cret"),
    ("MANAGER_K8S_IN_CLUSTER", "true"),
    ("MANAGER_K8S_KUBE_CONFIG_PATH", "/kube/config"),
    ("MANAGER_K8S_PODS_FILE", "/pods.json"),
    ("MANAGER_K8S_DECISION_MAKER_SELECTOR", "component=gthulhu-dm"),
    ("MANAGER_K8S_RETRY_INITIAL_S", "1"),
    ("MANAGER_K8S_CRD_NAMESPACE", "gthulhu-system"),
    ("MANAGER_LEADER_ELECTION_ENABLE", "true"),
    ("MANAGER_LEADER_ELECTION_LEASE_NAME", "lease"),
    ("MANAGER_LEADER_ELECTION_NAMESPACE", "ns"),
    ("MANAGER_AUTH_ACCESS_TTL_S", "120"),
    ("MANAGER_AUTH_TOKEN_TTL_S", "60"),
    ("MANAGER_AUTH_REFRESH_TTL_S", "3600"),
    ("MANAGER_AUTH_SESSION_MAX_AGE_S", "0"),
    ("MANAGER_AUTH_MAX_SESSIONS_PER_USER", "2"),
    ("MANAGER_AUTH_USER_CACHE_TTL_S", "0"),
    ("MANAGER_AUTH_COOKIE_SECURE", "true"),
    ("MANAGER_AUTH_ALLOWED_ORIGINS", "https://ui.example.com"),
    ("MANAGER_AUTH_LOGIN_RATE_PER_MIN", "3"),
    ("MANAGER_MTLS_ENABLE", "true"),
    ("MANAGER_MTLS_SERVER_NAME", "dm.local"),
    ("MANAGER_MTLS_CERT_PEM", "cert"),
    ("MANAGER_MTLS_KEY_PEM", "key"),
    ("MANAGER_MTLS_CA_PEM", "ca"),
    ("MANAGER_RECONCILER_INITIAL_DELAY_S", "1"),
    ("MANAGER_RECONCILER_INTERVAL_S", "2"),
    ("MANAGER_RECONCILER_MAX_CONCURRENT_PUSHES", "3"),
];

#[test]
fn defaults_without_file_or_env() {
    Jail::expect_with(|_| {
        let c = load_manager(None, &[]).unwrap();
        assert_eq!(c, ManagerConfig::default());
        assert_eq!(c.server.listen_address(), ":8080");
        assert_eq!(c.server.max_body_bytes, 1_048_576);
        assert_eq!(c.storage.backend, "auto");
        assert_eq!(c.storage.redb_path, "data/manager.redb");
        assert_eq!(c.mongodb.port, "27017");
        assert_eq!(c.mongodb.database, "manager");
        assert_eq!(c.mongodb.options, "authSource=admin&directConnection=true&ssl=false");
        assert_eq!(c.key.client_id, "manager-client");
        assert_eq!(c.account.admin_email, "admin@example.com");
        assert_eq!(c.account.admin_password, "your-password-here");
        assert_eq!(c.k8s.decision_maker_selector, "app=decisionmaker");
        assert_eq!(c.k8s.retry_initial_s, 5);
        assert_eq!(c.leader_election.lease_name, "gthulhu-manager");
        assert_eq!((c.auth.access_ttl_s, c.auth.token_ttl_s), (None, None));
        assert_eq!(c.auth.settings().unwrap().access_ttl_s, 900);
        assert_eq!(c.auth.refresh_ttl_s, 86_400);
        assert_eq!(c.auth.session_max_age_s, 604_800);
        assert_eq!(c.auth.max_sessions_per_user, 20);
        assert_eq!(c.auth.user_cache_ttl_s, 5);
        assert_eq!(c.auth.cookie_secure, "auto");
        assert_eq!(c.auth.allowed_origins, "");
        assert_eq!(c.auth.login_rate_per_min, 10);
        assert_eq!(c.mtls.server_name, "localhost");
        assert_eq!(c.reconciler.initial_delay_s, 5);
        assert_eq!(c.reconciler.interval_s, 30);
        assert_eq!(c.reconciler.max_concurrent_pushes, 64);
        assert_eq!(c.storage_backend().unwrap(), StorageBackend::Redb);
        Ok(())
    });
}

#[test]
fn env_overrides_every_key_including_absent_ones() {
    Jail::expect_with(|jail| {
        jail.create_file("m.toml", "[server]\nhost = \":7000\"\n")?;
        for (name, value) in EVERY_KEY {
            jail.set_env(name, value);
        }
        let c = load_manager(Some(Path::new("m.toml")), &[]).unwrap();
        let expected = ManagerConfig {
            server: ServerConfig {
                host: "127.0.0.1:9000".into(),
                max_body_bytes: 2048,
                client_request_timeout_ms: 3000,
                client_disconnect_timeout_ms: 1000,
                keep_alive_s: 30,
            },
            logging: LoggingConfig {
                level: "debug".into(),
                format: "json".into(),
                console: false,
                file_path: "/var/log/m.log".into(),
                path: "/var/log".into(),
            },
            storage: StorageConfig {
                backend: "mongodb".into(),
                redb_path: "/data/m.redb".into(),
            },
            mongodb: MongodbConfig {
                uri: "mongodb://db:27017".into(),
                host: "mongo.svc".into(),
                port: "27018".into(),
                user: "u".into(),
                password: "p@ss".into(),
                database: "db2".into(),
                options: "tls=false".into(),
                ca_pem_enable: true,
                ca_pem: "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----".into(),
            },
            key: KeyConfig {
                // figment trims environment values.
                rsa_private_key_pem: "-----BEGIN RSA PRIVATE KEY-----\nk\n-----END RSA PRIVATE KEY-----".into(),
                dm_public_key_pem: "-----BEGIN PUBLIC KEY-----\nd\n-----END PUBLIC KEY-----".into(),
                client_id: "other-client".into(),
            },
            account: AccountConfig {
                admin_email: "root@example.org".into(),
                admin_password: "s3cret".into(),
            },
            k8s: K8sConfig {
                in_cluster: true,
                kube_config_path: "/kube/config".into(),
                pods_file: "/pods.json".into(),
                decision_maker_selector: "component=gthulhu-dm".into(),
                retry_initial_s: 1,
                crd_namespace: "gthulhu-system".into(),
            },
            leader_election: LeaderElectionConfig {
                enable: true,
                lease_name: "lease".into(),
                namespace: "ns".into(),
            },
            auth: AuthConfig {
                access_ttl_s: Some(120),
                token_ttl_s: Some(60),
                refresh_ttl_s: 3600,
                session_max_age_s: 0,
                max_sessions_per_user: 2,
                user_cache_ttl_s: 0,
                cookie_secure: "true".into(),
                allowed_origins: "https://ui.example.com".into(),
                login_rate_per_min: 3,
            },
            mtls: MtlsConfig {
                enable: true,
                server_name: "dm.local".into(),
                cert_pem: "cert".into(),
                key_pem: "key".into(),
                ca_pem: "ca".into(),
            },
            reconciler: ReconcilerConfig {
                initial_delay_s: 1,
                interval_s: 2,
                max_concurrent_pushes: 3,
            },
        };
        assert_eq!(c, expected, "every MANAGER_* variable must reach its key");
        assert_eq!(c.storage_backend().unwrap(), StorageBackend::MongoDb);
        // Numeric-looking values of string keys stay text.
        jail.set_env("MANAGER_MONGODB_PASSWORD", "123456");
        jail.set_env("MANAGER_ACCOUNT_ADMIN_PASSWORD", "true");
        // An empty value is a value too (not "unset").
        jail.set_env("MANAGER_MTLS_SERVER_NAME", "");
        jail.set_env("MANAGER_STORAGE_BACKEND", "redb");
        let c = load_manager(None, &[]).unwrap();
        assert_eq!(c.mtls.server_name, "");
        assert_eq!(c.mongodb.password, "123456");
        assert_eq!(c.account.admin_password, "true");
        assert_eq!(c.storage_backend().unwrap(), StorageBackend::Redb);
        Ok(())
    });
}

#[test]
fn auto_backend_picks_mongodb_when_configured() {
    let mut c = ManagerConfig::default();
    assert_eq!(c.storage_backend().unwrap(), StorageBackend::Redb);
    c.mongodb.host = "mongo".into();
    assert_eq!(c.storage_backend().unwrap(), StorageBackend::MongoDb);
    c.mongodb.host.clear();
    c.mongodb.uri = "mongodb://x".into();
    assert_eq!(c.storage_backend().unwrap(), StorageBackend::MongoDb);
    c.storage.backend = "redb".into();
    assert_eq!(c.storage_backend().unwrap(), StorageBackend::Redb);
    c.storage.backend = "postgres".into();
    let e = c.storage_backend().unwrap_err().to_string();
    assert!(e.contains("storage.backend"), "{e}");
}

#[test]
fn flags_beat_env_and_empty_host_means_8080() {
    Jail::expect_with(|jail| {
        jail.set_env("MANAGER_SERVER_HOST", ":1");
        let c = load_manager(None, &[("server.host", Value::from(":2"))]).unwrap();
        assert_eq!(c.server.host, ":2");
        jail.set_env("MANAGER_SERVER_HOST", "");
        let c = load_manager(None, &[]).unwrap();
        assert_eq!(c.server.listen_address(), ":8080");
        Ok(())
    });
}

#[test]
fn secrets_stay_out_of_debug_output_and_errors() {
    Jail::expect_with(|jail| {
        jail.set_env("MANAGER_MONGODB_PASSWORD", "hunter2");
        jail.set_env("MANAGER_ACCOUNT_ADMIN_PASSWORD", "adminpw");
        jail.set_env("MANAGER_KEY_RSA_PRIVATE_KEY_PEM", "PRIVATEPEM");
        jail.set_env("MANAGER_MTLS_KEY_PEM", "MTLSKEY");
        let c = load_manager(None, &[]).unwrap();
        let shown = format!("{c:?}");
        for secret in ["hunter2", "adminpw", "PRIVATEPEM", "MTLSKEY"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        jail.set_env("MANAGER_AUTH_TOKEN_TTL_S", "secret-ish");
        let e = load_manager(None, &[]).unwrap_err().to_string();
        assert!(e.contains("auth.token_ttl_s"), "{e}");
        assert!(!e.contains("secret-ish"), "{e}");
        Ok(())
    });
}

#[test]
fn shipped_config_file_parses_to_the_documented_defaults() {
    Jail::expect_with(|_| {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/manager_config.toml");
        let c = load_manager(Some(&shipped), &[]).unwrap();
        // The file spells out access_ttl_s (and drops the deprecated
        // token_ttl_s); everything else is as built in.
        let mut expected = ManagerConfig::default();
        expected.auth.access_ttl_s = Some(900);
        assert_eq!(c, expected);
        assert_eq!(c.auth.settings().unwrap(), expected.auth.settings().unwrap());
        assert!(c.auth.settings().unwrap().warnings.is_empty());
        Ok(())
    });
}
