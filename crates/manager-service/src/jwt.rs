//! The Manager's login tokens (manager.md 4.2): RS256-signed with the
//! configured RSA key, verified with its public half, RS256/384/512 only,
//! `exp`/`nbf` checked with no leeway.

use std::fmt;
#[cfg(test)]
use std::time::{SystemTime, UNIX_EPOCH};

use gthulhu_domain::manager::ObjectId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};

const TOKEN_ISSUER: &str = "bss-api-server";

/// The configured key could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JwtKeyError(String);

/// The claims of both token types (sessions-and-runtime.md 2.1). Tokens
/// issued before sessions existed have no `tokenType`, `tokenVersion` or
/// `sid`: they read as access tokens of version 0.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub uid: String,
    #[serde(rename = "needChangePassword", default)]
    pub need_change_password: bool,
    #[serde(rename = "tokenVersion", default)]
    pub token_version: i64,
    #[serde(rename = "tokenType", default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Refresh tokens only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default)]
    pub iss: String,
    #[serde(default)]
    pub sub: String,
    #[serde(default)]
    pub exp: i64,
    #[serde(default)]
    pub nbf: i64,
    #[serde(default)]
    pub iat: i64,
}

pub(crate) const ACCESS: &str = "access";
pub(crate) const REFRESH: &str = "refresh";

/// Who a token is issued to, and for which session family.
pub(crate) struct Subject<'a> {
    pub uid: &'a ObjectId,
    pub need_change_password: bool,
    pub token_version: i64,
    pub sid: &'a ObjectId,
}

pub struct JwtKeys {
    public_key: RsaPublicKey,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// `validation` without the `exp` check (logout).
    any_expiry: Validation,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys").finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// From a PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`) PEM.
    pub fn from_pem(private_key_pem: &str) -> Result<Self, JwtKeyError> {
        let pem = private_key_pem.trim();
        let key = RsaPrivateKey::from_pkcs1_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem))
            .map_err(|_| JwtKeyError("key.rsa_private_key_pem is not a PKCS#1 or PKCS#8 RSA private key".into()))?;
        Self::from_key(key)
    }

    /// An ephemeral RSA-2048 key, for starting without configuration
    /// (tokens then die with the process).
    pub fn generate() -> Result<Self, JwtKeyError> {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
            .map_err(|e| JwtKeyError(format!("generating an RSA key failed: {e}")))?;
        Self::from_key(key)
    }

    fn from_key(key: RsaPrivateKey) -> Result<Self, JwtKeyError> {
        let pkcs8 = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| JwtKeyError(format!("encoding the RSA key failed: {e}")))?;
        let encoding = EncodingKey::from_rsa_pem(pkcs8.as_bytes())
            .map_err(|e| JwtKeyError(format!("loading the RSA key failed: {e}")))?;
        let public_key = key.to_public_key();
        let decoding =
            DecodingKey::from_rsa_raw_components(&public_key.n().to_bytes_be(), &public_key.e().to_bytes_be());
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        // Decision: `exp` is required (upstream accepted a token without one,
        // which never expires) and `iss` must be ours, so a DM token signed
        // with a shared key is not a Manager login. `nbf` is checked when present.
        validation.required_spec_claims = ["exp", "iss"].map(String::from).into_iter().collect();
        validation.set_issuer(&[TOKEN_ISSUER]);
        let mut any_expiry = validation.clone();
        any_expiry.validate_exp = false;
        Ok(Self {
            public_key,
            encoding,
            decoding,
            validation,
            any_expiry,
        })
    }

    /// The SPKI PEM of the public half.
    pub fn public_key_pem(&self) -> String {
        self.public_key.to_public_key_pem(LineEnding::LF).unwrap_or_default()
    }

    /// An access token living `ttl_s` seconds from `now` (Unix seconds).
    pub(crate) fn sign_access(&self, subject: &Subject<'_>, now: i64, ttl_s: i64) -> Result<String, String> {
        self.encode(subject, ACCESS, None, now, now.saturating_add(ttl_s))
    }

    /// A refresh token expiring at `exp` (Unix seconds).
    pub(crate) fn sign_refresh(&self, subject: &Subject<'_>, jti: &str, now: i64, exp: i64) -> Result<String, String> {
        self.encode(subject, REFRESH, Some(jti), now, exp)
    }

    fn encode(
        &self,
        subject: &Subject<'_>,
        token_type: &str,
        jti: Option<&str>,
        now: i64,
        exp: i64,
    ) -> Result<String, String> {
        let claims = Claims {
            uid: subject.uid.to_string(),
            need_change_password: subject.need_change_password,
            token_version: subject.token_version,
            token_type: Some(token_type.to_string()),
            sid: Some(subject.sid.to_string()),
            jti: jti.map(str::to_string),
            iss: TOKEN_ISSUER.to_string(),
            sub: subject.uid.to_string(),
            exp,
            nbf: now,
            iat: now,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// A token as issued before sessions existed (no `tokenType`, `sid`
    /// or `tokenVersion`), for tests of their compatibility.
    #[cfg(test)]
    pub(crate) fn sign_legacy(&self, uid: &ObjectId, need_change_password: bool, ttl_s: i64) -> String {
        let now = now_unix();
        let claims = serde_json::json!({"uid": uid.to_string(), "needChangePassword": need_change_password,
            "iss": TOKEN_ISSUER, "sub": uid.to_string(), "exp": now + ttl_s, "nbf": now, "iat": now});
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.encoding).unwrap()
    }

    /// The claims of a valid token; `None` for anything else (the caller
    /// answers one message for every failure).
    pub(crate) fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .ok()
    }

    /// `verify` without the `exp` check: a client can always end its own
    /// session (logout).
    pub(crate) fn verify_any_expiry(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.any_expiry)
            .map(|data| data.claims)
            .ok()
    }
}

