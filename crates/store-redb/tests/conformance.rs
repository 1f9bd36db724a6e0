//! The shared repository contract (manager.md 14.1) against a redb file.

use std::sync::Arc;

use gthulhu_domain::manager::Repository;
use gthulhu_store_redb::RedbRepository;
use tempfile::TempDir;

/// A fresh database in a nested, not yet existing directory; the
/// directory lives as long as the check.
async fn fresh() -> (Arc<dyn Repository>, TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let repo = RedbRepository::open(&dir.path().join("data/manager.redb")).expect("open redb");
    (Arc::new(repo), dir)
}

gthulhu_repo_conformance::repository_conformance_tests!(fresh());
