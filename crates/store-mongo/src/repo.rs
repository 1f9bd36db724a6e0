//! `Repository` on MongoDB (manager.md 14.1, 14.2).

use std::time::Duration;

use async_trait::async_trait;
use bson::{Bson, Document, doc};
use futures_util::TryStreamExt;
use gthulhu_domain::manager::{
    AuditEntry, AuditQuery, IntentChanges, IntentState, ObjectId, Permission, RepoError, RepoResult, Repository, Role,
    ScheduleIntent, ScheduleStrategy, User, now_ms,
};
use mongodb::error::ErrorKind;
use mongodb::options::{ClientOptions, IndexOptions, Tls, TlsOptions};
use mongodb::{Client, ClientSession, Collection, Database, IndexModel};
use serde::de::DeserializeOwned;

use crate::docs::{AuditDoc, IntentDoc, PermissionDoc, RoleDoc, StrategyDoc, UserDoc};
use crate::error::{decode, is_duplicate, map};
use crate::settings::{MongoSettings, connection_uri, redacted};

/// Short, so that an unreachable server turns into `Unavailable` (503)
/// quickly instead of hanging requests.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const STRATEGY_POD: &str = "strategyId+podId";

/// Runs a driver action inside `session` when there is one.
macro_rules! maybe_in {
    ($session:expr, $action:expr) => {
        match $session.as_deref_mut() {
            Some(s) => $action.session(s).await,
            None => $action.await,
        }
    };
}

pub struct MongoRepository {
    client: Client,
    db: Database,
    users: Collection<UserDoc>,
    roles: Collection<RoleDoc>,
    permissions: Collection<Document>,
    strategies: Collection<StrategyDoc>,
    intents: Collection<IntentDoc>,
    audit: Collection<AuditDoc>,
    migrations: Collection<Document>,
    /// Multi-document transactions work (replica set or mongos); otherwise
    /// multi-collection writes use ordered writes with compensation.
    transactions: bool,
    /// The driver only reads a CA from a file; kept alive with the client.
    _ca_file: Option<tempfile::NamedTempFile>,
}

impl std::fmt::Debug for MongoRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoRepository")
            .field("database", &self.db.name())
            .field("transactions", &self.transactions)
            .finish_non_exhaustive()
    }
}

impl MongoRepository {
    /// Connects, pings, creates the collections' indexes (idempotent) and
    /// detects transaction support. Unreachable or refusing servers give
    /// `Unavailable`; credentials never appear in errors or logs.
    pub async fn connect(settings: &MongoSettings) -> RepoResult<Self> {
        let uri = connection_uri(settings);
        let scrub = |message: String| scrub_secrets(message, settings);
        let mut options = ClientOptions::parse(&uri)
            .await
            .map_err(|e| RepoError::Other(scrub(format!("invalid MongoDB connection settings: {e}"))))?;
        options.server_selection_timeout.get_or_insert(SERVER_SELECTION_TIMEOUT);
        options.connect_timeout.get_or_insert(CONNECT_TIMEOUT);
        if options.app_name.is_none() {
            options.app_name = Some("gthulhu-manager".into());
        }
        let ca_file = match settings.custom_ca() {
            Some(pem) => {
                let file = write_ca(pem)?;
                options.tls = Some(Tls::Enabled(
                    TlsOptions::builder().ca_file_path(file.path().to_path_buf()).build(),
                ));
                Some(file)
            }
            None => None,
        };
        let client =
            Client::with_options(options).map_err(|e| RepoError::Other(scrub(format!("MongoDB client: {e}"))))?;
        let db = client.database(settings.database_name());
        tracing::info!(uri = %redacted(&uri), database = db.name(), "connecting to MongoDB");

        let mut repo = Self {
            users: db.collection("users"),
            roles: db.collection("roles"),
            permissions: db.collection("permissions"),
            strategies: db.collection("schedule_strategies"),
            intents: db.collection("schedule_intents"),
            audit: db.collection("audit_logs"),
            migrations: db.collection("schema_migrations"),
            client,
            db,
            transactions: false,
            _ca_file: ca_file,
        };
        repo.ping().await.map_err(|e| scrub_error(e, settings))?;
        repo.create_indexes().await.map_err(|e| scrub_error(e, settings))?;
        repo.transactions = repo.transactions_work().await;
        tracing::info!(transactions = repo.transactions, "MongoDB ready");
        Ok(repo)
    }

