//! Where the integration tests find a MongoDB: `MONGODB_URI`, or a
//! container when a Docker engine is reachable.

use std::path::Path;

use gthulhu_domain::manager::ObjectId;
use gthulhu_repo_conformance::Missing;
use gthulhu_store_mongo::{MongoRepository, MongoSettings};
use testcontainers_modules::mongo::Mongo;
use testcontainers_modules::testcontainers::ContainerAsync;
use testcontainers_modules::testcontainers::runners::AsyncRunner;

pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// `MONGODB_URI`; CI always sets it.
pub fn env_uri() -> Result<String, Missing> {
    match std::env::var("MONGODB_URI") {
        Ok(uri) if !uri.is_empty() => Ok(uri),
        _ => Err(Missing::Required("MONGODB_URI not set".into())),
    }
}

/// Whether a Docker engine can be asked for a container: extra coverage
/// (a real `mongod`, standalone and as a replica set) that CI, which runs
/// the same checks against `MONGODB_URI`, does not provide.
pub fn docker() -> Result<(), Missing> {
    if Path::new(DOCKER_SOCKET).exists() {
        Ok(())
    } else {
        Err(Missing::Optional(format!(
            "no Docker engine ({DOCKER_SOCKET} does not exist)"
        )))
    }
}

/// A running `mongo` container (standalone or a one-member replica set)
/// and its URI; the container stops when dropped.
pub async fn start_container(replica_set: bool) -> (ContainerAsync<Mongo>, String) {
    let image = if replica_set {
        Mongo::repl_set()
    } else {
        Mongo::default()
    };
    let container = image.start().await.expect("start the mongo container");
    let host = container.get_host().await.expect("container host");
    let port = container.get_host_port_ipv4(27017).await.expect("container port");
    (container, format!("mongodb://{host}:{port}/?directConnection=true"))
}

/// Settings for a fresh, randomly named database on `uri`.
pub fn fresh_settings(uri: &str) -> MongoSettings {
    MongoSettings {
        uri: uri.to_owned(),
        database: format!("gthulhu_test_{}", ObjectId::new()),
        ..MongoSettings::default()
    }
}

pub async fn fresh_repo(uri: &str) -> MongoRepository {
    MongoRepository::connect(&fresh_settings(uri))
        .await
        .expect("connect to the test MongoDB")
}
