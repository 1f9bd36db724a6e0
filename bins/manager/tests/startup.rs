//! The real `gthulhu-manager` binary: starts with no configuration file,
//! serves before storage is up, and stops gracefully on SIGTERM.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Manager, PRIVATE_KEY, free_port};
use gthulhu_test_support::slow_client::{InFlight, refuses_connections_within};
use serde_json::{Value, json};

/// Polls `/ready` until its storage check reads `state`.
async fn wait_storage(m: &Manager, state: &str) -> Value {
    m.wait_ready("/ready", |b| b["data"]["checks"]["storage"] == state)
        .await
}

#[tokio::test]
async fn default_redb_store_bootstraps_the_admin_and_sigterm_stops_gracefully() {
    let mut m = Manager::start(tempfile::tempdir().unwrap(), &[]).await;
    let body = wait_storage(&m, "ok").await;
    // No $KUBECONFIG, no ~/.kube/config, not in a cluster: retried.
    let cluster = body["data"]["checks"]["kubernetes"].as_str().unwrap();
    assert!(
        cluster.starts_with("not configured: no kubeconfig found") && cluster.contains("; retrying in "),
        "{cluster}"
    );
    let (s, b) = m.login().await;
    assert_eq!(s, 200, "{b}");
    assert!(
        m.dir.path().join("data/manager.redb").is_file(),
        "the default redb path, relative to the cwd"
    );
    let (s, b) = m.get("/api/v1/users", None).await;
    assert_eq!((s, b["error"].as_str()), (401, Some("Missing Authorization header")));

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(m.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(exit) = m.child.try_wait().unwrap() {
            assert!(exit.success(), "exit status after SIGTERM: {exit:?}");
            break;
        }
        assert!(Instant::now() < deadline, "still running 15 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGTERM while a login is half-sent: new connections are refused at
/// once, the login in flight is answered in full, then the binary exits
/// cleanly.
#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_and_accepts_no_new_one() {
    let mut m = Manager::start(tempfile::tempdir().unwrap(), &[]).await;
    wait_storage(&m, "ok").await;
    let addr: std::net::SocketAddr = m.base.trim_start_matches("http://").parse().unwrap();
    let body = json!({"username": "admin@example.com", "password": "your-password-here"}).to_string();
    let in_flight = InFlight::start(addr, "/api/v1/auth/login", &body);
    std::thread::sleep(Duration::from_millis(200));
    gthulhu_test_support::sigterm(m.child.id());
    assert!(
        refuses_connections_within(addr, Duration::from_secs(5)),
        "still accepting connections 5 s after SIGTERM"
    );
    let outcome = in_flight.finish(Duration::from_secs(15));
    assert_eq!(outcome.status, 200, "{}", outcome.response);
    assert!(outcome.response.contains("\"token\""), "{}", outcome.response);
    let exit = m.child.wait().unwrap();
    assert!(exit.success(), "exit status after SIGTERM: {exit:?}");
}

#[tokio::test]
async fn serves_while_mongodb_is_unreachable() {
    // Nothing listens on this port: the Manager keeps retrying.
    let port = free_port().to_string();
    let m = Manager::start(
        tempfile::tempdir().unwrap(),
        &[("MANAGER_MONGODB_HOST", "127.0.0.1"), ("MANAGER_MONGODB_PORT", &port)],
    )
    .await;
    let (s, b) = m.get("/health", None).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("healthy")));
    let body = wait_storage(&m, "unavailable").await;
    assert_eq!(body["success"], false);
    let (s, b) = m.login().await;
    assert_eq!((s, b["error"].as_str()), (503, Some("storage unavailable")));
}

