//! The shared repository contract (manager.md 14.1) against MongoDB: the
//! server at `MONGODB_URI` (CI: nx-27017), and real `mongo` containers
//! (standalone and replica set) wherever a Docker engine is reachable.
//! Each check gets a fresh, randomly named database.

mod common;

mod against_mongodb_uri {
    use std::sync::Arc;

    use gthulhu_domain::manager::Repository;
    use gthulhu_repo_conformance::Missing;

    use super::common;

    async fn fresh() -> Result<Arc<dyn Repository>, Missing> {
        let uri = common::env_uri()?;
        Ok(Arc::new(common::fresh_repo(&uri).await))
    }

    gthulhu_repo_conformance::repository_conformance_tests!(fresh());
}

mod against_docker_standalone {
    use std::sync::Arc;

    use gthulhu_domain::manager::Repository;
    use gthulhu_repo_conformance::Missing;
    use testcontainers_modules::mongo::Mongo;
    use testcontainers_modules::testcontainers::ContainerAsync;

    use super::common;

    async fn fresh() -> Result<(Arc<dyn Repository>, ContainerAsync<Mongo>), Missing> {
        common::docker()?;
        let (container, uri) = common::start_container(false).await;
        Ok((Arc::new(common::fresh_repo(&uri).await), container))
    }

    gthulhu_repo_conformance::repository_conformance_tests!(fresh());
}

mod against_docker_replica_set {
    use std::sync::Arc;

    use gthulhu_domain::manager::Repository;
    use gthulhu_repo_conformance::Missing;
    use testcontainers_modules::mongo::Mongo;
    use testcontainers_modules::testcontainers::ContainerAsync;

    use super::common;

    async fn fresh() -> Result<(Arc<dyn Repository>, ContainerAsync<Mongo>), Missing> {
        common::docker()?;
        let (container, uri) = common::start_container(true).await;
        let repo = common::fresh_repo(&uri).await;
        assert!(
            repo.uses_transactions(),
            "a replica set runs multi-document writes in transactions"
        );
        Ok((Arc::new(repo), container))
    }

    gthulhu_repo_conformance::repository_conformance_tests!(fresh());
}
