//! The Manager's `Repository` held in memory, for tests: the contract of
//! manager.md 14.1 (unique names, id order, all-or-nothing multi-record
//! writes) without a database. Every operation runs under one lock, so
//! each is atomic and isolated; nothing survives the value.

mod intents;
mod named;
mod runtime_configs;
mod sessions;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use gthulhu_domain::manager::{
    AuditEntry, AuditQuery, IntentChanges, IntentState, NodeRuntimeConfig, ObjectId, Permission, RepoError, RepoResult,
    Repository, RevokeReason, Role, RuntimeApplyResult, ScheduleIntent, ScheduleStrategy, Session, SessionRotation,
    User,
};
use gthulhu_store_model::rename_role;

use crate::intents::Intents;
use crate::named::Named;
use crate::runtime_configs::RuntimeConfigs;
use crate::sessions::Sessions;

/// An empty store on `new()`; share it as `Arc<MemoryRepository>` or
/// `Arc<dyn Repository>`.
#[derive(Debug, Default)]
pub struct MemoryRepository {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Every collection iterates in id (creation) order.
    users: Named<User>,
    roles: Named<Role>,
    /// In the order first inserted.
    permissions: Vec<Permission>,
    strategies: BTreeMap<ObjectId, ScheduleStrategy>,
    intents: Intents,
    /// Keyed by (timestamp, id): reversed, newest first.
    audit: BTreeMap<(i64, ObjectId), AuditEntry>,
    audit_times: HashMap<ObjectId, i64>,
    migrations: BTreeMap<u32, String>,
    sessions: Sessions,
    runtime_configs: RuntimeConfigs,
}

impl MemoryRepository {
    pub fn new() -> Self {
        Self::default()
    }

    /// No operation panics while holding the lock, so a poisoned one still
    /// guards consistent data.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn conflict(field: &str) -> RepoError {
    RepoError::Conflict(field.into())
}

#[async_trait]
impl Repository for MemoryRepository {
    async fn ping(&self) -> RepoResult<()> {
        Ok(())
    }

    async fn create_user(&self, user: &User) -> RepoResult<()> {
        self.state().users.insert(user)
    }

    async fn get_user(&self, id: &ObjectId) -> RepoResult<User> {
        self.state().users.get(id)
    }

    async fn get_user_by_username(&self, username: &str) -> RepoResult<User> {
        self.state().users.by_name(username)
    }

    async fn list_users(&self) -> RepoResult<Vec<User>> {
        Ok(self.state().users.values().cloned().collect())
    }

    async fn update_user(&self, user: &User) -> RepoResult<()> {
        self.state().users.update(&user.id, |stored| {
            stored.password_hash.clone_from(&user.password_hash);
            stored.status = user.status;
            stored.roles.clone_from(&user.roles);
            stored.updater_id = user.updater_id.clone();
            stored.updated_time = user.updated_time;
        })
    }

    async fn count_users_with_role(&self, role_name: &str) -> RepoResult<u64> {
        let state = self.state();
        let holders = state.users.values().filter(|u| u.roles.iter().any(|r| r == role_name));
        Ok(holders.count() as u64)
    }

    async fn rename_role_in_users(&self, old_name: &str, new_name: &str) -> RepoResult<()> {
        let mut state = self.state();
        let holders: Vec<ObjectId> = state
            .users
            .values()
            .filter(|u| u.roles.iter().any(|r| r == old_name))
            .map(|u| u.id.clone())
            .collect();
        for id in &holders {
            state.users.update(id, |user| {
                user.roles = rename_role(std::mem::take(&mut user.roles), old_name, new_name);
            })?;
        }
        Ok(())
    }

    async fn bump_token_version(&self, user_id: &ObjectId) -> RepoResult<i64> {
        let mut state = self.state();
        let mut bumped = 0;
        state.users.update(user_id, |user| {
            user.token_version += 1;
            bumped = user.token_version;
        })?;
        Ok(bumped)
    }

    async fn insert_session(&self, session: &Session) -> RepoResult<()> {
        self.state().sessions.insert(session)
    }

    async fn get_session(&self, id: &ObjectId) -> RepoResult<Session> {
        self.state().sessions.get(id)
    }

    async fn rotate_session(&self, id: &ObjectId, rotation: &SessionRotation) -> RepoResult<()> {
        self.state().sessions.rotate(id, rotation)
    }

    async fn revoke_session(&self, id: &ObjectId, reason: RevokeReason, now: i64) -> RepoResult<()> {
        self.state().sessions.revoke(id, reason, now)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &ObjectId,
        except: Option<ObjectId>,
        reason: RevokeReason,
        now: i64,
    ) -> RepoResult<u64> {
        Ok(self.state().sessions.revoke_user(user_id, except.as_ref(), reason, now))
    }

    async fn list_user_sessions(&self, user_id: &ObjectId, now: i64) -> RepoResult<Vec<Session>> {
        Ok(self.state().sessions.live_of(user_id, now))
    }

