//! Login sessions over the real HTTP stack (sessions-and-runtime.md 21,
//! items 4, 9, 10, 12): the cookie and its Origin check, the per-request
//! cost bound, password changes, the audit trail, and bad input.

use std::sync::atomic::Ordering;

use gthulhu_rest::manager::SessionCookieSettings;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::session_helpers::*;

#[tokio::test]
async fn the_cookie_refreshes_from_the_own_origin_only() {
    let app = spawn_app(Options::default()).await;
    let origin = app.origin();
    let login = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    let token = login.refresh_token();
    let with = |origin: Option<&'static str>| Extra {
        cookie: Some(Box::leak(token.clone().into_boxed_str())),
        origin,
        ..Extra::default()
    };
    for refused in [None, Some("http://evil.example"), Some("null")] {
        let r = app.post("/api/v1/auth/refresh", None, with(refused)).await;
        assert_eq!((r.status, r.error()), (403, Some("origin not allowed")), "{refused:?}");
        assert!(r.cookies.is_empty(), "nothing changes");
    }
    let own = Extra {
        cookie: Some(&token),
        origin: Some(&origin),
        ..Extra::default()
    };
    let r = app.post("/api/v1/auth/refresh", Some("{}"), own).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rotated = r.refresh_token();
    assert!(r.refresh_cookie().starts_with(&format!("gthulhu_refresh={rotated};")));
    assert_ne!(rotated, token);

    // The body wins over the cookie, and a body token needs no Origin.
    let r = app.refresh_body(&rotated).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body_token = r.refresh_token();
    let both = Extra {
        cookie: Some("not-even-a-jwt"),
        origin: Some(&origin),
        ..Extra::default()
    };
    let body = json!({"refreshToken": body_token}).to_string();
    let r = app.post("/api/v1/auth/refresh", Some(&body), both).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // A login carrying the cookie from a foreign origin is refused too.
    let body = json!({"username": ADMIN, "password": ADMIN_PASSWORD}).to_string();
    let r = app
        .post("/api/v1/auth/login", Some(&body), with(Some("http://evil.example")))
        .await;
    assert_eq!((r.status, r.error()), (403, Some("origin not allowed")));
}

