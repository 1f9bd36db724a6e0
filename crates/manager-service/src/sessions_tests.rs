//! Session flows over the in-memory store (sessions-and-runtime.md 3-6, 9).

use std::sync::Arc;

use gthulhu_domain::manager::{
    AuthService, MockDecisionMakerAdapter, MockK8sAdapter, Repository, UserService, UserStatus,
};
use gthulhu_store_memory::MemoryRepository;
use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::jwt::now_unix;
use crate::testutil::{policy, test_keys, test_settings, user_with_password};
use crate::{ServiceDeps, ServiceSettings};

struct World {
    repo: Arc<MemoryRepository>,
    svc: Arc<ManagerServices>,
}

async fn world(tweak: impl FnOnce(&mut ServiceSettings)) -> World {
    let repo = Arc::new(MemoryRepository::new());
    let mut settings = test_settings();
    settings.login_rate_per_min = 0;
    tweak(&mut settings);
    let svc = ManagerServices::new(ServiceDeps {
        repo: repo.clone(),
        k8s: Arc::new(MockK8sAdapter::new()),
        dms: Arc::new(MockDecisionMakerAdapter::new()),
        jwt: test_keys(),
        settings,
    });
    for (name, status) in [("alice", UserStatus::Active), ("carol", UserStatus::MustChangePassword)] {
        repo.create_user(&user_with_password(name, "pw", status).await)
            .await
            .unwrap();
    }
    World { repo, svc }
}

fn origin() -> RequestOrigin {
    RequestOrigin {
        client_ip: "10.0.0.1".into(),
        request_id: "r".into(),
        user_agent: "ua/1 ".repeat(100),
    }
}

impl World {
    async fn login(&self, name: &str) -> IssuedTokens {
        self.svc.login(name, "pw", &origin()).await.unwrap()
    }

    async fn refresh(&self, token: &SecretString) -> Result<IssuedTokens, SessionFailure> {
        self.svc.refresh(token).await.result
    }

    async fn user(&self, name: &str) -> User {
        self.repo.get_user_by_username(name).await.unwrap()
    }
}

fn refused_with(result: Result<impl std::fmt::Debug, SessionFailure>) -> (String, Option<SessionFailureReason>, bool) {
    let failure = result.unwrap_err();
    (failure.error.to_string(), failure.reason, failure.clear_cookie)
}

use SessionFailureReason::*;

