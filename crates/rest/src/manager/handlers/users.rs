use actix_web::{HttpResponse, web};

use super::{done, ok};
use crate::ApiError;
use crate::manager::ManagerApi;
use crate::manager::auth::{Authed, OwnAccount, UserCreate, UserPasswordReset, UserPermissionUpdate, UserRead};
use crate::manager::decode::USER_ID;
use crate::manager::dto::{
    ChangeOwnPasswordRequest, CreateUserRequest, Done, Envelope, ErrorBody, ResetPasswordRequest,
    UpdatePermissionsRequest, UserItem, UsersData,
};

/// Create a user (status 3: must change password; no roles).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest,
    security(("bearer" = [])), responses(
    (status = 200, body = Done),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 409, description = "`username already exists`", body = ErrorBody),
    (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody),
))]
pub(crate) async fn create(
    auth: Authed<UserCreate>,
    api: web::Data<ManagerApi>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: CreateUserRequest = auth.body(&api, payload, &[]).await?;
    let id = api
        .users
        .create_user(&auth.caller, &body.username, &body.password)
        .await?;
    auth.set_target(id.to_string());
    Ok(done())
}

/// Set another user's password (and status 3, unless inactive).
#[utoipa::path(put, path = "/api/v1/users/password", tag = "users", request_body = ResetPasswordRequest,
    security(("bearer" = [])), responses(
    (status = 200, body = Done),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, description = "`forbidden` under a `self` grant, or the caller's own id (use /users/self/password)",
        body = ErrorBody),
    (status = 404, description = "`user not found`", body = ErrorBody),
    (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody),
))]
pub(crate) async fn reset_password(
    auth: Authed<UserPasswordReset>,
    api: web::Data<ManagerApi>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: ResetPasswordRequest = auth.body(&api, payload, &[USER_ID]).await?;
    auth.set_target(body.user_id.clone());
    api.users
        .reset_password(&auth.caller, &body.user_id, &body.new_password)
        .await?;
    Ok(done())
}

/// Replace a user's roles and/or set its status.
#[utoipa::path(put, path = "/api/v1/users/permissions", tag = "users", request_body = UpdatePermissionsRequest,
    security(("bearer" = [])), responses(
    (status = 200, body = Done),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, description = "`user not found`", body = ErrorBody),
    (status = 409, description = "`the last active user holding user.permission.update cannot lose it`", body = ErrorBody),
    (status = 413, body = ErrorBody),
    (status = 422, description = "`roles: unknown role \"x\"`, `status must be 1, 2 or 3`", body = ErrorBody),
    (status = 503, body = ErrorBody),
))]
pub(crate) async fn update_permissions(
    auth: Authed<UserPermissionUpdate>,
    api: web::Data<ManagerApi>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: UpdatePermissionsRequest = auth.body(&api, payload, &[USER_ID]).await?;
    auth.set_target(body.user_id.clone());
    api.users
        .update_permissions(&auth.caller, &body.user_id, body.roles, body.status)
        .await?;
    Ok(done())
}

/// Every user in creation order (only the caller under a `self` grant).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])), responses(
    (status = 200, body = Envelope<UsersData>),
    (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
))]
pub(crate) async fn list(auth: Authed<UserRead>, api: web::Data<ManagerApi>) -> Result<HttpResponse, ApiError> {
    let users = api.users.list_users(&auth.caller).await?;
    Ok(ok(UsersData {
        users: users.into_iter().map(Into::into).collect(),
    }))
}

/// Change the caller's own password (status becomes 1, active).
#[utoipa::path(put, path = "/api/v1/users/self/password", tag = "users", request_body = ChangeOwnPasswordRequest,
    security(("bearer" = [])), responses(
    (status = 200, body = Done),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, description = "`oldPassword is incorrect`", body = ErrorBody),
    (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody),
))]
pub(crate) async fn change_own_password(
    auth: Authed<OwnAccount>,
    api: web::Data<ManagerApi>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: ChangeOwnPasswordRequest = auth.body(&api, payload, &[]).await?;
    auth.set_target(auth.caller.user.id.to_string());
    api.users
        .change_own_password(&auth.caller, &body.old_password, &body.new_password)
        .await?;
    Ok(done())
}

/// The caller's own account, as just loaded by the auth check.
#[utoipa::path(get, path = "/api/v1/users/self", tag = "users", security(("bearer" = [])), responses(
    (status = 200, body = Envelope<UserItem>),
    (status = 401, body = ErrorBody), (status = 503, body = ErrorBody),
))]
pub(crate) async fn get_self(auth: Authed<OwnAccount>) -> HttpResponse {
    ok(UserItem::from(auth.caller.user))
}
