use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("mtls.cert_pem holds no certificate")]
    NoCertificate,
    #[error("mtls.key_pem holds no SEC1, PKCS#8 or PKCS#1 private key")]
    NoKey,
    #[error("mtls.ca_pem holds no CA certificate")]
    NoCa,
    #[error("invalid TLS material: {0}")]
    Invalid(String),
}

fn certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Invalid(e.to_string()))
}

/// A server that requires and verifies a client certificate chaining to
/// `ca_pem` (no name check on it), TLS 1.2+, ALPN `h2` and `http/1.1`.
pub fn server_tls_config(cert_pem: &str, key_pem: &str, ca_pem: &str) -> Result<ServerConfig, TlsError> {
    let chain = certs(cert_pem)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| TlsError::Invalid(e.to_string()))?
        .ok_or(TlsError::NoKey)?;
    let mut roots = RootCertStore::empty();
    for ca in certs(ca_pem)? {
        roots.add(ca).map_err(|e| TlsError::Invalid(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(TlsError::NoCa);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::Invalid(e.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Invalid(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