#[cfg(test)]
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{TEST_KEY_PKCS1, test_keys};

    fn sign_with(alg: Algorithm, claims: &serde_json::Value) -> String {
        let key = EncodingKey::from_rsa_pem(TEST_KEY_PKCS1.as_bytes()).unwrap();
        jsonwebtoken::encode(&Header::new(alg), claims, &key).unwrap()
    }

    fn payload(keys: &JwtKeys, token: &str) -> serde_json::Value {
        // Read the payload without validating times: it is a fixed past date.
        let mut v = keys.validation.clone();
        v.validate_exp = false;
        v.validate_nbf = false;
        jsonwebtoken::decode::<serde_json::Value>(token, &keys.decoding, &v)
            .unwrap()
            .claims
    }

    #[test]
    fn signs_the_documented_claims() {
        let keys = test_keys();
        let uid = ObjectId::parse("65f0c1d2e3f4a5b6c7d8e9f0").unwrap();
        let sid = ObjectId::parse("65f0c1d2e3f4a5b6c7d8e9f7").unwrap();
        let subject = Subject {
            uid: &uid,
            need_change_password: false,
            token_version: 0,
            sid: &sid,
        };
        let access = keys.sign_access(&subject, 1_773_129_600, 900).unwrap();
        assert_eq!(jsonwebtoken::decode_header(&access).unwrap().alg, Algorithm::RS256);
        assert_eq!(
            payload(&keys, &access),
            serde_json::json!({"uid":"65f0c1d2e3f4a5b6c7d8e9f0","needChangePassword":false,"tokenVersion":0,
                "tokenType":"access","sid":"65f0c1d2e3f4a5b6c7d8e9f7","iss":"bss-api-server",
                "sub":"65f0c1d2e3f4a5b6c7d8e9f0","exp":1_773_130_500,"nbf":1_773_129_600,"iat":1_773_129_600})
        );
        let refresh = keys
            .sign_refresh(&subject, "n3Jq0l2c4u9xwZ1yX0aB_g", 1_773_129_600, 1_773_216_000)
            .unwrap();
        assert_eq!(
            payload(&keys, &refresh),
            serde_json::json!({"uid":"65f0c1d2e3f4a5b6c7d8e9f0","needChangePassword":false,"tokenVersion":0,
                "tokenType":"refresh","sid":"65f0c1d2e3f4a5b6c7d8e9f7","jti":"n3Jq0l2c4u9xwZ1yX0aB_g",
                "iss":"bss-api-server","sub":"65f0c1d2e3f4a5b6c7d8e9f0",
                "exp":1_773_216_000,"nbf":1_773_129_600,"iat":1_773_129_600})
        );
    }

    #[test]
    fn round_trip_and_rejections() {
        let keys = test_keys();
        let (uid, sid) = (ObjectId::new(), ObjectId::new());
        let subject = Subject {
            uid: &uid,
            need_change_password: true,
            token_version: 7,
            sid: &sid,
        };
        let now = now_unix();
        let claims = keys.verify(&keys.sign_access(&subject, now, 60).unwrap()).unwrap();
        assert_eq!(claims.uid, uid.to_string());
        assert!(claims.need_change_password);
        assert_eq!(claims.token_version, 7);
        assert_eq!(claims.token_type.as_deref(), Some(ACCESS));
        assert_eq!(claims.sid, Some(sid.to_string()));
        assert_eq!(claims.jti, None);

        // Expired one second ago: no leeway; logout still reads it.
        let expired = keys.sign_access(&subject, now - 61, 60).unwrap();
        assert!(keys.verify(&expired).is_none());
        assert!(keys.verify_any_expiry(&expired).is_some());
        // Not valid before a few seconds from now, for either check.
        let early = keys.sign_access(&subject, now + 5, 60).unwrap();
        assert!(keys.verify(&early).is_none());
        assert!(keys.verify_any_expiry(&early).is_none());
        assert!(keys.verify("garbage").is_none());
        assert!(keys.verify_any_expiry("garbage").is_none());
        let token = keys.sign_access(&subject, now, 60).unwrap();
        assert!(keys.verify(&format!("{token}x")).is_none());
        assert!(keys.verify_any_expiry(&format!("{token}x")).is_none());

        // A legacy token reads as an access token of version 0.
        let legacy = keys.verify(&keys.sign_legacy(&uid, false, 60)).unwrap();
        assert_eq!((legacy.token_type, legacy.token_version, legacy.sid), (None, 0, None));
    }

    #[test]
    fn accepts_rs384_and_rs512_only() {
        let keys = test_keys();
        let now = now_unix();
        let claims = serde_json::json!({"uid":"65f0c1d2e3f4a5b6c7d8e9f0","iss":TOKEN_ISSUER,"exp":now + 60,"nbf":now});
        assert!(keys.verify(&sign_with(Algorithm::RS384, &claims)).is_some());
        assert!(keys.verify(&sign_with(Algorithm::RS512, &claims)).is_some());
        assert!(keys.verify(&sign_with(Algorithm::PS256, &claims)).is_none());
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(keys.public_key_pem().as_bytes()),
        )
        .unwrap();
        assert!(keys.verify(&hs).is_none());
    }

    /// Issue 9: a key holder could mint a login that never expires, or pass
    /// a DM token (another issuer, same shared key) as a Manager login.
    #[test]
    fn exp_is_required_and_iss_must_be_ours() {
        let keys = test_keys();
        let now = now_unix();
        let uid = "65f0c1d2e3f4a5b6c7d8e9f0";
        let valid = serde_json::json!({"uid":uid,"iss":TOKEN_ISSUER,"exp":now + 60});
        assert!(keys.verify(&sign_with(Algorithm::RS256, &valid)).is_some());
        for claims in [
            serde_json::json!({"uid":uid,"iss":TOKEN_ISSUER,"nbf":now}),
            serde_json::json!({"uid":uid,"exp":now + 60}),
            serde_json::json!({"uid":uid,"iss":"decision-maker-service","exp":now + 60}),
        ] {
            assert!(keys.verify(&sign_with(Algorithm::RS256, &claims)).is_none(), "{claims}");
        }
    }

    #[test]
    fn other_keys_fail_and_pem_forms_agree() {
        let other = JwtKeys::generate().unwrap();
        let token = other.sign_legacy(&ObjectId::new(), false, 60);
        assert!(test_keys().verify(&token).is_none());
        let pkcs8 = gthulhu_test_support::keys::DM_KEY_PKCS8;
        assert_eq!(
            JwtKeys::from_pem(pkcs8).unwrap().public_key_pem(),
            test_keys().public_key_pem()
        );
        assert!(test_keys().public_key_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
        assert!(JwtKeys::from_pem("not a key").is_err());
    }
}
