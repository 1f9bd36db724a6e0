//! `cargo xtask <command>`: the one entry point for developer tasks. Each
//! command prints what it does (and the commands it runs) as it goes, and
//! names any missing tool (docker/podman, kind, kubectl) up front.

mod bench;
mod demo;
mod fuzz_api;
mod images;
mod kind;
mod manifests;
mod openapi;
mod shell;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Developer tasks for the Gthulhu workspace")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Manager and a Decision Maker on this machine with demo pods, a strategy and real PIDs.
    Demo(demo::DemoArgs),
    /// Build the container images gthulhu-manager and gthulhu-decisionmaker (docker, else podman).
    Images(images::ImagesArgs),
    /// Create (or reuse) the kind cluster `gthulhu` and deploy this checkout into it.
    KindUp(kind::KindUpArgs),
    /// Delete the kind cluster `gthulhu`.
    KindDown,
    /// Validate the Kubernetes manifests offline (deployment/validate.sh).
    ManifestsCheck(manifests::ManifestsArgs),
    /// Write the Manager's OpenAPI description to docs/openapi/manager.json.
    Openapi(openapi::OpenapiArgs),
    /// Run a benchmark.
    Bench(bench::BenchArgs),
    /// Fuzz both services against their served OpenAPI documents with schemathesis.
    FuzzApi(fuzz_api::FuzzApiArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Demo(args) => demo::run(args),
        Command::Images(args) => images::run(args),
        Command::KindUp(args) => kind::up(args),
        Command::KindDown => kind::down(),
        Command::ManifestsCheck(args) => manifests::run(args),
        Command::Openapi(args) => openapi::run(args),
        Command::Bench(args) => bench::run(args),
        Command::FuzzApi(args) => fuzz_api::run(args),
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
