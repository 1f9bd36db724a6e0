use actix_web::{HttpResponse, web};
use gthulhu_domain::manager::RoleChange;

use super::{deleted, done, ok};
use crate::ApiError;
use crate::manager::ManagerApi;
use crate::manager::auth::{Authed, PermissionRead, RoleCreate, RoleDelete, RoleRead, RoleUpdate};
use crate::manager::decode::{ROLE_POLICIES, ROLE_POLICY};
use crate::manager::dto::{
    CreateRoleRequest, DeleteRoleRequest, Done, Empty, Envelope, ErrorBody, PermissionsData, RolesData,
    UpdateRoleRequest,
};

/// Create a role.
#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", request_body = CreateRoleRequest,
    security(("bearer" = [])), responses(
    (status = 200, body = Done),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 409, description = "`role name already exists`", body = ErrorBody),
    (status = 413, body = ErrorBody),
    (status = 422, description = "`name is required`, `use either rolePolicies or rolePolicy`, \
`rolePolicies[1].permissionKey: unknown permission key \"x\"`", body = ErrorBody),
    (status = 503, body = ErrorBody),
))]
pub(crate) async fn create(
    auth: Authed<RoleCreate>,
    api: web::Data<ManagerApi>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: CreateRoleRequest = auth.body(&api, payload, &[ROLE_POLICIES]).await?;
    let role = RoleChange {
        name: Some(body.name),
        description: Some(body.description),
        policies: Some(
            body.role_policies
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
        ),
    };
    let id = api.roles.create_role(&auth.caller, role).await?;
    auth.set_target(id.to_string());
    Ok(done())
}

/// Update a role: present fields replace the stored ones. A rename follows
/// into every user's roles.
#[utoipa::path(put, path = "/api/v1/roles", tag = "roles", request_body = UpdateRoleRequest,
    security(("bearer" = [])), responses(
    (status = 200, body = Done),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, description = "`role not found`", body = ErrorBody),
    (status = 409, description = "`role name already exists`; `admin` cannot be renamed; the last holder of \
`user.permission.update` or `role.update` cannot lose it", body = ErrorBody),
    (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody),
))]
pub(crate) async fn update(
    auth: Authed<RoleUpdate>,
    api: web::Data<ManagerApi>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: UpdateRoleRequest = auth.body(&api, payload, &[ROLE_POLICY]).await?;
    auth.set_target(body.id.clone());
    let change = RoleChange {
        name: body.name,
        description: body.description,
        policies: body.role_policy.map(|p| p.into_iter().map(Into::into).collect()),
    };
    api.roles.update_role(&auth.caller, &body.id, change).await?;
    Ok(done())
}

/// Delete a role no user holds (`admin` excepted).
#[utoipa::path(delete, path = "/api/v1/roles", tag = "roles", request_body = DeleteRoleRequest,
    security(("bearer" = [])), responses(
    (status = 200, body = Envelope<Empty>),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, description = "`role not found`", body = ErrorBody),
    (status = 409, description = "`role is still assigned to <n> user(s)`, `the admin role cannot be deleted`",
        body = ErrorBody),
    (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody),
))]
pub(crate) async fn delete(
    auth: Authed<RoleDelete>,
    api: web::Data<ManagerApi>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: DeleteRoleRequest = auth.body(&api, payload, &[]).await?;
    auth.set_target(body.id.clone());
    api.roles.delete_role(&auth.caller, &body.id).await?;
    Ok(deleted())
}

/// Every role in creation order.
#[utoipa::path(get, path = "/api/v1/roles", tag = "roles", security(("bearer" = [])), responses(
    (status = 200, body = Envelope<RolesData>),
    (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
))]
pub(crate) async fn list(auth: Authed<RoleRead>, api: web::Data<ManagerApi>) -> Result<HttpResponse, ApiError> {
    let roles = api.roles.list_roles(&auth.caller).await?;
    Ok(ok(RolesData {
        roles: roles.into_iter().map(Into::into).collect(),
    }))
}

/// The fixed permission keys, in their documented order.
#[utoipa::path(get, path = "/api/v1/permissions", tag = "roles", security(("bearer" = [])), responses(
    (status = 200, body = Envelope<PermissionsData>),
    (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
))]
pub(crate) async fn permissions(
    auth: Authed<PermissionRead>,
    api: web::Data<ManagerApi>,
) -> Result<HttpResponse, ApiError> {
    let permissions = api.roles.list_permissions(&auth.caller).await?;
    Ok(ok(PermissionsData {
        permissions: permissions.into_iter().map(Into::into).collect(),
    }))
}
