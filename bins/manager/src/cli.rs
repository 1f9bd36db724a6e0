use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use gthulhu_config::find_config_file;
use gthulhu_config::manager::ManagerConfig;

/// Gthulhu Manager.
#[derive(Debug, Parser)]
#[command(name = "gthulhu-manager", version, about)]
pub struct Cli {
    /// Configuration name: the file is `<name>.toml` (MANAGER_CONFIG_NAME wins).
    #[arg(short = 'c', long = "config-name", default_value = "manager_config")]
    config_name: String,
    /// Directory searched first for the configuration file, before
    /// /app/config and ./config (MANAGER_CONFIG_DIR_PATH wins).
    #[arg(short = 'd', long = "config-dir")]
    config_dir: Option<PathBuf>,
}

impl Cli {
    /// The configuration and the file it came from, if any (the file is optional).
    pub fn load(&self) -> anyhow::Result<(ManagerConfig, Option<PathBuf>)> {
        let name = std::env::var("MANAGER_CONFIG_NAME")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| self.config_name.clone());
        let dir = std::env::var("MANAGER_CONFIG_DIR_PATH")
            .ok()
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| self.config_dir.clone());
        let file = find_config_file(&name, dir.as_deref());
        let config = gthulhu_config::load("MANAGER_", file.as_deref(), &[]).context("loading the configuration")?;
        Ok((config, file))
    }
}
