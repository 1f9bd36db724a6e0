use actix_web::http::header::USER_AGENT;
use actix_web::{HttpRequest, HttpResponse, web};
use gthulhu_domain::manager::RequestOrigin;

use super::sessions::{check_cookie_origin, login_response};
use crate::ApiError;
use crate::manager::ManagerApi;
use crate::manager::audit::{client_ip, request_id};
use crate::manager::decode::read_body;
use crate::manager::dto::{Envelope, ErrorBody, LoginRequest};
use crate::manager::session_dto::LoginTokens;

/// Log in with a username (the web UI sends the e-mail) and password; the
/// service rate-limits and audits every attempt. Opens a session family:
/// a short-lived access token and a refresh token (also set as the
/// `gthulhu_refresh` cookie).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    params(("gthulhu_refresh" = Option<String>, Cookie, description = "When carried, the `Origin` check applies")),
    responses(
    (status = 200, description = "An access JWT (RS256, valid for auth.access_ttl_s) as `token` and `accessToken`, and a \
        refresh JWT; `Set-Cookie: gthulhu_refresh=…; Path=/api/v1/auth; Max-Age=…; HttpOnly; SameSite=Strict`",
        body = Envelope<LoginTokens>),
    (status = 400, description = "Body is not JSON", body = ErrorBody),
    (status = 401, description = "`user not found`, `user is inactive`, `invalid password`", body = ErrorBody),
    (status = 403, description = "`origin not allowed` (cookie carried, foreign or missing `Origin`)", body = ErrorBody),
    (status = 413, body = ErrorBody),
    (status = 422, description = "`Username and password are required`", body = ErrorBody),
    (status = 429, description = "Too many attempts from this address or for this user", body = ErrorBody),
    (status = 503, description = "`storage unavailable`", body = ErrorBody),
))]
pub(crate) async fn login(
    req: HttpRequest,
    api: web::Data<ManagerApi>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    check_cookie_origin(&req, &api, "auth.login")?;
    let body: LoginRequest = read_body(&req, payload, api.settings.max_body_bytes, &[]).await?;
    let origin = RequestOrigin {
        client_ip: client_ip(&req),
        request_id: request_id(&req),
        user_agent: req
            .headers()
            .get(USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default(),
    };
    let tokens = api.auth.login(&body.username, &body.password, &origin).await?;
    Ok(login_response(&req, &api, tokens))
}
