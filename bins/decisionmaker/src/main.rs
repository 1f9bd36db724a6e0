//! `gthulhu-decisionmaker`: reads the configuration, builds the
//! implementations, injects them into the REST layer and runs until
//! SIGTERM. Nothing else here.

mod cli;
mod pod_metadata;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use gthulhu_config::DmConfig;
use gthulhu_daemon_client::DaemonClient;
use gthulhu_dm_service::{DecisionMaker, LegacyPriorityMap, ManagerClients, RsaTokenService, SchedulerMetricsStore};
use gthulhu_proc_scanner::{ProcScanner, ScannerConfig};
use gthulhu_rest::dm::{DmApi, DmSettings};
use gthulhu_rest::{HttpMetrics, Timeouts, bind_listener, server_tls_config};
use prometheus_client::registry::Registry;
use tokio::sync::watch;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    let (config, config_file) = cli.load()?;
    gthulhu_telemetry::init(&config.logging.level, &config.logging.format);
    match &config_file {
        Some(path) => tracing::info!(file = %path.display(), "configuration loaded"),
        None => tracing::info!("no configuration file found; using defaults and DM_* environment variables"),
    }
    run(config).await
}

async fn run(config: DmConfig) -> anyhow::Result<()> {
    let node_name = node_name(&config);
    if config.standalone.enable && config.standalone.node_name.trim().is_empty() && env_node_name().is_empty() {
        anyhow::bail!("standalone mode requires NODE_NAME or standalone.node_name");
    }
    let tokens = token_service(&config)?;
    let runtime = DaemonClient::new(&config.daemon.endpoint, config.daemon.timeout()).context("daemon.endpoint")?;
    let mut registry = Registry::default();
    let scanner = ProcScanner::new(
        ScannerConfig {
            proc_root: PathBuf::from(&config.scan.proc_root),
            cgroup_root: PathBuf::from(&config.scan.cgroup_root),
            refresh_interval: Duration::from_millis(config.scan.refresh_interval_ms.max(50)),
            watch_cgroups: config.scan.watch_cgroups,
        },
        &mut registry,
    );
    let metadata = pod_metadata::source(&config, &node_name).await;
    let decision_maker = DecisionMaker::new(
        scanner.clone(),
        metadata,
        LegacyPriorityMap {
            when_true: config.standalone.legacy_priority_true,
            when_false: config.standalone.legacy_priority_false,
        },
    );
    let metrics = Arc::new(SchedulerMetricsStore::default());
    gthulhu_rest::dm::register_dm_metrics(&mut registry, metrics.clone(), decision_maker.clone());
    let http_metrics = HttpMetrics::register(&mut registry);

    let tls = if config.mtls.enable {
        Some(server_tls_config(&config.mtls.cert_pem, &config.mtls.key_pem, &config.mtls.ca_pem).context("mTLS")?)
    } else {
        None
    };
    let address = config.server.listen_address();
    let listener = bind_listener(address).with_context(|| format!("listening on {address}"))?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let scanner_task = scanner.spawn(shutdown_rx.clone());
    let resolver_task = decision_maker.spawn_resolver(shutdown_rx);

    let api = DmApi {
        tokens,
        intents: decision_maker.clone(),
        scheduling: decision_maker,
        metrics,
        runtime: Arc::new(runtime),
        registry: Arc::new(registry),
        http_metrics,
        settings: DmSettings {
            standalone: config.standalone.enable,
            max_body_bytes: config.server.max_body_bytes,
            timeouts: Timeouts::from_config(
                config.server.client_request_timeout_ms,
                config.server.client_disconnect_timeout_ms,
                config.server.keep_alive_s,
            ),
            node_name,
            version: env!("CARGO_PKG_VERSION").to_string(),
        },
    };
    let server = gthulhu_rest::dm::serve_with_workers(api, listener, tls, config.server.workers)?;
    tracing::info!(
        address = %server.local_addr,
        mtls = config.mtls.enable,
        standalone = config.standalone.enable,
        proc_root = %config.scan.proc_root,
        cgroup_root = %config.scan.cgroup_root,
        daemon = %config.daemon.endpoint,
        "decision maker listening"
    );
    let result = server.server.await;
    let _ = shutdown_tx.send(true);
    let _ = tokio::join!(scanner_task, resolver_task);
    tracing::info!("decision maker stopped");
    result.context("HTTP server")
}

fn env_node_name() -> String {
    std::env::var("NODE_NAME").unwrap_or_default().trim().to_string()
}

/// `standalone.node_name`, else `NODE_NAME`, else the host name.
fn node_name(config: &DmConfig) -> String {
    [config.standalone.node_name.clone(), env_node_name()]
        .into_iter()
        .map(|n| n.trim().to_string())
        .find(|n| !n.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_default()
}

fn token_service(config: &DmConfig) -> anyhow::Result<Arc<RsaTokenService>> {
    let ttl = config.token.token_duration_hr;
    let service = if config.token.rsa_private_key_pem.trim().is_empty() {
        let service = RsaTokenService::generate(ttl)?;
        tracing::warn!(
            fingerprint = %service.fingerprint(),
            public_key = %service.public_key_pem(),
            "token.rsa_private_key_pem is not set: generated an ephemeral RSA-2048 key; tokens die with this process \
             and clients must present the public key logged here. Set DM_TOKEN_RSA_PRIVATE_KEY_PEM for real use"
        );
        service
    } else {
        RsaTokenService::from_pem(&config.token.rsa_private_key_pem, ttl)?
    };
    let managers = ManagerClients {
        allow_list: config.token.manager_client_ids.clone(),
        mtls: config.mtls.enable,
    };
    if !managers.mtls && !managers.allow_list.is_empty() {
        tracing::info!(
            client_ids = ?managers.allow_list,
            "tokens requested with these client_ids may write intents; enable mTLS to require a client certificate"
        );
    }
    Ok(Arc::new(service.with_manager_clients(managers)))
}
