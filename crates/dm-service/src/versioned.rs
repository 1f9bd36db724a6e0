//! A state replaced as a whole: readers take the current version without
//! locking, writers build the next one from it one at a time, so a writer
//! never loses another's change (a DELETE never resurrects a replaced set).

use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

pub struct Versioned<T> {
    state: ArcSwap<T>,
    write_lock: Mutex<()>,
}

impl<T> Versioned<T> {
    pub fn new(initial: T) -> Self {
        Self {
            state: ArcSwap::from_pointee(initial),
            write_lock: Mutex::new(()),
        }
    }

    pub fn load(&self) -> Arc<T> {
        self.state.load_full()
    }

    /// Stores what `next` builds from the current version; an error leaves
    /// the current version in place.
    pub fn update<E>(&self, next: impl FnOnce(&T) -> Result<T, E>) -> Result<(), E> {
        let _guard = self.write_lock.lock();
        let built = next(&self.state.load())?;
        self.state.store(Arc::new(built));
        Ok(())
    }
}
