//! The client against the fake daemon (sessions-and-runtime.md 21, 13–14).

use std::time::Duration;

use gthulhu_daemon_client::{DaemonClient, EndpointError};
use gthulhu_domain::runtime_config::RuntimeSchedulerConfig;
use gthulhu_domain::{DmError, RuntimeConfigService};
use gthulhu_fake_scheduler_daemon::{FakeDaemon, Options};

async fn setup() -> (FakeDaemon, DaemonClient) {
    let daemon = FakeDaemon::start(Options::default()).await.unwrap();
    let client = DaemonClient::new(&daemon.url(), Duration::from_secs(5)).unwrap();
    (daemon, client)
}

fn gthulhu(version: &str, kernel_mode: bool) -> RuntimeSchedulerConfig {
    RuntimeSchedulerConfig {
        config_version: version.into(),
        mode: "gthulhu".into(),
        kernel_mode,
        ..Default::default()
    }
}

#[tokio::test]
async fn every_boolean_is_sent_and_a_repeat_is_a_noop() {
    let (daemon, client) = setup().await;
    assert_eq!(client.apply(gthulhu("v1", true)).await, Ok(false));
    assert_eq!(client.apply(gthulhu("v2", false)).await, Ok(false));
    let body = String::from_utf8(daemon.posts()[1].body.clone()).unwrap();
    for key in [
        "kernelMode",
        "maxTimeWatchdog",
        "earlyProcessing",
        "builtinIdle",
        "schedulerEnabled",
        "monitoringEnabled",
    ] {
        assert!(body.contains(&format!("\"{key}\":")), "{key} missing from {body}");
    }
    assert!(
        body.contains("\"kernelMode\":false") && body.contains("\"schedulerName\":\"\""),
        "{body}"
    );
    assert!(!daemon.config().kernel_mode, "the flag really went off");
    assert_eq!(client.apply(gthulhu("v2", false)).await, Ok(true));
    assert_eq!(
        client.apply(gthulhu("v2", true)).await,
        Err(DmError::Conflict(
            "configVersion \"v2\" is already applied with different content".into()
        ))
    );
}

#[tokio::test]
async fn invalid_configs_never_reach_the_daemon() {
    let (daemon, client) = setup().await;
    let fifo = RuntimeSchedulerConfig {
        mode: "fifo".into(),
        ..gthulhu("v1", false)
    };
    assert_eq!(
        client.apply(fifo).await,
        Err(DmError::Validation(
            "mode must be one of none, gthulhu, simple, scx".into()
        ))
    );
    let foo = RuntimeSchedulerConfig {
        mode: "scx".into(),
        scheduler_name: "scx_foo".into(),
        ..gthulhu("v1", false)
    };
    assert_eq!(
        client.apply(foo).await,
        Err(DmError::Validation(
            "schedulerName: unknown scx scheduler \"scx_foo\"".into()
        ))
    );
    assert!(daemon.requests().is_empty());
}

#[tokio::test]
async fn refusals_and_outages_are_told_apart() {
    let (daemon, client) = setup().await;
    daemon.fail_next_post(500, "scx_lavd binary not found");
    assert_eq!(
        client.apply(gthulhu("v1", false)).await,
        Err(DmError::DaemonRejected("scx_lavd binary not found".into()))
    );
    assert_eq!(client.status().await.unwrap().last_error, "scx_lavd binary not found");
    daemon.stop().await;
    assert!(matches!(
        client.apply(gthulhu("v2", false)).await,
        Err(DmError::DaemonUnavailable(_))
    ));
    assert!(matches!(client.status().await, Err(DmError::DaemonUnavailable(_))));
}

#[tokio::test]
async fn status_mirrors_the_daemon() {
    let (daemon, client) = setup().await;
    let status = client.status().await.unwrap();
    assert_eq!(
        (status.config.config_version.as_str(), status.applied),
        ("bootstrap", false)
    );
    client.apply(gthulhu("v1", true)).await.unwrap();
    let status = client.status().await.unwrap();
    assert!(status.applied && status.config_available && status.config.kernel_mode);
    assert_eq!(status.config, daemon.config());
    assert!(!status.applied_at.is_empty());
}

#[test]
fn endpoints_must_be_http_urls() {
    for bad in ["", "127.0.0.1:18080", "ftp://x", "http://"] {
        assert_eq!(
            DaemonClient::new(bad, Duration::from_secs(1)).err(),
            Some(EndpointError::NotHttp),
            "{bad:?}"
        );
    }
    assert!(DaemonClient::new("https://daemon.local:18080/", Duration::from_secs(1)).is_ok());
}
