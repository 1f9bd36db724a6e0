//! Which cluster the Manager sees (manager.md 15.2, `k8s.*`): a pods file,
//! or a real cluster, connected in the background and retried until it
//! answers, so a missing kubeconfig or service account token only delays
//! the cluster side.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gthulhu_config::manager::{K8sConfig, LeaderElectionConfig};
use gthulhu_domain::manager::K8sAdapter;
use gthulhu_k8s_adapter::{
    DmSelector, KubeAdapter, KubeSettings, LeaseSettings, PodsFileAdapter, PodsFileSettings, client_from_config,
    start_leader_election,
};
use gthulhu_manager_service::{ConnectFn, ConnectRetry, DeferredCluster, connect_with_retry};
use tokio::sync::watch;

const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// `k8s.decision_maker_selector`, checked at startup: a selector that no
/// label can match would silently leave every node without a DM.
pub fn dm_selector(config: &K8sConfig) -> anyhow::Result<DmSelector> {
    DmSelector::parse(&config.decision_maker_selector).context("k8s.decision_maker_selector")
}

/// `k8s.retry_initial_s` (at least 1 s, so a 0 cannot spin), doubling up
/// to a minute.
pub fn connect_retry(config: &K8sConfig) -> ConnectRetry {
    ConnectRetry {
        initial: Duration::from_secs(config.retry_initial_s.max(1)),
        ..ConnectRetry::default()
    }
}

/// `k8s.pods_file` wins (demos, offline); else a client from `in_cluster`,
/// `kube_config_path`, `$KUBECONFIG` or `~/.kube/config`, retried until
/// one works. Meanwhile the API serves and `/ready` says what failed.
pub fn adapter(config: &K8sConfig, dm_selector: DmSelector, retry: ConnectRetry) -> Arc<dyn K8sAdapter> {
    let pods_file = config.pods_file.trim();
    if !pods_file.is_empty() {
        tracing::info!(file = %pods_file, "cluster: pods file (re-read on change)");
        let settings = PodsFileSettings {
            dm_selector,
            ..PodsFileSettings::default()
        };
        return PodsFileAdapter::start(pods_file, settings);
    }
    let in_cluster = config.in_cluster;
    let kube_config_path = config.kube_config_path.clone();
    let connect: ConnectFn = Box::new(move || {
        let path = kube_config_path.clone();
        let settings = KubeSettings {
            dm_selector: dm_selector.clone(),
            ..KubeSettings::default()
        };
        Box::pin(async move {
            let client = client_from_config(in_cluster, &path).await.map_err(|e| e.to_string())?;
            tracing::info!(in_cluster, kube_config_path = %path, "cluster: watching pods in every namespace");
            let adapter: Arc<dyn K8sAdapter> = KubeAdapter::start(client, settings);
            Ok(adapter)
        })
    });
    DeferredCluster::start(connect, retry)
}

/// Whether this replica runs the intent pipeline and the reconciler: always
/// without `leader_election.enable`, else while it holds the Lease
/// (`leader_election.lease_name` in `leader_election.namespace`, by default
/// the pod's namespace; identity `POD_NAME`, else the host name). Until a
/// Kubernetes client can be built (retried as the cluster adapter's), the
/// replica follows: leading without a Lease could run two pipelines at once.
pub fn leadership(k8s: &K8sConfig, election: &LeaderElectionConfig, retry: ConnectRetry) -> watch::Receiver<bool> {
    if !election.enable {
        return watch::channel(true).1;
    }
    let namespace = non_empty(election.namespace.clone())
        .or_else(|| std::env::var("POD_NAMESPACE").ok().and_then(non_empty))
        .or_else(|| {
            std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE)
                .ok()
                .and_then(non_empty)
        })
        .unwrap_or_else(|| "default".to_string());
    let identity = std::env::var("POD_NAME")
        .ok()
        .and_then(non_empty)
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().and_then(non_empty))
        .unwrap_or_else(|| format!("gthulhu-manager-{}", std::process::id()));
    let settings = LeaseSettings::new(&election.lease_name, &namespace, &identity);
    let in_cluster = k8s.in_cluster;
    let kube_config_path = k8s.kube_config_path.clone();
    let (leader, is_leader) = watch::channel(false);
    tokio::spawn(async move {
        let connect = || {
            let path = kube_config_path.clone();
            async move { client_from_config(in_cluster, &path).await.map_err(|e| e.to_string()) }
        };
        let client = connect_with_retry("leader election", retry, connect, |_, _| {}).await;
        tracing::info!(lease = %settings.name, %namespace, %identity, "leader election: campaigning");
        let mut elected = start_leader_election(client, settings);
        loop {
            let leads = *elected.borrow_and_update();
            leader.send_if_modified(|current| std::mem::replace(current, leads) != leads);
            tokio::select! {
                changed = elected.changed() => if changed.is_err() { return },
                () = leader.closed() => return,
            }
        }
    });
    is_leader
}

fn non_empty(value: String) -> Option<String> {
    let value = value.trim().to_string();
    (!value.is_empty()).then_some(value)
}
