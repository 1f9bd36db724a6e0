//! `gthulhu-decisionmaker`: configuration → telemetry → build → run until
//! SIGTERM.

use clap::Parser;
use gthulhu_decisionmaker::{Application, cli::Cli};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let (config, config_file) = Cli::parse().load()?;
    gthulhu_telemetry::init(&config.logging.level, &config.logging.format);
    match &config_file {
        Some(path) => tracing::info!(file = %path.display(), "configuration loaded"),
        None => tracing::info!("no configuration file found; using defaults and DM_* environment variables"),
    }
    Application::build(config).await?.run_until_stopped().await
}
