//! One module per resource; `routes` wires them to paths (manager.md 2).

pub(crate) mod audit_logs;
pub(crate) mod intents;
pub(crate) mod login;
pub(crate) mod nodes;
pub(crate) mod roles;
pub(crate) mod runtime_config;
pub(crate) mod sessions;
pub(crate) mod strategies;
pub(crate) mod system;
pub(crate) mod users;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::dto::{Done, Empty, envelope};
use crate::envelope::json_response;
use crate::routing::resource;

/// Kept for compatibility: the web UI and probes read it.
pub(crate) const SERVICE: &str = "BSS Metrics API Server";

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
    cfg.service(resource("/health").get(system::health))
        .service(resource("/version").get(system::version))
        .service(resource("/ready").get(system::ready))
        .service(resource("/metrics").get(system::prometheus))
        .service(resource("/swagger/{tail:.*}").get(system::swagger_redirect))
        .service(resource("/api/v1/auth/login").post(login::login))
        .service(resource("/api/v1/auth/refresh").post(sessions::refresh))
        .service(resource("/api/v1/auth/logout").post(sessions::logout))
        .service(resource("/api/v1/auth/logout-all").post(sessions::logout_all))
        .service(resource("/api/v1/auth/validate").get(sessions::validate))
        .service(resource("/api/v1/users").post(users::create).get(users::list))
        .service(resource("/api/v1/users/password").put(users::reset_password))
        .service(resource("/api/v1/users/permissions").put(users::update_permissions))
        .service(resource("/api/v1/users/self").get(users::get_self))
        .service(resource("/api/v1/users/self/password").put(users::change_own_password))
        .service(
            resource("/api/v1/roles")
                .post(roles::create)
                .put(roles::update)
                .delete(roles::delete)
                .get(roles::list),
        )
        .service(resource("/api/v1/permissions").get(roles::permissions))
        .service(
            resource("/api/v1/strategies")
                .post(strategies::create)
                .put(strategies::update)
                .delete(strategies::delete)
                .get(strategies::list_all),
        )
        .service(resource("/api/v1/strategies/self").get(strategies::list_own))
        .service(resource("/api/v1/intents/self").get(intents::list_own))
        .service(resource("/api/v1/intents").delete(intents::delete))
        .service(resource("/api/v1/nodes").get(nodes::list))
        .service(resource("/api/v1/nodes/{nodeID}/pods/pids").get(nodes::pods_pids))
        .service(resource("/api/v1/audit-logs").get(audit_logs::query))
        .service(resource("/api/v1/scheduler/runtime-config/apply").post(runtime_config::apply))
        .service(resource("/api/v1/scheduler/runtime-config/status").get(runtime_config::status))
        .service(resource("/api/v1/scheduler/runtime-config").delete(runtime_config::delete));
}
