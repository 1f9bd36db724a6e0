//! Logging for the Gthulhu binaries.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `level` is the configured level;
/// `RUST_LOG`, when set, wins. `format` is `auto` (JSON unless stdout is a
/// terminal), `json` or `text`.
pub fn init(level: &str, format: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        "json" => true,
        "text" => false,
        _ => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(true);
    let result = if json {
        builder.json().flatten_event(true).with_current_span(false).try_init()
    } else {
        builder.try_init()
    };
    if result.is_err() {
        tracing::debug!("a tracing subscriber was already installed");
    }
}
