//! The auth part: what the per-request session checks cost
//! (sessions-and-runtime.md 9; issue 10's target: within 5 % at p50 on
//! `GET /api/v1/strategies/self`). Every request checks the token's type
//! and `tokenVersion` against the user; with the per-process user cache
//! (`auth.user_cache_ttl_s`, 5 s) that is a memory read. The baseline is the
//! same binary with the cache off (0), which re-reads the user from storage
//! on every request, as the Manager did before sessions.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use super::procs::start_manager;
use super::{ManagerArgs, Row, build_release};
use crate::bench::interrupt;
use crate::bench::stats::{human, percentile};

const WARMUP: usize = 200;

/// p50 and p99 of `requests` sequential authenticated requests.
async fn measure(cache_ttl_s: &str, requests: usize) -> anyhow::Result<(Duration, Duration)> {
    let dir = tempfile::tempdir()?;
    // An empty cluster, so that the Manager gets ready.
    let pods = dir.path().join("pods.json");
    std::fs::write(&pods, r#"{"apiVersion":"v1","kind":"List","items":[]}"#)?;
    let env: [(&str, OsString); 4] = [
        ("MANAGER_K8S_PODS_FILE", pods.into()),
        ("MANAGER_AUTH_USER_CACHE_TTL_S", cache_ttl_s.into()),
        ("MANAGER_AUTH_LOGIN_RATE_PER_MIN", "0".into()),
        ("MANAGER_LOGGING_LEVEL", "warn".into()),
    ];
    let mut manager = start_manager(dir.path(), &env).await?;
    manager.wait_ready(Duration::from_secs(30)).await?;
    let token = manager.login().await?;
    let url = format!("{}/api/v1/strategies/self", manager.base);
    let mut samples = Vec::with_capacity(requests);
    for i in 0..WARMUP + requests {
        if i % 500 == 0 {
            interrupt::check()?;
        }
        let started = Instant::now();
        let response = manager.http.get(&url).bearer_auth(&token).send().await?;
        anyhow::ensure!(
            response.status() == 200,
            "GET /api/v1/strategies/self: HTTP {}",
            response.status()
        );
        response.bytes().await?;
        if i >= WARMUP {
            samples.push(started.elapsed());
        }
    }
    manager.service.check_alive()?;
    samples.sort();
    Ok((percentile(&samples, 0.5), percentile(&samples, 0.99)))
}

pub fn run(args: &ManagerArgs, runtime: &tokio::runtime::Runtime) -> anyhow::Result<Vec<Row>> {
    build_release()?;
    let requests = args.auth_requests;
    println!("\n== auth: {requests} sequential GET /api/v1/strategies/self, user cache on vs off ==");
    runtime.block_on(async {
        // Alternated, so drift of the machine's load hits both alike.
        let mut cached = Vec::new();
        let mut uncached = Vec::new();
        for _ in 0..2 {
            cached.push(measure("5", requests).await?);
            uncached.push(measure("0", requests).await?);
        }
        let best = |runs: &[(Duration, Duration)]| runs.iter().copied().min().unwrap_or_default();
        let (c50, c99) = best(&cached);
        let (u50, u99) = best(&uncached);
        let overhead = (c50.as_secs_f64() / u50.as_secs_f64().max(f64::MIN_POSITIVE) - 1.0) * 100.0;
        Ok(vec![
            Row::info(
                "auth",
                "p50 / p99, per-request user read (cache off, the pre-session cost)",
                format!("{} / {}", human(u50), human(u99)),
            ),
            Row::info(
                "auth",
                "p50 / p99, tokenVersion check with the user cache (5 s)",
                format!("{} / {}", human(c50), human(c99)),
            ),
            Row::goal(
                "auth",
                "session checks, cached, against the per-request read (p50)",
                format!("{overhead:+.1} %"),
                "<= +5 %",
                overhead <= 5.0,
            ),
        ])
    })
}
