//! Who this DM is: its node name and its token-signing key.

use std::sync::Arc;

use gthulhu_config::DmConfig;
use gthulhu_dm_service::{ManagerClients, RsaTokenService};

fn env_node_name() -> String {
    std::env::var("NODE_NAME").unwrap_or_default().trim().to_string()
}

/// `standalone.node_name`, else `NODE_NAME`, else the host name; standalone
/// mode refuses to guess from the host name.
pub fn node_name(config: &DmConfig) -> anyhow::Result<String> {
    if config.standalone.enable && config.standalone.node_name.trim().is_empty() && env_node_name().is_empty() {
        anyhow::bail!("standalone mode requires NODE_NAME or standalone.node_name");
    }
    Ok([config.standalone.node_name.clone(), env_node_name()]
        .into_iter()
        .map(|n| n.trim().to_string())
        .find(|n| !n.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_default())
}

/// `token.*`: the configured key, else an ephemeral one (its public half logged).
pub fn token_service(config: &DmConfig) -> anyhow::Result<Arc<RsaTokenService>> {
    let ttl = config.token.token_duration_hr;
    let service = if config.token.rsa_private_key_pem.trim().is_empty() {
        let service = RsaTokenService::generate(ttl)?;
        tracing::warn!(
            fingerprint = %service.fingerprint(),
            public_key = %service.public_key_pem(),
            "token.rsa_private_key_pem is not set: generated an ephemeral RSA-2048 key; tokens die with this process \
             and clients must present the public key logged here. Set DM_TOKEN_RSA_PRIVATE_KEY_PEM for real use"
        );
        service
    } else {
        RsaTokenService::from_pem(&config.token.rsa_private_key_pem, ttl)?
    };
    let managers = ManagerClients {
        allow_list: config.token.manager_client_ids.clone(),
        mtls: config.mtls.enable,
    };
    if !managers.mtls && !managers.allow_list.is_empty() {
        tracing::info!(
            client_ids = ?managers.allow_list,
            "tokens requested with these client_ids may write intents; enable mTLS to require a client certificate"
        );
    }
    Ok(Arc::new(service.with_manager_clients(managers)))
}
