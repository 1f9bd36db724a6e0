//! Refresh, logout, logout-all and validate (sessions-and-runtime.md 4-8,
//! 10). Each request to refresh, logout and logout-all leaves one audit
//! entry (written by the server's middleware from what is set here); the
//! refresh token never reaches a log or the audit log.

use actix_web::http::header::{HeaderValue, SET_COOKIE};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use gthulhu_domain::manager::{IssuedTokens, ObjectId, SessionFailure, SessionFailureReason};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::{done, ok};
use crate::ApiError;
use crate::body::read_limited;
use crate::manager::ManagerApi;
use crate::manager::audit::{AuditActor, AuditDetails, AuditTarget};
use crate::manager::auth::{AnyToken, Authed, authenticate};
use crate::manager::cookie::{SessionCookieSettings, clear_refresh, origin_allowed, refresh_cookie, set_refresh};
use crate::manager::dto::{Done, Envelope, ErrorBody};
use crate::manager::session_dto::{LoginTokens, RefreshRequest, ValidateData};

/// Where the refresh token came from.
#[derive(Clone, Copy)]
enum Source {
    Body,
    Cookie,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Self::Body => "body",
            Self::Cookie => "cookie",
        }
    }
}

/// What the audit entry of a refresh or logout says.
struct Audit {
    user_id: Option<ObjectId>,
    session_id: Option<ObjectId>,
    source: Option<Source>,
    reason: Option<SessionFailureReason>,
}

