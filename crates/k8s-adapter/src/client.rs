//! Building a Kubernetes client from the services' `k8s` settings.

use std::path::Path;
use std::time::Duration;

use kube::client::ClientBuilder;
use kube::config::{InClusterError, InferConfigError, KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};

use crate::rate_limit::{KUBE_API_RATE_LIMIT, RateLimitLayer};

/// manager.md 15.2: Kubernetes request timeout. Applied to connecting;
/// reads stay long because watches are long-lived responses.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("in-cluster configuration: {0}")]
    InCluster(#[from] InClusterError),
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        #[source]
        source: KubeconfigError,
    },
    /// Neither `$KUBECONFIG`, `~/.kube/config` nor an in-cluster service
    /// account: there is no cluster to talk to.
    #[error("no kubeconfig found ($KUBECONFIG, ~/.kube/config) and not in a cluster: {0}")]
    NotFound(#[from] InferConfigError),
    #[error("kubernetes client: {0}")]
    Client(#[from] kube::Error),
}

/// `in_cluster`: the pod's service account; else an explicit kubeconfig
/// path; else `$KUBECONFIG`, `~/.kube/config`, then in-cluster. Requests
/// wait for [`KUBE_API_RATE_LIMIT`] (QPS 20, burst 50) across the client.
pub async fn client_from_config(in_cluster: bool, kube_config_path: &str) -> Result<Client, ClientError> {
    let path = kube_config_path.trim();
    let mut config = if in_cluster {
        Config::incluster()?
    } else if !path.is_empty() {
        let kubeconfig_error = |source| ClientError::Kubeconfig {
            path: path.to_string(),
            source,
        };
        let kubeconfig = Kubeconfig::read_from(Path::new(path)).map_err(kubeconfig_error)?;
        Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(kubeconfig_error)?
    } else {
        Config::infer().await?
    };
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    // kube's default layer retries 429/503/504 up to 15 times with backoff
    // growing from 5 ms (minutes in all). The watcher has its own backoff,
    // and an outage must show in the status (and node listing must fail
    // within its timeout) instead of being hidden behind retries.
    config.default_retry = false;
    Ok(ClientBuilder::try_from(config)?
        .with_layer(&RateLimitLayer::new(KUBE_API_RATE_LIMIT))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn explicit_kubeconfig_path_is_used_and_errors_name_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.yaml");
        let Err(err) = client_from_config(false, missing.to_str().unwrap()).await else {
            panic!("a missing kubeconfig must fail");
        };
        assert!(matches!(err, ClientError::Kubeconfig { .. }), "{err}");
        assert!(err.to_string().contains("missing.yaml"), "{err}");

        let file = dir.path().join("config.yaml");
        std::fs::write(
            &file,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\n\
             contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n    namespace: ns1\n\
             current-context: x\nusers:\n- name: u\n  user: {}\n",
        )
        .unwrap();
        let client = client_from_config(false, file.to_str().unwrap()).await.unwrap();
        assert_eq!(client.default_namespace(), "ns1");
    }

    /// The limiter is in the client's stack: past the burst of 50,
    /// requests are spaced by 50 ms (and none fails).
    #[tokio::test]
    async fn requests_beyond_the_burst_wait_for_tokens() {
        let server = gthulhu_fake_kube_apiserver::FakeApiServer::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        server.write_kubeconfig(&kubeconfig).unwrap();
        let client = client_from_config(false, kubeconfig.to_str().unwrap()).await.unwrap();
        let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client);
        let start = tokio::time::Instant::now();
        let params = kube::api::ListParams::default();
        let lists = (0..55).map(|_| nodes.list(&params));
        for result in futures::future::join_all(lists).await {
            result.unwrap();
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(250),
            "5 requests over the burst: {elapsed:?}"
        );
        assert_eq!(server.requests(), 55);
    }
}
