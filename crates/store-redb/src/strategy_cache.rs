//! The decoded strategy list, kept between reads: the reconciler lists
//! every strategy for each batch of pod events, and decoding them all each
//! time costs more than the rest of the batch. Exact, because the file is
//! locked by this process and every strategy write calls `invalidate`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gthulhu_domain::manager::ScheduleStrategy;

#[derive(Default)]
pub struct StrategyCache {
    /// Bumped after every strategy write; an entry read under an older
    /// generation is never served.
    generation: AtomicU64,
    entry: Mutex<Option<(u64, Arc<Vec<ScheduleStrategy>>)>>,
}

impl StrategyCache {
    pub fn get(&self) -> Option<Vec<ScheduleStrategy>> {
        let current = self.generation();
        let entry = self.entry.lock().unwrap_or_else(|p| p.into_inner());
        entry
            .as_ref()
            .filter(|(generation, _)| *generation == current)
            .map(|(_, list)| list.as_ref().clone())
    }

    /// Read before the transaction that lists the strategies, and handed
    /// back to `fill` with what it read.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn fill(&self, generation: u64, list: &[ScheduleStrategy]) {
        let mut entry = self.entry.lock().unwrap_or_else(|p| p.into_inner());
        if generation == self.generation() {
            *entry = Some((generation, Arc::new(list.to_vec())));
        }
    }

    /// After every strategy write, committed or not.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gthulhu_domain::manager::{ObjectId, StrategySpec};

    fn strategy(priority: i64) -> ScheduleStrategy {
        ScheduleStrategy {
            id: ObjectId::new(),
            spec: StrategySpec {
                priority,
                ..StrategySpec::default()
            },
            creator_id: ObjectId::ZERO,
            updater_id: ObjectId::ZERO,
            created_time: 0,
            updated_time: 0,
        }
    }

    #[test]
    fn serves_what_was_filled_until_invalidated() {
        let cache = StrategyCache::default();
        assert_eq!(cache.get(), None);
        let list = vec![strategy(1)];
        cache.fill(cache.generation(), &list);
        assert_eq!(cache.get(), Some(list));
        cache.invalidate();
        assert_eq!(cache.get(), None);
    }

    #[test]
    fn a_list_read_before_a_write_is_never_served_after_it() {
        let cache = StrategyCache::default();
        let token = cache.generation();
        // A write commits and invalidates while the list is being read.
        cache.invalidate();
        cache.fill(token, &[strategy(1)]);
        assert_eq!(cache.get(), None);
    }
}