#[tokio::test]
async fn login_opens_a_family_stored_hashed() {
    let w = world(|_| {}).await;
    let t = w.login("alice").await;
    let access = w.svc.jwt.verify(&t.access_token).unwrap();
    let refresh = w.svc.jwt.verify(t.refresh_token.expose_secret()).unwrap();
    assert_eq!(
        (access.token_type.as_deref(), access.token_version),
        (Some("access"), 0)
    );
    assert_eq!(access.exp - access.iat, 900);
    assert_eq!(refresh.token_type.as_deref(), Some("refresh"));
    assert_eq!(refresh.sid, access.sid);
    assert_eq!(refresh.jti.as_ref().map(String::len), Some(22));
    assert_eq!(refresh.exp, t.refresh_expires_at);
    assert_eq!(refresh.exp - refresh.iat, 86_400);
    let stored = w.repo.get_session(&t.session_id).await.unwrap();
    assert_eq!(stored.user_id, w.user("alice").await.id);
    assert_eq!(stored.jti, refresh.jti.unwrap());
    assert_eq!(stored.token_hash, token_hash(t.refresh_token.expose_secret()));
    assert_eq!(stored.token_hash.len(), 64);
    assert_eq!(stored.expires_at, t.refresh_expires_at * 1000);
    assert_eq!((stored.ip.as_str(), stored.user_agent.len()), ("10.0.0.1", 256));
    assert!(
        !format!("{t:?}").contains(t.refresh_token.expose_secret()),
        "Debug redacts"
    );
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_ends_the_family() {
    let w = world(|_| {}).await;
    let first = w.login("alice").await;
    let second = w.refresh(&first.refresh_token).await.unwrap();
    assert_eq!(second.session_id, first.session_id);
    let claims = |t: &IssuedTokens| w.svc.jwt.verify(t.refresh_token.expose_secret()).unwrap();
    assert_ne!(claims(&second).jti, claims(&first).jti);
    assert!(w.svc.authorize(&second.access_token, "").await.is_ok());
    let stored = w.repo.get_session(&first.session_id).await.unwrap();
    assert_eq!(stored.token_hash, token_hash(second.refresh_token.expose_secret()));

    assert_eq!(
        refused_with(w.refresh(&first.refresh_token).await),
        ("refresh token reused".into(), Some(Reused), true)
    );
    let stored = w.repo.get_session(&first.session_id).await.unwrap();
    assert_eq!(
        (stored.revoked, stored.revoked_reason),
        (true, Some(RevokeReason::Reuse))
    );
    assert_eq!(
        refused_with(w.refresh(&second.refresh_token).await),
        ("refresh token revoked".into(), Some(Revoked), true)
    );
    // Access tokens already issued stay valid until their exp.
    assert!(w.svc.authorize(&second.access_token, "").await.is_ok());
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_one_wins_and_the_family_ends() {
    let w = world(|_| {}).await;
    let t = w.login("alice").await;
    let (a, b) = tokio::join!(w.refresh(&t.refresh_token), w.refresh(&t.refresh_token));
    let outcomes = [a.map(|_| ()), b.map(|_| ())];
    assert_eq!(outcomes.iter().filter(|r| r.is_ok()).count(), 1, "{outcomes:?}");
    let loser = outcomes.into_iter().find(Result::is_err).unwrap();
    assert_eq!(refused_with(loser).0, "refresh token reused");
    assert!(w.repo.get_session(&t.session_id).await.unwrap().revoked);
}

#[tokio::test]
async fn refresh_checks_in_order() {
    let w = world(|_| {}).await;
    let t = w.login("alice").await;
    let secret = |s: &str| SecretString::from(s.to_string());
    assert_eq!(
        refused_with(w.refresh(&secret("garbage")).await),
        ("Invalid or expired token".into(), Some(Invalid), false)
    );
    assert_eq!(
        refused_with(w.refresh(&secret(&t.access_token)).await),
        ("invalid refresh token".into(), Some(Invalid), false)
    );
    let alice = w.user("alice").await;
    let now = now_unix();
    let subject = Subject {
        uid: &alice.id,
        need_change_password: false,
        token_version: 0,
        sid: &t.session_id,
    };
    let expired = w.svc.jwt.sign_refresh(&subject, "j", now - 100, now - 1).unwrap();
    assert_eq!(
        refused_with(w.refresh(&secret(&expired)).await).0,
        "Invalid or expired token"
    );
    let unknown_sid = ObjectId::new();
    let forged = w
        .svc
        .jwt
        .sign_refresh(
            &Subject {
                sid: &unknown_sid,
                ..subject
            },
            "j",
            now,
            now + 60,
        )
        .unwrap();
    assert_eq!(
        refused_with(w.refresh(&secret(&forged)).await),
        ("refresh token not found".into(), Some(NotFound), true)
    );
    let ghost = ObjectId::new();
    let subject = Subject {
        uid: &ghost,
        need_change_password: false,
        token_version: 0,
        sid: &t.session_id,
    };
    let no_user = w.svc.jwt.sign_refresh(&subject, "j", now, now + 60).unwrap();
    assert_eq!(
        refused_with(w.refresh(&secret(&no_user)).await),
        ("user not found".into(), Some(NotFound), false)
    );

    let mut inactive = alice.clone();
    inactive.status = UserStatus::Inactive;
    w.repo.update_user(&inactive).await.unwrap();
    assert_eq!(
        refused_with(w.refresh(&t.refresh_token).await),
        ("user is inactive".into(), Some(Inactive), false)
    );
    // Nothing changed: reactivated, the token still works.
    w.repo.update_user(&alice).await.unwrap();
    assert!(w.refresh(&t.refresh_token).await.is_ok());
}

#[tokio::test]
async fn at_most_max_sessions_per_user_least_recently_used_go_first() {
    let w = world(|s| s.max_sessions_per_user = 2).await;
    let first = w.login("alice").await;
    let second = w.login("alice").await;
    // Using the first makes the second the least recently used.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let first = w.refresh(&first.refresh_token).await.unwrap();
    let third = w.login("alice").await;
    assert_eq!(
        refused_with(w.refresh(&second.refresh_token).await).0,
        "refresh token revoked"
    );
    assert_eq!(
        w.repo.get_session(&second.session_id).await.unwrap().revoked_reason,
        Some(RevokeReason::SessionLimit)
    );
    assert!(w.refresh(&first.refresh_token).await.is_ok());
    assert!(w.refresh(&third.refresh_token).await.is_ok());
    let alice = w.user("alice").await;
    assert_eq!(w.repo.list_user_sessions(&alice.id, now_ms()).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_family_never_outlives_session_max_age() {
    let w = world(|s| {
        s.refresh_ttl_s = 600;
        s.session_max_age_s = 1000;
    })
    .await;
    let t = w.login("alice").await;
    let created = w.repo.get_session(&t.session_id).await.unwrap().created_time;
    assert_eq!(t.refresh_expires_at, created / 1000 + 600);
    // Rotation slides by refresh_ttl_s, capped at created + max age.
    assert_eq!(w.svc.refresh_exp(created / 1000 + 500, created), created / 1000 + 1000);
    assert_eq!(w.svc.refresh_exp(created / 1000 + 100, created), created / 1000 + 700);
    let uncapped = world(|s| s.session_max_age_s = 0).await;
    assert_eq!(uncapped.svc.refresh_exp(10_000_000, 0), 10_086_400);
}

#[tokio::test]
async fn logout_ends_the_family_idempotently_even_when_expired() {
    let w = world(|_| {}).await;
    let t = w.login("alice").await;
    let newer = w.refresh(&t.refresh_token).await.unwrap();
    // An older jti of the family logs it out too.
    assert!(w.svc.logout(&t.refresh_token).await.result.is_ok());
    let stored = w.repo.get_session(&t.session_id).await.unwrap();
    assert_eq!(stored.revoked_reason, Some(RevokeReason::Logout));
    assert!(w.svc.logout(&newer.refresh_token).await.result.is_ok(), "idempotent");
    assert_eq!(
        refused_with(w.refresh(&newer.refresh_token).await).0,
        "refresh token revoked"
    );

    // exp is not checked.
    let t = w.login("alice").await;
    let alice = w.user("alice").await;
    let jti = w.repo.get_session(&t.session_id).await.unwrap().jti;
    let now = now_unix();
    let subject = Subject {
        uid: &alice.id,
        need_change_password: false,
        token_version: 0,
        sid: &t.session_id,
    };
    let expired = w.svc.jwt.sign_refresh(&subject, &jti, now - 100, now - 1).unwrap();
    let attempt = w.svc.logout(&SecretString::from(expired)).await;
    assert!(attempt.result.is_ok());
    assert_eq!(
        (attempt.user_id, attempt.session_id),
        (Some(alice.id), Some(t.session_id))
    );

    let bad = w.svc.logout(&SecretString::from("x.y.z".to_string())).await;
    assert_eq!((bad.user_id, bad.session_id), (None, None));
    assert_eq!(refused_with(bad.result).0, "Invalid or expired token");
}

#[tokio::test]
async fn logout_all_invalidates_every_older_token() {
    let w = world(|_| {}).await;
    let (a, b) = (w.login("alice").await, w.login("alice").await);
    let caller = w.svc.authorize(&a.access_token, "").await.unwrap();
    w.svc.logout_all(&caller).await.unwrap();
    assert_eq!(w.user("alice").await.token_version, 1);
    for t in [&a, &b] {
        assert_eq!(
            w.svc.authorize(&t.access_token, "").await.unwrap_err(),
            ServiceError::Unauthorized("token revoked".into())
        );
        assert_eq!(
            refused_with(w.refresh(&t.refresh_token).await),
            ("refresh token revoked".into(), Some(Revoked), true)
        );
        assert_eq!(
            refused_with(w.svc.logout(&t.refresh_token).await.result).0,
            "refresh token revoked"
        );
        let stored = w.repo.get_session(&t.session_id).await.unwrap();
        assert_eq!(stored.revoked_reason, Some(RevokeReason::LogoutAll));
    }
    // A new login carries the new version.
    let fresh = w.login("alice").await;
    assert!(w.svc.authorize(&fresh.access_token, "").await.is_ok());
    assert_eq!(w.svc.jwt.verify(&fresh.access_token).unwrap().token_version, 1);
    assert!(w.refresh(&fresh.refresh_token).await.is_ok());
}

#[tokio::test]
async fn the_middleware_refuses_refresh_tokens_and_reads_users_through_the_cache() {
    let w = world(|_| {}).await;
    let t = w.login("alice").await;
    assert_eq!(
        w.svc.authorize(t.refresh_token.expose_secret(), "").await.unwrap_err(),
        ServiceError::Unauthorized("invalid token type".into())
    );
    let legacy = w.svc.jwt.sign_legacy(&w.user("alice").await.id, false, 60);
    assert!(
        w.svc.authorize(&legacy, "").await.is_ok(),
        "tokens without tokenType are access tokens"
    );

    // A write through this process is seen by the next request.
    let admin = crate::testutil::caller(vec![policy("user.permission.update", false, "")]);
    let alice = w.user("alice").await;
    assert!(w.svc.authorize(&t.access_token, "").await.is_ok());
    w.svc
        .update_permissions(&admin, &alice.id.to_string(), None, Some(2))
        .await
        .unwrap();
    assert_eq!(
        w.svc.authorize(&t.access_token, "").await.unwrap_err(),
        ServiceError::Unauthorized("user is inactive".into())
    );
}

#[tokio::test]
async fn password_reset_and_self_change_end_sessions_as_specified() {
    let w = world(|_| {}).await;
    let target = w.login("alice").await;
    let admin = crate::testutil::caller(vec![policy("user.password.reset", false, "")]);
    let alice = w.user("alice").await;
    w.svc
        .reset_password(&admin, &alice.id.to_string(), "temp")
        .await
        .unwrap();
    assert_eq!(
        w.svc.authorize(&target.access_token, "").await.unwrap_err(),
        ServiceError::Unauthorized("token revoked".into())
    );
    let stored = w.repo.get_session(&target.session_id).await.unwrap();
    assert_eq!(stored.revoked_reason, Some(RevokeReason::PasswordReset));

    let (mine, other) = (w.login("carol").await, w.login("carol").await);
    let me = w.svc.authorize(&mine.access_token, "").await.unwrap();
    w.svc.change_own_password(&me, "pw", "mine").await.unwrap();
    assert!(w.svc.authorize(&mine.access_token, "").await.is_ok());
    assert!(w.refresh(&mine.refresh_token).await.is_ok());
    assert_eq!(
        refused_with(w.refresh(&other.refresh_token).await).0,
        "refresh token revoked"
    );
    assert_eq!(
        w.repo.get_session(&other.session_id).await.unwrap().revoked_reason,
        Some(RevokeReason::PasswordChange)
    );
}

#[tokio::test(start_paused = true)]
async fn the_sweeper_deletes_expired_records() {
    let repo = Arc::new(MemoryRepository::new());
    let mut old = gthulhu_domain::manager::Session {
        id: ObjectId::new(),
        user_id: ObjectId::new(),
        jti: "j".into(),
        token_hash: "h".into(),
        created_time: 0,
        last_used_time: 0,
        expires_at: 1,
        revoked: false,
        revoked_reason: None,
        revoked_time: None,
        ip: String::new(),
        user_agent: String::new(),
    };
    repo.insert_session(&old).await.unwrap();
    old.id = ObjectId::new();
    old.expires_at = i64::MAX;
    repo.insert_session(&old).await.unwrap();
    let sweeper = tokio::spawn(run_session_sweeper(repo.clone(), SESSION_SWEEP_INTERVAL));
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    sweeper.abort();
    assert_eq!(
        repo.delete_expired_sessions(now_ms()).await.unwrap(),
        0,
        "already swept"
    );
    assert!(repo.get_session(&old.id).await.is_ok());
}

#[test]
fn jti_and_hash_shapes() {
    let jti = new_jti();
    assert_eq!(jti.len(), 22);
    assert!(jti.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    assert_ne!(jti, new_jti());
    assert_eq!(
        token_hash("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(truncated("héllo", 2), "h");
}
