//! Kubernetes adapters. For the Manager: the slim pod cache (manager.md 9,
//! 11.1) fed by a cluster-wide pod watch ([`KubeAdapter`]) or by a
//! `kubectl get pods -A -o json` file ([`PodsFileAdapter`]), and live node
//! listing (10.1), and Lease leader election among replicas (12.2). For the Decision Maker: the pod metadata of its own node
//! ([`NodePodMetadata`]). Both build their client with [`client_from_config`],
//! which applies the client rate limit of 15.2.

mod cache;
mod client;
mod kube_adapter;
mod lease;
mod link;
mod node_metadata;
mod pods_file;
mod projection;
mod rate_limit;
mod watch;

pub use cache::PodCache;
pub use client::{ClientError, client_from_config};
pub use kube_adapter::{KubeAdapter, KubeSettings};
pub use lease::{LeaseSettings, start_leader_election};
pub use node_metadata::NodePodMetadata;
pub use pods_file::{PodsFileAdapter, PodsFileSettings};
pub use projection::{DmAddress, DmSelector, DmSelectorError, SlimPod, dm_state, project_node, project_pod};
