//! mTLS: SEC1 P-256 server key, client certificate required, h2 and
//! http/1.1 both work (decision-maker.md 11, 15.9).

use gthulhu_rest::server_tls_config;

use crate::helpers::{MtlsPems, Options, spawn_app};

const CA: &str = gthulhu_test_support::mtls::CA;
const DM_CERT: &str = gthulhu_test_support::mtls::DM_CERT;
const DM_KEY_SEC1: &str = gthulhu_test_support::mtls::DM_KEY;
const DM_KEY_PKCS8: &str = gthulhu_test_support::mtls::DM_KEY_PKCS8;
const CLIENT_CERT: &str = gthulhu_test_support::mtls::MANAGER_CERT;
const CLIENT_KEY: &str = gthulhu_test_support::mtls::MANAGER_KEY;
const ROGUE_CERT: &str = gthulhu_test_support::mtls::ROGUE_CERT;
const ROGUE_KEY: &str = gthulhu_test_support::mtls::ROGUE_KEY;

fn client(identity: Option<(&str, &str)>, http1_only: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(CA.as_bytes()).unwrap());
    if let Some((cert, key)) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
    }
    if http1_only {
        builder = builder.http1_only();
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn client_certificate_is_required_and_both_alpn_protocols_work() {
    let tls = MtlsPems {
        cert: DM_CERT,
        key: DM_KEY_SEC1,
        ca: CA,
    };
    let app = spawn_app(Options {
        tls: Some(tls),
        ..Default::default()
    })
    .await;
    let health = app.url("/health");
    assert!(
        client(None, false).get(&health).send().await.is_err(),
        "no client certificate"
    );
    assert!(
        client(Some((ROGUE_CERT, ROGUE_KEY)), false)
            .get(&health)
            .send()
            .await
            .is_err(),
        "foreign CA"
    );
    let r = client(Some((CLIENT_CERT, CLIENT_KEY)), false)
        .get(&health)
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), r.version()), (200, reqwest::Version::HTTP_2));
    let r = client(Some((CLIENT_CERT, CLIENT_KEY)), true)
        .get(&health)
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), r.version()), (200, reqwest::Version::HTTP_11));
}

#[test]
fn bad_tls_material_is_a_startup_error() {
    assert!(server_tls_config(DM_CERT, DM_KEY_SEC1, "").is_err(), "empty CA");
    assert!(server_tls_config("", DM_KEY_SEC1, CA).is_err(), "no certificate");
    assert!(server_tls_config(DM_CERT, "", CA).is_err(), "no key");
    assert!(
        server_tls_config(DM_CERT, DM_KEY_PKCS8, CA).is_ok(),
        "PKCS#8 keys load too"
    );
    assert!(
        server_tls_config(DM_CERT, CLIENT_KEY, CA).is_err(),
        "a key that does not match the certificate"
    );
}
