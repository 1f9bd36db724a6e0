//! redb and decoding errors → `RepoError`. redb's messages name tables and
//! sizes, never stored values, so they cannot leak a password hash.

use gthulhu_domain::manager::RepoError;

/// What a transaction body fails with; `?` converts every redb error.
pub struct Failure(pub RepoError);

impl From<RepoError> for Failure {
    fn from(e: RepoError) -> Self {
        Self(e)
    }
}

macro_rules! from_redb {
    ($($error:ty),+) => {
        $(impl From<$error> for Failure {
            fn from(e: $error) -> Self {
                Self(map(e.into()))
            }
        })+
    };
}

from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

pub fn not_found<T>(found: Option<T>) -> Result<T, Failure> {
    found.ok_or(Failure(RepoError::NotFound))
}

pub fn conflict(field: &str) -> Failure {
    Failure(RepoError::Conflict(field.into()))
}

impl From<Failure> for RepoError {
    fn from(f: Failure) -> Self {
        f.0
    }
}

fn map(e: redb::Error) -> RepoError {
    match e {
        redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::DatabaseAlreadyOpen => {
            RepoError::Unavailable(format!("redb: {e}"))
        }
        other => RepoError::Other(format!("redb: {other}")),
    }
}

/// A stored value that does not decode is corrupt data, not an outage.
/// serde_json's message may quote the value (a password hash), so only its
/// category and position are kept.
pub fn decode(table: &str, e: &serde_json::Error) -> Failure {
    Failure(RepoError::Other(format!(
        "undecodable record in {table}: {:?} error at column {}",
        e.classify(),
        e.column()
    )))
}
