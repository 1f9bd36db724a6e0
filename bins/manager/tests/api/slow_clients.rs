//! Slow clients are cut off (issue 9): the unauthenticated login route does
//! not wait forever for a body that never comes.

use std::time::Duration;

use gthulhu_rest::Timeouts;
use gthulhu_test_support::slow_client::{half_a_body, half_a_head, send_then_wait};

use crate::helpers::*;

const LIMIT: Duration = Duration::from_millis(1000);

#[tokio::test]
async fn a_half_sent_login_gets_408_and_a_half_sent_head_is_closed() {
    let app = spawn_app(Options {
        timeouts: Timeouts {
            client_request: LIMIT,
            ..Timeouts::default()
        },
        ..Options::default()
    })
    .await;
    let addr = app.addr();
    let body = tokio::task::spawn_blocking(move || {
        send_then_wait(addr, &half_a_body("/api/v1/auth/login"), Duration::from_secs(5))
    })
    .await
    .unwrap();
    assert_eq!(body.status, 408, "{body:?}");
    assert!(body.response.contains(r#""success":false"#), "{body:?}");
    assert!(
        body.closed_after >= LIMIT && body.closed_after < LIMIT + Duration::from_secs(3),
        "{body:?}"
    );
    let head = tokio::task::spawn_blocking(move || {
        send_then_wait(addr, &half_a_head("/api/v1/auth/login"), Duration::from_secs(5))
    })
    .await
    .unwrap();
    assert!(head.closed_after < LIMIT + Duration::from_secs(3), "{head:?}");
    // A prompt client is still served.
    assert!(!app.admin_token().await.is_empty());
}
