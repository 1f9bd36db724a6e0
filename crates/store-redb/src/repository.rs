//! `Repository` on redb: each operation one transaction over the tables.

use std::collections::BTreeSet;

use async_trait::async_trait;
use gthulhu_domain::manager::{
    AuditEntry, AuditQuery, IntentChanges, IntentState, NodeRuntimeConfig, ObjectId, Permission, RepoResult,
    Repository, RevokeReason, Role, RuntimeApplyResult, ScheduleIntent, ScheduleStrategy, Session, SessionRotation,
    User, now_ms,
};
use gthulhu_store_model::{AuditDoc, IntentDoc, PermissionDoc, RoleDoc, StrategyDoc, UserDoc, rename_role};
use redb::{ReadableTable, TableHandle};

use crate::RedbRepository;
use crate::audit;
use crate::error::{conflict, not_found};
use crate::tables::*;

#[async_trait]
impl Repository for RedbRepository {
    async fn ping(&self) -> RepoResult<()> {
        self.read(|_| Ok(())).await
    }

    async fn create_user(&self, user: &User) -> RepoResult<()> {
        let doc = UserDoc::from(user);
        self.write(move |tx| {
            insert_named(
                tx,
                (USERS, USERS_BY_USERNAME),
                ("username", &doc.username),
                &doc.id,
                &encode(&doc)?,
            )
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
                doc.roles = rename_role(doc.roles, &old_name, &new_name);
                users.insert(&doc.id.bytes()[..], encode(&doc)?.as_slice())?;
            }
            Ok(())
        })
        .await
    }

    async fn bump_token_version(&self, user_id: &ObjectId) -> RepoResult<i64> {
        self.bump_token_version_tx(user_id).await
    }

    async fn insert_session(&self, session: &Session) -> RepoResult<()> {
        self.insert_session_tx(session).await
    }

    async fn get_session(&self, id: &ObjectId) -> RepoResult<Session> {
        self.get_session_tx(id).await
    }

    async fn rotate_session(&self, id: &ObjectId, rotation: &SessionRotation) -> RepoResult<()> {
        self.rotate_session_tx(id, rotation).await
    }

    async fn revoke_session(&self, id: &ObjectId, reason: RevokeReason, now: i64) -> RepoResult<()> {
        self.revoke_session_tx(id, reason, now).await
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &ObjectId,
        except: Option<ObjectId>,
        reason: RevokeReason,
        now: i64,
    ) -> RepoResult<u64> {
        self.revoke_user_sessions_tx(user_id, except, reason, now).await
    }

    async fn list_user_sessions(&self, user_id: &ObjectId, now: i64) -> RepoResult<Vec<Session>> {
        self.list_user_sessions_tx(user_id, now).await
    }

    async fn delete_expired_sessions(&self, now: i64) -> RepoResult<u64> {
        self.delete_expired_sessions_tx(now).await
    }

    async fn create_role(&self, role: &Role) -> RepoResult<()> {
        let doc = RoleDoc::from(role);
        self.write(move |tx| insert_named(tx, (ROLES, ROLES_BY_NAME), ("name", &doc.name), &doc.id, &encode(&doc)?))
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
        self.write(move |tx| audit::insert(tx, &doc)).await
    }

    async fn query_audit(&self, query: &AuditQuery) -> RepoResult<Vec<AuditEntry>> {
        let query = query.clone();
        self.read(move |tx| audit::query(tx, &query)).await
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

    async fn upsert_runtime_config(&self, record: &NodeRuntimeConfig) -> RepoResult<()> {
        self.upsert_runtime_config_tx(record).await
    }

    async fn get_runtime_config(&self, node_id: &str) -> RepoResult<NodeRuntimeConfig> {
        self.get_runtime_config_tx(node_id).await
    }

    async fn list_runtime_configs(&self) -> RepoResult<Vec<NodeRuntimeConfig>> {
        self.list_runtime_configs_tx().await
    }

    async fn delete_runtime_configs(&self, node_ids: &[String]) -> RepoResult<u64> {
        self.delete_runtime_configs_tx(node_ids).await
    }

    async fn record_runtime_apply(
        &self,
        node_id: &str,
        result: &RuntimeApplyResult,
        reapply_count: i32,
        reapply_pod: Option<String>,
    ) -> RepoResult<()> {
        self.record_runtime_apply_tx(node_id, result, reapply_count, reapply_pod)
            .await
    }
}