#[tokio::test]
async fn invalid_configuration_is_fatal_and_named() {
    for (key, value, expected) in [
        ("MANAGER_STORAGE_BACKEND", "postgres", "storage.backend"),
        ("MANAGER_KEY_DM_PUBLIC_KEY_PEM", "secret-ish", "key.dm_public_key_pem"),
        (
            "MANAGER_KEY_RSA_PRIVATE_KEY_PEM",
            "secret-ish",
            "key.rsa_private_key_pem",
        ),
        (
            "MANAGER_K8S_DECISION_MAKER_SELECTOR",
            "=secret-ish",
            "k8s.decision_maker_selector",
        ),
        (
            "MANAGER_AUTH_ACCESS_TTL_S",
            "5",
            "auth.access_ttl_s must be between 10 and 86400",
        ),
        (
            "MANAGER_AUTH_TOKEN_TTL_S",
            "100000",
            "auth.access_ttl_s must be between 10 and 86400",
        ),
        (
            "MANAGER_AUTH_REFRESH_TTL_S",
            "60",
            "auth.refresh_ttl_s must be at least auth.access_ttl_s",
        ),
        (
            "MANAGER_AUTH_SESSION_MAX_AGE_S",
            "3600",
            "auth.session_max_age_s must be 0 (no cap) or at least auth.refresh_ttl_s",
        ),
        (
            "MANAGER_AUTH_MAX_SESSIONS_PER_USER",
            "1001",
            "auth.max_sessions_per_user must be between 1 and 1000",
        ),
        (
            "MANAGER_AUTH_COOKIE_SECURE",
            "sometimes",
            "auth.cookie_secure must be auto, true or false",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_gthulhu-manager"))
            .env_clear()
            .env("MANAGER_CONFIG_DIR_PATH", "/nonexistent")
            .env("MANAGER_SERVER_HOST", "127.0.0.1:0")
            .env("MANAGER_KEY_RSA_PRIVATE_KEY_PEM", PRIVATE_KEY)
            .env(key, value)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{key}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{key}: {stderr}");
        assert!(
            !stderr.contains("secret-ish"),
            "{key}: key material is not echoed: {stderr}"
        );
    }
}

#[tokio::test]
async fn config_name_and_dir_flags_with_environment_precedence() {
    let config_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        config_dir.path().join("custom.toml"),
        "[storage]\nredb_path = \"from-file.redb\"\n",
    )
    .unwrap();
    std::fs::write(
        config_dir.path().join("other.toml"),
        "[storage]\nredb_path = \"from-env-name.redb\"\n",
    )
    .unwrap();
    let dir = config_dir.path().to_str().unwrap();
    for (args, env_name, expected) in [
        (vec!["-c", "custom", "-d", dir], None, "from-file.redb"),
        (
            vec!["--config-name", "custom", "--config-dir", dir],
            Some("other"),
            "from-env-name.redb",
        ),
    ] {
        let work = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gthulhu-manager"));
        cmd.args(&args)
            .env_clear()
            .env("MANAGER_SERVER_HOST", format!("127.0.0.1:{port}"))
            .env("MANAGER_KEY_RSA_PRIVATE_KEY_PEM", PRIVATE_KEY)
            .current_dir(work.path())
            .stdout(Stdio::null());
        if let Some(name) = env_name {
            cmd.env("MANAGER_CONFIG_NAME", name);
        }
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !work.path().join(expected).is_file() {
            assert!(Instant::now() < deadline, "{args:?}: {expected} never created");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// sessions-and-runtime.md 12: `auth.token_ttl_s` alone still sets the
/// access token lifetime, with a deprecation warning.
#[tokio::test]
async fn the_deprecated_token_ttl_alone_is_honoured_with_a_warning() {
    use base64::Engine;

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = dir.path().join("manager.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gthulhu-manager"))
        .env_clear()
        .env("MANAGER_CONFIG_DIR_PATH", "/nonexistent")
        .env("MANAGER_SERVER_HOST", format!("127.0.0.1:{port}"))
        .env("MANAGER_KEY_RSA_PRIVATE_KEY_PEM", PRIVATE_KEY)
        .env("MANAGER_AUTH_TOKEN_TTL_S", "120")
        .current_dir(dir.path())
        .stdout(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let token = loop {
        let login = http
            .post(format!("http://127.0.0.1:{port}/api/v1/auth/login"))
            .body(r#"{"username":"admin@example.com","password":"your-password-here"}"#)
            .send()
            .await;
        if let Ok(r) = login
            && r.status() == 200
        {
            let body: Value = r.json().await.unwrap();
            break body["data"]["accessToken"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no login within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("auth.token_ttl_s is deprecated; use auth.access_ttl_s"),
        "{logged}"
    );
}
