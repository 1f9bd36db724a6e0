//! DM tokens (spec: decision-maker.md 3): issued to whoever presents the
//! public half of the DM's RSA key, RS256-signed, verified with RS256/384/512
//! only.

use std::time::{SystemTime, UNIX_EPOCH};

use gthulhu_domain::{AuthError, IssuedToken, TokenClaims, TokenRole, TokenService};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

pub const DM_TOKEN_ISSUER: &str = "decision-maker-service";
const DEFAULT_TTL_HOURS: i64 = 24;
/// Clock skew tolerated on `exp`/`nbf`; never less than the advertised
/// `expired_at`, since the scheduler does not refresh on 401.
const LEEWAY_SECONDS: u64 = 5;

/// The configured key could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TokenKeyError(String);

/// Who gets the Manager's role (intents) rather than the scheduler's.
///
/// A token request carries only the public key, which the chart ships in a
/// ConfigMap, plus an optional `client_id` that the scheduler never sends.
/// With mTLS on, every connection already presented a client certificate
/// the DM verified, so a `client_id` is enough; otherwise only a
/// `client_id` on the allow-list is. The default allow-list holds upstream's
/// default `manager-client` so an upstream Manager keeps working; that
/// leaves intents writable by any key holder who sends that name, which
/// only mTLS or a private name closes (README, "DM token roles").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerClients {
    pub allow_list: Vec<String>,
    pub mtls: bool,
}

impl Default for ManagerClients {
    fn default() -> Self {
        Self {
            allow_list: vec!["manager-client".into()],
            mtls: false,
        }
    }
}

impl ManagerClients {
    pub fn role_of(&self, client_id: &str) -> TokenRole {
        let client_id = client_id.trim();
        if !client_id.is_empty() && (self.mtls || self.allow_list.iter().any(|c| c == client_id)) {
            TokenRole::Manager
        } else {
            TokenRole::Scheduler
        }
    }
}

pub struct RsaTokenService {
    managers: ManagerClients,
    public_key: RsaPublicKey,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_seconds: i64,
}

impl RsaTokenService {
    /// From a PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`) PEM.
    /// `ttl_hours <= 0` falls back to 24 h.
    pub fn from_pem(private_key_pem: &str, ttl_hours: i64) -> Result<Self, TokenKeyError> {
        let key = RsaPrivateKey::from_pkcs1_pem(private_key_pem.trim())
            .or_else(|_| RsaPrivateKey::from_pkcs8_pem(private_key_pem.trim()))
            .map_err(|_| TokenKeyError("token.rsa_private_key_pem is not a PKCS#1 or PKCS#8 RSA private key".into()))?;
        Self::from_key(key, ttl_hours)
    }

    /// An ephemeral RSA-2048 key, for trying the DM out without configuration.
    pub fn generate(ttl_hours: i64) -> Result<Self, TokenKeyError> {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
            .map_err(|e| TokenKeyError(format!("generating an RSA key failed: {e}")))?;
        Self::from_key(key, ttl_hours)
    }

    fn from_key(key: RsaPrivateKey, ttl_hours: i64) -> Result<Self, TokenKeyError> {
        let pkcs8 = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| TokenKeyError(format!("encoding the RSA key failed: {e}")))?;
        let encoding = EncodingKey::from_rsa_pem(pkcs8.as_bytes())
            .map_err(|e| TokenKeyError(format!("loading the RSA key failed: {e}")))?;
        let public_key = key.to_public_key();
        let decoding =
            DecodingKey::from_rsa_raw_components(&public_key.n().to_bytes_be(), &public_key.e().to_bytes_be());
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        // Decision: `exp` is required (upstream accepted a token without one,
        // which never expires). `iss` stays unchecked: upstream Managers sign
        // with their own issuer and the shared key (decision-maker.md 3.2).
        validation.required_spec_claims = ["exp".to_string()].into_iter().collect();
        let ttl_hours = if ttl_hours <= 0 {
            tracing::warn!(ttl_hours, "token.token_duration_hr must be positive; using 24");
            DEFAULT_TTL_HOURS
        } else {
            ttl_hours
        };
        Ok(Self {
            managers: ManagerClients::default(),
            public_key,
            encoding,
            decoding,
            validation,
            ttl_seconds: ttl_hours.saturating_mul(3600),
        })
    }

    /// Replaces the default [`ManagerClients`] policy.
    pub fn with_manager_clients(mut self, managers: ManagerClients) -> Self {
        self.managers = managers;
        self
    }

    /// The SPKI PEM of the public half: what the scheduler and the Manager hold.
    pub fn public_key_pem(&self) -> String {
        self.public_key.to_public_key_pem(LineEnding::LF).unwrap_or_default()
    }

    /// SHA-256 of the SPKI DER, lowercase hex: identifies the key in logs
    /// without revealing anything.
    pub fn fingerprint(&self) -> String {
        self.public_key
            .to_public_key_der()
            .map(|der| hex::encode(Sha256::digest(der.as_bytes())))
            .unwrap_or_default()
    }

    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }

    fn check_public_key(&self, pem_text: &str) -> Result<(), String> {
        let start = pem_text.find("-----BEGIN ").ok_or("no PEM block")?;
        let block = &pem_text[start..];
        let label_end = block["-----BEGIN ".len()..]
            .find("-----")
            .ok_or("malformed PEM header")?;
        let label = &block["-----BEGIN ".len().."-----BEGIN ".len() + label_end];
        if label != "PUBLIC KEY" {
            return Err(format!("expected a PUBLIC KEY block, got {label}"));
        }
        let end_marker = "-----END PUBLIC KEY-----";
        let end = block.find(end_marker).ok_or("unterminated PEM block")? + end_marker.len();
        let presented =
            RsaPublicKey::from_public_key_pem(&block[..end]).map_err(|e| format!("not an RSA SPKI key: {e}"))?;
        if presented.n() == self.public_key.n() && presented.e() == self.public_key.e() {
            Ok(())
        } else {
            Err("key does not match the DM's signing key".into())
        }
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

impl TokenService for RsaTokenService {
    fn issue(&self, public_key_pem: &str, client_id: &str) -> Result<IssuedToken, AuthError> {
        self.check_public_key(public_key_pem)
            .map_err(AuthError::PublicKeyRejected)?;
        let now = now_unix();
        let claims = TokenClaims {
            client_id: client_id.to_string(),
            iss: DM_TOKEN_ISSUER.to_string(),
            sub: client_id.to_string(),
            exp: now.saturating_add(self.ttl_seconds),
            nbf: now,
            iat: now,
            role: Some(self.managers.role_of(client_id)),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Signing(e.to_string()))?;
        Ok(IssuedToken {
            token,
            expires_at: claims.exp,
        })
    }

    fn verify(&self, token: &str) -> Result<TokenClaims, AuthError> {
        jsonwebtoken::decode::<TokenClaims>(token, &self.decoding, &self.validation)
            .map(|data| {
                let mut claims = data.claims;
                claims.role = Some(claims.role.unwrap_or_else(|| self.managers.role_of(&claims.client_id)));
                claims
            })
            .map_err(|e| AuthError::InvalidToken(e.to_string()))
    }
}

#[cfg(test)]
mod tests;
