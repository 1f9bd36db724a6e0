//! The Manager's signing key and the public key it presents to DMs.

use gthulhu_config::manager::ManagerConfig;
use gthulhu_manager_service::JwtKeys;
use rsa::RsaPublicKey;
use rsa::pkcs8::DecodePublicKey;

/// `key.rsa_private_key_pem`, else an ephemeral key (with a warning).
pub fn jwt_keys(config: &ManagerConfig) -> anyhow::Result<JwtKeys> {
    if config.key.rsa_private_key_pem.trim().is_empty() {
        let keys = JwtKeys::generate()?;
        tracing::warn!(
            "key.rsa_private_key_pem is not set: generated an ephemeral RSA-2048 key; logins end with this \
             process. Set MANAGER_KEY_RSA_PRIVATE_KEY_PEM for real use"
        );
        return Ok(keys);
    }
    Ok(JwtKeys::from_pem(&config.key.rsa_private_key_pem)?)
}

/// `key.dm_public_key_pem`, else the public half of the Manager's key;
/// checked now rather than at the first DM call.
pub fn dm_public_key(config: &ManagerConfig, jwt: &JwtKeys) -> anyhow::Result<String> {
    let configured = config.key.dm_public_key_pem.trim();
    if configured.is_empty() {
        return Ok(jwt.public_key_pem());
    }
    RsaPublicKey::from_public_key_pem(configured)
        .map_err(|_| anyhow::anyhow!("key.dm_public_key_pem is not a \"PUBLIC KEY\" (SPKI) RSA PEM"))?;
    Ok(config.key.dm_public_key_pem.clone())
}
