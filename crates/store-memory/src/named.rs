//! Records with a unique name besides their id: users (by username) and
//! roles (by name).

use std::collections::{BTreeMap, HashMap};

use gthulhu_domain::manager::{ObjectId, RepoError, RepoResult, Role, User};

/// A record's unique name, and the field a clash on it names.
pub trait Name: Clone {
    const FIELD: &'static str;
    fn name(&self) -> &str;
    fn id(&self) -> &ObjectId;
}

impl Name for User {
    const FIELD: &'static str = "username";
    fn name(&self) -> &str {
        &self.username
    }
    fn id(&self) -> &ObjectId {
        &self.id
    }
}

impl Name for Role {
    const FIELD: &'static str = "name";
    fn name(&self) -> &str {
        &self.name
    }
    fn id(&self) -> &ObjectId {
        &self.id
    }
}

#[derive(Debug)]
pub struct Named<T> {
    /// Keyed by id: iteration is creation order.
    by_id: BTreeMap<ObjectId, T>,
    ids: HashMap<String, ObjectId>,
}

impl<T> Default for Named<T> {
    fn default() -> Self {
        Self {
            by_id: BTreeMap::new(),
            ids: HashMap::new(),
        }
    }
}

impl<T: Name> Named<T> {
    /// `Conflict(T::FIELD)` when the name is taken, `Conflict("id")` when
    /// the id is.
    pub fn insert(&mut self, record: &T) -> RepoResult<()> {
        if self.ids.contains_key(record.name()) {
            return Err(RepoError::Conflict(T::FIELD.into()));
        }
        if self.by_id.contains_key(record.id()) {
            return Err(RepoError::Conflict("id".into()));
        }
        self.ids.insert(record.name().to_owned(), record.id().clone());
        self.by_id.insert(record.id().clone(), record.clone());
        Ok(())
    }

    pub fn get(&self, id: &ObjectId) -> RepoResult<T> {
        self.by_id.get(id).cloned().ok_or(RepoError::NotFound)
    }

    pub fn id_of(&self, name: &str) -> Option<&ObjectId> {
        self.ids.get(name)
    }

    pub fn by_name(&self, name: &str) -> RepoResult<T> {
        self.get(self.id_of(name).ok_or(RepoError::NotFound)?)
    }

    /// In id order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.by_id.values()
    }

    /// Applies `change` to the stored record; `Conflict(T::FIELD)`, and
    /// nothing changed, when it renames the record onto another's name.
    pub fn update(&mut self, id: &ObjectId, change: impl FnOnce(&mut T)) -> RepoResult<()> {
        let stored = self.by_id.get_mut(id).ok_or(RepoError::NotFound)?;
        let mut changed = stored.clone();
        change(&mut changed);
        if changed.name() != stored.name() {
            if self.ids.contains_key(changed.name()) {
                return Err(RepoError::Conflict(T::FIELD.into()));
            }
            self.ids.remove(stored.name());
            self.ids.insert(changed.name().to_owned(), id.clone());
        }
        *stored = changed;
        Ok(())
    }

    pub fn remove(&mut self, id: &ObjectId) -> RepoResult<()> {
        let record = self.by_id.remove(id).ok_or(RepoError::NotFound)?;
        self.ids.remove(record.name());
        Ok(())
    }
}
