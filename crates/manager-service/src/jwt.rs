//! The Manager's login tokens (manager.md 4.2): RS256-signed with the
//! configured RSA key, verified with its public half, RS256/384/512 only,
//! `exp`/`nbf` checked with no leeway.

use std::fmt;
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

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub uid: String,
    #[serde(rename = "needChangePassword", default)]
    pub need_change_password: bool,
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

pub struct JwtKeys {
    public_key: RsaPublicKey,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
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
        Ok(Self {
            public_key,
            encoding,
            decoding,
            validation,
        })
    }

    /// The SPKI PEM of the public half.
    pub fn public_key_pem(&self) -> String {
        self.public_key.to_public_key_pem(LineEnding::LF).unwrap_or_default()
    }

    pub(crate) fn sign(&self, uid: &ObjectId, need_change_password: bool, ttl_s: i64) -> Result<String, String> {
        self.sign_at(uid, need_change_password, now_unix(), ttl_s)
    }

    fn sign_at(&self, uid: &ObjectId, need_change_password: bool, now: i64, ttl_s: i64) -> Result<String, String> {
        let claims = Claims {
            uid: uid.to_string(),
            need_change_password,
            iss: TOKEN_ISSUER.to_string(),
            sub: uid.to_string(),
            exp: now.saturating_add(ttl_s),
            nbf: now,
            iat: now,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// The claims of a valid token; `None` for anything else (the caller
    /// answers one message for every failure).
    pub(crate) fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .ok()
    }
}

fn now_unix() -> i64 {
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

    #[test]
    fn signs_the_documented_claims() {
        let keys = test_keys();
        let uid = ObjectId::parse("65f0c1d2e3f4a5b6c7d8e9f0").unwrap();
        let token = keys.sign_at(&uid, true, 1_773_129_600, 10_800).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        // Read the payload without validating times: it is a fixed past date.
        let mut v = keys.validation.clone();
        v.validate_exp = false;
        v.validate_nbf = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(&token, &keys.decoding, &v).unwrap();
        assert_eq!(
            data.claims,
            serde_json::json!({"uid":"65f0c1d2e3f4a5b6c7d8e9f0","needChangePassword":true,"iss":"bss-api-server",
                               "sub":"65f0c1d2e3f4a5b6c7d8e9f0","exp":1_773_140_400,"nbf":1_773_129_600,"iat":1_773_129_600})
        );
    }

    #[test]
    fn round_trip_and_rejections() {
        let keys = test_keys();
        let uid = ObjectId::new();
        let token = keys.sign(&uid, false, 60).unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!(claims.uid, uid.to_string());
        assert!(!claims.need_change_password);

        let now = now_unix();
        // Expired one second ago: no leeway.
        assert!(keys.verify(&keys.sign_at(&uid, false, now - 61, 60).unwrap()).is_none());
        // Not valid before a second from now.
        assert!(keys.verify(&keys.sign_at(&uid, false, now + 5, 60).unwrap()).is_none());
        assert!(keys.verify("garbage").is_none());
        assert!(keys.verify(&format!("{token}x")).is_none());
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
        let token = other.sign(&ObjectId::new(), false, 60).unwrap();
        assert!(test_keys().verify(&token).is_none());
        let pkcs8 = include_str!("../../dm-service/testdata/dm_key_pkcs8.pem");
        assert_eq!(
            JwtKeys::from_pem(pkcs8).unwrap().public_key_pem(),
            test_keys().public_key_pem()
        );
        assert!(test_keys().public_key_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
        assert!(JwtKeys::from_pem("not a key").is_err());
    }
}
