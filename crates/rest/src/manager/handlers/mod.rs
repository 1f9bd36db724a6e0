//! One module per resource; `routes` wires them to paths (manager.md 2).

pub(crate) mod audit_logs;
pub(crate) mod intents;
pub(crate) mod login;
pub(crate) mod nodes;
pub(crate) mod roles;
pub(crate) mod strategies;
pub(crate) mod system;
pub(crate) mod users;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::dto::{Done, Empty, envelope};
use crate::ApiError;
use crate::envelope::json_response;

/// Kept for compatibility: the web UI and probes read it.
pub(crate) const SERVICE: &str = "BSS Metrics API Server";

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// A resource whose other methods get a JSON 405.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// 200 with `data`.
fn ok<T: Serialize>(data: T) -> HttpResponse {
    json_response(StatusCode::OK, &envelope(data))
}

/// 200 without `data`.
fn done() -> HttpResponse {
    json_response(StatusCode::OK, &Done::now())
}

/// 200 with `"data":{}` (the delete routes).
fn deleted() -> HttpResponse {
    ok(Empty {})
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/health").route(web::get().to(system::health)))
        .service(resource("/version").route(web::get().to(system::version)))
        .service(resource("/ready").route(web::get().to(system::ready)))
        .service(resource("/metrics").route(web::get().to(system::prometheus)))
        .service(resource("/swagger/{tail:.*}").route(web::get().to(system::swagger_redirect)))
        .service(resource("/api/v1/auth/login").route(web::post().to(login::login)))
        .service(
            resource("/api/v1/users")
                .route(web::post().to(users::create))
                .route(web::get().to(users::list)),
        )
        .service(resource("/api/v1/users/password").route(web::put().to(users::reset_password)))
        .service(resource("/api/v1/users/permissions").route(web::put().to(users::update_permissions)))
        .service(resource("/api/v1/users/self").route(web::get().to(users::get_self)))
        .service(resource("/api/v1/users/self/password").route(web::put().to(users::change_own_password)))
        .service(
            resource("/api/v1/roles")
                .route(web::post().to(roles::create))
                .route(web::put().to(roles::update))
                .route(web::delete().to(roles::delete))
                .route(web::get().to(roles::list)),
        )
        .service(resource("/api/v1/permissions").route(web::get().to(roles::permissions)))
        .service(
            resource("/api/v1/strategies")
                .route(web::post().to(strategies::create))
                .route(web::put().to(strategies::update))
                .route(web::delete().to(strategies::delete))
                .route(web::get().to(strategies::list_all)),
        )
        .service(resource("/api/v1/strategies/self").route(web::get().to(strategies::list_own)))
        .service(resource("/api/v1/intents/self").route(web::get().to(intents::list_own)))
        .service(resource("/api/v1/intents").route(web::delete().to(intents::delete)))
        .service(resource("/api/v1/nodes").route(web::get().to(nodes::list)))
        .service(resource("/api/v1/nodes/{nodeID}/pods/pids").route(web::get().to(nodes::pods_pids)))
        .service(resource("/api/v1/audit-logs").route(web::get().to(audit_logs::query)));
}
