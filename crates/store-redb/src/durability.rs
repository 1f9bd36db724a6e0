//! Derived writes (the reconciler's intents) commit without an fsync; a
//! background thread makes them durable at most `DERIVED_SYNC_INTERVAL`
//! later with one empty durable commit (a durable commit persists every
//! commit before it), and once more when the repository is dropped. The
//! fsync so never runs on the reconciler's event path, and a burst of
//! event batches shares one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use redb::{Database, Durability};

use crate::error::Failure;

/// The longest a derived write stays without a durable commit after it.
/// redb also only frees pages at durable commits, which this bounds too.
pub const DERIVED_SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Whether a commit without fsync happened since the syncer last looked.
#[derive(Debug, Default)]
pub struct DeferredSync {
    dirty: AtomicBool,
}

impl DeferredSync {
    /// After a commit with `Durability::None` (not before: the syncer's
    /// durable commit must come after it to persist it).
    pub fn committed_without_sync(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    fn take(&self) -> bool {
        self.dirty.swap(false, Ordering::AcqRel)
    }
}

/// The syncer thread; dropping it syncs what is pending and joins it.
#[derive(Debug)]
pub struct BackgroundSync {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundSync {
    pub fn start(db: Arc<Database>, syncs: Arc<DeferredSync>, interval: Duration) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("redb-sync".into()).spawn(move || {
            loop {
                let last = matches!(
                    stopped.recv_timeout(interval),
                    Ok(()) | Err(RecvTimeoutError::Disconnected)
                );
                if syncs.take()
                    && let Err(error) = sync(&db)
                {
                    tracing::warn!(error = %error.0, "durable commit of the derived writes failed; retrying");
                    syncs.committed_without_sync();
                }
                if last {
                    return;
                }
            }
        })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn sync(db: &Database) -> Result<(), Failure> {
    let mut tx = db.begin_write()?;
    tx.set_durability(Durability::Immediate);
    tx.commit()?;
    Ok(())
}

impl Drop for BackgroundSync {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the redb sync thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use redb::TableDefinition;

    use super::*;

    const T: TableDefinition<u32, u32> = TableDefinition::new("t");

    fn write_without_sync(db: &Database, syncs: &DeferredSync, value: u32) {
        let mut tx = db.begin_write().unwrap();
        tx.set_durability(Durability::None);
        tx.open_table(T).unwrap().insert(value, value).unwrap();
        tx.commit().unwrap();
        syncs.committed_without_sync();
    }

    #[test]
    fn pending_writes_are_synced_within_the_interval_and_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::create(dir.path().join("t.redb")).unwrap());
        let syncs = Arc::new(DeferredSync::default());
        let syncer = BackgroundSync::start(db.clone(), syncs.clone(), Duration::from_millis(20)).unwrap();
        write_without_sync(&db, &syncs, 1);
        let deadline = Instant::now() + Duration::from_secs(5);
        while syncs.dirty.load(Ordering::Acquire) {
            assert!(Instant::now() < deadline, "never synced");
            std::thread::sleep(Duration::from_millis(5));
        }

        let syncer_on_drop = {
            drop(syncer);
            BackgroundSync::start(db.clone(), syncs.clone(), Duration::from_secs(3600)).unwrap()
        };
        write_without_sync(&db, &syncs, 2);
        drop(syncer_on_drop);
        assert!(!syncs.dirty.load(Ordering::Acquire), "dropping the syncer syncs");

        // A reopened file holds both writes.
        drop(db);
        let db = Database::create(dir.path().join("t.redb")).unwrap();
        let tx = db.begin_read().unwrap();
        let table = tx.open_table(T).unwrap();
        assert_eq!(table.get(1).unwrap().map(|v| v.value()), Some(1));
        assert_eq!(table.get(2).unwrap().map(|v| v.value()), Some(2));
    }
}
