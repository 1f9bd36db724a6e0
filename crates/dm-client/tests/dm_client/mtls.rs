//! mTLS end to end against our DM server (client certificate required and
//! verified), key formats, name checks and startup errors.

use gthulhu_dm_client::{ClientSettings, ClientTls, DEFAULT_TIMEOUT, HttpDecisionMakerClient};
use gthulhu_domain::manager::{DecisionMakerAdapter, DmClientError};
use gthulhu_domain::merkle;

use crate::helpers::{PUBLIC_KEY, client, spawn_real_dm};
use crate::real_dm::intents;

const CA: &str = gthulhu_test_support::mtls::CA;
const DM_CERT: &str = gthulhu_test_support::mtls::DM_CERT;
const DM_KEY_SEC1: &str = gthulhu_test_support::mtls::DM_KEY;
const MANAGER_CERT: &str = gthulhu_test_support::mtls::MANAGER_CERT;
const MANAGER_KEY_PKCS8: &str = gthulhu_test_support::mtls::MANAGER_KEY;
const ROGUE_CERT: &str = gthulhu_test_support::mtls::ROGUE_CERT;
const ROGUE_KEY: &str = gthulhu_test_support::mtls::ROGUE_KEY;
const ROGUE_CA: &str = gthulhu_test_support::mtls::ROGUE_CA;
/// An RSA client certificate with a PKCS#1 key, issued by its own CA.
const RSA_CLIENT_CA: &str = include_str!("../../testdata/pkcs1_client_ca.crt");
const RSA_CLIENT_CERT: &str = include_str!("../../testdata/manager_rsa.crt");
const RSA_CLIENT_KEY_PKCS1: &str = include_str!("../../testdata/manager_rsa_pkcs1.key");

fn tls(cert: &str, key: &str, ca: &str, server_name: &str) -> ClientTls {
    ClientTls {
        cert_pem: cert.into(),
        key_pem: key.into(),
        ca_pem: ca.into(),
        server_name: server_name.into(),
    }
}

fn manager_tls(server_name: &str) -> ClientTls {
    tls(MANAGER_CERT, MANAGER_KEY_PKCS8, CA, server_name)
}

fn startup_error(tls: ClientTls) -> String {
    let settings = ClientSettings {
        public_key_pem: PUBLIC_KEY.into(),
        client_id: "manager-client".into(),
        mtls: Some(tls),
        timeout: DEFAULT_TIMEOUT,
    };
    HttpDecisionMakerClient::new(settings)
        .err()
        .expect("a startup error")
        .to_string()
}

#[tokio::test]
async fn calls_succeed_over_mtls_by_configured_name_or_by_ip() {
    let dm = spawn_real_dm(Some((DM_CERT, DM_KEY_SEC1, CA))).await;
    let set = intents();
    // The DM is addressed as 127.0.0.1 but verified as DNS:localhost.
    let by_name = client(Some(manager_tls("localhost")));
    by_name.push_intents(&dm.endpoint, &set).await.unwrap();
    assert_eq!(by_name.merkle_root(&dm.endpoint).await.unwrap(), merkle::root(&set));
    // Empty server name: verified against the address (IP SAN 127.0.0.1).
    let by_ip = client(Some(manager_tls("")));
    assert_eq!(by_ip.merkle_root(&dm.endpoint).await.unwrap(), merkle::root(&set));
    // SEC1 EC key as the client identity.
    let sec1 = client(Some(tls(DM_CERT, DM_KEY_SEC1, CA, "localhost")));
    assert_eq!(sec1.merkle_root(&dm.endpoint).await.unwrap(), merkle::root(&set));
}

#[tokio::test]
async fn pkcs1_rsa_client_keys_work() {
    let dm = spawn_real_dm(Some((DM_CERT, DM_KEY_SEC1, RSA_CLIENT_CA))).await;
    let client = client(Some(tls(RSA_CLIENT_CERT, RSA_CLIENT_KEY_PKCS1, CA, "localhost")));
    client.push_intents(&dm.endpoint, &[]).await.unwrap();
    assert_eq!(client.merkle_root(&dm.endpoint).await.unwrap(), merkle::EMPTY_ROOT);
}

#[tokio::test]
async fn wrong_name_foreign_ca_or_foreign_client_certificate_fail() {
    let dm = spawn_real_dm(Some((DM_CERT, DM_KEY_SEC1, CA))).await;
    let cases = [
        (
            "name not in the DM certificate",
            manager_tls("dm.example"),
            "not valid for name \"dm.example\"",
        ),
        (
            "DM certificate from another CA",
            tls(MANAGER_CERT, MANAGER_KEY_PKCS8, ROGUE_CA, "localhost"),
            "UnknownIssuer",
        ),
        // The DM rejects the handshake.
        (
            "client certificate from another CA",
            tls(ROGUE_CERT, ROGUE_KEY, CA, "localhost"),
            "",
        ),
    ];
    for (case, tls, detail) in cases {
        let err = client(Some(tls)).merkle_root(&dm.endpoint).await.unwrap_err();
        assert!(
            matches!(&err, DmClientError::Unreachable(d) if d.contains(detail)),
            "{case}: {err}"
        );
    }
    // The plain-HTTP client cannot talk to a TLS DM either.
    assert!(client(None).merkle_root(&dm.endpoint).await.is_err());
}

#[test]
fn bad_tls_material_is_a_startup_error() {
    let garbage = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
    let not_a_cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    for (case, tls) in [
        ("no certificate", tls("", MANAGER_KEY_PKCS8, CA, "localhost")),
        ("garbage certificate", tls(garbage, MANAGER_KEY_PKCS8, CA, "localhost")),
        ("no key", tls(MANAGER_CERT, "", CA, "localhost")),
        (
            "key of another certificate",
            tls(MANAGER_CERT, DM_KEY_SEC1, CA, "localhost"),
        ),
    ] {
        let err = startup_error(tls);
        assert!(err.starts_with("load mTLS client certificate"), "{case}: {err}");
    }
    for (case, ca) in [
        ("no CA", ""),
        ("garbage CA", garbage),
        ("CA that is no certificate", not_a_cert),
    ] {
        let err = startup_error(tls(MANAGER_CERT, MANAGER_KEY_PKCS8, ca, "localhost"));
        assert!(err.starts_with("parse mTLS CA certificate"), "{case}: {err}");
    }
    assert!(startup_error(manager_tls("not a name!")).starts_with("invalid mTLS server name"));
}
