//! The database file and the transactions every repository operation runs
//! in, on the blocking thread pool.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gthulhu_domain::manager::{RepoError, RepoResult};
use gthulhu_store_model::IntentDoc;
use redb::{Database, Durability, ReadTransaction, TableHandle, WriteTransaction};

use crate::durability::{BackgroundSync, DERIVED_SYNC_INTERVAL, DeferredSync};
use crate::error::Failure;
use crate::strategy_cache::StrategyCache;
use crate::tables::*;

/// The redb-backed `Repository`. The file is locked by this process while
/// open; clones of the `Arc` share one database.
pub struct RedbRepository {
    db: Arc<Database>,
    path: PathBuf,
    pub(crate) strategies: Arc<StrategyCache>,
    syncs: Arc<DeferredSync>,
    /// Dropped after `db`, so the file closes once the final sync is done.
    _syncer: BackgroundSync,
}

impl std::fmt::Debug for RedbRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbRepository").field("path", &self.path).finish()
    }
}

impl RedbRepository {
    /// Opens or creates the database file (and its parent directories) and
    /// every table. Blocking; call it at startup. A file already open in
    /// another process (or another `RedbRepository`) is `Unavailable`.
    pub fn open(path: &Path) -> Result<Self, RepoError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| RepoError::Unavailable(format!("create directory {}: {e}", parent.display())))?;
        }
        let db = Database::create(path).map_err(Failure::from)?;
        create_tables(&db)?;
        let db = Arc::new(db);
        let syncs = Arc::<DeferredSync>::default();
        let syncer = BackgroundSync::start(Arc::clone(&db), Arc::clone(&syncs), DERIVED_SYNC_INTERVAL)
            .map_err(|e| RepoError::Unavailable(format!("starting the sync thread: {e}")))?;
        Ok(Self {
            db,
            path: path.to_owned(),
            strategies: Arc::default(),
            syncs,
            _syncer: syncer,
        })
    }

    pub(crate) async fn read<T, F>(&self, body: F) -> RepoResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T, Failure> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        blocking(move || body(&db.begin_read()?)).await
    }

    /// Commits only when `body` succeeds; an error aborts everything it wrote.
    pub(crate) async fn write<T, F>(&self, body: F) -> RepoResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, Failure> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        blocking(move || transact(&db, Durability::Immediate, body)).await
    }

    /// `write` for intent changes the reconciler derives from strategies and
    /// pods: committed without an fsync, made durable by the background
    /// syncer within `DERIVED_SYNC_INTERVAL`. A crash loses at most that
    /// much of them, and they are derived: the first reconcile pass after a
    /// restart recomputes them.
    pub(crate) async fn write_derived<T, F>(&self, body: F) -> RepoResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, Failure> + Send + 'static,
    {
        let (db, syncs) = (Arc::clone(&self.db), Arc::clone(&self.syncs));
        blocking(move || {
            let out = transact(&db, Durability::None, body)?;
            syncs.committed_without_sync();
            Ok(out)
        })
        .await
    }

    /// `write` for strategy changes: the cached strategy list is dropped
    /// when the transaction ends, inside the blocking job, so a caller that
    /// stops waiting cannot skip it.
    pub(crate) async fn write_strategies<T, F>(&self, body: F) -> RepoResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, Failure> + Send + 'static,
    {
        let (db, cache) = (Arc::clone(&self.db), Arc::clone(&self.strategies));
        blocking(move || {
            let result = transact(&db, Durability::Immediate, body);
            cache.invalidate();
            result
        })
        .await
    }
}

fn transact<T>(
    db: &Database,
    durability: Durability,
    body: impl FnOnce(&WriteTransaction) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let mut tx = db.begin_write()?;
    tx.set_durability(durability);
    let out = body(&tx)?;
    tx.commit()?;
    Ok(out)
}

fn create_tables(db: &Database) -> Result<(), Failure> {
    let tx = db.begin_write()?;
    let has_pod_index = tx.list_tables()?.any(|t| t.name() == INTENTS_BY_POD.name());
    for table in BYTE_TABLES {
        tx.open_table(table)?;
    }
    tx.open_table(MIGRATIONS)?;
    if !has_pod_index {
        index_intents_by_pod(&tx)?;
    }
    tx.commit()?;
    Ok(())
}

/// Fills `INTENTS_BY_POD` for a file written before it existed.
fn index_intents_by_pod(tx: &WriteTransaction) -> Result<(), Failure> {
    let docs: Vec<IntentDoc> = all_docs(&tx.open_table(INTENTS)?, INTENTS.name())?;
    let mut by_pod = tx.open_table(INTENTS_BY_POD)?;
    for doc in &docs {
        by_pod.insert(text_id_key(&doc.pod_id, &doc.id).as_slice(), EMPTY)?;
    }
    Ok(())
}

async fn blocking<T, F>(job: F) -> RepoResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Failure> + Send + 'static,
{
    match tokio::task::spawn_blocking(job).await {
        Ok(result) => result.map_err(RepoError::from),
        Err(e) => Err(RepoError::Other(format!("storage task failed: {e}"))),
    }
}
