//! `Repository` on MongoDB (manager.md 14.1, 14.2).

use async_trait::async_trait;
use bson::{Bson, Document, doc};
use futures_util::TryStreamExt;
use gthulhu_domain::manager::{
    AuditEntry, AuditQuery, IntentChanges, IntentState, NodeRuntimeConfig, ObjectId, Permission, RepoError, RepoResult,
    Repository, RevokeReason, Role, RuntimeApplyResult, ScheduleIntent, ScheduleStrategy, Session, SessionRotation,
    User, now_ms,
};
use gthulhu_store_model::{AuditDoc, IntentDoc, PermissionDoc, RoleDoc, StrategyDoc, UserDoc, rename_role};

use crate::MongoRepository;
use crate::error::{decode, is_duplicate, map};
use crate::session::{STRATEGY_POD, id_strings, maybe_in, not_found_unless_matched};

#[async_trait]
impl Repository for MongoRepository {
    async fn ping(&self) -> RepoResult<()> {
        self.db
            .run_command(doc! {"ping": 1})
            .await
            .map_err(|e| match map(e, "") {
                // Any failure to ping means "not usable now", for `/ready`.
                RepoError::Other(m) => RepoError::Unavailable(m),
                other => other,
            })?;
        Ok(())
    }

    async fn create_user(&self, user: &User) -> RepoResult<()> {
        self.users
            .insert_one(UserDoc::from(user))
            .await
            .map_err(|e| map(e, "username"))?;
        Ok(())
    }

    async fn get_user(&self, id: &ObjectId) -> RepoResult<User> {
        let found = self
            .users
            .find_one(doc! {"_id": id.to_string()})
            .await
            .map_err(|e| map(e, ""))?;
        found.map(User::from).ok_or(RepoError::NotFound)
    }

    async fn get_user_by_username(&self, username: &str) -> RepoResult<User> {
        let found = self
            .users
            .find_one(doc! {"username": username})
            .await
            .map_err(|e| map(e, ""))?;
        found.map(User::from).ok_or(RepoError::NotFound)
    }

    async fn list_users(&self) -> RepoResult<Vec<User>> {
        Ok(self
            .find_all(&self.users, doc! {}, "")
            .await?
            .into_iter()
            .map(User::from)
            .collect())
    }

    async fn update_user(&self, user: &User) -> RepoResult<()> {
        let status = i32::from(user.status);
        let update = doc! {"$set": {
            "password": &user.password_hash,
            "status": status,
            "roles": &user.roles,
            "updaterID": user.updater_id.to_string(),
            "updatedTime": user.updated_time,
        }};
        let result = self
            .users
            .update_one(doc! {"_id": user.id.to_string()}, update)
            .await
            .map_err(|e| map(e, "username"))?;
        not_found_unless_matched(result.matched_count)
    }

    async fn count_users_with_role(&self, role_name: &str) -> RepoResult<u64> {
        self.users
            .count_documents(doc! {"roles": role_name})
            .await
            .map_err(|e| map(e, ""))
    }

    async fn rename_role_in_users(&self, old_name: &str, new_name: &str) -> RepoResult<()> {
        // Read-modify-write per user: portable (no positional operators) and
        // it keeps a user that already holds `new_name` from holding it twice.
        let holders = self.find_all(&self.users, doc! {"roles": old_name}, "").await?;
        for user in holders {
            let roles = rename_role(user.roles, old_name, new_name);
            self.users
                .update_one(doc! {"_id": user.id.to_string()}, doc! {"$set": {"roles": roles}})
                .await
                .map_err(|e| map(e, ""))?;
        }
        Ok(())
    }

    async fn bump_token_version(&self, user_id: &ObjectId) -> RepoResult<i64> {
        self.bump_token_version_doc(user_id).await
    }

    async fn insert_session(&self, session: &Session) -> RepoResult<()> {
        self.insert_session_doc(session).await
    }

    async fn get_session(&self, id: &ObjectId) -> RepoResult<Session> {
        self.get_session_doc(id).await
    }

    async fn rotate_session(&self, id: &ObjectId, rotation: &SessionRotation) -> RepoResult<()> {
        self.rotate_session_doc(id, rotation).await
    }