    async fn delete_expired_sessions(&self, now: i64) -> RepoResult<u64> {
        Ok(self.state().sessions.delete_expired(now))
    }

    async fn create_role(&self, role: &Role) -> RepoResult<()> {
        self.state().roles.insert(role)
    }

    async fn get_role(&self, id: &ObjectId) -> RepoResult<Role> {
        self.state().roles.get(id)
    }

    async fn get_roles_by_names(&self, names: &[String]) -> RepoResult<Vec<Role>> {
        let state = self.state();
        let ids: BTreeSet<&ObjectId> = names.iter().filter_map(|name| state.roles.id_of(name)).collect();
        ids.into_iter().map(|id| state.roles.get(id)).collect()
    }

    async fn list_roles(&self) -> RepoResult<Vec<Role>> {
        Ok(self.state().roles.values().cloned().collect())
    }

    async fn update_role(&self, role: &Role) -> RepoResult<()> {
        self.state().roles.update(&role.id, |stored| {
            stored.name.clone_from(&role.name);
            stored.description.clone_from(&role.description);
            stored.policies.clone_from(&role.policies);
            stored.updater_id = role.updater_id.clone();
            stored.updated_time = role.updated_time;
        })
    }

    async fn delete_role(&self, id: &ObjectId) -> RepoResult<()> {
        self.state().roles.remove(id)
    }

    async fn list_permissions(&self) -> RepoResult<Vec<Permission>> {
        Ok(self.state().permissions.clone())
    }

    async fn upsert_permission(&self, permission: &Permission) -> RepoResult<()> {
        let mut state = self.state();
        match state.permissions.iter_mut().find(|p| p.key == permission.key) {
            Some(stored) => *stored = permission.clone(),
            None => state.permissions.push(permission.clone()),
        }
        Ok(())
    }

    async fn insert_strategy(&self, strategy: &ScheduleStrategy, intents: &[ScheduleIntent]) -> RepoResult<()> {
        let mut state = self.state();
        if state.strategies.contains_key(&strategy.id) {
            return Err(conflict("id"));
        }
        state
            .intents
            .atomically(|batch| intents.iter().try_for_each(|i| batch.insert(i)))?;
        state.strategies.insert(strategy.id.clone(), strategy.clone());
        Ok(())
    }

    async fn get_strategy(&self, id: &ObjectId) -> RepoResult<ScheduleStrategy> {
        self.state().strategies.get(id).cloned().ok_or(RepoError::NotFound)
    }

    async fn list_strategies_by_creator(&self, creator_id: &ObjectId) -> RepoResult<Vec<ScheduleStrategy>> {
        let state = self.state();
        let owned = state.strategies.values().filter(|s| s.creator_id == *creator_id);
        Ok(owned.cloned().collect())
    }

    async fn list_strategies(&self) -> RepoResult<Vec<ScheduleStrategy>> {
        Ok(self.state().strategies.values().cloned().collect())
    }

    async fn replace_strategy(&self, strategy: &ScheduleStrategy, intents: &[ScheduleIntent]) -> RepoResult<()> {
        let mut state = self.state();
        if !state.strategies.contains_key(&strategy.id) {
            return Err(RepoError::NotFound);
        }
        state.intents.atomically(|batch| {
            for old in batch.ids_of_strategy(&strategy.id) {
                batch.remove(&old);
            }
            intents.iter().try_for_each(|i| batch.insert(i))
        })?;
        state.strategies.insert(strategy.id.clone(), strategy.clone());
        Ok(())
    }

    async fn delete_strategy(&self, id: &ObjectId) -> RepoResult<Vec<ScheduleIntent>> {
        let mut state = self.state();
        state.strategies.remove(id).ok_or(RepoError::NotFound)?;
        state.intents.atomically(|batch| {
            let ids = batch.ids_of_strategy(id);
            Ok(ids.iter().filter_map(|intent| batch.remove(intent)).collect())
        })
    }

    async fn get_intents(&self, ids: &[ObjectId]) -> RepoResult<Vec<ScheduleIntent>> {
        let state = self.state();
        let ids: BTreeSet<&ObjectId> = ids.iter().collect();
        Ok(ids
            .into_iter()
            .filter_map(|id| state.intents.get(id).cloned())
            .collect())
    }

    async fn list_intents_by_creator(&self, creator_id: &ObjectId) -> RepoResult<Vec<ScheduleIntent>> {
        Ok(self.state().intents.filtered(|i| i.creator_id == *creator_id))
    }

    async fn list_intents_by_strategy(&self, strategy_id: &ObjectId) -> RepoResult<Vec<ScheduleIntent>> {
        Ok(self.state().intents.filtered(|i| i.strategy_id == *strategy_id))
    }

    async fn list_intents_by_node(&self, node_id: &str) -> RepoResult<Vec<ScheduleIntent>> {
        Ok(self.state().intents.filtered(|i| i.node_id == node_id))
    }

