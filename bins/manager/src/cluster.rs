//! Which cluster the Manager sees (manager.md 15.2, `k8s.*`): a pods file,
//! a real cluster, or none.

use std::sync::Arc;

use gthulhu_config::manager::K8sConfig;
use gthulhu_domain::manager::K8sAdapter;
use gthulhu_k8s_adapter::{KubeAdapter, KubeSettings, PodsFileAdapter, PodsFileSettings, client_from_config};
use gthulhu_manager_service::NoCluster;

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