    async fn revoke_session(&self, id: &ObjectId, reason: RevokeReason, now: i64) -> RepoResult<()> {
        self.revoke_session_doc(id, reason, now).await
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &ObjectId,
        except: Option<ObjectId>,
        reason: RevokeReason,
        now: i64,
    ) -> RepoResult<u64> {
        self.revoke_user_sessions_docs(user_id, except, reason, now).await
    }

    async fn list_user_sessions(&self, user_id: &ObjectId, now: i64) -> RepoResult<Vec<Session>> {
        self.list_user_sessions_docs(user_id, now).await
    }

    async fn delete_expired_sessions(&self, now: i64) -> RepoResult<u64> {
        self.delete_expired_session_docs(now).await
    }

    async fn upsert_runtime_config(&self, record: &NodeRuntimeConfig) -> RepoResult<()> {
        self.upsert_runtime_config_doc(record).await
    }

    async fn get_runtime_config(&self, node_id: &str) -> RepoResult<NodeRuntimeConfig> {
        self.get_runtime_config_doc(node_id).await
    }

    async fn list_runtime_configs(&self) -> RepoResult<Vec<NodeRuntimeConfig>> {
        self.list_runtime_config_docs().await
    }

    async fn delete_runtime_configs(&self, node_ids: &[String]) -> RepoResult<u64> {
        self.delete_runtime_config_docs(node_ids).await
    }

    async fn record_runtime_apply(
        &self,
        node_id: &str,
        result: &RuntimeApplyResult,
        reapply_count: i32,
        reapply_pod: Option<String>,
    ) -> RepoResult<()> {
        self.record_runtime_apply_doc(node_id, result, reapply_count, reapply_pod)
            .await
    }

    async fn create_role(&self, role: &Role) -> RepoResult<()> {
        self.roles
            .insert_one(RoleDoc::from(role))
            .await
            .map_err(|e| map(e, "name"))?;
        Ok(())
    }

    async fn get_role(&self, id: &ObjectId) -> RepoResult<Role> {
        let found = self
            .roles
            .find_one(doc! {"_id": id.to_string()})
            .await
            .map_err(|e| map(e, ""))?;
        found.map(Role::from).ok_or(RepoError::NotFound)
    }

    async fn get_roles_by_names(&self, names: &[String]) -> RepoResult<Vec<Role>> {
        if names.is_empty() {
            return Ok(vec![]);
        }
        Ok(self
            .find_all(&self.roles, doc! {"name": {"$in": names}}, "")
            .await?
            .into_iter()
            .map(Role::from)
            .collect())
    }

    async fn list_roles(&self) -> RepoResult<Vec<Role>> {
        Ok(self
            .find_all(&self.roles, doc! {}, "")
            .await?
            .into_iter()
            .map(Role::from)
            .collect())
    }

    async fn update_role(&self, role: &Role) -> RepoResult<()> {
        let stored = RoleDoc::from(role);
        let update = doc! {"$set": {
            "name": &stored.name,
            "description": &stored.description,
            "policies": bson::to_bson(&stored.policies).map_err(decode)?,
            "updaterID": stored.updater_id.to_string(),
            "updatedTime": stored.updated_time,
        }};
        let result = self
            .roles
            .update_one(doc! {"_id": role.id.to_string()}, update)
            .await
            .map_err(|e| map(e, "name"))?;
        not_found_unless_matched(result.matched_count)
    }

    async fn delete_role(&self, id: &ObjectId) -> RepoResult<()> {
        let result = self
            .roles
            .delete_one(doc! {"_id": id.to_string()})
            .await
            .map_err(|e| map(e, ""))?;
        not_found_unless_matched(result.deleted_count)
    }

    async fn list_permissions(&self) -> RepoResult<Vec<Permission>> {
        let docs = self
            .find_all(&self.permissions.clone_with_type::<PermissionDoc>(), doc! {}, "")
            .await?;
        Ok(docs.into_iter().map(Permission::from).collect())
    }

    async fn upsert_permission(&self, permission: &Permission) -> RepoResult<()> {
        // A new `_id` only on insert: listing by `_id` keeps first-insertion order.
        let update = doc! {
            "$set": {
                "description": &permission.description,
                "resource": &permission.resource,
                "action": &permission.action,
            },
            "$setOnInsert": {"_id": ObjectId::new().to_string()},
        };
        self.permissions
            .update_one(doc! {"key": &permission.key}, update)
            .upsert(true)
            .await
            .map_err(|e| map(e, "key"))?;
        Ok(())
    }

