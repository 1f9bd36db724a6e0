//! Login sessions over the real HTTP stack (sessions-and-runtime.md 21,
//! items 1-3, 5-8, 11): token shapes, rotation and reuse, logout,
//! logout-all, validate, TTLs and the session cap.

use std::time::Duration;

use gthulhu_manager_service::ServiceSettings;
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::*;
use crate::session_helpers::*;

fn options(tweak: impl FnOnce(&mut ServiceSettings)) -> Options {
    let mut options = Options::default();
    tweak(&mut options.services);
    options
}

#[tokio::test]
async fn login_answers_both_tokens_and_sets_the_refresh_cookie() {
    let app = spawn_app(Options::default()).await;
    let r = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    let data = &r.body["data"];
    assert_eq!(data["token"], data["accessToken"]);
    let (access, refresh) = (claims(&r.access_token()), claims(&r.refresh_token()));
    assert_eq!(access["tokenType"], "access");
    assert_eq!(access["tokenVersion"], 0);
    assert_eq!(access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap(), 900);
    assert_eq!(access["iss"], "bss-api-server");
    assert!(access.get("jti").is_none());
    assert_eq!(refresh["tokenType"], "refresh");
    assert_eq!(refresh["jti"].as_str().unwrap().len(), 22);
    assert_eq!(refresh["sid"], access["sid"]);
    assert_eq!(access["sid"].as_str().unwrap().len(), 24);
    let max_age = refresh["exp"].as_i64().unwrap() - refresh["iat"].as_i64().unwrap();
    assert_eq!(max_age, 86_400);
    let cookie = r.refresh_cookie();
    let expected = format!(
        "gthulhu_refresh={}; Path=/api/v1/auth; Max-Age={max_age}; HttpOnly; SameSite=Strict",
        r.refresh_token()
    );
    // Max-Age counts from the answer: a second may have passed.
    assert!(
        cookie == expected || cookie == expected.replace(&format!("={max_age};"), &format!("={};", max_age - 1)),
        "{cookie}"
    );

    // Behind a TLS-terminating proxy: Secure.
    let body = json!({"username": ADMIN, "password": ADMIN_PASSWORD}).to_string();
    let extra = Extra {
        headers: vec![("X-Forwarded-Proto", "https")],
        ..Extra::default()
    };
    let secure = app.post("/api/v1/auth/login", Some(&body), extra).await;
    assert!(secure.refresh_cookie().ends_with("; HttpOnly; SameSite=Strict; Secure"));

    // The store keeps the SHA-256 of the refresh token, never the token.
    let bytes = std::fs::read(app.dir.path().join("manager.redb")).unwrap();
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    for token in [r.refresh_token(), secure.refresh_token()] {
        assert!(!contains(token.as_bytes()), "the raw store holds a refresh token");
        assert!(contains(hex::encode(Sha256::digest(token.as_bytes())).as_bytes()));
    }
}