impl Audit {
    fn record(self, req: &HttpRequest, action: &'static str) {
        let mut extensions = req.extensions_mut();
        extensions.insert(AuditActor {
            user_id: self.user_id,
            action,
        });
        if let Some(sid) = self.session_id {
            extensions.insert(AuditTarget(sid.to_string()));
        }
        extensions.insert(AuditDetails(json!({
            "source": self.source.map(Source::as_str),
            "reason": self.reason.map(SessionFailureReason::as_str),
        })));
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn with_cookie(mut response: HttpResponse, cookie: Option<HeaderValue>) -> HttpResponse {
    if let Some(cookie) = cookie {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

/// An error answer that keeps the error attached (the server's middleware
/// counts storage outages from it).
fn error_response(error: ApiError) -> HttpResponse {
    HttpResponse::from_error(actix_web::Error::from(error))
}

fn refused(failure: SessionFailure) -> ApiError {
    failure.error.into()
}

/// The body's `refreshToken`, when the body has a non-empty one. An empty
/// body, `{}` or an empty `refreshToken` has none (the cookie may supply
/// it); `null`, as anywhere, is the wrong type (400).
fn body_token(bytes: &[u8]) -> Result<Option<SecretString>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value = match serde_json::Deserializer::from_slice(bytes).into_iter::<Value>().next() {
        Some(Ok(value)) => value,
        _ => return Err(ApiError::InvalidBody),
    };
    let token = match value {
        Value::Object(mut map) => map.remove("refreshToken"),
        _ => return Err(ApiError::InvalidBodyDetail("expected a JSON object".into())),
    };
    match token {
        None => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(SecretString::from(text))),
        Some(_) => Err(ApiError::InvalidBodyDetail("refreshToken must be a string".into())),
    }
}

/// 8.2 for the routes without a refresh token of their own (login,
/// logout-all): a request carrying the cookie must pass the Origin check.
pub(crate) fn check_cookie_origin(req: &HttpRequest, api: &ManagerApi, action: &'static str) -> Result<(), ApiError> {
    if refresh_cookie(req).is_none() || origin_allowed(req, &api.settings.sessions) {
        return Ok(());
    }
    let mut extensions = req.extensions_mut();
    extensions.insert(AuditActor { user_id: None, action });
    extensions.insert(AuditDetails(json!({"reason": SessionFailureReason::Origin.as_str()})));
    Err(ApiError::Forbidden("origin not allowed".into()))
}

/// Checks 1-3 of refresh and logout: the Origin check when the cookie is
/// carried, the body, then a token from the body or else the cookie.
async fn presented_token(
    req: &HttpRequest,
    api: &ManagerApi,
    mut payload: web::Payload,
    audit: &mut Audit,
) -> Result<SecretString, ApiError> {
    let cookie = refresh_cookie(req);
    if cookie.is_some() && !origin_allowed(req, &api.settings.sessions) {
        audit.source = Some(Source::Cookie);
        audit.reason = Some(SessionFailureReason::Origin);
        return Err(ApiError::Forbidden("origin not allowed".into()));
    }
    audit.reason = Some(SessionFailureReason::Invalid);
    let bytes = read_limited(&mut payload, api.settings.max_body_bytes, ApiError::InvalidBody).await?;
    if let Some(token) = body_token(&bytes)? {
        audit.source = Some(Source::Body);
        audit.reason = None;
        return Ok(token);
    }
    match cookie.filter(|c| !c.is_empty()) {
        Some(token) => {
            audit.source = Some(Source::Cookie);
            audit.reason = None;
            Ok(SecretString::from(token))
        }
        // 400, not 422: without a token the request is malformed.
        None => Err(ApiError::BadRequest("refreshToken is required".into())),
    }
}

fn tokens_response(req: &HttpRequest, settings: &SessionCookieSettings, tokens: IssuedTokens) -> HttpResponse {
    let cookie = set_refresh(
        req,
        settings,
        tokens.refresh_token.expose_secret(),
        tokens.refresh_expires_at,
        unix_now(),
    );
    let body = LoginTokens {
        token: tokens.access_token.clone(),
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token.expose_secret().to_string(),
    };
    with_cookie(ok(body), cookie)
}

/// The answer of a login: the tokens and the refresh cookie.
pub(crate) fn login_response(req: &HttpRequest, api: &ManagerApi, tokens: IssuedTokens) -> HttpResponse {
    tokens_response(req, &api.settings.sessions, tokens)
}

/// Rotate a refresh token: new access and refresh tokens for the same
/// session family. A refresh token is good for exactly one refresh:
/// presenting an already rotated one ends the whole family.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body(content = RefreshRequest,
    description = "Empty, `{}` or an empty `refreshToken`: the cookie supplies the token"),
    params(("gthulhu_refresh" = Option<String>, Cookie, description = "The refresh cookie set by login and refresh")),
    responses(
    (status = 200, description = "New tokens; `Set-Cookie: gthulhu_refresh=…; Path=/api/v1/auth; Max-Age=…; HttpOnly; SameSite=Strict`",
        body = Envelope<LoginTokens>),
    (status = 400, description = "`Invalid request body`, `refreshToken is required`", body = ErrorBody),
    (status = 401, description = "`Invalid or expired token`, `invalid refresh token`, `user not found`, `user is inactive`, \
        `refresh token revoked`, `refresh token not found`, `refresh token reused` (the family is then revoked)", body = ErrorBody),
    (status = 403, description = "`origin not allowed` (cookie carried, foreign or missing `Origin`)", body = ErrorBody),
    (status = 413, body = ErrorBody),
    (status = 503, description = "`storage unavailable`", body = ErrorBody),
))]
pub(crate) async fn refresh(req: HttpRequest, api: web::Data<ManagerApi>, payload: web::Payload) -> HttpResponse {
    let mut audit = Audit {
        user_id: None,
        session_id: None,
        source: None,
        reason: None,
    };
    let response = match presented_token(&req, &api, payload, &mut audit).await {
        Err(e) => error_response(e),
        Ok(token) => {
            let attempt = api.auth.refresh(&token).await;
            audit.user_id = attempt.user_id;
            audit.session_id = attempt.session_id;
            match attempt.result {
                Ok(tokens) => tokens_response(&req, &api.settings.sessions, tokens),
                Err(failure) => {
                    audit.reason = failure.reason;
                    let clear = failure
                        .clear_cookie
                        .then(|| clear_refresh(&req, &api.settings.sessions));
                    with_cookie(error_response(refused(failure)), clear.flatten())
                }
            }
        }
    };
    audit.record(&req, "auth.refresh");
    response
}