    /// Whether multi-document writes run in transactions.
    pub fn uses_transactions(&self) -> bool {
        self.transactions
    }

    async fn create_indexes(&self) -> RepoResult<()> {
        fn index(keys: Document, name: &str, unique: bool) -> IndexModel {
            let options = IndexOptions::builder()
                .name(name.to_owned())
                .unique(unique.then_some(true))
                .build();
            IndexModel::builder().keys(keys).options(options).build()
        }
        let other = |e| map(e, "");
        self.users
            .create_index(index(doc! {"username": 1}, "idx_users_username_unique", true))
            .await
            .map_err(other)?;
        self.roles
            .create_index(index(doc! {"name": 1}, "idx_roles_name_unique", true))
            .await
            .map_err(other)?;
        self.permissions
            .create_index(index(doc! {"key": 1}, "idx_permissions_key_unique", true))
            .await
            .map_err(other)?;
        self.strategies
            .create_index(index(doc! {"creatorID": 1}, "idx_strategies_creator", false))
            .await
            .map_err(other)?;
        self.intents
            .create_indexes([
                index(
                    doc! {"strategyID": 1, "podID": 1},
                    "idx_intents_strategy_pod_unique",
                    true,
                ),
                index(doc! {"nodeID": 1}, "idx_intents_node", false),
                index(doc! {"podID": 1}, "idx_intents_pod", false),
                index(doc! {"creatorID": 1}, "idx_intents_creator", false),
            ])
            .await
            .map_err(other)?;
        self.audit
            .create_index(index(doc! {"user_id": 1, "timestamp": 1}, "idx_audit_user_time", false))
            .await
            .map_err(other)?;
        // `schema_migrations` needs no index, only to exist (`_id` is the version).
        let existing = self.db.list_collection_names().await.map_err(other)?;
        if !existing.iter().any(|name| name == "schema_migrations")
            && let Err(e) = self.db.create_collection("schema_migrations").await
            // NamespaceExists: another Manager created it meanwhile.
            && !matches!(e.kind.as_ref(), ErrorKind::Command(c) if c.code == 48)
        {
            return Err(other(e));
        }
        Ok(())
    }

