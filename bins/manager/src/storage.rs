//! Which store the Manager opens (`storage.*`, `mongodb.*`); the
//! connection itself is retried by the services' `DeferredRepository`.

use std::path::PathBuf;
use std::sync::Arc;

use gthulhu_config::manager::{ManagerConfig, StorageBackend};
use gthulhu_domain::manager::{RepoError, RepoResult, Repository};
use gthulhu_manager_service::OpenFn;
use gthulhu_store_mongo::{MongoRepository, MongoSettings};
use gthulhu_store_redb::RedbRepository;

/// Where to connect; chosen from the configuration.
enum Backend {
    Redb(PathBuf),
    MongoDb(Box<MongoSettings>),
}

/// Opens the configured store (called again after each failure).
pub fn opener(config: &ManagerConfig) -> anyhow::Result<OpenFn> {
    let backend = Arc::new(backend(config)?);
    Ok(Box::new(move || {
        let backend = backend.clone();
        Box::pin(async move { open(&backend).await })
    }))
}

fn backend(config: &ManagerConfig) -> anyhow::Result<Backend> {
    Ok(match config.storage_backend()? {
        StorageBackend::Redb => {
            tracing::info!(path = %config.storage.redb_path, "storage: embedded redb file");
            Backend::Redb(PathBuf::from(&config.storage.redb_path))
        }
        StorageBackend::MongoDb => {
            let m = &config.mongodb;
            let settings = MongoSettings {
                uri: m.uri.clone(),
                host: m.host.clone(),
                port: m.port.clone(),
                user: m.user.clone(),
                password: m.password.clone(),
                database: m.database.clone(),
                options: m.options.clone(),
                ca_pem_enable: m.ca_pem_enable,
                ca_pem: m.ca_pem.clone(),
            };
            tracing::info!(database = settings.database_name(), "storage: MongoDB");
            Backend::MongoDb(Box::new(settings))
        }
    })
}

async fn open(backend: &Backend) -> RepoResult<Arc<dyn Repository>> {
    match backend {
        Backend::Redb(path) => {
            let path = path.clone();
            // Opening may block on the file system (and fails fast when another
            // process holds the file).
            tokio::task::spawn_blocking(move || RedbRepository::open(&path))
                .await
                .map_err(|e| RepoError::Other(format!("opening the redb store panicked: {e}")))?
                .map(|r| Arc::new(r) as Arc<dyn Repository>)
        }
        Backend::MongoDb(settings) => MongoRepository::connect(settings)
            .await
            .map(|r| Arc::new(r) as Arc<dyn Repository>),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_the_configured_redb_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ManagerConfig::default();
        config.storage.redb_path = dir.path().join("sub/m.redb").display().to_string();
        let open = opener(&config).unwrap();
        open().await.unwrap().ping().await.unwrap();
    }
}
