//! How the binary starts and stops, without any cgroup setup.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Dm, free_port};
use gthulhu_test_support::slow_client::{InFlight, refuses_connections_within};
use serde_json::{Value, json};

#[tokio::test]
async fn sigterm_stops_the_binary_gracefully() {
    let mut dm = Dm::start(&[]).await;
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(dm.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(exit) = dm.child.try_wait().unwrap() {
            assert!(exit.success(), "exit status after SIGTERM: {exit:?}");
            break;
        }
        assert!(Instant::now() < deadline, "still running 15 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGTERM while a token request is half-sent: the listener closes at once
/// (new connections are refused), the request in flight is answered in
/// full, then the binary exits cleanly.
#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_and_accepts_no_new_one() {
    let mut dm = Dm::start(&[]).await;
    let addr = dm.addr();
    let body = json!({"public_key": common::PUBLIC_KEY}).to_string();
    let in_flight = InFlight::start(addr, "/api/v1/auth/token", &body);
    std::thread::sleep(Duration::from_millis(200));
    gthulhu_test_support::sigterm(dm.child.id());
    assert!(
        refuses_connections_within(addr, Duration::from_secs(5)),
        "still accepting connections 5 s after SIGTERM"
    );
    let outcome = in_flight.finish(Duration::from_secs(15));
    assert_eq!(outcome.status, 200, "{}", outcome.response);
    assert!(outcome.response.contains("\"token\""), "{}", outcome.response);
    let exit = dm.child.wait().unwrap();
    assert!(exit.success(), "exit status after SIGTERM: {exit:?}");
}

#[tokio::test]
async fn starts_with_no_config_file_and_no_key() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gthulhu-decisionmaker"))
        .env_clear()
        .env("DM_SERVER_HOST", format!("127.0.0.1:{port}"))
        .env("DM_CONFIG_DIR_PATH", "/nonexistent")
        .env("DM_LOGGING_FORMAT", "json")
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let health: Value = loop {
        if let Ok(r) = http.get(format!("http://127.0.0.1:{port}/health")).send().await {
            break r.json().await.unwrap();
        }
        assert!(Instant::now() < deadline, "DM without configuration did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(health["status"], "healthy");
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stdout);
    let warning = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["level"] == "WARN" && l["fingerprint"].is_string())
        .unwrap_or_else(|| panic!("no ephemeral-key warning in:\n{logs}"));
    assert!(
        warning["public_key"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
}

#[test]
fn standalone_mode_without_a_node_name_is_a_startup_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_gthulhu-decisionmaker"))
        .env_clear()
        .env("DM_SERVER_HOST", format!("127.0.0.1:{}", free_port()))
        .env("DM_STANDALONE_ENABLE", "true")
        .env("DM_TOKEN_RSA_PRIVATE_KEY_PEM", common::PRIVATE_KEY)
        .env("DM_CONFIG_DIR_PATH", "/nonexistent")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("standalone mode requires NODE_NAME or standalone.node_name"),
        "{stderr}"
    );
}

#[test]
fn a_bad_key_is_a_startup_error_that_does_not_echo_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_gthulhu-decisionmaker"))
        .env_clear()
        .env("DM_SERVER_HOST", format!("127.0.0.1:{}", free_port()))
        .env(
            "DM_TOKEN_RSA_PRIVATE_KEY_PEM",
            "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LW1hdGVyaWFs\n-----END RSA PRIVATE KEY-----\n",
        )
        .env("DM_CONFIG_DIR_PATH", "/nonexistent")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("token.rsa_private_key_pem"), "{stderr}");
    assert!(
        !stderr.contains("c2VjcmV0LW1hdGVyaWFs"),
        "the key must not be echoed: {stderr}"
    );
}
