//! When a derived write may skip the fsync. A durable commit persists
//! every commit before it, so derived writes only need one now and then:
//! the fsync of a durable commit costs more than the rest of a reconciler
//! event batch.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redb::Durability;

/// The longest a derived write stays without a durable commit after it.
/// redb also only frees pages at durable commits, which this bounds too.
pub const DERIVED_SYNC_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct DeferredSync {
    last_durable: Mutex<Instant>,
}

impl Default for DeferredSync {
    fn default() -> Self {
        Self {
            last_durable: Mutex::new(Instant::now()),
        }
    }
}

impl DeferredSync {
    pub fn durability_for_derived(&self) -> Durability {
        let last = *self.last_durable.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() >= DERIVED_SYNC_INTERVAL {
            Durability::Immediate
        } else {
            Durability::None
        }
    }

    pub fn committed(&self, durability: Durability) {
        if !matches!(durability, Durability::None) {
            *self.last_durable.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_writes_skip_the_fsync_until_the_last_one_is_old() {
        let syncs = DeferredSync::default();
        assert!(matches!(syncs.durability_for_derived(), Durability::None));
        syncs.committed(Durability::None);
        assert!(matches!(syncs.durability_for_derived(), Durability::None));
        let old = Instant::now().checked_sub(DERIVED_SYNC_INTERVAL).unwrap();
        *syncs.last_durable.lock().unwrap() = old;
        assert!(matches!(syncs.durability_for_derived(), Durability::Immediate));
        syncs.committed(Durability::Immediate);
        assert!(matches!(syncs.durability_for_derived(), Durability::None));
    }
}