    /// Transactions need a replica set or mongos that accepts one: a server
    /// that ignores the transaction fields would silently lose atomicity, so
    /// both the topology and a real probe must agree.
    async fn transactions_work(&self) -> bool {
        let Ok(hello) = self.db.run_command(doc! {"hello": 1}).await else {
            return false;
        };
        let replicated = hello.contains_key("setName") || hello.get_str("msg") == Ok("isdbgrid");
        if !replicated {
            return false;
        }
        let probe = async {
            let mut session = self.client.start_session().await?;
            session.start_transaction().await?;
            self.migrations.find_one(doc! {}).session(&mut session).await?;
            session.commit_transaction().await
        };
        match probe.await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "MongoDB transactions unavailable; using compensating writes");
                false
            }
        }
    }

    /// A session in a started transaction, when transactions work.
    async fn begin(&self) -> RepoResult<Option<ClientSession>> {
        if !self.transactions {
            return Ok(None);
        }
        let mut session = self.client.start_session().await.map_err(|e| map(e, ""))?;
        session.start_transaction().await.map_err(|e| map(e, ""))?;
        Ok(Some(session))
    }

    /// Commits on success, aborts on failure.
    async fn finish<T>(session: Option<ClientSession>, result: RepoResult<T>) -> RepoResult<T> {
        let Some(mut session) = session else {
            return result;
        };
        match result {
            Ok(value) => {
                session.commit_transaction().await.map_err(|e| map(e, STRATEGY_POD))?;
                Ok(value)
            }
            Err(e) => {
                if let Err(abort) = session.abort_transaction().await {
                    tracing::warn!(error = %abort, "aborting a MongoDB transaction failed");
                }
                Err(e)
            }
        }
    }

    async fn find_all<T>(&self, coll: &Collection<T>, filter: Document, unique_field: &str) -> RepoResult<Vec<T>>
    where
        T: DeserializeOwned + Send + Sync,
    {
        coll.find(filter)
            .sort(doc! {"_id": 1})
            .await
            .map_err(|e| map(e, unique_field))?
            .try_collect()
            .await
            .map_err(|e| map(e, unique_field))
    }

    async fn find_intents(&self, filter: Document) -> RepoResult<Vec<ScheduleIntent>> {
        Ok(self
            .find_all(&self.intents, filter, STRATEGY_POD)
            .await?
            .into_iter()
            .map(ScheduleIntent::from)
            .collect())
    }

    /// Ordered insert of intents; without a transaction, a failure deletes
    /// the ones already inserted, so the call is all or nothing.
    async fn insert_intent_docs(&self, docs: &[IntentDoc], session: &mut Option<&mut ClientSession>) -> RepoResult<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let Err(e) = maybe_in!(session, self.intents.insert_many(docs)) else {
            return Ok(());
        };
        if session.is_none() {
            // Ordered: everything before the first failing document went in.
            let inserted = match e.kind.as_ref() {
                ErrorKind::InsertMany(m) => m
                    .write_errors
                    .as_ref()
                    .and_then(|errors| errors.iter().map(|w| w.index).min())
                    .unwrap_or(docs.len()),
                _ => docs.len(),
            };
            let ids: Vec<&ObjectId> = docs[..inserted].iter().map(|d| &d.id).collect();
            self.compensate(
                "insert intents",
                self.intents.delete_many(doc! {"_id": {"$in": id_strings(ids)}}),
            )
            .await;
        }
        Err(map(e, STRATEGY_POD))
    }

    /// Best-effort undo of a partial write; its own failure is only logged.
    async fn compensate<R>(&self, what: &str, undo: impl std::future::IntoFuture<Output = mongodb::error::Result<R>>) {
        if let Err(e) = undo.await {
            tracing::error!(error = %e, operation = what, "MongoDB compensation failed; data may be partial");
        }
    }
}

/// Writes the CA to a private temporary file for the driver.
fn write_ca(pem: &str) -> RepoResult<tempfile::NamedTempFile> {
    use std::io::Write;
    let mut file = tempfile::Builder::new()
        .prefix("gthulhu-mongo-ca-")
        .suffix(".pem")
        .tempfile()
        .map_err(|e| RepoError::Other(format!("write MongoDB CA file: {e}")))?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.flush())
        .map_err(|e| RepoError::Other(format!("write MongoDB CA file: {e}")))?;
    Ok(file)
}

fn id_strings<'a>(ids: impl IntoIterator<Item = &'a ObjectId>) -> Vec<String> {
    ids.into_iter().map(ToString::to_string).collect()
}

/// Driver messages may echo parts of the connection string.
fn scrub_secrets(mut message: String, settings: &MongoSettings) -> String {
    if !settings.password.is_empty() {
        message = message.replace(&settings.password, "***");
    }
    if !settings.uri.is_empty() {
        message = message.replace(&settings.uri, &redacted(&settings.uri));
    }
    message
}

fn scrub_error(e: RepoError, settings: &MongoSettings) -> RepoError {
    match e {
        RepoError::Unavailable(m) => RepoError::Unavailable(scrub_secrets(m, settings)),
        RepoError::Other(m) => RepoError::Other(scrub_secrets(m, settings)),
        other => other,
    }
}

fn not_found_unless_matched(matched: u64) -> RepoResult<()> {
    if matched == 0 { Err(RepoError::NotFound) } else { Ok(()) }
}

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
            let mut roles: Vec<String> = Vec::with_capacity(user.roles.len());
            for role in user.roles {
                let role = if role == old_name { new_name.to_owned() } else { role };
                if !roles.contains(&role) {
                    roles.push(role);
                }
            }
            self.users
                .update_one(doc! {"_id": user.id.to_string()}, doc! {"$set": {"roles": roles}})
                .await
                .map_err(|e| map(e, ""))?;
        }
        Ok(())
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
        docs.into_iter()
            .map(|d| AuditEntry::try_from(d).map_err(decode))
            .collect()
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
