use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use gthulhu_config::{DmConfig, Value, find_config_file};

/// Gthulhu Decision Maker.
#[derive(Debug, Parser)]
#[command(name = "gthulhu-decisionmaker", version, about)]
pub struct Cli {
    /// Configuration name: the file is `<name>.toml` (DM_CONFIG_NAME wins).
    #[arg(short = 'c', long = "config-name", default_value = "dm_config")]
    config_name: String,
    /// Directory searched first for the configuration file, before
    /// /app/config and ./config (DM_CONFIG_DIR_PATH wins).
    #[arg(short = 'd', long = "config-dir")]
    config_dir: Option<PathBuf>,
    /// Path of the TOML configuration file (legacy flag; skips the search).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Legacy: listen on all interfaces at this port (server.host = ":<port>").
    #[arg(long)]
    port: Option<u16>,
    /// Legacy: kubeconfig for standalone mode (standalone.kube_config_path).
    #[arg(long)]
    kubeconfig: Option<String>,
    /// Legacy: use the in-cluster service account (standalone.in_cluster).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    in_cluster: Option<bool>,
}

impl Cli {
    /// The configuration and the file it came from, if any.
    pub fn load(&self) -> anyhow::Result<(DmConfig, Option<PathBuf>)> {
        let name = std::env::var("DM_CONFIG_NAME")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| self.config_name.clone());
        let dir = std::env::var("DM_CONFIG_DIR_PATH")
            .ok()
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| self.config_dir.clone());
        let file = match &self.config {
            Some(path) => Some(path.clone()),
            None => find_config_file(&name, dir.as_deref()),
        };
        let mut overrides: Vec<(&str, Value)> = Vec::new();
        if let Some(port) = self.port {
            overrides.push(("server.host", Value::from(format!(":{port}"))));
        }
        if let Some(path) = &self.kubeconfig {
            overrides.push(("standalone.kube_config_path", Value::from(path.clone())));
        }
        if let Some(in_cluster) = self.in_cluster {
            overrides.push(("standalone.in_cluster", Value::from(in_cluster)));
        }
        let config = gthulhu_config::load("DM_", file.as_deref(), &overrides).context("loading the configuration")?;
        Ok((config, file))
    }
}
