//! `cargo xtask bench <target>`.

mod dm;
mod dm_server;
mod interrupt;
mod report;
mod stats;
mod upstream_walk;
mod workload;

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    target: BenchTarget,
}

#[derive(Debug, Subcommand)]
enum BenchTarget {
    /// Decision Maker: upstream's per-poll /proc scan against our index and poll answer.
    Dm(dm::DmArgs),
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.target {
        BenchTarget::Dm(args) => dm::run(args),
    }
}

/// The workspace root (xtask lives one level below it).
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map(PathBuf::from).unwrap_or(manifest_dir)
}

/// Cargo's target directory, honouring `CARGO_TARGET_DIR`.
fn target_dir() -> PathBuf {
    // A relative CARGO_TARGET_DIR is taken from the workspace root; `join` keeps an absolute one.
    workspace_root().join(std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into()))
}
