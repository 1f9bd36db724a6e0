//! The real Manager application in-process, on a loopback port, built by
//! its composition root (`gthulhu_manager::Application`).

use std::net::SocketAddr;
use std::sync::Arc;

use gthulhu_config::manager::ManagerConfig;
use gthulhu_manager::{Application, Overrides};
use gthulhu_manager_service::{ManagerServices, NoCluster};

use crate::keys;

/// The bootstrap admin of [`test_config`].
pub const ADMIN: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "your-password-here";

/// A running Manager; the server stops with the test's runtime.
pub struct SpawnedManager {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Holds the redb file (`manager.redb`) for the app's lifetime.
    pub dir: tempfile::TempDir,
    pub services: Arc<ManagerServices>,
}

/// The Manager's configuration for tests: a loopback port, the redb store
/// in `dir`, the fixed test key, the login rate limit off (tests log in a
/// lot from one address) and the background reconciler out of the way
/// (tests run their passes through `services`).
pub fn test_config(dir: &std::path::Path) -> ManagerConfig {
    let mut config = ManagerConfig::default();
    config.server.host = "127.0.0.1:0".into();
    config.storage.backend = "redb".into();
    config.storage.redb_path = dir.join("manager.redb").display().to_string();
    config.key.rsa_private_key_pem = keys::DM_KEY_PKCS1.into();
    config.account.admin_email = ADMIN.into();
    config.account.admin_password = ADMIN_PASSWORD.into();
    config.auth.login_rate_per_min = 0;
    config.reconciler.initial_delay_s = 24 * 3600;
    config
}

/// Builds and starts the Manager over `test_config` as changed by
/// `configure`, with `overrides` (no cluster unless given; bcrypt cost 4
/// unless `overrides.settings` says otherwise); returns once storage is
/// connected, migrated and the admin bootstrapped.
pub async fn spawn_manager(configure: impl FnOnce(&mut ManagerConfig), mut overrides: Overrides) -> SpawnedManager {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = test_config(dir.path());
    configure(&mut config);
    overrides.k8s.get_or_insert_with(|| Arc::new(NoCluster));
    let adjust = overrides.settings.take();
    overrides.settings = Some(Box::new(move |settings| {
        settings.bcrypt_cost = 4;
        if let Some(adjust) = adjust {
            adjust(settings);
        }
    }));
    let app = Application::build_with(config, overrides)
        .await
        .expect("the Manager builds");
    let addr = app.local_addr();
    let services = app.services();
    app.storage_connected().await;
    tokio::spawn(app.run_until_stopped());
    SpawnedManager {
        addr,
        base: format!("http://127.0.0.1:{}", addr.port()),
        dir,
        services,
    }
}
