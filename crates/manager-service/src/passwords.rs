//! bcrypt password hashing (manager.md 14.5). bcrypt is deliberately slow,
//! so it runs on the blocking pool, never on an async worker.

use std::ops::RangeInclusive;

use gthulhu_domain::manager::ServiceError;
use tokio::sync::OnceCell;

/// The costs bcrypt accepts.
pub(crate) const COST_RANGE: RangeInclusive<u32> = 4..=31;
/// bcrypt reads at most 72 bytes; longer passwords are rejected, never truncated.
pub(crate) const MAX_PASSWORD_BYTES: usize = 72;

/// Verifies a password against a stored hash. Only `$2a$`, `$2b$` and
/// `$2y$` hashes can verify; anything else is logged and fails.
fn verify_blocking(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let bcrypt_prefix = ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p));
    match bcrypt_prefix.then(|| bcrypt::verify(password, hash)) {
        Some(Ok(ok)) => ok,
        _ => {
            tracing::warn!("stored password is not a bcrypt hash; it can never verify");
            false
        }
    }
}

pub(crate) async fn verify(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    tokio::task::spawn_blocking(move || verify_blocking(&password, &hash))
        .await
        .unwrap_or(false)
}

/// A `$2b$` hash of `password` (already validated to at most 72 bytes).
pub(crate) async fn hash(password: &str, cost: u32) -> Result<String, ServiceError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
        .await
        .map_err(|e| ServiceError::Internal(format!("password hashing task failed: {e}")))?
        .map_err(|e| ServiceError::Internal(format!("password hashing failed: {e}")))
}

/// Hashing at the configured cost, plus a dummy hash so that a login for
/// an unknown username costs as much time as one for a known username.
pub(crate) struct Passwords {
    cost: u32,
    dummy_hash: OnceCell<String>,
}

impl Passwords {
    pub(crate) fn new(cost: u32) -> Self {
        Self {
            cost,
            dummy_hash: OnceCell::new(),
        }
    }

    pub(crate) async fn hash(&self, password: &str) -> Result<String, ServiceError> {
        hash(password, self.cost).await
    }

    /// Burns one verification's worth of time; the result is meaningless.
    pub(crate) async fn verify_dummy(&self, password: &str) {
        let dummy = self
            .dummy_hash
            .get_or_try_init(|| hash("gthulhu-timing-equaliser", self.cost))
            .await;
        if let Ok(dummy) = dummy {
            verify(password, dummy).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash("secret", 4).await.unwrap();
        assert!(h.starts_with("$2b$04$"));
        assert!(verify("secret", &h).await);
        assert!(!verify("Secret", &h).await);
    }

    #[tokio::test]
    async fn accepts_2a_and_2y_rejects_non_bcrypt() {
        let h = hash("secret", 4).await.unwrap();
        assert!(verify("secret", &h.replacen("$2b$", "$2a$", 1)).await);
        assert!(verify("secret", &h.replacen("$2b$", "$2y$", 1)).await);
        assert!(!verify("secret", &h.replacen("$2b$", "$2x$", 1)).await);
        assert!(!verify("secret", "secret").await);
        assert!(!verify("secret", "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA").await);
        assert!(!verify("", "").await);
    }

    #[tokio::test]
    async fn seventy_two_bytes_verify_longer_never_do() {
        let p72 = "x".repeat(72);
        let h = hash(&p72, 4).await.unwrap();
        assert!(verify(&p72, &h).await);
        // bcrypt would truncate this to the 72 bytes above.
        assert!(!verify(&"x".repeat(73), &h).await);
    }

    #[tokio::test]
    async fn dummy_verification_never_panics() {
        let p = Passwords::new(4);
        p.verify_dummy("anything").await;
        p.verify_dummy("again").await;
        assert!(p.dummy_hash.get().is_some());
    }
}
