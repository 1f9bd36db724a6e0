//! The shared repository contract (manager.md 14.1) against the in-memory
//! store.

use std::sync::Arc;

use gthulhu_domain::manager::Repository;
use gthulhu_store_memory::MemoryRepository;

async fn fresh() -> Arc<dyn Repository> {
    Arc::new(MemoryRepository::new())
}

gthulhu_repo_conformance::repository_conformance_tests!(fresh());
