//! The connection: client options, indexes, and whether the server runs
//! multi-document transactions.

use std::time::Duration;

use bson::{Document, doc};
use gthulhu_domain::manager::{RepoError, RepoResult, Repository};
use gthulhu_store_model::{AuditDoc, IntentDoc, RoleDoc, RuntimeConfigDoc, SessionDoc, StrategyDoc, UserDoc};
use mongodb::error::ErrorKind;
use mongodb::options::{ClientOptions, IndexOptions, Tls, TlsOptions};
use mongodb::{Client, Collection, Database, IndexModel};

use crate::error::map;
use crate::settings::{MongoSettings, connection_uri, redacted};

/// Short, so that an unreachable server turns into `Unavailable` (503)
/// quickly instead of hanging requests.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct MongoRepository {
    pub(crate) client: Client,
    pub(crate) db: Database,
    pub(crate) users: Collection<UserDoc>,
    pub(crate) roles: Collection<RoleDoc>,
    pub(crate) permissions: Collection<Document>,
    pub(crate) strategies: Collection<StrategyDoc>,
    pub(crate) intents: Collection<IntentDoc>,
    pub(crate) audit: Collection<AuditDoc>,
    pub(crate) sessions: Collection<SessionDoc>,
    pub(crate) runtime_configs: Collection<RuntimeConfigDoc>,
    pub(crate) migrations: Collection<Document>,
    /// Multi-document transactions work (replica set or mongos); otherwise
    /// multi-collection writes use ordered writes with compensation.
    pub(crate) transactions: bool,
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
            sessions: db.collection("auth_sessions"),
            runtime_configs: db.collection("node_runtime_configs"),
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
        self.sessions
            .create_index(index(doc! {"userID": 1}, "idx_sessions_user", false))
            .await
            .map_err(other)?;
        self.runtime_configs
            .create_index(index(
                doc! {"nodeId": 1},
                "idx_node_runtime_configs_node_id_unique",
                true,
            ))
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
