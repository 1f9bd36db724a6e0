//! The OpenAPI 3 description, generated from the handlers and DTOs.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::dto;
use super::handlers::{audit_logs, intents, login, nodes, roles, runtime_config, sessions, strategies, system, users};

#[derive(OpenApi)]
#[openapi(
    info(title = "Gthulhu Manager API", description = "Users, roles, scheduling strategies, intents, nodes and the scheduler runtime configuration (spec: manager.md, sessions-and-runtime.md)."),
    paths(
        system::health, system::version, system::ready, system::prometheus, system::swagger_redirect,
        login::login, sessions::refresh, sessions::logout, sessions::logout_all, sessions::validate,
        users::create, users::reset_password, users::update_permissions, users::list,
        users::change_own_password, users::get_self,
        roles::create, roles::update, roles::delete, roles::list, roles::permissions,
        strategies::create, strategies::update, strategies::delete, strategies::list_own, strategies::list_all,
        intents::list_own, intents::delete,
        nodes::list, nodes::pods_pids,
        audit_logs::query,
        runtime_config::apply, runtime_config::status, runtime_config::delete,
    ),
    components(schemas(dto::ErrorBody, dto::Done, dto::Empty)),
    modifiers(&BearerAuth),
    tags(
        (name = "system", description = "Health, readiness, version, metrics"),
        (name = "auth", description = "Login sessions: login, refresh (rotating, with reuse detection), logout, logout-all, validate"),
        (name = "users"), (name = "roles", description = "Roles and permissions"),
        (name = "strategies"), (name = "intents"),
        (name = "nodes", description = "Cluster nodes and their Decision Makers' pod → process maps"), (name = "audit", description = "The audit log"),
        (name = "scheduler", description = "The scheduler's runtime configuration on every node, through its Decision Makers"),
    )
)]
pub struct ApiDoc;

/// `Authorization: Bearer <JWT from /api/v1/auth/login>`.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
