use thiserror::Error;

/// Errors of the Decision Maker's services. The REST layer maps each
/// variant to a status code exactly once.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DmError {
    /// Input failed validation; the message names the field (422).
    #[error("{0}")]
    Validation(String),
    /// The PID→pod index has never been built (500).
    #[error("process index unavailable: {0}")]
    IndexUnavailable(String),
    /// The request contradicts state already in place (409).
    #[error("{0}")]
    Conflict(String),
    /// The scheduler daemon is unreachable, timed out or did not answer
    /// its JSON envelope (503); the detail is logged, not sent.
    #[error("scheduler daemon unavailable")]
    DaemonUnavailable(String),
    /// The scheduler daemon refused the request with this message (422).
    #[error("scheduler daemon rejected the config: {0}")]
    DaemonRejected(String),
}

/// Errors of token issuing and verification.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// The presented public key is missing, unparsable, not RSA or not ours.
    #[error("public key verification failed: {0}")]
    PublicKeyRejected(String),
    #[error("Authorization header is required")]
    MissingHeader,
    #[error("Authorization header must start with 'Bearer '")]
    BadScheme,
    /// Malformed, forged, wrong algorithm, expired or not yet valid.
    #[error("Invalid or expired token: {0}")]
    InvalidToken(String),
    /// Signing failed (should not happen with a loaded key).
    #[error("failed to sign token: {0}")]
    Signing(String),
}
