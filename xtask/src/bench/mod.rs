//! `cargo xtask bench <target>`.

mod ceiling;
mod dm;
mod dm_host;
mod dm_hostile;
mod dm_server;
mod interrupt;
mod manager;
mod report;
mod stats;
mod upstream_walk;
mod workload;

use clap::{Args, Subcommand};

use crate::{target_dir, workspace_root};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    target: BenchTarget,
}

#[derive(Debug, Subcommand)]
enum BenchTarget {
    /// Decision Maker: upstream's per-poll /proc scan against our index and poll answer.
    Dm(dm::DmArgs),
    /// Decision Maker under the hostile intent body of the security report: RSS and /health latency.
    DmHostile(dm_hostile::DmHostileArgs),
    /// Manager: strategy resolution over 150,000 pods, the slim cache's memory, fan-out to thousands of DMs.
    Manager(manager::ManagerArgs),
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.target {
        BenchTarget::Dm(args) => dm::run(args),
        BenchTarget::DmHostile(args) => dm_hostile::run(args),
        BenchTarget::Manager(args) => manager::run(args),
    }
}
