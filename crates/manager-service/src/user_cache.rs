//! The auth middleware's per-process user cache (sessions-and-runtime.md 9):
//! at most one `get_user` per authenticated request, none on a hit.
//!
//! Invalidation rule: an entry is dropped on every write to that user made
//! through this process (`update_user` through `save_user`,
//! `bump_token_version`; `rename_role_in_users` drops every entry), and
//! every entry expires `auth.user_cache_ttl_s` seconds after it was read,
//! which bounds how long a write made by another Manager replica takes to
//! be seen. A TTL of 0 disables the cache.
//!
//! A read that started before an invalidation is not cached when it
//! finishes after it (the generation counter), so a slow read can never
//! put back a value older than the write.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gthulhu_domain::manager::{ObjectId, User};

/// Above this many entries, expired ones are dropped on insert.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug)]
pub(crate) struct UserCache {
    ttl: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<ObjectId, (User, Instant)>,
    /// Incremented by every invalidation.
    generation: u64,
}

impl UserCache {
    pub fn new(ttl_s: u64) -> Self {
        Self {
            ttl: Duration::from_secs(ttl_s),
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; a poisoned one is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The cached user, when read less than the TTL ago.
    pub fn get(&self, id: &ObjectId) -> Option<User> {
        if !self.enabled() {
            return None;
        }
        let inner = self.lock();
        let (user, read_at) = inner.entries.get(id)?;
        (read_at.elapsed() < self.ttl).then(|| user.clone())
    }

    /// To pass to `insert` after reading from storage.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Caches `user`, read when the cache was at `generation`, unless an
    /// invalidation happened since.
    pub fn insert(&self, user: User, generation: u64) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.entries.len() > PRUNE_ABOVE {
            let ttl = self.ttl;
            inner.entries.retain(|_, (_, read_at)| read_at.elapsed() < ttl);
        }
        inner.entries.insert(user.id.clone(), (user, Instant::now()));
    }

    /// After a write to the user made through this process.
    pub fn invalidate(&self, id: &ObjectId) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.remove(id);
    }

    /// After a write to many users (a role rename).
    pub fn invalidate_all(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use gthulhu_domain::manager::UserStatus;

    use super::*;
    use crate::testutil::user;

    #[test]
    fn hit_until_invalidated_or_expired() {
        let cache = UserCache::new(60);
        let u = user("alice", UserStatus::Active, &[]);
        assert!(cache.get(&u.id).is_none());
        cache.insert(u.clone(), cache.generation());
        assert_eq!(cache.get(&u.id), Some(u.clone()));
        cache.invalidate(&u.id);
        assert!(cache.get(&u.id).is_none());
        cache.insert(u.clone(), cache.generation());
        cache.invalidate_all();
        assert!(cache.get(&u.id).is_none());

        let expiring = UserCache {
            ttl: Duration::from_millis(1),
            inner: Mutex::default(),
        };
        expiring.insert(u.clone(), 0);
        std::thread::sleep(Duration::from_millis(5));
        assert!(expiring.get(&u.id).is_none());
    }

    #[test]
    fn a_read_older_than_an_invalidation_is_not_cached() {
        let cache = UserCache::new(60);
        let u = user("alice", UserStatus::Active, &[]);
        let before = cache.generation();
        cache.invalidate(&u.id);
        cache.insert(u.clone(), before);
        assert!(cache.get(&u.id).is_none());
    }

    #[test]
    fn ttl_zero_disables_it() {
        let cache = UserCache::new(0);
        let u = user("alice", UserStatus::Active, &[]);
        cache.insert(u.clone(), cache.generation());
        assert!(cache.get(&u.id).is_none());
    }
}
