//! Fan-out: one strategy change pushed by the real Manager to N simulated
//! Decision Makers (one per node, each on its own loopback address), timed
//! from the `POST /api/v1/strategies` call to the last node's set arriving.

use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

use super::fake_dm::{self, State};
use super::procs::{Manager, start_manager};
use super::{ManagerArgs, Row, build_release, fd_limit, human};
use crate::bench::interrupt;

const PART: &str = "fanout";
const GOAL_AT_5000: Duration = Duration::from_secs(5);
/// Give up waiting for the last DMs after this long.
const WAIT: Duration = Duration::from_secs(120);
/// `reconciler.max_concurrent_pushes` of the Manager under test (its default).
const MAX_CONCURRENT_PUSHES: usize = 64;

/// Simulated DM `k`'s address: 127.1.x.y, 250 per /24.
fn dm_ip(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(
        127,
        1 + (k / 62_500) as u8,
        ((k / 250) % 250) as u8,
        (k % 250 + 1) as u8,
    )
}

fn write_pods_file(path: &Path, dms: usize, port: u16) -> anyhow::Result<()> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    out.write_all(br#"{"kind":"List","apiVersion":"v1","items":["#)?;
    for k in 0..dms {
        let node = format!("node-{k:05}");
        let dm = json!({
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": format!("dm-{k:05}"), "namespace": "gthulhu",
                         "uid": format!("00000000-0000-4000-8000-{k:012x}"),
                         "labels": {"app": "decisionmaker"}},
            "spec": {"nodeName": node, "containers": [{"name": "dm", "ports": [{"name": "http", "containerPort": port}]}]},
            "status": {"phase": "Running", "podIP": dm_ip(k).to_string(), "hostIP": dm_ip(k).to_string()}
        });
        let workload = json!({
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": format!("web-{k:05}"), "namespace": "default",
                         "uid": format!("00000000-0000-4000-9000-{k:012x}"),
                         "labels": {"app": "fanout", "tier": "web"}},
            "spec": {"nodeName": node, "containers": [{"name": "web"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1"}
        });
        if k > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut out, &dm)?;
        out.write_all(b",")?;
        serde_json::to_writer(&mut out, &workload)?;
    }
    out.write_all(b"]}\n")?;
    out.flush()?;
    Ok(())
}

/// What one strategy change took.
struct Change {
    /// POST to the last DM's set arriving.
    converged: Duration,
    /// How long the POST itself took to answer.
    answered: Duration,
    reached: usize,
    peak_pushes: usize,
    peak_requests: usize,
    peak_connections: usize,
    tokens: usize,
}

