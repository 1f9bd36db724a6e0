//! The Kubernetes client's own request rate limit (manager.md 15.2: QPS 20,
//! burst 50, as client-go's default token bucket): a tower layer that makes
//! requests *wait* for a token instead of failing. It gates the start of a
//! request only, so a long-lived watch counts once, when it is opened.
//!
//! Hand-written rather than `governor`: governor's async wait runs on its
//! own clocks (quanta, futures-timer), which tokio's paused test time cannot
//! drive; tower's `RateLimit` has no burst.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

/// A token bucket's size and refill rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Tokens added per second (sustained requests per second); at least 1.
    pub qps: u32,
    /// Bucket size: requests allowed at once after a quiet period; at least 1.
    pub burst: u32,
}

/// manager.md 15.2: the Kubernetes client's rate limit.
pub const KUBE_API_RATE_LIMIT: RateLimit = RateLimit { qps: 20, burst: 50 };

/// A token bucket kept as the generic cell rate algorithm: one "theoretical
/// arrival time" instead of a token count, so a caller that finds the
/// bucket empty reserves the next token and knows exactly how long to wait,
/// and waiters are served in the order they asked.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    /// Time to refill one token.
    interval: Duration,
    /// How far ahead of now reservations may run without waiting.
    burst_window: Duration,
    /// When the bucket will be full again (in the past: it is full).
    full_at: Mutex<Instant>,
}

impl TokenBucket {
    pub(crate) fn new(limit: RateLimit) -> Self {
        let interval = Duration::from_secs(1) / limit.qps.max(1);
        Self {
            interval,
            burst_window: interval * limit.burst.max(1),
            full_at: Mutex::new(Instant::now()),
        }
    }

    /// Takes a token: how long the caller must wait before using it (zero
    /// when the bucket had one).
    pub(crate) fn reserve(&self) -> Duration {
        let now = Instant::now();
        let mut full_at = self.full_at.lock().unwrap_or_else(|e| e.into_inner());
        *full_at = (*full_at).max(now) + self.interval;
        full_at.saturating_duration_since(now + self.burst_window)
    }
}

/// Adds the limit to a service; every service it wraps shares one bucket.
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    bucket: Arc<TokenBucket>,
}

impl RateLimitLayer {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            bucket: Arc::new(TokenBucket::new(limit)),
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimited<S>;

    fn layer(&self, inner: S) -> RateLimited<S> {
        RateLimited {
            inner,
            bucket: self.bucket.clone(),
            permit: Permit::None,
        }
    }
}

enum Permit {
    None,
    Waiting(Pin<Box<Sleep>>),
    Granted,
}

/// Waits in `poll_ready`: kube's client puts a buffer in front of its
/// stack, so queued requests wait there, in order, without failing.
pub struct RateLimited<S> {
    inner: S,
    bucket: Arc<TokenBucket>,
    permit: Permit,
}

impl<S, Request> Service<Request> for RateLimited<S>
where
    S: Service<Request>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        loop {
            match &mut self.permit {
                Permit::None => {
                    let wait = self.bucket.reserve();
                    self.permit = if wait.is_zero() {
                        Permit::Granted
                    } else {
                        Permit::Waiting(Box::pin(tokio::time::sleep(wait)))
                    };
                }
                Permit::Waiting(sleep) => {
                    ready!(sleep.as_mut().poll(cx));
                    self.permit = Permit::Granted;
                }
                Permit::Granted => return self.inner.poll_ready(cx),
            }
        }
    }

    fn call(&mut self, request: Request) -> S::Future {
        match std::mem::replace(&mut self.permit, Permit::None) {
            Permit::Granted => self.inner.call(request),
            _ => panic!("RateLimited::call without a successful poll_ready"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::{Ready, poll_fn};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_one_token_per_interval() {
        let bucket = TokenBucket::new(KUBE_API_RATE_LIMIT);
        for n in 1..=50 {
            assert_eq!(bucket.reserve(), Duration::ZERO, "request {n} is within the burst");
        }
        assert_eq!(bucket.reserve(), Duration::from_millis(50), "the 51st waits one refill");
        assert_eq!(
            bucket.reserve(),
            Duration::from_millis(100),
            "the 52nd queues behind it"
        );

        // Tokens accrue while idle, but never beyond the burst.
        tokio::time::advance(Duration::from_secs(60)).await;
        for _ in 0..50 {
            assert_eq!(bucket.reserve(), Duration::ZERO);
        }
        assert_eq!(bucket.reserve(), Duration::from_millis(50));

        // Sustained: one request per 50 ms never waits once the bucket has
        // a token for it.
        tokio::time::advance(Duration::from_millis(100)).await;
        for _ in 0..10 {
            assert_eq!(bucket.reserve(), Duration::ZERO);
            tokio::time::advance(Duration::from_millis(50)).await;
        }
    }

    /// Answers every request at once.
    struct Echo;

    impl Service<u32> for Echo {
        type Response = u32;
        type Error = Infallible;
        type Future = Ready<Result<u32, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: u32) -> Self::Future {
            std::future::ready(Ok(request))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_layer_waits_instead_of_failing() {
        let mut service = RateLimitLayer::new(KUBE_API_RATE_LIMIT).layer(Echo);
        let start = Instant::now();
        for n in 1..=50 {
            poll_fn(|cx| service.poll_ready(cx)).await.unwrap();
            assert_eq!(service.call(n).await.unwrap(), n);
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst goes through at once");

        let waker = std::task::Waker::noop();
        assert!(
            service.poll_ready(&mut Context::from_waker(waker)).is_pending(),
            "the 51st request is held back"
        );
        poll_fn(|cx| service.poll_ready(cx)).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(50));
        assert_eq!(service.call(51).await.unwrap(), 51);
    }
}
