//! Which cluster the Manager sees (manager.md 15.2, `k8s.*`): a pods file,
//! a real cluster, or none.

use std::sync::Arc;

use gthulhu_config::manager::{K8sConfig, LeaderElectionConfig};
use gthulhu_domain::manager::K8sAdapter;
use gthulhu_k8s_adapter::{
    KubeAdapter, KubeSettings, LeaseSettings, PodsFileAdapter, PodsFileSettings, client_from_config,
    start_leader_election,
};
use gthulhu_manager_service::NoCluster;
use tokio::sync::watch;

const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// `k8s.pods_file` wins (demos, offline); else a client from `in_cluster`,
/// `kube_config_path`, `$KUBECONFIG` or `~/.kube/config`. With none of
/// these the API still serves, and `/ready` says there is no cluster.
pub async fn adapter(config: &K8sConfig) -> Arc<dyn K8sAdapter> {
    let pods_file = config.pods_file.trim();
    if !pods_file.is_empty() {
        tracing::info!(file = %pods_file, "cluster: pods file (re-read on change)");
        return PodsFileAdapter::start(pods_file, PodsFileSettings::default());
    }
    match client_from_config(config.in_cluster, &config.kube_config_path).await {
        Ok(client) => {
            tracing::info!(
                in_cluster = config.in_cluster,
                kube_config_path = %config.kube_config_path,
                "cluster: watching pods in every namespace"
            );
            KubeAdapter::start(client, KubeSettings::default())
        }
        Err(error) => {
            tracing::warn!(%error, "cluster: no Kubernetes client; serving without pods, nodes or Decision Makers");
            Arc::new(NoCluster)
        }
    }
}

/// Whether this replica runs the intent pipeline and the reconciler: always
/// without `leader_election.enable`, else while it holds the Lease
/// (`leader_election.lease_name` in `leader_election.namespace`, by default
/// the pod's namespace; identity `POD_NAME`, else the host name).
pub async fn leadership(k8s: &K8sConfig, election: &LeaderElectionConfig) -> watch::Receiver<bool> {
    if !election.enable {
        return watch::channel(true).1;
    }
    let client = match client_from_config(k8s.in_cluster, &k8s.kube_config_path).await {
        Ok(client) => client,
        Err(error) => {
            // Leading without a Lease could run two pipelines at once.
            tracing::error!(%error, "leader election is enabled but no Kubernetes client: this replica never leads");
            return watch::channel(false).1;
        }
    };
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
    tracing::info!(lease = %election.lease_name, %namespace, %identity, "leader election: campaigning");
    start_leader_election(client, LeaseSettings::new(&election.lease_name, &namespace, &identity))
}

fn non_empty(value: String) -> Option<String> {
    let value = value.trim().to_string();
    (!value.is_empty()).then_some(value)
}