async fn change(
    manager: &Manager,
    token: &str,
    state: &State,
    dms: usize,
    labels: Value,
    want: usize,
) -> anyhow::Result<Change> {
    state.reset_peaks();
    let tokens_before = state.tokens.load(Ordering::SeqCst);
    let body = json!({
        "strategyNamespace": "default", "labelSelectors": labels, "k8sNamespace": ["default"],
        "commandRegex": "web", "priority": 1, "executionTime": 20_000_000
    });
    let started = Instant::now();
    let response = manager
        .http
        .post(format!("{}/api/v1/strategies", manager.base))
        .bearer_auth(token)
        .json(&body)
        .timeout(WAIT)
        .send()
        .await
        .context("POST /api/v1/strategies")?;
    let answered = started.elapsed();
    let status = response.status();
    if !status.is_success() {
        bail!(
            "POST /api/v1/strategies: {status}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    let ips: Vec<IpAddr> = (0..dms).map(|k| IpAddr::V4(dm_ip(k))).collect();
    let count = || {
        let sets = state.sets.lock().unwrap_or_else(|p| p.into_inner());
        let mut reached = 0;
        let mut last = started;
        for ip in &ips {
            if let Some(r) = sets.get(ip)
                && r.intents == want
                && r.at >= started
            {
                reached += 1;
                last = last.max(r.at);
            }
        }
        (reached, last)
    };
    loop {
        interrupt::check()?;
        let notified = state.pushed.notified();
        let (reached, last) = count();
        if reached == dms || started.elapsed() > WAIT {
            return Ok(Change {
                converged: last - started,
                answered,
                reached,
                peak_pushes: state.peak_in_flight.load(Ordering::SeqCst),
                peak_requests: state.peak_requests.load(Ordering::SeqCst),
                peak_connections: state.peak_connections.load(Ordering::SeqCst),
                tokens: state.tokens.load(Ordering::SeqCst) - tokens_before,
            });
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

async fn one_run(dms: usize, state: &Arc<State>, port: u16, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    println!("\n-- fan-out to {dms} simulated DMs --");
    state.sets.lock().unwrap_or_else(|p| p.into_inner()).clear();
    let dir = tempfile::tempdir()?;
    let pods = dir.path().join("pods.json");
    write_pods_file(&pods, dms, port)?;
    let mut manager = start_manager(
        dir.path(),
        &[
            ("MANAGER_K8S_PODS_FILE", pods.into_os_string()),
            // Keep the reconciler's own checks out of the measurement.
            ("MANAGER_RECONCILER_INITIAL_DELAY_S", "3600".into()),
            ("MANAGER_RECONCILER_INTERVAL_S", "3600".into()),
            (
                "MANAGER_RECONCILER_MAX_CONCURRENT_PUSHES",
                MAX_CONCURRENT_PUSHES.to_string().into(),
            ),
            ("MANAGER_LOGGING_LEVEL", "warn".into()),
        ],
    )
    .await?;
    manager.wait_ready(Duration::from_secs(60)).await?;
    let token = manager.login().await?;
    let runs = [
        (
            "first change (cold: token + connection per DM)",
            json!([{"key": "app", "value": "fanout"}]),
            1,
        ),
        (
            "second change (warm: tokens cached, connections pooled)",
            json!([{"key": "tier", "value": "web"}]),
            2,
        ),
    ];
    for (label, labels, want) in runs {
        let c = change(&manager, &token, state, dms, labels, want).await?;
        manager.service.check_alive()?;
        println!(
            "{label}: {}/{dms} DMs in {}, POST answered in {}, peak {} pushes / {} requests / {} connections in flight, {} tokens",
            c.reached,
            human(c.converged),
            human(c.answered),
            c.peak_pushes,
            c.peak_requests,
            c.peak_connections,
            c.tokens
        );
        let value = if c.reached == dms {
            human(c.converged)
        } else {
            format!("{}/{dms} reached", c.reached)
        };
        let measurement = format!("{dms} DMs, {label}: converged");
        rows.push(if dms >= 5_000 {
            Row::goal(
                PART,
                measurement,
                value,
                "<= 5 s",
                c.reached == dms && c.converged <= GOAL_AT_5000,
            )
        } else {
            Row::info(PART, measurement, value)
        });
        rows.push(Row::info(
            PART,
            format!(
                "{dms} DMs, {}: POST answered",
                if want == 1 { "first" } else { "second" }
            ),
            human(c.answered),
        ));
        rows.push(Row::info(
            PART,
            format!(
                "{dms} DMs, {}: peak in flight at the DMs: pushes (requests, sockets)",
                if want == 1 { "first" } else { "second" }
            ),
            format!("{} ({}, {})", c.peak_pushes, c.peak_requests, c.peak_connections),
        ));
    }
    let (rss, _) = manager.service.rss_kib()?;
    rows.push(Row::info(
        PART,
        format!("{dms} DMs: Manager open fds / VmRSS after"),
        format!("{} / {:.0} MiB", open_fds(manager.service.pid()), rss as f64 / 1024.0),
    ));
    Ok(())
}

pub fn run(args: &ManagerArgs, runtime: &Runtime) -> anyhow::Result<Vec<Row>> {
    println!(
        "\n== fanout: a strategy change to {:?} simulated DMs (max_concurrent_pushes {MAX_CONCURRENT_PUSHES}, open-files limit {}) ==",
        args.dms,
        fd_limit().map_or("unlimited".to_string(), |n| n.to_string())
    );
    build_release()?;
    let mut rows = Vec::new();
    let state = Arc::new(State::with_delay(Duration::from_millis(args.dm_delay_ms)));
    runtime.block_on(async {
        let port = fake_dm::start(state.clone()).await?;
        for &dms in &args.dms {
            anyhow::ensure!(dms <= 250 * 250, "at most 62,500 simulated DMs");
            one_run(dms, &state, port, &mut rows).await?;
        }
        anyhow::Ok(())
    })?;
    Ok(rows)
}
