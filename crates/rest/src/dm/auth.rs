use std::future::{Ready, ready};

use actix_web::HttpMessage;
use actix_web::dev::Payload;
use actix_web::http::header::{AUTHORIZATION, Date};
use actix_web::{FromRequest, HttpRequest, web};
use gthulhu_domain::{AuthError, TokenClaims, TokenRole};

use super::DmApi;
use crate::ApiError;

/// A verified DM Bearer token. Taking it as a handler argument is what
/// makes a route authenticated.
pub struct Bearer(pub TokenClaims);

impl FromRequest for Bearer {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

/// A verified Bearer with the Manager's role: taking it as a handler
/// argument is what restricts a route to the Manager (issue 9).
pub struct ManagerBearer(pub TokenClaims);

impl FromRequest for ManagerBearer {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).and_then(|Bearer(claims)| match claims.role() {
            TokenRole::Manager => {
                record_skew(req);
                Ok(Self(claims))
            }
            TokenRole::Scheduler => {
                tracing::info!(client_id = %claims.client_id, "scheduler token refused on a Manager route");
                Err(ApiError::Forbidden(
                    "this token has the scheduler role; intents need a token issued to a Manager client_id".into(),
                ))
            }
        }))
    }
}

/// The Manager dates its requests (targeting.md 6.2): the DM's skew
/// against it decides whether boosts end on time here.
fn record_skew(req: &HttpRequest) {
    if let (Some(api), Some(Date(date))) = (req.app_data::<web::Data<DmApi>>(), req.get_header::<Date>()) {
        api.clock.observe(date.into(), std::time::SystemTime::now());
    }
}

fn authenticate(req: &HttpRequest) -> Result<Bearer, ApiError> {
    let api = req
        .app_data::<web::Data<DmApi>>()
        .ok_or(ApiError::Internal("Internal Server Error"))?;
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"))
        .unwrap_or_default();
    if header.is_empty() {
        return Err(ApiError::Unauthorized(AuthError::MissingHeader));
    }
    let token = header
        .strip_prefix("Bearer ")
        .ok_or(ApiError::Unauthorized(AuthError::BadScheme))?;
    let claims = api.tokens.verify(token).map_err(ApiError::Unauthorized)?;
    tracing::debug!(client_id = %claims.client_id, role = ?claims.role(), "bearer accepted");
    Ok(Bearer(claims))
}
