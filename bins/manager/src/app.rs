//! The composition root (the zero2prod way): `build(config)` wires every
//! implementation by constructor injection, binds the listener and starts
//! the background tasks; `main`, the tests, the benchmarks and the demo
//! all come through here. Storage and the cluster come up in the
//! background, so nothing outside the process stops it from starting
//! (manager.md 15.2).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gthulhu_config::manager::{CookieSecureSetting, ManagerConfig};
use gthulhu_dm_client::{ClientSettings, ClientTls, DEFAULT_TIMEOUT, HttpDecisionMakerClient};
use gthulhu_domain::manager::{K8sAdapter, Repository};
use gthulhu_manager_service::{
    Admin, DeferredRepository, ManagerServices, OpenFn, ReconcilerSettings, SESSION_SWEEP_INTERVAL, ServiceDeps,
    ServiceSettings, run_session_sweeper,
};
use gthulhu_rest::manager::{CookieSecure, ManagerApi, ManagerMetrics, ManagerSettings, SessionCookieSettings};
use gthulhu_rest::{Timeouts, bind_listener};
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;

use crate::{cluster, keys, storage};

/// Changes the service settings after the configuration.
pub type AdjustSettings = Box<dyn FnOnce(&mut ServiceSettings) + Send>;

/// Replacements for what the configuration would build, for tests and
/// benchmarks; `Overrides::default()` is the production wiring.
#[derive(Default)]
pub struct Overrides {
    /// A store instead of the configured one; migrated and bootstrapped
    /// like it.
    pub repo: Option<Arc<dyn Repository>>,
    /// A cluster instead of the configured one.
    pub k8s: Option<Arc<dyn K8sAdapter>>,
    /// Adjusts the service settings after the configuration, including to
    /// values it refuses (e.g. a 1 s access token).
    pub settings: Option<AdjustSettings>,
}

/// A built Manager: listening, background tasks running.
pub struct Application {
    local_addr: SocketAddr,
    server: actix_web::dev::Server,
    services: Arc<ManagerServices>,
    storage: Arc<DeferredRepository>,
    tasks: Vec<JoinHandle<()>>,
}

impl Application {
    pub async fn build(config: ManagerConfig) -> anyhow::Result<Self> {
        Self::build_with(config, Overrides::default()).await
    }

    pub async fn build_with(config: ManagerConfig, overrides: Overrides) -> anyhow::Result<Self> {
        let auth = config.auth.settings()?;
        for warning in &auth.warnings {
            tracing::warn!("{warning}");
        }
        let open: OpenFn = match overrides.repo {
            Some(repo) => Box::new(move || {
                let repo = repo.clone();
                Box::pin(async move { Ok(repo) })
            }),
            None => storage::opener(&config)?,
        };
        let dm_selector = cluster::dm_selector(&config.k8s)?;
        let jwt = keys::jwt_keys(&config)?;
        let dms = HttpDecisionMakerClient::new(ClientSettings {
            public_key_pem: keys::dm_public_key(&config, &jwt)?,
            client_id: config.key.client_id.clone(),
            mtls: config.mtls.enable.then(|| ClientTls {
                cert_pem: config.mtls.cert_pem.clone(),
                key_pem: config.mtls.key_pem.clone(),
                ca_pem: config.mtls.ca_pem.clone(),
                server_name: config.mtls.server_name.clone(),
            }),
            timeout: DEFAULT_TIMEOUT,
        })?;
        let connect_retry = cluster::connect_retry(&config.k8s);
        let k8s = match overrides.k8s {
            Some(k8s) => k8s,
            None => cluster::adapter(&config.k8s, dm_selector, connect_retry),
        };
        let mut settings = ServiceSettings {
            access_ttl_s: auth.access_ttl_s,
            refresh_ttl_s: auth.refresh_ttl_s,
            session_max_age_s: auth.session_max_age_s,
            max_sessions_per_user: auth.max_sessions_per_user as usize,
            user_cache_ttl_s: auth.user_cache_ttl_s,
            login_rate_per_min: auth.login_rate_per_min,
            max_concurrent_pushes: config.reconciler.max_concurrent_pushes,
            ..ServiceSettings::default()
        };
        if let Some(adjust) = overrides.settings {
            adjust(&mut settings);
        }
        let admin = Admin {
            email: config.account.admin_email.clone(),
            password: config.account.admin_password.clone().into(),
            bcrypt_cost: settings.bcrypt_cost,
        };
        let storage = Arc::new(DeferredRepository::default());
        let services = ManagerServices::new(ServiceDeps {
            repo: storage.clone(),
            k8s,
            dms: Arc::new(dms),
            jwt,
            settings,
        });
        let reconciler = services.reconciler(ReconcilerSettings {
            initial_delay: Duration::from_secs(config.reconciler.initial_delay_s),
            interval: Duration::from_secs(config.reconciler.interval_s),
            max_concurrent_checks: config.reconciler.max_concurrent_pushes,
            ..ReconcilerSettings::default()
        });

        let mut registry = Registry::default();
        let metrics = ManagerMetrics::register(&mut registry);
        let api = ManagerApi::new(
            services.clone(),
            Arc::new(registry),
            metrics,
            ManagerSettings {
                max_body_bytes: config.server.max_body_bytes,
                timeouts: Timeouts::from_config(
                    config.server.client_request_timeout_ms,
                    config.server.client_disconnect_timeout_ms,
                    config.server.keep_alive_s,
                ),
                version: env!("CARGO_PKG_VERSION").to_string(),
                sessions: SessionCookieSettings {
                    secure: match auth.cookie_secure {
                        CookieSecureSetting::Auto => CookieSecure::Auto,
                        CookieSecureSetting::Always => CookieSecure::Always,
                        CookieSecureSetting::Never => CookieSecure::Never,
                    },
                    allowed_origins: auth.allowed_origins.clone(),
                },
            },
        );
        let address = config.server.listen_address();
        let listener = bind_listener(address).with_context(|| format!("listening on {address}"))?;
        let server = gthulhu_rest::manager::serve(api, listener)?;
        tracing::info!(address = %server.local_addr, "manager listening");

        // The reconciler skips its work until storage is connected and the
        // pod cache has synced, and runs only while this replica leads.
        let is_leader = cluster::leadership(&config.k8s, &config.leader_election, connect_retry);
        let connecting = storage.clone();
        let tasks = vec![
            // Every replica sweeps expired sessions (deletes are idempotent).
            tokio::spawn(run_session_sweeper(storage.clone(), SESSION_SWEEP_INTERVAL)),
            tokio::spawn(async move { connecting.connect(open, admin).await }),
            tokio::spawn(reconciler.run(is_leader)),
        ];
        Ok(Self {
            local_addr: server.local_addr,
            server: server.server,
            services,
            storage,
            tasks,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The services the API serves (e.g. for a reconciler pass in a test).
    pub fn services(&self) -> Arc<ManagerServices> {
        self.services.clone()
    }

    /// Resolves once storage is connected, migrated and bootstrapped.
    pub async fn storage_connected(&self) {
        self.storage.connected().await;
    }

    /// Serves until SIGTERM/SIGINT, then stops the background tasks.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let result = self.server.await;
        for task in &self.tasks {
            task.abort();
        }
        tracing::info!("manager stopped");
        result.context("HTTP server")
    }
}
