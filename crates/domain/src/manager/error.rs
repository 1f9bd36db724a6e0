use thiserror::Error;

/// Storage errors, the same for every backend.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RepoError {
    #[error("not found")]
    NotFound,
    /// A unique index was violated; names the field (`username`, `name`, …).
    #[error("conflict on {0}")]
    Conflict(String),
    /// Connection lost or timed out.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("storage error: {0}")]
    Other(String),
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum K8sError {
    #[error("kubernetes API unavailable: {0}")]
    Unavailable(String),
    #[error("no cluster configured: {0}")]
    NotConfigured(String),
    /// The pod cache has not (re)listed yet: no answer about pods is
    /// complete, but one will be once it has.
    #[error("{0}")]
    NotSynced(String),
}

/// Errors of the Manager's services; the message is the public one
/// (manager.md 1.2), mapped to a status code once in the REST layer.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ServiceError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// A dependency other than storage is down (Kubernetes, a node's DM).
    #[error("{0}")]
    Unavailable(String),
    /// The store is down: its own variant, so the storage-error counter
    /// needs no message matching.
    #[error("storage unavailable")]
    StorageUnavailable,
    #[error("Internal Server Error")]
    Internal(String),
}

impl From<RepoError> for ServiceError {
    /// For call sites with no better message; services map `NotFound` and
    /// `Conflict` to their route's own words first.
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::NotFound => Self::NotFound("Not Found".into()),
            RepoError::Conflict(field) => Self::Conflict(format!("{field} already exists")),
            RepoError::Unavailable(_) => Self::StorageUnavailable,
            RepoError::Other(detail) => Self::Internal(detail),
        }
    }
}
