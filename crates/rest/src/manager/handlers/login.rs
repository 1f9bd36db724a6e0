use actix_web::{HttpRequest, HttpResponse, web};
use gthulhu_domain::manager::RequestOrigin;

use super::ok;
use crate::ApiError;
use crate::manager::ManagerApi;
use crate::manager::audit::{client_ip, request_id};
use crate::manager::decode::read_body;
use crate::manager::dto::{Envelope, ErrorBody, LoginRequest, TokenData};

/// Log in with a username (the web UI sends the e-mail) and password; the
/// service rate-limits and audits every attempt.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, description = "An RS256 JWT, valid for auth.token_ttl_s", body = Envelope<TokenData>),
    (status = 400, description = "Body is not JSON", body = ErrorBody),
    (status = 401, description = "`user not found`, `user is inactive`, `invalid password`", body = ErrorBody),
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
    let body: LoginRequest = read_body(&req, payload, api.settings.max_body_bytes, &[]).await?;
    let origin = RequestOrigin {
        client_ip: client_ip(&req),
        request_id: request_id(&req),
    };
    let token = api.auth.login(&body.username, &body.password, &origin).await?;
    Ok(ok(TokenData { token }))
}
