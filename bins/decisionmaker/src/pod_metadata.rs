//! Where pod names, namespaces and labels come from. Only standalone mode
//! watches the cluster (decision-maker.md 12.2, 13.1: the pod-label cache
//! needs pods get/list/watch RBAC, which Manager-driven DMs do not have).

use std::sync::Arc;

use gthulhu_config::DmConfig;
use gthulhu_dm_service::NoPodMetadata;
use gthulhu_domain::PodMetadataSource;
use gthulhu_k8s_adapter::{NodePodMetadata, client_from_config};

pub async fn source(config: &DmConfig, node_name: &str) -> Arc<dyn PodMetadataSource> {
    if !config.standalone.enable {
        return Arc::new(NoPodMetadata::new(
            "not in standalone mode: pod names stay empty and selector templates match nothing",
        ));
    }
    let standalone = &config.standalone;
    match client_from_config(standalone.in_cluster, &standalone.kube_config_path).await {
        Ok(client) => {
            tracing::info!(node = %node_name, in_cluster = standalone.in_cluster, "watching the pods of this node");
            NodePodMetadata::start(client, node_name)
        }
        Err(error) => {
            tracing::warn!(%error, "no Kubernetes client: pod names stay empty and selector templates match nothing");
            Arc::new(NoPodMetadata::new(format!("no Kubernetes client: {error}")))
        }
    }
}
