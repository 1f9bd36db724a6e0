//! The auth middleware of manager.md 4.3, as an extractor: taking
//! `Authed<K>` as a handler argument is what protects a route with K's
//! permission key.

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::LocalBoxFuture;
use gthulhu_domain::manager::{Caller, ObjectId, ServiceError};
use serde::de::DeserializeOwned;

use super::ManagerApi;
use super::audit::{AuditActor, AuditTarget};
use super::decode::{Alias, read_body};
use crate::ApiError;

/// A route's permission key (`""`: any valid token) and its audit action.
pub(crate) trait RouteKey: 'static {
    const KEY: &'static str;
    const ACTION: &'static str = Self::KEY;
}

macro_rules! route_keys {
    ($($name:ident => $key:literal),* $(,)?) => {
        $(
            pub(crate) struct $name;
            impl RouteKey for $name {
                const KEY: &'static str = $key;
            }
        )*
    };
}

route_keys! {
    UserCreate => "user.create",
    UserPasswordReset => "user.password.reset",
    UserPermissionUpdate => "user.permission.update",
    UserRead => "user.read",
    RoleCreate => "role.create",
    RoleUpdate => "role.update",
    RoleDelete => "role.delete",
    RoleRead => "role.read",
    PermissionRead => "permission.read",
    StrategyCreate => "schedule_strategy.create",
    StrategyUpdate => "schedule_strategy.update",
    StrategyRead => "schedule_strategy.read",
    StrategyDelete => "schedule_strategy.delete",
    IntentRead => "schedule_intent.read",
    IntentDelete => "schedule_intent.delete",
    AuditLogRead => "audit_log.read",
    PodPidRead => "pod_pid_mapping.read",
    SchedulerConfigRead => "scheduler_config.read",
    SchedulerConfigUpdate => "scheduler_config.update",
}

/// The `/users/self` routes: any valid token.
pub(crate) struct OwnAccount;
impl RouteKey for OwnAccount {
    const KEY: &'static str = "";
    const ACTION: &'static str = "user.self.password";
}

/// `GET /api/v1/auth/validate`: any valid access token.
pub(crate) struct AnyToken;
impl RouteKey for AnyToken {
    const KEY: &'static str = "";
    const ACTION: &'static str = "auth.validate";
}

/// An authenticated, authorised caller of a route protected by `K`.
pub(crate) struct Authed<K> {
    pub caller: Caller,
    req: HttpRequest,
    _key: PhantomData<K>,
}

impl<K: RouteKey> Authed<K> {
    /// The resource the request acts on, for the audit log.
    pub fn set_target(&self, target: impl Into<String>) {
        self.req.extensions_mut().insert(AuditTarget(target.into()));
    }

    /// The decoded request body (manager.md 1.3).
    pub async fn body<T: DeserializeOwned>(
        &self,
        api: &ManagerApi,
        payload: web::Payload,
        aliases: &[Alias],
    ) -> Result<T, ApiError> {
        read_body(&self.req, payload, api.settings.max_body_bytes, aliases).await
    }
}

impl<K: RouteKey> FromRequest for Authed<K> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let caller = authenticate(&req, K::KEY, K::ACTION).await?;
            Ok(Self {
                caller,
                req,
                _key: PhantomData,
            })
        })
    }
}

pub(crate) async fn authenticate(req: &HttpRequest, key: &str, action: &'static str) -> Result<Caller, ApiError> {
    let api = req
        .app_data::<web::Data<ManagerApi>>()
        .ok_or(ApiError::Internal("Internal Server Error"))?
        .clone();
    let token = bearer_token(req)?;
    match api.auth.authorize(token, key).await {
        Ok(caller) => {
            req.extensions_mut().insert(AuditActor {
                user_id: Some(caller.user.id.clone()),
                action,
            });
            Ok(caller)
        }
        Err(e) => {
            // A refusal after authentication (step 7 or 8) is audited too:
            // the token was verified, so its `uid` names the caller.
            if matches!(e, ServiceError::Forbidden(_)) {
                req.extensions_mut().insert(AuditActor {
                    user_id: token_uid(token),
                    action,
                });
            }
            Err(e.into())
        }
    }
}

/// Steps 1 and 2: the header's presence and `Bearer <token>` shape.
fn bearer_token(req: &HttpRequest) -> Result<&str, ApiError> {
    let header = match req.headers().get(AUTHORIZATION) {
        None => "",
        Some(value) => value.to_str().unwrap_or("\u{fffd}"),
    };
    if header.is_empty() {
        return Err(ApiError::Unauthenticated("Missing Authorization header".into()));
    }
    match header.strip_prefix("Bearer ") {
        Some(token) if !token.is_empty() => Ok(token),
        _ => Err(ApiError::Unauthenticated("Invalid Authorization header format".into())),
    }
}

/// The `uid` claim of a token the auth service already verified.
fn token_uid(token: &str) -> Option<ObjectId> {
    #[derive(serde::Deserialize)]
    struct Claims {
        uid: String,
    }
    let payload = token.split('.').nth(1)?;
    let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    ObjectId::parse(&claims.uid)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn header_shape_is_checked_before_the_token() {
        let message = |req: HttpRequest| bearer_token(&req).unwrap_err().to_string();
        assert_eq!(
            message(TestRequest::get().to_http_request()),
            "Missing Authorization header"
        );
        assert_eq!(
            message(TestRequest::get().insert_header((AUTHORIZATION, "")).to_http_request()),
            "Missing Authorization header"
        );
        for bad in ["Token abc", "bearer abc", "Bearer ", "Bearer", "Basic dTpw"] {
            let req = TestRequest::get().insert_header((AUTHORIZATION, bad)).to_http_request();
            assert_eq!(message(req), "Invalid Authorization header format", "{bad:?}");
        }
        let req = TestRequest::get()
            .insert_header((AUTHORIZATION, "Bearer a.b.c"))
            .to_http_request();
        assert_eq!(bearer_token(&req).unwrap(), "a.b.c");
    }

    #[test]
    fn uid_of_a_verified_token() {
        let id = ObjectId::new();
        let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"uid":"{id}","exp":1}}"#));
        assert_eq!(token_uid(&format!("h.{payload}.s")), Some(id));
        assert_eq!(token_uid("garbage"), None);
    }
}