    async fn insert_strategy(&self, strategy: &ScheduleStrategy, intents: &[ScheduleIntent]) -> RepoResult<()> {
        let doc = StrategyDoc::from(strategy);
        let docs: Vec<IntentDoc> = intents.iter().map(IntentDoc::from).collect();
        let mut session = self.begin().await?;
        let result = async {
            let mut s = session.as_mut();
            maybe_in!(s, self.strategies.insert_one(&doc)).map_err(|e| map(e, "id"))?;
            if let Err(e) = self.insert_intent_docs(&docs, &mut s).await {
                if s.is_none() {
                    self.compensate(
                        "insert strategy",
                        self.strategies.delete_one(doc! {"_id": doc.id.to_string()}),
                    )
                    .await;
                }
                return Err(e);
            }
            Ok(())
        }
        .await;
        Self::finish(session, result).await
    }

    async fn get_strategy(&self, id: &ObjectId) -> RepoResult<ScheduleStrategy> {
        let found = self
            .strategies
            .find_one(doc! {"_id": id.to_string()})
            .await
            .map_err(|e| map(e, ""))?;
        found.map(ScheduleStrategy::from).ok_or(RepoError::NotFound)
    }

    async fn list_strategies_by_creator(&self, creator_id: &ObjectId) -> RepoResult<Vec<ScheduleStrategy>> {
        Ok(self
            .find_all(&self.strategies, doc! {"creatorID": creator_id.to_string()}, "")
            .await?
            .into_iter()
            .map(ScheduleStrategy::from)
            .collect())
    }

    async fn list_strategies(&self) -> RepoResult<Vec<ScheduleStrategy>> {
        Ok(self
            .find_all(&self.strategies, doc! {}, "")
            .await?
            .into_iter()
            .map(ScheduleStrategy::from)
            .collect())
    }

    async fn replace_strategy(&self, strategy: &ScheduleStrategy, intents: &[ScheduleIntent]) -> RepoResult<()> {
        let id = strategy.id.to_string();
        // The previous state, to restore it if a later write fails.
        let old = self
            .strategies
            .find_one(doc! {"_id": &id})
            .await
            .map_err(|e| map(e, ""))?
            .ok_or(RepoError::NotFound)?;
        let old_intents: Vec<IntentDoc> = if self.transactions {
            vec![]
        } else {
            self.find_all(&self.intents, doc! {"strategyID": &id}, "").await?
        };
        let doc = StrategyDoc::from(strategy);
        let docs: Vec<IntentDoc> = intents.iter().map(IntentDoc::from).collect();
        let mut session = self.begin().await?;
        let result = async {
            let mut s = session.as_mut();
            let replaced =
                maybe_in!(s, self.strategies.replace_one(doc! {"_id": &id}, &doc)).map_err(|e| map(e, ""))?;
            not_found_unless_matched(replaced.matched_count)?;
            if let Err(e) = maybe_in!(s, self.intents.delete_many(doc! {"strategyID": &id})) {
                if s.is_none() {
                    self.compensate("replace strategy", self.strategies.replace_one(doc! {"_id": &id}, &old))
                        .await;
                }
                return Err(map(e, ""));
            }
            if let Err(e) = self.insert_intent_docs(&docs, &mut s).await {
                if s.is_none() {
                    if !old_intents.is_empty() {
                        self.compensate("replace strategy", self.intents.insert_many(&old_intents))
                            .await;
                    }
                    self.compensate("replace strategy", self.strategies.replace_one(doc! {"_id": &id}, &old))
                        .await;
                }
                return Err(e);
            }
            Ok(())
        }
        .await;
        Self::finish(session, result).await
    }

