//! `gthulhu-manager`: reads the configuration, builds the implementations,
//! injects them into the REST layer and runs until SIGTERM. Storage comes
//! up in the background, so nothing outside the process stops it from
//! starting (manager.md 15.2).

mod cli;
mod cluster;
mod storage;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use gthulhu_config::manager::{CookieSecureSetting, ManagerConfig, StorageBackend};
use gthulhu_dm_client::{ClientSettings, ClientTls, DEFAULT_TIMEOUT, HttpDecisionMakerClient};
use gthulhu_domain::manager::K8sAdapter;
use gthulhu_manager_service::{
    JwtKeys, ManagerServices, ReconcilerSettings, SESSION_SWEEP_INTERVAL, ServiceDeps, ServiceSettings,
    run_session_sweeper,
};
use gthulhu_rest::Timeouts;
use gthulhu_rest::bind_listener;
use gthulhu_rest::manager::{CookieSecure, ManagerApi, ManagerMetrics, ManagerSettings, SessionCookieSettings};
use gthulhu_store_mongo::MongoSettings;
use prometheus_client::registry::Registry;
use rsa::RsaPublicKey;
use rsa::pkcs8::DecodePublicKey;

use storage::{Admin, Backend, DeferredRepository};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    let (config, config_file) = cli.load()?;
    gthulhu_telemetry::init(&config.logging.level, &config.logging.format);
    match &config_file {
        Some(path) => tracing::info!(file = %path.display(), "configuration loaded"),
        None => tracing::info!("no configuration file found; using defaults and MANAGER_* environment variables"),
    }
    run(config).await
}

async fn run(config: ManagerConfig) -> anyhow::Result<()> {
    let backend = backend(&config)?;
    let auth = config.auth.settings()?;
    for warning in &auth.warnings {
        tracing::warn!("{warning}");
    }
    let dm_selector = cluster::dm_selector(&config.k8s)?;
    let jwt = jwt_keys(&config)?;
    let dm_public_key = dm_public_key(&config, &jwt)?;
    let dms = HttpDecisionMakerClient::new(ClientSettings {
        public_key_pem: dm_public_key,
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
    let k8s: Arc<dyn K8sAdapter> = cluster::adapter(&config.k8s, dm_selector, connect_retry);
    let repo = Arc::new(DeferredRepository::default());
    let settings = ServiceSettings {
        access_ttl_s: auth.access_ttl_s,
        refresh_ttl_s: auth.refresh_ttl_s,
        session_max_age_s: auth.session_max_age_s,
        max_sessions_per_user: auth.max_sessions_per_user as usize,
        user_cache_ttl_s: auth.user_cache_ttl_s,
        login_rate_per_min: auth.login_rate_per_min,
        max_concurrent_pushes: config.reconciler.max_concurrent_pushes,
        ..ServiceSettings::default()
    };
    let admin = Admin {
        email: config.account.admin_email.clone(),
        password: config.account.admin_password.clone(),
        bcrypt_cost: settings.bcrypt_cost,
    };
    let services = ManagerServices::new(ServiceDeps {
        repo: repo.clone(),
        k8s: k8s.clone(),
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
        services,
        repo.clone(),
        k8s,
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

    // Every replica sweeps expired sessions (deletes are idempotent).
    let sweeper_task = actix_web::rt::spawn(run_session_sweeper(repo.clone(), SESSION_SWEEP_INTERVAL));
    let storage_task = actix_web::rt::spawn(async move { repo.connect(backend, admin).await });
    // The reconciler skips its work until storage is connected and the pod
    // cache has synced, and runs only while this replica leads.
    let is_leader = cluster::leadership(&config.k8s, &config.leader_election, connect_retry);
    let reconciler_task = actix_web::rt::spawn(reconciler.run(is_leader));
    let result = server.server.await;
    sweeper_task.abort();
    reconciler_task.abort();
    storage_task.abort();
    tracing::info!("manager stopped");
    result.context("HTTP server")
}

fn backend(config: &ManagerConfig) -> anyhow::Result<Backend> {
    Ok(match config.storage_backend()? {
        StorageBackend::Redb => {
            tracing::info!(path = %config.storage.redb_path, "storage: embedded redb file");
            Backend::Redb(PathBuf::from(&config.storage.redb_path))
        }
        StorageBackend::MongoDb => {
            let m = &config.mongodb;
            let settings = MongoSettings {
                uri: m.uri.clone(),
                host: m.host.clone(),
                port: m.port.clone(),
                user: m.user.clone(),
                password: m.password.clone(),
                database: m.database.clone(),
                options: m.options.clone(),
                ca_pem_enable: m.ca_pem_enable,
                ca_pem: m.ca_pem.clone(),
            };
            tracing::info!(database = settings.database_name(), "storage: MongoDB");
            Backend::MongoDb(settings)
        }
    })
}

fn jwt_keys(config: &ManagerConfig) -> anyhow::Result<JwtKeys> {
    if config.key.rsa_private_key_pem.trim().is_empty() {
        let keys = JwtKeys::generate()?;
        tracing::warn!(
            "key.rsa_private_key_pem is not set: generated an ephemeral RSA-2048 key; logins end with this \
             process. Set MANAGER_KEY_RSA_PRIVATE_KEY_PEM for real use"
        );
        return Ok(keys);
    }
    Ok(JwtKeys::from_pem(&config.key.rsa_private_key_pem)?)
}

/// `key.dm_public_key_pem`, else the public half of the Manager's key;
/// checked now rather than at the first DM call.
fn dm_public_key(config: &ManagerConfig, jwt: &JwtKeys) -> anyhow::Result<String> {
    let configured = config.key.dm_public_key_pem.trim();
    if configured.is_empty() {
        return Ok(jwt.public_key_pem());
    }
    RsaPublicKey::from_public_key_pem(configured)
        .map_err(|_| anyhow::anyhow!("key.dm_public_key_pem is not a \"PUBLIC KEY\" (SPKI) RSA PEM"))?;
    Ok(config.key.dm_public_key_pem.clone())
}
