//! The embedded Manager store (manager.md 14.3): one redb file, one table
//! per collection plus secondary-index tables, JSON values. Each repository
//! operation is one redb transaction, run on the blocking thread pool.

mod docs;
mod durability;
mod error;
mod strategy_cache;
mod tables;

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use gthulhu_domain::manager::{
    AuditEntry, AuditQuery, IntentChanges, IntentState, ObjectId, Permission, RepoError, RepoResult, Repository, Role,
    ScheduleIntent, ScheduleStrategy, User, now_ms,
};
use redb::{Database, Durability, ReadTransaction, ReadableTable, TableHandle, WriteTransaction};

use crate::docs::{AuditDoc, IntentDoc, MigrationDoc, PermissionDoc, RoleDoc, StrategyDoc, UserDoc};
use crate::durability::DeferredSync;
use crate::error::Failure;
use crate::strategy_cache::StrategyCache;
use crate::tables::*;

/// The redb-backed `Repository`. The file is locked by this process while
/// open; clones of the `Arc` share one database.
pub struct RedbRepository {
    db: Arc<Database>,
    path: PathBuf,
    strategies: Arc<StrategyCache>,
    syncs: Arc<DeferredSync>,
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
        Ok(Self {
            db: Arc::new(db),
            path: path.to_owned(),
            strategies: Arc::default(),
            syncs: Arc::default(),
        })
    }

    async fn read<T, F>(&self, body: F) -> RepoResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T, Failure> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        blocking(move || body(&db.begin_read()?)).await
    }

    /// Commits only when `body` succeeds; an error aborts everything it wrote.
    async fn write<T, F>(&self, body: F) -> RepoResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, Failure> + Send + 'static,
    {
        let (db, syncs) = (Arc::clone(&self.db), Arc::clone(&self.syncs));
        blocking(move || {
            let out = transact(&db, Durability::Immediate, body)?;
            syncs.committed(Durability::Immediate);
            Ok(out)
        })
        .await
    }

    /// `write` for intent changes the reconciler derives from strategies and
    /// pods: they skip the fsync unless the last one is `DeferredSync`'s
    /// interval old. A crash loses at most that much of them, and they are
    /// derived: the first reconcile pass after a restart recomputes them.
    async fn write_derived<T, F>(&self, body: F) -> RepoResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, Failure> + Send + 'static,
    {
        let (db, syncs) = (Arc::clone(&self.db), Arc::clone(&self.syncs));
        blocking(move || {
            let durability = syncs.durability_for_derived();
            let out = transact(&db, durability, body)?;
            syncs.committed(durability);
            Ok(out)
        })
        .await
    }

    /// `write` for strategy changes: the cached strategy list is dropped
    /// when the transaction ends, inside the blocking job, so a caller that
    /// stops waiting cannot skip it.
    async fn write_strategies<T, F>(&self, body: F) -> RepoResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, Failure> + Send + 'static,
    {
        let (db, cache, syncs) = (
            Arc::clone(&self.db),
            Arc::clone(&self.strategies),
            Arc::clone(&self.syncs),
        );
        blocking(move || {
            let result = transact(&db, Durability::Immediate, body);
            cache.invalidate();
            syncs.committed(Durability::Immediate);
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

fn not_found<T>(found: Option<T>) -> Result<T, Failure> {
    found.ok_or(Failure(RepoError::NotFound))
}

fn conflict(field: &str) -> Failure {
    Failure(RepoError::Conflict(field.into()))
}

/// Lower and upper bounds over `time_key`s, `None` when nothing can match.
type TimeRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

fn prefixed(prefix: &[u8], range: &TimeRange) -> TimeRange {
    let join = |key: &Vec<u8>| [prefix, key].concat();
    let lower = match &range.0 {
        Bound::Included(key) => Bound::Included(join(key)),
        Bound::Excluded(key) => Bound::Excluded(join(key)),
        Bound::Unbounded => Bound::Included(prefix.to_vec()),
    };
    let upper = match &range.1 {
        Bound::Included(key) => Bound::Included(join(key)),
        Bound::Excluded(key) => Bound::Excluded(join(key)),
        Bound::Unbounded => Bound::Included([prefix, &[0xff; TIME_KEY_LEN]].concat()),
    };
    (lower, upper)
}

fn is_empty(range: &TimeRange) -> bool {
    match range {
        (Bound::Included(lo), Bound::Included(hi)) => lo > hi,
        (Bound::Included(lo) | Bound::Excluded(lo), Bound::Included(hi) | Bound::Excluded(hi)) => lo >= hi,
        _ => false,
    }
}

/// Time keys of the entries in `range`, newest first.
fn time_keys_desc<T>(index: &T, range: &TimeRange) -> Result<Vec<Vec<u8>>, Failure>
where
    T: ReadableTable<&'static [u8], &'static [u8]>,
{
    if is_empty(range) {
        return Ok(vec![]);
    }
    let bounds = (range.0.as_ref().map(Vec::as_slice), range.1.as_ref().map(Vec::as_slice));
    let mut keys = Vec::new();
    for entry in index.range::<&[u8]>(bounds)?.rev() {
        let (key, _) = entry?;
        let key = key.value();
        keys.push(key[key.len() - TIME_KEY_LEN..].to_vec());
    }
    Ok(keys)
}

#[async_trait]
impl Repository for RedbRepository {
    async fn ping(&self) -> RepoResult<()> {
        self.read(|_| Ok(())).await
    }

    async fn create_user(&self, user: &User) -> RepoResult<()> {
        let doc = UserDoc::from(user);
        self.write(move |tx| {
            let mut users = tx.open_table(USERS)?;
            let mut by_name = tx.open_table(USERS_BY_USERNAME)?;
            let id = doc.id.bytes();
            if by_name.get(doc.username.as_bytes())?.is_some() {
                return Err(conflict("username"));
            }
            if users.get(&id[..])?.is_some() {
                return Err(conflict("id"));
            }
            users.insert(&id[..], encode(&doc)?.as_slice())?;
            by_name.insert(doc.username.as_bytes(), &id[..])?;
            Ok(())
        })
        .await
    }

    async fn get_user(&self, id: &ObjectId) -> RepoResult<User> {
        let id = id.bytes();
        self.read(move |tx| {
            let doc: UserDoc = not_found(get_doc(&tx.open_table(USERS)?, USERS.name(), &id)?)?;
            Ok(doc.into())
        })
        .await
    }

    async fn get_user_by_username(&self, username: &str) -> RepoResult<User> {
        let username = username.to_owned();
        self.read(move |tx| {
            let id = not_found(tx.open_table(USERS_BY_USERNAME)?.get(username.as_bytes())?)?
                .value()
                .to_vec();
            let doc: UserDoc = not_found(get_doc(&tx.open_table(USERS)?, USERS.name(), &id)?)?;
            Ok(doc.into())
        })
        .await
    }

    async fn list_users(&self) -> RepoResult<Vec<User>> {
        self.read(|tx| {
            let docs: Vec<UserDoc> = all_docs(&tx.open_table(USERS)?, USERS.name())?;
            Ok(docs.into_iter().map(User::from).collect())
        })
        .await
    }

    async fn update_user(&self, user: &User) -> RepoResult<()> {
        let new = UserDoc::from(user);
        self.write(move |tx| {
            let mut users = tx.open_table(USERS)?;
            let id = new.id.bytes();
            let mut doc: UserDoc = not_found(get_doc(&users, USERS.name(), &id)?)?;
            doc.password = new.password;
            doc.status = new.status;
            doc.roles = new.roles;
            doc.updater_id = new.updater_id;
            doc.updated_time = new.updated_time;
            users.insert(&id[..], encode(&doc)?.as_slice())?;
            Ok(())
        })
        .await
    }

    async fn count_users_with_role(&self, role_name: &str) -> RepoResult<u64> {
        let role_name = role_name.to_owned();
        self.read(move |tx| {
            let docs: Vec<UserDoc> = all_docs(&tx.open_table(USERS)?, USERS.name())?;
            Ok(docs.iter().filter(|u| u.roles.contains(&role_name)).count() as u64)
        })
        .await
    }

    async fn rename_role_in_users(&self, old_name: &str, new_name: &str) -> RepoResult<()> {
        let (old_name, new_name) = (old_name.to_owned(), new_name.to_owned());
        self.write(move |tx| {
            let mut users = tx.open_table(USERS)?;
            let holders: Vec<UserDoc> = all_docs::<UserDoc, _>(&users, USERS.name())?
                .into_iter()
                .filter(|u| u.roles.contains(&old_name))
                .collect();
            for mut doc in holders {
                // A user already holding `new_name` keeps it once.
                let mut roles = Vec::with_capacity(doc.roles.len());
                for role in doc.roles.drain(..) {
                    let role = if role == old_name { new_name.clone() } else { role };
                    if !roles.contains(&role) {
                        roles.push(role);
                    }
                }
                doc.roles = roles;
                users.insert(&doc.id.bytes()[..], encode(&doc)?.as_slice())?;
            }
            Ok(())
        })
        .await
    }

    async fn create_role(&self, role: &Role) -> RepoResult<()> {
        let doc = RoleDoc::from(role);
        self.write(move |tx| {
            let mut roles = tx.open_table(ROLES)?;
            let mut by_name = tx.open_table(ROLES_BY_NAME)?;
            let id = doc.id.bytes();
            if by_name.get(doc.name.as_bytes())?.is_some() {
                return Err(conflict("name"));
            }
            if roles.get(&id[..])?.is_some() {
                return Err(conflict("id"));
            }
            roles.insert(&id[..], encode(&doc)?.as_slice())?;
            by_name.insert(doc.name.as_bytes(), &id[..])?;
            Ok(())
        })
        .await
    }

    async fn get_role(&self, id: &ObjectId) -> RepoResult<Role> {
        let id = id.bytes();
        self.read(move |tx| {
            let doc: RoleDoc = not_found(get_doc(&tx.open_table(ROLES)?, ROLES.name(), &id)?)?;
            Ok(doc.into())
        })
        .await
    }

    async fn get_roles_by_names(&self, names: &[String]) -> RepoResult<Vec<Role>> {
        let names: BTreeSet<String> = names.iter().cloned().collect();
        self.read(move |tx| {
            let roles = tx.open_table(ROLES)?;
            let by_name = tx.open_table(ROLES_BY_NAME)?;
            let mut found = Vec::new();
            for name in &names {
                let Some(id) = by_name.get(name.as_bytes())? else {
                    continue;
                };
                if let Some(doc) = get_doc::<RoleDoc, _>(&roles, ROLES.name(), id.value())? {
                    found.push(Role::from(doc));
                }
            }
            found.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(found)
        })
        .await
    }

    async fn list_roles(&self) -> RepoResult<Vec<Role>> {
        self.read(|tx| {
            let docs: Vec<RoleDoc> = all_docs(&tx.open_table(ROLES)?, ROLES.name())?;
            Ok(docs.into_iter().map(Role::from).collect())
        })
        .await
    }

    async fn update_role(&self, role: &Role) -> RepoResult<()> {
        let new = RoleDoc::from(role);
        self.write(move |tx| {
            let mut roles = tx.open_table(ROLES)?;
            let mut by_name = tx.open_table(ROLES_BY_NAME)?;
            let id = new.id.bytes();
            let mut doc: RoleDoc = not_found(get_doc(&roles, ROLES.name(), &id)?)?;
            if new.name != doc.name {
                if by_name.get(new.name.as_bytes())?.is_some() {
                    return Err(conflict("name"));
                }
                by_name.remove(doc.name.as_bytes())?;
                by_name.insert(new.name.as_bytes(), &id[..])?;
            }
            doc.name = new.name;
            doc.description = new.description;
            doc.policies = new.policies;
            doc.updater_id = new.updater_id;
            doc.updated_time = new.updated_time;
            roles.insert(&id[..], encode(&doc)?.as_slice())?;
            Ok(())
        })
        .await
    }

    async fn delete_role(&self, id: &ObjectId) -> RepoResult<()> {
        let id = id.bytes();
        self.write(move |tx| {
            let mut roles = tx.open_table(ROLES)?;
            let doc: RoleDoc = not_found(get_doc(&roles, ROLES.name(), &id)?)?;
            roles.remove(&id[..])?;
            tx.open_table(ROLES_BY_NAME)?.remove(doc.name.as_bytes())?;
            Ok(())
        })
        .await
    }

    async fn list_permissions(&self) -> RepoResult<Vec<Permission>> {
        self.read(|tx| {
            let docs: Vec<PermissionDoc> = all_docs(&tx.open_table(PERMISSIONS)?, PERMISSIONS.name())?;
            Ok(docs.into_iter().map(Permission::from).collect())
        })
        .await
    }

    async fn upsert_permission(&self, permission: &Permission) -> RepoResult<()> {
        let permission = permission.clone();
        self.write(move |tx| {
            let mut by_key = tx.open_table(PERMISSIONS_BY_KEY)?;
            // The id is assigned on first insert only: listing by id keeps
            // first-insertion order.
            let existing = match by_key.get(permission.key.as_bytes())? {
                Some(id) => Some(trailing_id(id.value())?),
                None => None,
            };
            let id = match existing {
                Some(id) => id,
                None => {
                    let id = ObjectId::new();
                    by_key.insert(permission.key.as_bytes(), &id.bytes()[..])?;
                    id
                }
            };
            let doc = PermissionDoc::new(id.clone(), &permission);
            tx.open_table(PERMISSIONS)?
                .insert(&id.bytes()[..], encode(&doc)?.as_slice())?;
            Ok(())
        })
        .await
    }

    async fn insert_strategy(&self, strategy: &ScheduleStrategy, intents: &[ScheduleIntent]) -> RepoResult<()> {
        let doc = StrategyDoc::from(strategy);
        let intents = intents.to_vec();
        self.write_strategies(move |tx| {
            let mut strategies = tx.open_table(STRATEGIES)?;
            let id = doc.id.bytes();
            if strategies.get(&id[..])?.is_some() {
                return Err(conflict("id"));
            }
            strategies.insert(&id[..], encode(&doc)?.as_slice())?;
            tx.open_table(STRATEGIES_BY_CREATOR)?
                .insert(owner_key(&doc.creator_id, &doc.id).as_slice(), EMPTY)?;
            let mut tables = IntentTables::open(tx)?;
            for intent in &intents {
                tables.insert(intent)?;
            }
            Ok(())
        })
        .await
    }

    async fn get_strategy(&self, id: &ObjectId) -> RepoResult<ScheduleStrategy> {
        let id = id.bytes();
        self.read(move |tx| {
            let doc: StrategyDoc = not_found(get_doc(&tx.open_table(STRATEGIES)?, STRATEGIES.name(), &id)?)?;
            Ok(doc.into())
        })
        .await
    }

    async fn list_strategies_by_creator(&self, creator_id: &ObjectId) -> RepoResult<Vec<ScheduleStrategy>> {
        let creator = creator_id.bytes();
        self.read(move |tx| {
            let docs: Vec<StrategyDoc> = docs_by_prefix(
                &tx.open_table(STRATEGIES_BY_CREATOR)?,
                &tx.open_table(STRATEGIES)?,
                STRATEGIES.name(),
                &creator,
            )?;
            Ok(docs.into_iter().map(ScheduleStrategy::from).collect())
        })
        .await
    }

    async fn list_strategies(&self) -> RepoResult<Vec<ScheduleStrategy>> {
        if let Some(cached) = self.strategies.get() {
            return Ok(cached);
        }
        let generation = self.strategies.generation();
        let list: Vec<ScheduleStrategy> = self
            .read(|tx| {
                let docs: Vec<StrategyDoc> = all_docs(&tx.open_table(STRATEGIES)?, STRATEGIES.name())?;
                Ok(docs.into_iter().map(ScheduleStrategy::from).collect())
            })
            .await?;
        self.strategies.fill(generation, &list);
        Ok(list)
    }

    async fn replace_strategy(&self, strategy: &ScheduleStrategy, intents: &[ScheduleIntent]) -> RepoResult<()> {
        let doc = StrategyDoc::from(strategy);
        let intents = intents.to_vec();
        self.write_strategies(move |tx| {
            let mut strategies = tx.open_table(STRATEGIES)?;
            let id = doc.id.bytes();
            let old: StrategyDoc = not_found(get_doc(&strategies, STRATEGIES.name(), &id)?)?;
            strategies.insert(&id[..], encode(&doc)?.as_slice())?;
            let mut by_creator = tx.open_table(STRATEGIES_BY_CREATOR)?;
            by_creator.remove(owner_key(&old.creator_id, &doc.id).as_slice())?;
            by_creator.insert(owner_key(&doc.creator_id, &doc.id).as_slice(), EMPTY)?;
            let mut tables = IntentTables::open(tx)?;
            for old_intent in tables.ids_of_strategy(&doc.id)? {
                tables.remove(&old_intent)?;
            }
            for intent in &intents {
                tables.insert(intent)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_strategy(&self, id: &ObjectId) -> RepoResult<Vec<ScheduleIntent>> {
        let id = id.clone();
        self.write_strategies(move |tx| {
            let mut strategies = tx.open_table(STRATEGIES)?;
            let old: StrategyDoc = not_found(get_doc(&strategies, STRATEGIES.name(), &id.bytes())?)?;
            strategies.remove(&id.bytes()[..])?;
            tx.open_table(STRATEGIES_BY_CREATOR)?
                .remove(owner_key(&old.creator_id, &id).as_slice())?;
            let mut tables = IntentTables::open(tx)?;
            let mut deleted = Vec::new();
            for intent_id in tables.ids_of_strategy(&id)? {
                deleted.extend(tables.remove(&intent_id)?);
            }
            Ok(deleted)
        })
        .await
    }

    async fn get_intents(&self, ids: &[ObjectId]) -> RepoResult<Vec<ScheduleIntent>> {
        let ids: BTreeSet<ObjectId> = ids.iter().cloned().collect();
        self.read(move |tx| {
            let intents = tx.open_table(INTENTS)?;
            let mut found = Vec::new();
            for id in &ids {
                if let Some(doc) = get_doc::<IntentDoc, _>(&intents, INTENTS.name(), &id.bytes())? {
                    found.push(ScheduleIntent::from(doc));
                }
            }
            Ok(found)
        })
        .await
    }

    async fn list_intents_by_creator(&self, creator_id: &ObjectId) -> RepoResult<Vec<ScheduleIntent>> {
        let creator = creator_id.bytes();
        self.read(move |tx| {
            let docs: Vec<IntentDoc> = docs_by_prefix(
                &tx.open_table(INTENTS_BY_CREATOR)?,
                &tx.open_table(INTENTS)?,
                INTENTS.name(),
                &creator,
            )?;
            Ok(docs.into_iter().map(ScheduleIntent::from).collect())
        })
        .await
    }

    async fn list_intents_by_strategy(&self, strategy_id: &ObjectId) -> RepoResult<Vec<ScheduleIntent>> {
        let strategy = strategy_id.bytes();
        self.read(move |tx| {
            let intents = tx.open_table(INTENTS)?;
            let mut found = Vec::new();
            // Keyed by pod id under the strategy: sorted by id afterwards.
            for (_, id) in scan_prefix(&tx.open_table(INTENTS_BY_STRATEGY_POD)?, &strategy)? {
                if let Some(doc) = get_doc::<IntentDoc, _>(&intents, INTENTS.name(), &id)? {
                    found.push(ScheduleIntent::from(doc));
                }
            }
            found.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(found)
        })
        .await
    }

    async fn list_intents_by_node(&self, node_id: &str) -> RepoResult<Vec<ScheduleIntent>> {
        let prefix = length_prefixed(node_id);
        self.read(move |tx| {
            let docs: Vec<IntentDoc> = docs_by_prefix(
                &tx.open_table(INTENTS_BY_NODE)?,
                &tx.open_table(INTENTS)?,
                INTENTS.name(),
                &prefix,
            )?;
            Ok(docs.into_iter().map(ScheduleIntent::from).collect())
        })
        .await
    }

    async fn list_intents_by_pods(&self, pod_ids: &[String]) -> RepoResult<Vec<ScheduleIntent>> {
        let prefixes: BTreeSet<Vec<u8>> = pod_ids.iter().map(|p| length_prefixed(p)).collect();
        self.read(move |tx| {
            let (by_pod, intents) = (tx.open_table(INTENTS_BY_POD)?, tx.open_table(INTENTS)?);
            let mut found = Vec::new();
            for prefix in &prefixes {
                let docs: Vec<IntentDoc> = docs_by_prefix(&by_pod, &intents, INTENTS.name(), prefix)?;
                found.extend(docs.into_iter().map(ScheduleIntent::from));
            }
            found.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(found)
        })
        .await
    }

    async fn list_intents(&self) -> RepoResult<Vec<ScheduleIntent>> {
        self.read(|tx| {
            let docs: Vec<IntentDoc> = all_docs(&tx.open_table(INTENTS)?, INTENTS.name())?;
            Ok(docs.into_iter().map(ScheduleIntent::from).collect())
        })
        .await
    }

    async fn insert_intents(&self, intents: &[ScheduleIntent]) -> RepoResult<()> {
        let intents = intents.to_vec();
        self.write(move |tx| {
            let mut tables = IntentTables::open(tx)?;
            for intent in &intents {
                tables.insert(intent)?;
            }
            Ok(())
        })
        .await
    }

    async fn update_intents(&self, intents: &[ScheduleIntent]) -> RepoResult<()> {
        let intents = intents.to_vec();
        self.write(move |tx| {
            let mut tables = IntentTables::open(tx)?;
            for intent in &intents {
                // Unknown ids are skipped, as an update matching nothing.
                if tables.remove(&intent.id)?.is_some() {
                    tables.insert(intent)?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn delete_intents(&self, ids: &[ObjectId]) -> RepoResult<()> {
        let ids = ids.to_vec();
        self.write(move |tx| {
            let mut tables = IntentTables::open(tx)?;
            for id in &ids {
                tables.remove(id)?;
            }
            Ok(())
        })
        .await
    }

    async fn apply_intent_changes(&self, changes: &IntentChanges) -> RepoResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let changes = changes.clone();
        self.write_derived(move |tx| {
            let mut tables = IntentTables::open(tx)?;
            for id in &changes.delete {
                tables.remove(id)?;
            }
            for intent in &changes.update {
                if tables.remove(&intent.id)?.is_some() {
                    tables.insert(intent)?;
                }
            }
            for intent in &changes.insert {
                tables.insert(intent)?;
            }
            Ok(())
        })
        .await
    }

    async fn set_intent_state(&self, ids: &[ObjectId], state: IntentState) -> RepoResult<()> {
        let ids = ids.to_vec();
        self.write_derived(move |tx| {
            let mut tables = IntentTables::open(tx)?;
            for id in &ids {
                if let Some(mut intent) = tables.get(id)? {
                    intent.state = state;
                    tables.put_unindexed(&intent)?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn insert_audit(&self, entry: &AuditEntry) -> RepoResult<()> {
        let doc = AuditDoc::from(entry);
        self.write(move |tx| {
            let mut audit = tx.open_table(AUDIT)?;
            let id = doc.id.bytes();
            if audit.get(&id[..])?.is_some() {
                return Err(conflict("id"));
            }
            audit.insert(&id[..], encode(&doc)?.as_slice())?;
            let time = time_key(doc.timestamp, &doc.id);
            tx.open_table(AUDIT_BY_TIME)?.insert(&time[..], EMPTY)?;
            if let Some(user) = &doc.user_id {
                tx.open_table(AUDIT_BY_USER_TIME)?
                    .insert([&user.bytes()[..], &time[..]].concat().as_slice(), EMPTY)?;
            }
            Ok(())
        })
        .await
    }

    async fn query_audit(&self, query: &AuditQuery) -> RepoResult<Vec<AuditEntry>> {
        let query = query.clone();
        self.read(move |tx| {
            let audit = tx.open_table(AUDIT)?;
            let lower = match query.from_ms {
                Some(from) => Bound::Included(time_key(from, &ObjectId::ZERO).to_vec()),
                None => Bound::Unbounded,
            };
            let until = query.to_ms.map(|to| {
                let mut key = time_key(to, &ObjectId::ZERO);
                key[8..].fill(0xff);
                key.to_vec()
            });
            // Pages continue strictly after the cursor entry, in (time, id)
            // descending order.
            let after = match &query.cursor {
                Some(cursor) => match get_doc::<AuditDoc, _>(&audit, AUDIT.name(), &cursor.bytes())? {
                    Some(last) => Some(time_key(last.timestamp, &last.id).to_vec()),
                    None => return Ok(vec![]),
                },
                None => None,
            };
            let upper = match (until, after) {
                (None, None) => Bound::Unbounded,
                (Some(until), None) => Bound::Included(until),
                (None, Some(after)) => Bound::Excluded(after),
                (Some(until), Some(after)) if after <= until => Bound::Excluded(after),
                (Some(until), Some(_)) => Bound::Included(until),
            };
            let range = (lower, upper);

            let keys = if query.user_ids.is_empty() {
                time_keys_desc(&tx.open_table(AUDIT_BY_TIME)?, &range)?
            } else {
                let by_user = tx.open_table(AUDIT_BY_USER_TIME)?;
                let users: BTreeSet<&ObjectId> = query.user_ids.iter().collect();
                let mut keys = Vec::new();
                for user in users {
                    keys.extend(time_keys_desc(&by_user, &prefixed(&user.bytes(), &range))?);
                }
                keys.sort_unstable_by(|a, b| b.cmp(a));
                keys
            };

            let mut entries = Vec::new();
            for key in keys {
                if entries.len() >= query.limit {
                    break;
                }
                let Some(doc) = get_doc::<AuditDoc, _>(&audit, AUDIT.name(), &trailing_id(&key)?.bytes())? else {
                    continue;
                };
                if query.action.as_ref().is_none_or(|action| *action == doc.action) {
                    entries.push(AuditEntry::from(doc));
                }
            }
            Ok(entries)
        })
        .await
    }

    async fn applied_migrations(&self) -> RepoResult<Vec<u32>> {
        self.read(|tx| {
            let mut versions = Vec::new();
            for entry in tx.open_table(MIGRATIONS)?.iter()? {
                versions.push(entry?.0.value());
            }
            Ok(versions)
        })
        .await
    }

    async fn record_migration(&self, version: u32, name: &str) -> RepoResult<()> {
        let doc = MigrationDoc {
            version,
            name: name.to_owned(),
            applied_at: now_ms(),
        };
        self.write(move |tx| {
            let mut migrations = tx.open_table(MIGRATIONS)?;
            // Recording twice keeps the first record.
            if migrations.get(version)?.is_none() {
                migrations.insert(version, encode(&doc)?.as_slice())?;
            }
            Ok(())
        })
        .await
    }
}
