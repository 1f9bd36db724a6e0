//! The Manager's MongoDB storage backend (manager.md 14.1, 14.2): one
//! `Repository` over the collections `users`, `roles`, `permissions`,
//! `schedule_strategies`, `schedule_intents`, `audit_logs`, `auth_sessions`,
//! `node_runtime_configs` and `schema_migrations`.

mod auth_sessions;
mod connection;
mod error;
mod repository;
mod runtime_configs;
mod session;
mod settings;

pub use connection::MongoRepository;
pub use settings::{MongoSettings, connection_uri, redacted};
