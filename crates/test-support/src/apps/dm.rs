//! The real Decision Maker application in-process, on a loopback port,
//! built by its composition root (`gthulhu_decisionmaker::Application`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use gthulhu_config::DmConfig;
use gthulhu_decisionmaker::{Application, Overrides};
use gthulhu_dm_service::NoPodMetadata;
use gthulhu_domain::{ProcessIndex, ProcessSnapshot, ScanHealth};
use tokio::sync::watch;

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
    // Every host process fully re-read on every pass, so a thread rename
    // shows within 100 ms.
    config.scan.host_refresh_interval_ms = 100;
    config.scan.host_full_refresh_interval_ms = 100;
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

/// A process index holding whatever snapshot the test sets: the DM's
/// services run for real over it, without `/proc`.
pub struct FixedIndex {
    snapshot: Mutex<Option<Arc<ProcessSnapshot>>>,
    changes: watch::Sender<u64>,
}

impl FixedIndex {
    /// `None` keeps the index unbuilt (as before the first refresh).
    pub fn new(snapshot: Option<ProcessSnapshot>) -> Arc<Self> {
        Arc::new(Self {
            snapshot: Mutex::new(snapshot.map(Arc::new)),
            changes: watch::channel(0).0,
        })
    }

    /// Swaps the content and tells subscribers, as a background refresh would.
    pub fn set(&self, snapshot: ProcessSnapshot) {
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(snapshot));
        self.changes.send_modify(|generation| *generation += 1);
    }
}

impl ProcessIndex for FixedIndex {
    fn snapshot(&self) -> Option<Arc<ProcessSnapshot>> {
        self.snapshot.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn health(&self) -> ScanHealth {
        ScanHealth::default()
    }

    fn threads(&self, _pid: u32) -> Vec<u32> {
        Vec::new()
    }
}

/// The DM over `index`, with no pod metadata source (as a DM outside
/// standalone mode).
pub fn over_index(index: Arc<FixedIndex>) -> Overrides {
    Overrides {
        index: Some(index),
        metadata: Some(Arc::new(NoPodMetadata::new("no pod watch in tests"))),
    }
}
