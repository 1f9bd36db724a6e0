//! Slow clients are cut off (decision-maker.md 1.4; issue 9): a half-sent
//! body or head does not hold a connection past `server.client_request_timeout_ms`.

use std::time::Duration;

use gthulhu_rest::Timeouts;
use gthulhu_test_support::slow_client::{half_a_body, half_a_head, send_then_wait};

use crate::helpers::{Options, spawn_app};

const LIMIT: Duration = Duration::from_millis(1000);

fn short() -> Timeouts {
    Timeouts {
        client_request: LIMIT,
        ..Timeouts::default()
    }
}

#[tokio::test]
async fn a_half_sent_body_gets_408_and_the_connection_closed() {
    let app = spawn_app(Options {
        timeouts: Some(short()),
        ..Options::default()
    })
    .await;
    let addr = app.addr();
    for path in ["/api/v1/auth/token", "/api/v1/intents"] {
        let outcome =
            tokio::task::spawn_blocking(move || send_then_wait(addr, &half_a_body(path), Duration::from_secs(5)))
                .await
                .unwrap();
        assert!(
            outcome.closed_after < LIMIT + Duration::from_secs(3),
            "{path}: {outcome:?}"
        );
        // The token route reads the body; the intents route refuses the
        // missing Bearer before the body, and closes as promptly.
        if path == "/api/v1/auth/token" {
            assert!(outcome.closed_after >= LIMIT, "{path}: {outcome:?}");
            assert_eq!(outcome.status, 408, "{outcome:?}");
            assert!(outcome.response.contains(r#""success":false"#), "{outcome:?}");
        }
    }
    // The server still answers afterwards.
    assert_eq!(app.client.get(app.url("/health")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_half_sent_head_is_closed_in_time() {
    let app = spawn_app(Options {
        timeouts: Some(short()),
        ..Options::default()
    })
    .await;
    let addr = app.addr();
    let outcome = tokio::task::spawn_blocking(move || {
        send_then_wait(addr, &half_a_head("/api/v1/auth/token"), Duration::from_secs(5))
    })
    .await
    .unwrap();
    assert!(outcome.closed_after < LIMIT + Duration::from_secs(3), "{outcome:?}");
}