    async fn list_intents_by_pods(&self, pod_ids: &[String]) -> RepoResult<Vec<ScheduleIntent>> {
        let pods: BTreeSet<&str> = pod_ids.iter().map(String::as_str).collect();
        Ok(self.state().intents.filtered(|i| pods.contains(i.pod_id.as_str())))
    }

    async fn list_intents(&self) -> RepoResult<Vec<ScheduleIntent>> {
        Ok(self.state().intents.filtered(|_| true))
    }

    async fn insert_intents(&self, intents: &[ScheduleIntent]) -> RepoResult<()> {
        let mut state = self.state();
        state
            .intents
            .atomically(|batch| intents.iter().try_for_each(|i| batch.insert(i)))
    }

    async fn update_intents(&self, intents: &[ScheduleIntent]) -> RepoResult<()> {
        let mut state = self.state();
        state
            .intents
            .atomically(|batch| intents.iter().try_for_each(|i| batch.update(i)))
    }

    async fn delete_intents(&self, ids: &[ObjectId]) -> RepoResult<()> {
        let mut state = self.state();
        state.intents.atomically(|batch| {
            for id in ids {
                batch.remove(id);
            }
            Ok(())
        })
    }

    async fn apply_intent_changes(&self, changes: &IntentChanges) -> RepoResult<()> {
        let mut state = self.state();
        state.intents.atomically(|batch| {
            for id in &changes.delete {
                batch.remove(id);
            }
            changes.update.iter().try_for_each(|i| batch.update(i))?;
            changes.insert.iter().try_for_each(|i| batch.insert(i))
        })
    }

    async fn set_intent_state(&self, ids: &[ObjectId], intent_state: IntentState) -> RepoResult<()> {
        let mut state = self.state();
        for id in ids {
            state.intents.set_state(id, intent_state);
        }
        Ok(())
    }

    async fn insert_audit(&self, entry: &AuditEntry) -> RepoResult<()> {
        let mut state = self.state();
        if state.audit_times.contains_key(&entry.id) {
            return Err(conflict("id"));
        }
        state.audit_times.insert(entry.id.clone(), entry.timestamp);
        state.audit.insert((entry.timestamp, entry.id.clone()), entry.clone());
        Ok(())
    }

    async fn query_audit(&self, query: &AuditQuery) -> RepoResult<Vec<AuditEntry>> {
        let state = self.state();
        // Pages continue strictly after the cursor entry, in (time, id)
        // descending order; a cursor naming no entry ends the listing.
        let upper = match &query.cursor {
            Some(cursor) => match state.audit_times.get(cursor) {
                Some(time) => Bound::Excluded((*time, cursor.clone())),
                None => return Ok(vec![]),
            },
            None => Bound::Unbounded,
        };
        let users: BTreeSet<&ObjectId> = query.user_ids.iter().collect();
        let matches = |e: &AuditEntry| {
            (users.is_empty() || e.user_id.as_ref().is_some_and(|u| users.contains(u)))
                && query.action.as_ref().is_none_or(|action| *action == e.action)
                && query.from_ms.is_none_or(|from| e.timestamp >= from)
                && query.to_ms.is_none_or(|to| e.timestamp <= to)
        };
        let newest_first = state.audit.range((Bound::Unbounded, upper)).rev().map(|(_, e)| e);
        Ok(newest_first.filter(|e| matches(e)).take(query.limit).cloned().collect())
    }

    async fn applied_migrations(&self) -> RepoResult<Vec<u32>> {
        Ok(self.state().migrations.keys().copied().collect())
    }

    async fn record_migration(&self, version: u32, name: &str) -> RepoResult<()> {
        // Recording twice keeps the first record.
        self.state()
            .migrations
            .entry(version)
            .or_insert_with(|| name.to_owned());
        Ok(())
    }

    async fn upsert_runtime_config(&self, record: &NodeRuntimeConfig) -> RepoResult<()> {
        self.state().runtime_configs.upsert(record);
        Ok(())
    }

    async fn get_runtime_config(&self, node_id: &str) -> RepoResult<NodeRuntimeConfig> {
        self.state().runtime_configs.get(node_id)
    }

    async fn list_runtime_configs(&self) -> RepoResult<Vec<NodeRuntimeConfig>> {
        Ok(self.state().runtime_configs.list())
    }

    async fn delete_runtime_configs(&self, node_ids: &[String]) -> RepoResult<u64> {
        Ok(self.state().runtime_configs.delete(node_ids))
    }

    async fn record_runtime_apply(
        &self,
        node_id: &str,
        result: &RuntimeApplyResult,
        reapply_count: i32,
        reapply_pod: Option<String>,
    ) -> RepoResult<()> {
        self.state()
            .runtime_configs
            .record_apply(node_id, result, reapply_count, reapply_pod)
    }
}