#[tokio::test]
async fn refresh_rotates_and_an_old_token_revokes_the_family() {
    let app = spawn_app(Options::default()).await;
    let admin = app.admin_token().await;
    let first = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    let second = app.refresh_body(&first.refresh_token()).await;
    assert_eq!(second.status, 200, "{}", second.body);
    let (old, new) = (claims(&first.refresh_token()), claims(&second.refresh_token()));
    assert_ne!(old["jti"], new["jti"]);
    assert_eq!(old["sid"], new["sid"]);
    assert_eq!(second.body["data"]["token"], second.body["data"]["accessToken"]);
    assert!(
        second
            .refresh_cookie()
            .starts_with(&format!("gthulhu_refresh={};", second.refresh_token()))
    );
    let (s, _) = app.get("/api/v1/users/self", &second.access_token()).await;
    assert_eq!(s, 200);

    let reused = app.refresh_body(&first.refresh_token()).await;
    assert_eq!((reused.status, reused.error()), (401, Some("refresh token reused")));
    assert!(reused.refresh_cookie().contains("Max-Age=0;"), "cleared");
    let newest = app.refresh_body(&second.refresh_token()).await;
    assert_eq!((newest.status, newest.error()), (401, Some("refresh token revoked")));

    let entries = app.audit_entries(&admin, "auth.refresh").await;
    let reuse = entries
        .iter()
        .find(|e| e["details"]["reason"] == "reused")
        .expect("an auth.refresh entry with reason reused");
    assert_eq!(reuse["status"], 401);
    assert_eq!(reuse["target"], old["sid"]);
    assert_eq!(reuse["details"], json!({"source": "body", "reason": "reused"}));
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_one_wins() {
    let app = spawn_app(Options::default()).await;
    let login = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    let token = login.refresh_token();
    let (a, b) = tokio::join!(app.refresh_body(&token), app.refresh_body(&token));
    let mut statuses = [
        (a.status, a.error().map(str::to_string)),
        (b.status, b.error().map(str::to_string)),
    ];
    statuses.sort();
    assert_eq!(statuses, [(200, None), (401, Some("refresh token reused".into()))]);
    let winner = if a.status == 200 { a } else { b };
    let after = app.refresh_body(&winner.refresh_token()).await;
    assert_eq!(
        (after.status, after.error()),
        (401, Some("refresh token revoked")),
        "the family ended"
    );
}

#[tokio::test]
async fn logout_clears_the_cookie_and_is_idempotent() {
    let app = spawn_app(Options::default()).await;
    let origin = app.origin();
    let login = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    let token = login.refresh_token();
    let cookie_extra = || Extra {
        cookie: Some(&token),
        origin: Some(&origin),
        ..Extra::default()
    };
    let out = app.post("/api/v1/auth/logout", None, cookie_extra()).await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(
        out.body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["success", "timestamp"]
    );
    assert_eq!(
        out.refresh_cookie(),
        "gthulhu_refresh=; Path=/api/v1/auth; Max-Age=0; HttpOnly; SameSite=Strict"
    );
    let r = app.refresh_body(&token).await;
    assert_eq!((r.status, r.error()), (401, Some("refresh token revoked")));
    let again = app.post("/api/v1/auth/logout", None, cookie_extra()).await;
    assert_eq!(again.status, 200);
    // Errors clear the cookie too.
    let bad = app.logout_body("not-a-jwt").await;
    assert_eq!((bad.status, bad.error()), (401, Some("Invalid or expired token")));
    assert!(bad.refresh_cookie().contains("Max-Age=0;"));

    // After logout-all, an older token is refused.
    let login = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    let all = app
        .post(
            "/api/v1/auth/logout-all",
            None,
            Extra {
                bearer: Some(&login.access_token()),
                ..Extra::default()
            },
        )
        .await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert!(all.refresh_cookie().contains("Max-Age=0;"));
    let old = app.logout_body(&login.refresh_token()).await;
    assert_eq!((old.status, old.error()), (401, Some("refresh token revoked")));
}

#[tokio::test]
async fn an_expired_but_genuine_refresh_token_still_logs_out() {
    let app = spawn_app(options(|s| {
        s.access_ttl_s = 1;
        s.refresh_ttl_s = 1;
    }))
    .await;
    let login = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let r = app.refresh_body(&login.refresh_token()).await;
    assert_eq!((r.status, r.error()), (401, Some("Invalid or expired token")));
    let out = app.logout_body(&login.refresh_token()).await;
    assert_eq!(out.status, 200, "{}", out.body);
}

#[tokio::test]
async fn logout_all_revokes_every_older_token() {
    let app = spawn_app(Options::default()).await;
    let (a, b) = (
        app.login_reply(ADMIN, ADMIN_PASSWORD).await,
        app.login_reply(ADMIN, ADMIN_PASSWORD).await,
    );
    let (s, body) = app
        .call(
            Method::POST,
            "/api/v1/auth/logout-all",
            Some(&a.access_token()),
            Some("ignored"),
        )
        .await;
    assert_eq!((s, &body["success"]), (200, &json!(true)), "{body}");
    assert!(body.get("data").is_none());
    for login in [&a, &b] {
        let (s, body) = app.get("/api/v1/users/self", &login.access_token()).await;
        assert_eq!((s, body["error"].as_str()), (401, Some("token revoked")));
        let r = app.refresh_body(&login.refresh_token()).await;
        assert_eq!((r.status, r.error()), (401, Some("refresh token revoked")));
    }
    let fresh = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(claims(&fresh.access_token())["tokenVersion"], 1);
    let (s, _) = app.get("/api/v1/users/self", &fresh.access_token()).await;
    assert_eq!(s, 200);
    let (s, body) = app.call(Method::POST, "/api/v1/auth/logout-all", None, None).await;
    assert_eq!((s, body["error"].as_str()), (401, Some("Missing Authorization header")));
}

#[tokio::test]
async fn validate_reports_the_stored_password_change_status() {
    let app = spawn_app(Options::default()).await;
    let admin = app.admin_token().await;
    let (s, b) = app.get("/api/v1/auth/validate", &admin).await;
    assert_eq!(s, 200, "{b}");
    let uid = app.user_id(&admin, ADMIN).await;
    assert_eq!(
        b["data"],
        json!({"valid": true, "uid": uid, "needChangePassword": false})
    );

    let name = unique("fresh");
    let (s, _) = app
        .json(
            Method::POST,
            "/api/v1/users",
            &admin,
            json!({"username": name, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, 200);
    let fresh = app.login_reply(&name, PASSWORD).await;
    assert_eq!(claims(&fresh.access_token())["needChangePassword"], true);
    let (s, b) = app.get("/api/v1/auth/validate", &fresh.access_token()).await;
    assert_eq!((s, &b["data"]["needChangePassword"]), (200, &json!(true)), "{b}");

    let (s, b) = app.get("/api/v1/auth/validate", &fresh.refresh_token()).await;
    assert_eq!((s, b["error"].as_str()), (401, Some("invalid token type")));
    // A token of the format before sessions (no tokenType) is an access token.
    let (s, b) = app.get("/api/v1/auth/validate", &valid_token(&uid)).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app.call(Method::GET, "/api/v1/auth/validate", None, None).await;
    assert_eq!((s, b["error"].as_str()), (401, Some("Missing Authorization header")));
}

#[tokio::test]
async fn short_access_tokens_expire_and_refresh_renews_them() {
    let app = spawn_app(options(|s| s.access_ttl_s = 10)).await;
    let login = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    let access = claims(&login.access_token());
    assert_eq!(access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap(), 10);
    tokio::time::sleep(Duration::from_secs(11)).await;
    let (s, b) = app.get("/api/v1/users/self", &login.access_token()).await;
    assert_eq!((s, b["error"].as_str()), (401, Some("Invalid or expired token")));
    let renewed = app.refresh_body(&login.refresh_token()).await;
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    let (s, _) = app.get("/api/v1/users/self", &renewed.access_token()).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn session_max_age_caps_the_refresh_expiry() {
    let app = spawn_app(options(|s| {
        s.refresh_ttl_s = 3600;
        s.session_max_age_s = 60;
    }))
    .await;
    let login = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    let first = claims(&login.refresh_token());
    let cap = first["iat"].as_i64().unwrap() + 60;
    assert_eq!(first["exp"].as_i64().unwrap(), cap);
    let rotated = app.refresh_body(&login.refresh_token()).await;
    assert_eq!(rotated.status, 200);
    assert!(claims(&rotated.refresh_token())["exp"].as_i64().unwrap() <= cap);
    let cookie = rotated.refresh_cookie();
    let max_age: i64 = cookie
        .split("Max-Age=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(max_age <= 60, "{cookie}");
}

#[tokio::test]
async fn a_login_beyond_the_session_cap_ends_the_least_recently_used() {
    let app = spawn_app(options(|s| s.max_sessions_per_user = 2)).await;
    let first = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    let second = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    let third = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    let r = app.refresh_body(&first.refresh_token()).await;
    assert_eq!((r.status, r.error()), (401, Some("refresh token revoked")));
    for kept in [&second, &third] {
        assert_eq!(app.refresh_body(&kept.refresh_token()).await.status, 200);
    }
}

/// The same flows over MongoDB (`MONGODB_URI`; CI runs nx-27017): rotation,
/// reuse, logout-all and the session cap go through the store's
/// compare-and-set and `$inc`.
#[tokio::test]
async fn sessions_over_mongodb() {
    let uri = match std::env::var("MONGODB_URI") {
        Ok(uri) if !uri.is_empty() => uri,
        _ => return gthulhu_test_support::precondition::skip_or_fail("MONGODB_URI not set"),
    };
    let settings = gthulhu_store_mongo::MongoSettings {
        uri,
        database: format!("gthulhu_api_sessions_{}", gthulhu_domain::manager::ObjectId::new()),
        ..Default::default()
    };
    let repo = gthulhu_store_mongo::MongoRepository::connect(&settings).await.unwrap();
    let mut options = options(|s| s.max_sessions_per_user = 2);
    options.repo = Some(std::sync::Arc::new(repo));
    let app = spawn_app(options).await;
    let first = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    let second = app.refresh_body(&first.refresh_token()).await;
    assert_eq!(second.status, 200, "{}", second.body);
    let reused = app.refresh_body(&first.refresh_token()).await;
    assert_eq!((reused.status, reused.error()), (401, Some("refresh token reused")));
    let newest = app.refresh_body(&second.refresh_token()).await;
    assert_eq!((newest.status, newest.error()), (401, Some("refresh token revoked")));

    let (a, b, c) = (
        app.login_reply(ADMIN, ADMIN_PASSWORD).await,
        app.login_reply(ADMIN, ADMIN_PASSWORD).await,
        app.login_reply(ADMIN, ADMIN_PASSWORD).await,
    );
    let capped = app.refresh_body(&a.refresh_token()).await;
    assert_eq!((capped.status, capped.error()), (401, Some("refresh token revoked")));
    let (s, _) = app
        .call(Method::POST, "/api/v1/auth/logout-all", Some(&b.access_token()), None)
        .await;
    assert_eq!(s, 200);
    let (s, body) = app.get("/api/v1/users/self", &c.access_token()).await;
    assert_eq!((s, body["error"].as_str()), (401, Some("token revoked")));
    let r = app.refresh_body(&c.refresh_token()).await;
    assert_eq!((r.status, r.error()), (401, Some("refresh token revoked")));
    let fresh = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(claims(&fresh.access_token())["tokenVersion"], 1);
    assert_eq!(app.logout_body(&fresh.refresh_token()).await.status, 200);
}
