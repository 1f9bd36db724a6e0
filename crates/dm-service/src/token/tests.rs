use base64::Engine;
use gthulhu_domain::{AuthError, TokenClaims, TokenRole, TokenService};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::{DM_TOKEN_ISSUER, ManagerClients, RsaTokenService, now_unix};

const KEY_PKCS1: &str = gthulhu_test_support::keys::DM_KEY_PKCS1;
const KEY_PKCS8: &str = gthulhu_test_support::keys::DM_KEY_PKCS8;
const PUB: &str = gthulhu_test_support::keys::DM_PUB;
const PUB_PKCS1: &str = gthulhu_test_support::keys::DM_PUB_PKCS1;
const OTHER_KEY: &str = gthulhu_test_support::keys::OTHER_KEY;
const OTHER_PUB: &str = gthulhu_test_support::keys::OTHER_PUB;

fn service() -> RsaTokenService {
    RsaTokenService::from_pem(KEY_PKCS1, 24).unwrap()
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: &TokenClaims) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).unwrap()
}

fn claims(exp_offset: i64, nbf_offset: i64) -> TokenClaims {
    let now = now_unix();
    TokenClaims {
        exp: now + exp_offset,
        nbf: now + nbf_offset,
        iat: now,
        ..Default::default()
    }
}

#[test]
fn pkcs1_and_pkcs8_keys_load_to_the_same_public_key() {
    let a = RsaTokenService::from_pem(KEY_PKCS1, 1).unwrap();
    let b = RsaTokenService::from_pem(KEY_PKCS8, 1).unwrap();
    assert_eq!(a.public_key_pem(), b.public_key_pem());
    assert_eq!(a.fingerprint().len(), 64);
    assert!(
        RsaTokenService::from_pem("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----", 1).is_err()
    );
}

#[test]
fn issues_for_the_matching_spki_key_with_claims_and_ttl() {
    let s = RsaTokenService::from_pem(KEY_PKCS1, 2).unwrap();
    let with_prefix = format!("some text before\n{PUB}");
    for pem in [PUB, with_prefix.as_str()] {
        let issued = s.issue(pem, "manager-client").unwrap();
        let c = s.verify(&issued.token).unwrap();
        assert_eq!(c.client_id, "manager-client");
        assert_eq!(c.sub, "manager-client");
        assert_eq!(c.iss, DM_TOKEN_ISSUER);
        assert_eq!(c.iat, c.nbf);
        assert_eq!(c.exp, c.iat + 2 * 3600);
        assert_eq!(issued.expires_at, c.exp);
        let header = issued.token.split('.').next().unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap();
        let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
        assert_eq!(header["alg"], "RS256");
    }
}

#[test]
fn non_positive_ttl_falls_back_to_24h() {
    assert_eq!(
        RsaTokenService::from_pem(KEY_PKCS1, 0).unwrap().ttl_seconds(),
        24 * 3600
    );
    assert_eq!(
        RsaTokenService::from_pem(KEY_PKCS1, -3).unwrap().ttl_seconds(),
        24 * 3600
    );
}

#[test]
fn rejects_other_keys_pkcs1_blocks_and_garbage() {
    let s = service();
    for bad in [
        OTHER_PUB,
        PUB_PKCS1,
        "",
        "garbage",
        "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n",
    ] {
        assert!(
            matches!(s.issue(bad, ""), Err(AuthError::PublicKeyRejected(_))),
            "{bad}"
        );
    }
}

#[test]
fn verify_accepts_rs_family_and_rejects_forgeries() {
    let s = service();
    let own = EncodingKey::from_rsa_pem(KEY_PKCS1.as_bytes()).unwrap();
    for alg in [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512] {
        assert!(s.verify(&sign(alg, &own, &claims(60, 0))).is_ok(), "{alg:?}");
    }
    let other = EncodingKey::from_rsa_pem(OTHER_KEY.as_bytes()).unwrap();
    let hs_with_public_key = EncodingKey::from_secret(PUB.as_bytes());
    let forged = [
        sign(Algorithm::RS256, &other, &claims(60, 0)),
        sign(Algorithm::HS256, &hs_with_public_key, &claims(60, 0)),
        sign(Algorithm::PS256, &own, &claims(60, 0)),
        sign(Algorithm::RS256, &own, &claims(-60, -120)),
        sign(Algorithm::RS256, &own, &claims(600, 60)),
        "garbage".to_string(),
        String::new(),
    ];
    for token in forged {
        assert!(matches!(s.verify(&token), Err(AuthError::InvalidToken(_))), "{token}");
    }
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(60, 0)).unwrap());
    let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{body}.");
    assert!(s.verify(&none).is_err());
}

