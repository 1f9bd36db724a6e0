//! Slow clients are cut off (decision-maker.md 1.4): actix-web times out
//! the request head itself, the body is bounded here, so a client that
//! sends headers and part of a body, then goes silent, gets a 408 and its
//! connection closed instead of holding a worker's connection slot.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep, sleep_until};

/// The server-side limits on how long a client may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// For the request head, and again for the whole body once the head arrived.
    pub client_request: Duration,
    /// For the client to close its side after the response.
    pub client_disconnect: Duration,
    /// Idle time a kept-alive connection may wait for its next request.
    pub keep_alive: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            client_request: Duration::from_secs(15),
            client_disconnect: Duration::from_secs(1),
            keep_alive: Duration::from_secs(60),
        }
    }
}

impl Timeouts {
    /// From the `server.*` configuration keys; zero keeps the default.
    pub fn from_config(client_request_ms: u64, client_disconnect_ms: u64, keep_alive_s: u64) -> Self {
        let default = Self::default();
        let pick = |value: u64, to: fn(u64) -> Duration, fallback: Duration| {
            if value == 0 { fallback } else { to(value) }
        };
        Self {
            client_request: pick(client_request_ms, Duration::from_millis, default.client_request),
            client_disconnect: pick(client_disconnect_ms, Duration::from_millis, default.client_disconnect),
            keep_alive: pick(keep_alive_s, Duration::from_secs, default.keep_alive),
        }
    }
}

/// Replaces the request's payload by one that fails with
/// [`io::ErrorKind::TimedOut`] once `limit` has passed.
pub(crate) fn bound_body(req: &mut ServiceRequest, limit: Duration) {
    let inner = req.take_payload();
    let deadline = Box::pin(sleep_until(Instant::now() + limit));
    req.set_payload(Payload::Stream {
        payload: Box::pin(Deadline {
            inner,
            deadline,
            expired: false,
        }),
    });
}

struct Deadline {
    inner: Payload,
    deadline: Pin<Box<Sleep>>,
    expired: bool,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.expired = true;
                Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "request body not received in time",
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Whether reading a body failed because the client was too slow.
pub(crate) fn timed_out(error: &PayloadError) -> bool {
    matches!(error, PayloadError::Io(e) if e.kind() == io::ErrorKind::TimedOut)
}