/// End the token's session family. `exp` is not checked, an already
/// ended family answers 200 too, and every answer clears the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body(content = RefreshRequest,
    description = "Empty, `{}` or an empty `refreshToken`: the cookie supplies the token"),
    params(("gthulhu_refresh" = Option<String>, Cookie, description = "The refresh cookie set by login and refresh")),
    responses(
    (status = 200, description = "Logged out; `Set-Cookie: gthulhu_refresh=; …; Max-Age=0; …`", body = Done),
    (status = 400, description = "`Invalid request body`, `refreshToken is required`", body = ErrorBody),
    (status = 401, description = "`Invalid or expired token`, `invalid refresh token`, `user not found`, \
        `refresh token revoked`, `refresh token not found`", body = ErrorBody),
    (status = 403, description = "`origin not allowed`", body = ErrorBody),
    (status = 413, body = ErrorBody),
    (status = 503, description = "`storage unavailable`", body = ErrorBody),
))]
pub(crate) async fn logout(req: HttpRequest, api: web::Data<ManagerApi>, payload: web::Payload) -> HttpResponse {
    let mut audit = Audit {
        user_id: None,
        session_id: None,
        source: None,
        reason: None,
    };
    let response = match presented_token(&req, &api, payload, &mut audit).await {
        Err(e) => error_response(e),
        Ok(token) => {
            let attempt = api.auth.logout(&token).await;
            audit.user_id = attempt.user_id;
            audit.session_id = attempt.session_id;
            match attempt.result {
                Ok(()) => done(),
                Err(failure) => {
                    audit.reason = failure.reason;
                    error_response(refused(failure))
                }
            }
        }
    };
    audit.record(&req, "auth.logout");
    with_cookie(response, clear_refresh(&req, &api.settings.sessions))
}

/// Log out everywhere: every access and refresh token issued to the caller
/// so far stops working, and every session family ends.
#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "auth", security(("bearer" = [])),
    params(("gthulhu_refresh" = Option<String>, Cookie, description = "When carried, the `Origin` check applies")),
    responses(
    (status = 200, description = "Done; the refresh cookie is cleared", body = Done),
    (status = 403, description = "`origin not allowed` (cookie carried, foreign or missing `Origin`)", body = ErrorBody),
    (status = 401, description = "The auth middleware's answers (`token revoked`, `invalid token type`, …)", body = ErrorBody),
    (status = 503, description = "`storage unavailable`", body = ErrorBody),
))]
pub(crate) async fn logout_all(req: HttpRequest, api: web::Data<ManagerApi>) -> HttpResponse {
    const ACTION: &str = "auth.logout_all";
    if let Err(e) = check_cookie_origin(&req, &api, ACTION) {
        return error_response(e);
    }
    let caller = match authenticate(&req, "", ACTION).await {
        Ok(caller) => caller,
        Err(e) => {
            // One entry per request: an unauthenticated one has no user.
            req.extensions_mut().insert(AuditActor {
                user_id: None,
                action: ACTION,
            });
            return error_response(e);
        }
    };
    match api.auth.logout_all(&caller).await {
        Ok(()) => with_cookie(done(), clear_refresh(&req, &api.settings.sessions)),
        Err(e) => error_response(e.into()),
    }
}

/// Whether an access token is valid, and whether its user must change
/// the password first (200 either way; a bad token gets 401).
#[utoipa::path(get, path = "/api/v1/auth/validate", tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = Envelope<ValidateData>),
    (status = 401, description = "The auth middleware's answers", body = ErrorBody),
    (status = 503, description = "`storage unavailable`", body = ErrorBody),
))]
pub(crate) async fn validate(auth: Authed<AnyToken>) -> HttpResponse {
    let user = &auth.caller.user;
    ok(ValidateData {
        valid: true,
        uid: user.id.to_string(),
        need_change_password: user.status == gthulhu_domain::manager::UserStatus::MustChangePassword,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_tokens() {
        let token = |b: &str| body_token(b.as_bytes()).map(|t| t.map(|t| t.expose_secret().to_string()));
        assert_eq!(token("").unwrap(), None);
        assert_eq!(token("  \n").unwrap(), None);
        assert_eq!(token("{}").unwrap(), None);
        assert_eq!(token(r#"{"refreshToken":""}"#).unwrap(), None);
        assert_eq!(
            token("null").unwrap_err().to_string(),
            "Invalid request body: expected a JSON object"
        );
        assert_eq!(
            token(r#"{"refreshToken":null}"#).unwrap_err().to_string(),
            "Invalid request body: refreshToken must be a string"
        );
        assert_eq!(
            token(r#"{"refreshToken":"a.b.c"} x"#).unwrap().as_deref(),
            Some("a.b.c")
        );
        assert_eq!(token("not json").unwrap_err().to_string(), "Invalid request body");
        assert_eq!(
            token("[1]").unwrap_err().to_string(),
            "Invalid request body: expected a JSON object"
        );
        assert_eq!(
            token(r#"{"refreshToken":5}"#).unwrap_err().to_string(),
            "Invalid request body: refreshToken must be a string"
        );
    }
}