#[tokio::test]
async fn a_listed_origin_may_send_the_cookie() {
    let app = spawn_app(Options {
        sessions: SessionCookieSettings {
            allowed_origins: vec!["https://ui.example.com".into()],
            ..SessionCookieSettings::default()
        },
        ..Options::default()
    })
    .await;
    let login = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    let token = login.refresh_token();
    let extra = Extra {
        cookie: Some(&token),
        origin: Some("https://ui.example.com"),
        ..Extra::default()
    };
    let r = app.post("/api/v1/auth/refresh", None, extra).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn authenticated_requests_read_the_user_once_and_no_session() {
    let app = spawn_app(Options {
        wrap_repo: Some(counting),
        ..Options::default()
    })
    .await;
    let admin = app.admin_token().await;
    let name = unique("counted");
    let id = app.user(&admin, &name, &[], 1).await;
    let login = app.login_reply(&name, PASSWORD).await;
    COUNTS.reset();
    for _ in 0..100 {
        let (s, _) = app.get("/api/v1/users/self", &login.access_token()).await;
        assert_eq!(s, 200);
    }
    assert_eq!(COUNTS.get_user.load(Ordering::SeqCst), 1, "one read, then the cache");
    assert_eq!(COUNTS.session_reads.load(Ordering::SeqCst), 0, "no session reads");

    // A write through this process is seen by the very next request.
    let body = json!({"userID": id, "status": 2});
    let (s, b) = app.json(Method::PUT, "/api/v1/users/permissions", &admin, body).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app.get("/api/v1/users/self", &login.access_token()).await;
    assert_eq!((s, b["error"].as_str()), (401, Some("user is inactive")));
}

#[tokio::test]
async fn password_resets_end_every_session_and_self_changes_keep_the_own() {
    let app = spawn_app(Options::default()).await;
    let admin = app.admin_token().await;
    let name = unique("target");
    let id = app.user(&admin, &name, &[], 1).await;
    let target = app.login_reply(&name, PASSWORD).await;
    let body = json!({"userID": id, "newPassword": "temporary-pass"});
    let (s, b) = app.json(Method::PUT, "/api/v1/users/password", &admin, body).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = app.get("/api/v1/users/self", &target.access_token()).await;
    assert_eq!((s, b["error"].as_str()), (401, Some("token revoked")));
    let r = app.refresh_body(&target.refresh_token()).await;
    assert_eq!((r.status, r.error()), (401, Some("refresh token revoked")));

    let (mine, other) = (
        app.login_reply(&name, "temporary-pass").await,
        app.login_reply(&name, "temporary-pass").await,
    );
    let body = json!({"oldPassword": "temporary-pass", "newPassword": "my-own-pass"});
    let (s, b) = app
        .json(Method::PUT, "/api/v1/users/self/password", &mine.access_token(), body)
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = app.get("/api/v1/users/self", &mine.access_token()).await;
    assert_eq!(s, 200, "the caller's token keeps working");
    assert_eq!(app.refresh_body(&mine.refresh_token()).await.status, 200);
    let r = app.refresh_body(&other.refresh_token()).await;
    assert_eq!((r.status, r.error()), (401, Some("refresh token revoked")));
}

#[tokio::test]
async fn every_session_request_is_audited_without_tokens() {
    let app = spawn_app(Options::default()).await;
    let admin = app.admin_token().await;
    let uid = app.user_id(&admin, ADMIN).await;
    let origin = app.origin();
    let login = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    let sid = claims(&login.access_token())["sid"].clone();
    let refreshed = app.refresh_body(&login.refresh_token()).await;
    let token = refreshed.refresh_token();
    let cookie = Extra {
        cookie: Some(&token),
        origin: Some(&origin),
        ..Extra::default()
    };
    assert_eq!(app.post("/api/v1/auth/logout", None, cookie).await.status, 200);
    let refused = app.post("/api/v1/auth/refresh", Some("{}"), Extra::default()).await;
    assert_eq!(
        (refused.status, refused.error()),
        (400, Some("refreshToken is required"))
    );
    let other = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/logout-all",
            Some(&other.access_token()),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let admin = app.admin_token().await;

    let logins = app.audit_entries(&admin, "auth.login").await;
    assert!(
        logins
            .iter()
            .any(|e| e["target"] == sid && e["userId"] == uid.as_str() && e["status"] == 200)
    );
    let refreshes = app.audit_entries(&admin, "auth.refresh").await;
    let find = |entries: &[Value], details: Value| {
        entries
            .iter()
            .find(|e| e["details"] == details)
            .unwrap_or_else(|| panic!("no entry with {details}: {entries:?}"))
            .clone()
    };
    let ok = find(&refreshes, json!({"source": "body", "reason": null}));
    assert_eq!(
        (&ok["userId"], &ok["target"], &ok["status"]),
        (&json!(uid), &sid, &json!(200))
    );
    let missing = find(&refreshes, json!({"source": null, "reason": "invalid"}));
    assert_eq!(
        (&missing["userId"], &missing["target"], &missing["status"]),
        (&Value::Null, &Value::Null, &json!(400))
    );
    let logouts = app.audit_entries(&admin, "auth.logout").await;
    let out = find(&logouts, json!({"source": "cookie", "reason": null}));
    assert_eq!(
        (&out["userId"], &out["target"], &out["status"]),
        (&json!(uid), &sid, &json!(200))
    );
    let all = app.audit_entries(&admin, "auth.logout_all").await;
    assert_eq!(all.len(), 1);
    assert_eq!(
        (&all[0]["userId"], &all[0]["target"], &all[0]["details"]),
        (&json!(uid), &Value::Null, &json!({}))
    );

    let (s, everything) = app.get("/api/v1/audit-logs?limit=1000", &admin).await;
    assert_eq!(s, 200);
    let text = everything.to_string();
    for t in [
        login.refresh_token(),
        login.access_token(),
        token,
        other.refresh_token(),
        other.access_token(),
    ] {
        assert!(!text.contains(&t), "a token reached the audit log");
    }
}

#[tokio::test]
async fn bad_input_gets_json_errors() {
    let app = spawn_app(Options::default()).await;
    let login = app.login_reply(ADMIN, ADMIN_PASSWORD).await;
    for path in ["/api/v1/auth/refresh", "/api/v1/auth/logout"] {
        for (body, status, error) in [
            (Some("not json"), 400, "Invalid request body"),
            (Some("{"), 400, "Invalid request body"),
            (Some("[1]"), 400, "Invalid request body: expected a JSON object"),
            (
                Some(r#"{"refreshToken":7}"#),
                400,
                "Invalid request body: refreshToken must be a string",
            ),
            (None, 400, "refreshToken is required"),
            (Some(r#"{"refreshToken":""}"#), 400, "refreshToken is required"),
            (Some(r#"{"refreshToken":"garbage"}"#), 401, "Invalid or expired token"),
        ] {
            let r = app.post(path, body, Extra::default()).await;
            assert_eq!((r.status, r.error()), (status, Some(error)), "{path} {body:?}");
            assert_eq!(r.body["success"], false);
        }
        let access = json!({"refreshToken": login.access_token()}).to_string();
        let r = app.post(path, Some(&access), Extra::default()).await;
        assert_eq!((r.status, r.error()), (401, Some("invalid refresh token")), "{path}");
        let (s, b) = app.call(Method::GET, path, None, None).await;
        assert_eq!((s, b["error"].as_str()), (405, Some("Method Not Allowed")), "{path}");
    }
    for (method, path) in [
        (Method::GET, "/api/v1/auth/logout-all"),
        (Method::POST, "/api/v1/auth/validate"),
    ] {
        let (s, b) = app.call(method, path, Some(&login.access_token()), None).await;
        assert_eq!((s, b["error"].as_str()), (405, Some("Method Not Allowed")), "{path}");
    }
    let big = format!(r#"{{"refreshToken":"{}"}}"#, "x".repeat(2 << 20));
    let r = app.post("/api/v1/auth/refresh", Some(&big), Extra::default()).await;
    assert_eq!((r.status, r.error()), (413, Some("Request body too large")));
}
