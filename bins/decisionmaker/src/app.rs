//! The composition root (the zero2prod way): `build(config)` wires every
//! implementation by constructor injection, binds the listener and starts
//! the background refresh; `main`, the tests, the benchmarks and the demo
//! all come through here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gthulhu_config::DmConfig;
use gthulhu_daemon_client::DaemonClient;
use gthulhu_dm_service::{DecisionMaker, LegacyPriorityMap, ResolveSettings, SchedulerMetricsStore};
use gthulhu_domain::{PodMetadataSource, ProcessIndex};
use gthulhu_proc_scanner::{HostTable, HostTableConfig, ProcScanner, ScannerConfig};
use gthulhu_rest::dm::{ClockSkew, ClockSkewGauge, DmApi, DmSettings};
use gthulhu_rest::{HttpMetrics, Timeouts, bind_listener, server_tls_config};
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{identity, pod_metadata};

/// Replacements for what the configuration would build, for tests and
/// benchmarks; `Overrides::default()` is the production wiring.
#[derive(Default)]
pub struct Overrides {
    /// A process index instead of the `/proc` + cgroup scanner (which is
    /// then not started).
    pub index: Option<Arc<dyn ProcessIndex>>,
    /// Pod names and labels instead of the configured source.
    pub metadata: Option<Arc<dyn PodMetadataSource>>,
}

/// A built Decision Maker: listening, background refresh running.
pub struct Application {
    local_addr: SocketAddr,
    server: actix_web::dev::Server,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Application {
    pub async fn build(config: DmConfig) -> anyhow::Result<Self> {
        Self::build_with(config, Overrides::default()).await
    }

    pub async fn build_with(config: DmConfig, overrides: Overrides) -> anyhow::Result<Self> {
        let node_name = identity::node_name(&config)?;
        let tokens = identity::token_service(&config)?;
        let runtime = DaemonClient::new(&config.daemon.endpoint, config.daemon.timeout()).context("daemon.endpoint")?;
        let mut registry = Registry::default();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let index: Arc<dyn ProcessIndex> = match overrides.index {
            Some(index) => index,
            None => {
                let scanner = ProcScanner::new(
                    ScannerConfig {
                        proc_root: PathBuf::from(&config.scan.proc_root),
                        cgroup_root: PathBuf::from(&config.scan.cgroup_root),
                        refresh_interval: Duration::from_millis(config.scan.refresh_interval_ms.max(50)),
                        watch_cgroups: config.scan.watch_cgroups,
                    },
                    &mut registry,
                );
                tasks.push(scanner.spawn(shutdown_rx.clone()));
                scanner
            }
        };
        let metadata = match overrides.metadata {
            Some(metadata) => metadata,
            None => pod_metadata::source(&config, &node_name).await,
        };
        // Idle (no walk) until node intents or matchThreads intents arrive.
        let host_table = HostTable::new(
            HostTableConfig {
                proc_root: PathBuf::from(&config.scan.proc_root),
                refresh_interval: Duration::from_millis(config.scan.host_refresh_interval_ms),
                full_refresh_interval: Duration::from_millis(config.scan.host_full_refresh_interval_ms),
            },
            &mut registry,
        );
        tasks.push(host_table.spawn(shutdown_rx.clone()));
        let decision_maker = DecisionMaker::new(
            index,
            metadata,
            host_table,
            ResolveSettings {
                priorities: LegacyPriorityMap {
                    when_true: config.standalone.legacy_priority_true,
                    when_false: config.standalone.legacy_priority_false,
                },
                max_entries: config.resolve.max_entries,
            },
        );
        let metrics = Arc::new(SchedulerMetricsStore::default());
        gthulhu_rest::dm::register_dm_metrics(&mut registry, metrics.clone(), decision_maker.clone());
        let clock = Arc::new(ClockSkew::new(config.clock.max_skew_s));
        registry.register_collector(Box::new(ClockSkewGauge(clock.clone())));
        let http_metrics = HttpMetrics::register(&mut registry);

        let tls = if config.mtls.enable {
            Some(server_tls_config(&config.mtls.cert_pem, &config.mtls.key_pem, &config.mtls.ca_pem).context("mTLS")?)
        } else {
            None
        };
        let address = config.server.listen_address();
        let listener = bind_listener(address).with_context(|| format!("listening on {address}"))?;
        tasks.push(decision_maker.spawn_resolver(shutdown_rx));

        let api = DmApi {
            tokens,
            intents: decision_maker.clone(),
            scheduling: decision_maker,
            metrics,
            runtime: Arc::new(runtime),
            clock,
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
        Ok(Self {
            local_addr: server.local_addr,
            server: server.server,
            shutdown,
            tasks,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until SIGTERM/SIGINT, then stops the background tasks.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let result = self.server.await;
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        tracing::info!("decision maker stopped");
        result.context("HTTP server")
    }
}
