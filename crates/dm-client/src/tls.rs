//! rustls client configuration for mTLS calls to Decision Makers
//! (manager.md 11.2).

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::{ClientError, ClientTls};

/// Presents `cert_pem`/`key_pem`, trusts only `ca_pem`, TLS 1.2+, ALPN `h2`
/// and `http/1.1`, and checks DM certificates against `server_name` (the
/// URL host, i.e. the pod IP, when it is empty).
pub(crate) fn client_config(tls: &ClientTls) -> Result<ClientConfig, ClientError> {
    let chain = certs(&tls.cert_pem).map_err(ClientError::ClientCertificate)?;
    if chain.is_empty() {
        return Err(ClientError::ClientCertificate(
            "mtls.cert_pem holds no certificate".into(),
        ));
    }
    // Accepts SEC1 EC, PKCS#8 and PKCS#1 RSA keys alike.
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut tls.key_pem.as_bytes())
        .map_err(|e| ClientError::ClientCertificate(e.to_string()))?
        .ok_or_else(|| ClientError::ClientCertificate("mtls.key_pem holds no SEC1, PKCS#8 or PKCS#1 key".into()))?;

    let mut roots = RootCertStore::empty();
    for ca in certs(&tls.ca_pem).map_err(ClientError::CaCertificate)? {
        roots.add(ca).map_err(|e| ClientError::CaCertificate(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(ClientError::CaCertificate("mtls.ca_pem holds no certificate".into()));
    }

    let name = match tls.server_name.as_str() {
        "" => None,
        name => Some(ServerName::try_from(name.to_string()).map_err(|_| ClientError::ServerName(name.to_string()))?),
    };

    // An explicit provider, so the process-wide default (unset, or ambiguous
    // when several providers are linked) never matters.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| ClientError::CaCertificate(e.to_string()))?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ClientError::Http(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(FixedNameVerifier { inner: webpki, name }))
        .with_client_auth_cert(chain, key)
        .map_err(|e| ClientError::ClientCertificate(e.to_string()))?;
    // reqwest leaves ALPN to a preconfigured TLS config.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// Full WebPKI verification, but of the configured name instead of the
/// URL host: DMs are addressed by pod IP while their certificates carry
/// `DNS:localhost` (the Helm chart's certificates).
#[derive(Debug)]
struct FixedNameVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: Option<ServerName<'static>>,
}

impl ServerCertVerifier for FixedNameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = self.name.as_ref().unwrap_or(server_name);
        self.inner
            .verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_h2_and_http1() {
        let tls = ClientTls {
            cert_pem: gthulhu_test_support::mtls::MANAGER_CERT.into(),
            key_pem: gthulhu_test_support::mtls::MANAGER_KEY.into(),
            ca_pem: gthulhu_test_support::mtls::CA.into(),
            server_name: "localhost".into(),
        };
        let config = client_config(&tls).unwrap();
        assert_eq!(config.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
    }
}