/// Issue 9: a key holder could mint a token that never expires.
#[test]
fn a_token_without_exp_is_refused() {
    let s = service();
    let own = EncodingKey::from_rsa_pem(KEY_PKCS1.as_bytes()).unwrap();
    let now = now_unix();
    let no_exp = serde_json::json!({"client_id":"c","iss":DM_TOKEN_ISSUER,"sub":"c","nbf":now,"iat":now});
    let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &no_exp, &own).unwrap();
    assert!(matches!(s.verify(&token), Err(AuthError::InvalidToken(_))));
}

#[test]
fn a_token_is_valid_through_its_advertised_expiry_second() {
    let s = service();
    let own = EncodingKey::from_rsa_pem(KEY_PKCS1.as_bytes()).unwrap();
    assert!(s.verify(&sign(Algorithm::RS256, &own, &claims(0, 0))).is_ok());
}

#[test]
fn concurrent_issuing_yields_independent_valid_tokens() {
    let s = std::sync::Arc::new(service());
    let tokens: Vec<String> = (0..8)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || s.issue(PUB, "").unwrap().token)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    for t in tokens {
        assert!(s.verify(&t).is_ok());
    }
}

#[test]
fn only_listed_client_ids_get_the_manager_role_without_mtls() {
    let s = service();
    let role = |client_id: &str| s.verify(&s.issue(PUB, client_id).unwrap().token).unwrap().role();
    assert_eq!(role("manager-client"), TokenRole::Manager);
    assert_eq!(role(""), TokenRole::Scheduler);
    assert_eq!(role("someone-else"), TokenRole::Scheduler);

    let strict = service().with_manager_clients(ManagerClients {
        allow_list: vec![],
        mtls: false,
    });
    assert_eq!(
        strict
            .verify(&strict.issue(PUB, "manager-client").unwrap().token)
            .unwrap()
            .role(),
        TokenRole::Scheduler
    );
}

#[test]
fn with_mtls_any_client_id_is_the_manager_but_the_scheduler_stays_the_scheduler() {
    let s = service().with_manager_clients(ManagerClients {
        allow_list: vec![],
        mtls: true,
    });
    assert_eq!(
        s.verify(&s.issue(PUB, "mgr-7").unwrap().token).unwrap().role(),
        TokenRole::Manager
    );
    assert_eq!(
        s.verify(&s.issue(PUB, "").unwrap().token).unwrap().role(),
        TokenRole::Scheduler
    );
}

#[test]
fn the_signed_role_wins_and_a_token_without_one_is_judged_by_its_client_id() {
    let s = service();
    let key = EncodingKey::from_rsa_pem(KEY_PKCS1.as_bytes()).unwrap();
    let signed_scheduler = TokenClaims {
        client_id: "manager-client".into(),
        role: Some(TokenRole::Scheduler),
        ..claims(60, 0)
    };
    assert_eq!(
        s.verify(&sign(Algorithm::RS256, &key, &signed_scheduler))
            .unwrap()
            .role(),
        TokenRole::Scheduler
    );
    // Issued before roles existed (an upgrade): the allow-list decides.
    let legacy = TokenClaims {
        client_id: "manager-client".into(),
        ..claims(60, 0)
    };
    assert_eq!(
        s.verify(&sign(Algorithm::RS256, &key, &legacy)).unwrap().role(),
        TokenRole::Manager
    );
    assert_eq!(
        s.verify(&sign(Algorithm::RS256, &key, &claims(60, 0))).unwrap().role(),
        TokenRole::Scheduler
    );
}