    async fn delete_strategy(&self, id: &ObjectId) -> RepoResult<Vec<ScheduleIntent>> {
        let id = id.to_string();
        if self
            .strategies
            .find_one(doc! {"_id": &id})
            .await
            .map_err(|e| map(e, ""))?
            .is_none()
        {
            return Err(RepoError::NotFound);
        }
        let intents = self.find_all(&self.intents, doc! {"strategyID": &id}, "").await?;
        let mut session = self.begin().await?;
        let result = async {
            let mut s = session.as_mut();
            maybe_in!(s, self.intents.delete_many(doc! {"strategyID": &id})).map_err(|e| map(e, ""))?;
            match maybe_in!(s, self.strategies.delete_one(doc! {"_id": &id})) {
                Ok(deleted) => not_found_unless_matched(deleted.deleted_count),
                Err(e) => {
                    if s.is_none() && !intents.is_empty() {
                        self.compensate("delete strategy", self.intents.insert_many(&intents))
                            .await;
                    }
                    Err(map(e, ""))
                }
            }
        }
        .await;
        Self::finish(session, result).await?;
        Ok(intents.into_iter().map(ScheduleIntent::from).collect())
    }

    async fn get_intents(&self, ids: &[ObjectId]) -> RepoResult<Vec<ScheduleIntent>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        self.find_intents(doc! {"_id": {"$in": id_strings(ids)}}).await
    }

    async fn list_intents_by_creator(&self, creator_id: &ObjectId) -> RepoResult<Vec<ScheduleIntent>> {
        self.find_intents(doc! {"creatorID": creator_id.to_string()}).await
    }

    async fn list_intents_by_strategy(&self, strategy_id: &ObjectId) -> RepoResult<Vec<ScheduleIntent>> {
        self.find_intents(doc! {"strategyID": strategy_id.to_string()}).await
    }

    async fn list_intents_by_node(&self, node_id: &str) -> RepoResult<Vec<ScheduleIntent>> {
        self.find_intents(doc! {"nodeID": node_id}).await
    }

    async fn list_intents_by_pods(&self, pod_ids: &[String]) -> RepoResult<Vec<ScheduleIntent>> {
        if pod_ids.is_empty() {
            return Ok(vec![]);
        }
        self.find_intents(doc! {"podID": {"$in": pod_ids}}).await
    }

    async fn list_intents(&self) -> RepoResult<Vec<ScheduleIntent>> {
        self.find_intents(doc! {}).await
    }

    async fn insert_intents(&self, intents: &[ScheduleIntent]) -> RepoResult<()> {
        let docs: Vec<IntentDoc> = intents.iter().map(IntentDoc::from).collect();
        let mut session = self.begin().await?;
        let result = self.insert_intent_docs(&docs, &mut session.as_mut()).await;
        Self::finish(session, result).await
    }

    async fn update_intents(&self, intents: &[ScheduleIntent]) -> RepoResult<()> {
        if intents.is_empty() {
            return Ok(());
        }
        // Without a transaction, a failure puts back the ones already replaced.
        let old: Vec<IntentDoc> = if self.transactions {
            vec![]
        } else {
            let ids: Vec<&ObjectId> = intents.iter().map(|i| &i.id).collect();
            self.find_all(&self.intents, doc! {"_id": {"$in": id_strings(ids)}}, "")
                .await?
        };
        let mut session = self.begin().await?;
        let result = async {
            let mut s = session.as_mut();
            for (done, intent) in intents.iter().enumerate() {
                let doc = IntentDoc::from(intent);
                if let Err(e) = maybe_in!(s, self.intents.replace_one(doc! {"_id": doc.id.to_string()}, &doc)) {
                    if s.is_none() {
                        for previous in old.iter().filter(|o| intents[..done].iter().any(|i| i.id == o.id)) {
                            self.compensate(
                                "update intents",
                                self.intents
                                    .replace_one(doc! {"_id": previous.id.to_string()}, previous),
                            )
                            .await;
                        }
                    }
                    return Err(map(e, STRATEGY_POD));
                }
            }
            Ok(())
        }
        .await;
        Self::finish(session, result).await
    }

    async fn delete_intents(&self, ids: &[ObjectId]) -> RepoResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.intents
            .delete_many(doc! {"_id": {"$in": id_strings(ids)}})
            .await
            .map_err(|e| map(e, ""))?;
        Ok(())
    }

    async fn apply_intent_changes(&self, changes: &IntentChanges) -> RepoResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        if !self.transactions {
            // Each step is all or nothing on its own; a failure stops the rest.
            self.delete_intents(&changes.delete).await?;
            self.update_intents(&changes.update).await?;
            return self.insert_intents(&changes.insert).await;
        }
        let inserts: Vec<IntentDoc> = changes.insert.iter().map(IntentDoc::from).collect();
        let mut session = self.begin().await?;
        let result = async {
            let mut s = session.as_mut();
            if !changes.delete.is_empty() {
                maybe_in!(
                    s,
                    self.intents
                        .delete_many(doc! {"_id": {"$in": id_strings(&changes.delete)}})
                )
                .map_err(|e| map(e, ""))?;
            }
            for intent in &changes.update {
                let doc = IntentDoc::from(intent);
                maybe_in!(s, self.intents.replace_one(doc! {"_id": doc.id.to_string()}, &doc))
                    .map_err(|e| map(e, STRATEGY_POD))?;
            }
            self.insert_intent_docs(&inserts, &mut s).await
        }
        .await;
        Self::finish(session, result).await
    }

    async fn set_intent_state(&self, ids: &[ObjectId], state: IntentState) -> RepoResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.intents
            .update_many(
                doc! {"_id": {"$in": id_strings(ids)}},
                doc! {"$set": {"state": i32::from(state)}},
            )
            .await
            .map_err(|e| map(e, ""))?;
        Ok(())
    }

    async fn insert_audit(&self, entry: &AuditEntry) -> RepoResult<()> {
        self.audit
            .insert_one(AuditDoc::from(entry))
            .await
            .map_err(|e| map(e, "id"))?;
        Ok(())
    }

    async fn query_audit(&self, query: &AuditQuery) -> RepoResult<Vec<AuditEntry>> {
        let mut clauses: Vec<Document> = Vec::new();
        if !query.user_ids.is_empty() {
            clauses.push(doc! {"user_id": {"$in": id_strings(&query.user_ids)}});
        }
        if let Some(action) = &query.action {
            clauses.push(doc! {"action": action});
        }
        if let Some(from) = query.from_ms {
            clauses.push(doc! {"timestamp": {"$gte": from}});
        }
        if let Some(to) = query.to_ms {
            clauses.push(doc! {"timestamp": {"$lte": to}});
        }
        if let Some(cursor) = &query.cursor {
            // Pages follow the sort (timestamp, id) descending: strictly
            // after the cursor entry in that order.
            let Some(last) = self
                .audit
                .find_one(doc! {"_id": cursor.to_string()})
                .await
                .map_err(|e| map(e, ""))?
            else {
                return Ok(vec![]);
            };
            clauses.push(doc! {"$or": [
                {"timestamp": {"$lt": last.timestamp}},
                {"timestamp": last.timestamp, "_id": {"$lt": cursor.to_string()}},
            ]});
        }
        let filter = if clauses.is_empty() {
            doc! {}
        } else {
            doc! {"$and": clauses}
        };
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let docs: Vec<AuditDoc> = self
            .audit
            .find(filter)
            .sort(doc! {"timestamp": -1, "_id": -1})
            .limit(limit)
            .await
            .map_err(|e| map(e, ""))?
            .try_collect()
            .await
            .map_err(|e| map(e, ""))?;
        Ok(docs.into_iter().map(AuditEntry::from).collect())
    }

    async fn applied_migrations(&self) -> RepoResult<Vec<u32>> {
        let docs = self.find_all(&self.migrations, doc! {}, "").await?;
        let mut versions = docs
            .iter()
            .map(|d| match d.get("_id") {
                Some(Bson::Int32(v)) => u32::try_from(*v).map_err(decode),
                Some(Bson::Int64(v)) => u32::try_from(*v).map_err(decode),
                other => Err(decode(format!("migration version {other:?}"))),
            })
            .collect::<RepoResult<Vec<u32>>>()?;
        // Sorted here: not every wire-compatible server orders `_id` numerically.
        versions.sort_unstable();
        Ok(versions)
    }

    async fn record_migration(&self, version: u32, name: &str) -> RepoResult<()> {
        let version = i32::try_from(version).map_err(|_| RepoError::Other(format!("migration version {version}")))?;
        let inserted = self
            .migrations
            .insert_one(doc! {"_id": version, "name": name, "appliedAt": now_ms()})
            .await;
        match inserted {
            // Recording twice keeps the first record (another replica may have won the race).
            Err(e) if is_duplicate(&e) => Ok(()),
            Err(e) => Err(map(e, "version")),
            Ok(_) => Ok(()),
        }
    }
}
