//! The intent collection with its unique (strategy, pod) index, and batches
//! of intent writes that undo themselves on failure (the store's stand-in
//! for a transaction).

use std::collections::{BTreeMap, HashMap};

use gthulhu_domain::manager::{IntentState, ObjectId, RepoError, RepoResult, ScheduleIntent};

const PAIR: &str = "strategyId+podId";

#[derive(Debug, Default)]
pub struct Intents {
    /// Keyed by id: iteration is creation order.
    by_id: BTreeMap<ObjectId, ScheduleIntent>,
    by_pair: HashMap<(ObjectId, String), ObjectId>,
}

impl Intents {
    pub fn get(&self, id: &ObjectId) -> Option<&ScheduleIntent> {
        self.by_id.get(id)
    }

    /// No index covers the state: it changes in place. Unknown ids are
    /// skipped.
    pub fn set_state(&mut self, id: &ObjectId, state: IntentState) {
        if let Some(intent) = self.by_id.get_mut(id) {
            intent.state = state;
        }
    }

    /// Every intent matching `keep`, in id order.
    pub fn filtered(&self, keep: impl Fn(&ScheduleIntent) -> bool) -> Vec<ScheduleIntent> {
        self.by_id.values().filter(|i| keep(i)).cloned().collect()
    }

    /// Runs `body` over a batch of writes: all of them stay if it succeeds,
    /// none if it fails.
    pub fn atomically<T>(&mut self, body: impl FnOnce(&mut Batch<'_>) -> RepoResult<T>) -> RepoResult<T> {
        let mut batch = Batch {
            intents: self,
            undo: Vec::new(),
        };
        let out = body(&mut batch);
        if out.is_err() {
            batch.roll_back();
        }
        out
    }

    fn insert(&mut self, intent: &ScheduleIntent) -> RepoResult<()> {
        if self.by_id.contains_key(&intent.id) {
            return Err(RepoError::Conflict("id".into()));
        }
        let pair = (intent.strategy_id.clone(), intent.pod_id.clone());
        if self.by_pair.contains_key(&pair) {
            return Err(RepoError::Conflict(PAIR.into()));
        }
        self.by_pair.insert(pair, intent.id.clone());
        self.by_id.insert(intent.id.clone(), intent.clone());
        Ok(())
    }

    fn remove(&mut self, id: &ObjectId) -> Option<ScheduleIntent> {
        let intent = self.by_id.remove(id)?;
        self.by_pair
            .remove(&(intent.strategy_id.clone(), intent.pod_id.clone()));
        Some(intent)
    }
}

enum Undo {
    Inserted(ObjectId),
    Removed(Box<ScheduleIntent>),
}

/// Intent writes that [`Intents::atomically`] undoes, newest first, when
/// its body fails.
pub struct Batch<'a> {
    intents: &'a mut Intents,
    undo: Vec<Undo>,
}

impl Batch<'_> {
    /// `Conflict("id")` or `Conflict("strategyId+podId")` when taken.
    pub fn insert(&mut self, intent: &ScheduleIntent) -> RepoResult<()> {
        self.intents.insert(intent)?;
        self.undo.push(Undo::Inserted(intent.id.clone()));
        Ok(())
    }

    pub fn remove(&mut self, id: &ObjectId) -> Option<ScheduleIntent> {
        let removed = self.intents.remove(id)?;
        self.undo.push(Undo::Removed(Box::new(removed.clone())));
        Some(removed)
    }

    /// Replaces every field but the id; unknown ids are skipped.
    pub fn update(&mut self, intent: &ScheduleIntent) -> RepoResult<()> {
        if self.remove(&intent.id).is_some() {
            self.insert(intent)?;
        }
        Ok(())
    }

    /// Ids of the strategy's intents, in id order.
    pub fn ids_of_strategy(&self, strategy: &ObjectId) -> Vec<ObjectId> {
        let ids = self.intents.by_id.values().filter(|i| i.strategy_id == *strategy);
        ids.map(|i| i.id.clone()).collect()
    }

    fn roll_back(self) {
        for undo in self.undo.into_iter().rev() {
            match undo {
                Undo::Inserted(id) => {
                    self.intents.remove(&id);
                }
                // Undone in reverse order, the removed intent's id and pair
                // are free again.
                Undo::Removed(intent) => {
                    let restored = self.intents.insert(&intent);
                    debug_assert!(restored.is_ok(), "{restored:?}");
                }
            }
        }
    }
}
