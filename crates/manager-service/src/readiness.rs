//! `/ready`: the store answers a ping and the cluster is usable.

use async_trait::async_trait;
use gthulhu_domain::manager::{Readiness, ReadinessService};

use crate::ManagerServices;

#[async_trait]
impl ReadinessService for ManagerServices {
    async fn readiness(&self) -> Readiness {
        Readiness {
            storage_error: self.repo.ping().await.err(),
            cluster: self.k8s.status(),
        }
    }
}

#[cfg(test)]
mod tests {
    use gthulhu_domain::manager::{ClusterStatus, MockRepository, RepoError};

    use super::*;
    use crate::testutil::services_full;

    #[tokio::test]
    async fn reports_the_ping_and_the_cluster_status() {
        let mut repo = MockRepository::new();
        repo.expect_ping()
            .returning(|| Err(RepoError::Unavailable("db down".into())));
        let mut k8s = gthulhu_domain::manager::MockK8sAdapter::new();
        k8s.expect_status()
            .returning(|| ClusterStatus::NotConfigured("no cluster".into()));
        let svc = services_full(repo, k8s, gthulhu_domain::manager::MockDecisionMakerAdapter::new());
        assert_eq!(
            svc.readiness().await,
            Readiness {
                storage_error: Some(RepoError::Unavailable("db down".into())),
                cluster: ClusterStatus::NotConfigured("no cluster".into()),
            }
        );
    }
}
