//! The real Decision Maker application in-process, on a loopback port,
//! built by its composition root (`gthulhu_decisionmaker::Application`).

use std::net::SocketAddr;

use gthulhu_config::DmConfig;
use gthulhu_decisionmaker::{Application, Overrides};

use crate::keys;

/// Hours a DM token of [`test_config`] lives.
pub const TOKEN_TTL_HOURS: i64 = 3;
/// The node name of [`test_config`].
pub const NODE_NAME: &str = "test-node";

/// The DM's configuration for tests: a loopback port, the fixed test key
/// signing tokens, node [`NODE_NAME`], and a scheduler daemon at `daemon`.
pub fn test_config(daemon: &str) -> DmConfig {
    let mut config = DmConfig::default();
    config.server.host = "127.0.0.1:0".into();
    config.token.rsa_private_key_pem = keys::DM_KEY_PKCS1.into();
    config.token.token_duration_hr = TOKEN_TTL_HOURS;
    config.standalone.node_name = NODE_NAME.into();
    config.daemon.endpoint = daemon.into();
    config
}

/// Builds and starts the DM over `config` with `overrides`; returns its
/// address once it listens.
pub async fn spawn_dm(config: DmConfig, overrides: Overrides) -> SocketAddr {
    let app = Application::build_with(config, overrides).await.expect("the DM builds");
    let addr = app.local_addr();
    tokio::spawn(app.run_until_stopped());
    addr
}
