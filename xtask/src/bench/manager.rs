//! `cargo xtask bench manager`: the Manager at cluster scale (manager.md 9,
//! 12): resolving 100 strategies against 150,000 pods (full recompute and one
//! pod event), the slim pod cache's memory in the real binary against the fake
//! Kubernetes API server, and a strategy change fanned out to thousands of
//! simulated Decision Makers; and what the per-request session checks cost.

mod auth;
mod fake_dm;
mod fanout;
mod memory;
mod procs;
mod resolution;

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Serialize;

use super::stats::{human, percentile};
use super::target_dir;

#[derive(Debug, Args)]
pub struct ManagerArgs {
    /// Parts to run (default: all, in this order).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Part::Resolution, Part::Memory, Part::Fanout, Part::Auth])]
    parts: Vec<Part>,
    /// Pods in the cache (resolution, memory).
    #[arg(long, default_value_t = 150_000)]
    pods: usize,
    /// Nodes the pods are spread over (resolution).
    #[arg(long, default_value_t = 1_000)]
    nodes: usize,
    /// Namespaces the pods are spread over (resolution).
    #[arg(long, default_value_t = 50)]
    namespaces: usize,
    /// Strategies (resolution).
    #[arg(long, default_value_t = 100)]
    strategies: usize,
    /// Timed full recomputes (resolution).
    #[arg(long, default_value_t = 10)]
    iterations: usize,
    /// Timed single-pod events (resolution).
    #[arg(long, default_value_t = 200)]
    events: usize,
    /// Simulated Decision Makers, one fan-out run each (fanout).
    #[arg(long, value_delimiter = ',', default_values_t = [1_000, 5_000])]
    dms: Vec<usize>,
    /// How long each simulated DM takes to answer a push, ms (fanout; a real DM recomputes its decisions).
    #[arg(long, default_value_t = 0)]
    dm_delay_ms: u64,
    /// Timed requests per run (auth).
    #[arg(long, default_value_t = 3_000)]
    auth_requests: usize,
    /// Write the figures as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Part {
    Resolution,
    Memory,
    Fanout,
    Auth,
}

/// One line of the result table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub part: &'static str,
    pub measurement: String,
    pub value: String,
    /// The target, empty when the row is context.
    pub goal: String,
    /// `None` when there is no goal to pass.
    pub pass: Option<bool>,
}

impl Row {
    fn info(part: &'static str, measurement: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            part,
            measurement: measurement.into(),
            value: value.into(),
            goal: String::new(),
            pass: None,
        }
    }

    fn goal(
        part: &'static str,
        measurement: impl Into<String>,
        value: impl Into<String>,
        goal: impl Into<String>,
        pass: bool,
    ) -> Self {
        Self {
            part,
            measurement: measurement.into(),
            value: value.into(),
            goal: goal.into(),
            pass: Some(pass),
        }
    }
}

pub fn run(args: ManagerArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    super::interrupt::install(&runtime)?;
    raise_fd_limit();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for part in &args.parts {
        let result = match part {
            Part::Resolution => resolution::run(&args, &runtime),
            Part::Memory => memory::run(&args, &runtime),
            Part::Fanout => fanout::run(&args, &runtime),
            Part::Auth => auth::run(&args, &runtime),
        };
        match result {
            Ok(mut part_rows) => {
                print_rows(&part_rows);
                rows.append(&mut part_rows);
            }
            Err(error) => {
                eprintln!("bench manager: {part:?} failed: {error:#}");
                failures.push(format!("{part:?}: {error:#}"));
            }
        }
        super::interrupt::check()?;
    }
    println!();
    println!("== cargo xtask bench manager: summary ==");
    print_rows(&rows);
    if let Some(path) = &args.json {
        let mut text = serde_json::to_string_pretty(&serde_json::json!({ "rows": rows, "failures": failures }))?;
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    anyhow::ensure!(
        failures.is_empty(),
        "{} part(s) failed: {}",
        failures.len(),
        failures.join("; ")
    );
    Ok(())
}

fn print_rows(rows: &[Row]) {
    println!();
    println!(
        "{:<11} {:<84} {:>14} {:>10} {:>6}",
        "part", "measurement", "value", "goal", "result"
    );
    for r in rows {
        let result = match r.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "",
        };
        println!(
            "{:<11} {:<84} {:>14} {:>10} {:>6}",
            r.part, r.measurement, r.value, r.goal, result
        );
    }
}

/// Builds the release binaries the parts run, as `bench dm` does; always
/// both, so that feature unification never rebuilds one for the other.
fn build_release() -> anyhow::Result<()> {
    let mut args = vec!["build", "--release"];
    for p in ["gthulhu-manager", "gthulhu-fake-kube-apiserver"] {
        args.extend(["-p", p]);
    }
    println!("building: cargo {}", args.join(" "));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(&args)
        .current_dir(super::workspace_root())
        .status()
        .context("running cargo")?;
    anyhow::ensure!(status.success(), "cargo build failed");
    Ok(())
}

fn release_binary(name: &str) -> PathBuf {
    target_dir().join("release").join(name)
}

/// Soft `RLIMIT_NOFILE` up to the hard limit, for this process (the fake
/// DMs' server side) and the children it starts (the Manager's client side).
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            eprintln!("raising the open-files limit failed: {e}");
        }
    }
}

/// The soft open-files limit, `None` for unlimited.
fn fd_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}
