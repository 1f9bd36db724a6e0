//! Configuration loading shared by both binaries: built-in defaults, then
//! an optional TOML file, then `<PREFIX>_<SECTION>_<KEY>` environment
//! variables for every key, then command-line overrides.

mod dm;
mod loader;
pub mod manager;

pub use dm::{
    DaemonConfig, DmConfig, LoggingConfig, MtlsConfig, ScanConfig, ServerConfig, StandaloneConfig, TokenConfig,
};
pub use loader::{ConfigError, Value, find_config_file, load};
