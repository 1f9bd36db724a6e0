//! Driver errors → `RepoError` (manager.md 14.1): unique-index clashes are
//! `Conflict(field)`, lost connections and timeouts `Unavailable`.

use gthulhu_domain::manager::RepoError;
use mongodb::error::{Error, ErrorKind, WriteFailure};

const DUPLICATE_KEY: i32 = 11000;

/// Server codes that mean "not reachable right now" rather than "wrong".
const TRANSIENT_CODES: [i32; 9] = [
    6,     // HostUnreachable
    7,     // HostNotFound
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    189,   // PrimarySteppedDown
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    13435, // NotPrimaryNoSecondaryOk
    50,    // MaxTimeMSExpired
];

/// Unique index name → the field `Conflict` names.
const UNIQUE_FIELDS: [(&str, &str); 6] = [
    ("idx_users_username_unique", "username"),
    ("idx_roles_name_unique", "name"),
    ("idx_permissions_key_unique", "key"),
    ("idx_intents_strategy_pod_unique", "strategyId+podId"),
    ("idx_node_runtime_configs_node_id_unique", "nodeId"),
    ("_id_", "id"),
];

/// The code and message of the first server-side error, if any.
fn server_error(e: &Error) -> Option<(i32, &str)> {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some((c.code, c.message.as_str())),
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some((w.code, w.message.as_str())),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some((w.code, w.message.as_str())),
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .and_then(|errors| errors.first())
            .map(|w| (w.code, w.message.as_str()))
            .or_else(|| m.write_concern_error.as_ref().map(|w| (w.code, w.message.as_str()))),
        _ => None,
    }
}

/// Whether `e` is a duplicate-key error.
pub fn is_duplicate(e: &Error) -> bool {
    server_error(e).is_some_and(|(code, _)| code == DUPLICATE_KEY)
}

/// Maps a driver error; `unique_field` is what a duplicate key most likely
/// hit for this operation, used when the server's message names no index.
pub fn map(e: Error, unique_field: &str) -> RepoError {
    if let Some((code, message)) = server_error(&e) {
        if code == DUPLICATE_KEY {
            let field = UNIQUE_FIELDS
                .iter()
                .find(|(index, _)| message.contains(index))
                .map_or(unique_field, |(_, field)| field);
            return RepoError::Conflict(field.to_owned());
        }
        if TRANSIENT_CODES.contains(&code) {
            return RepoError::Unavailable(message.to_owned());
        }
    }
    match e.kind.as_ref() {
        ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::ServerSelection { .. }
        | ErrorKind::DnsResolve { .. }
        | ErrorKind::Authentication { .. }
        | ErrorKind::Shutdown => RepoError::Unavailable(e.to_string()),
        _ => RepoError::Other(e.to_string()),
    }
}

/// A stored document that does not decode is corrupt data, not a outage.
pub fn decode(e: impl std::fmt::Display) -> RepoError {
    RepoError::Other(format!("decode stored document: {e}"))
}
