//! Bodies of the session routes (sessions-and-runtime.md 3-7).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `data` of a login or refresh. `token` and `accessToken` are the same
/// access JWT (upstream's UI reads `accessToken`, our clients `token`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoginTokens {
    /// The access JWT (RS256), valid for `auth.access_ttl_s` (900 s by default).
    #[schema(example = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.e30.c2ln")]
    pub token: String,
    /// The same access JWT.
    #[schema(example = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.e30.c2ln")]
    pub access_token: String,
    /// The refresh JWT: good for exactly one `POST /api/v1/auth/refresh`.
    #[schema(example = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.e30.c2ln")]
    pub refresh_token: String,
}

/// The refresh token; when absent or empty, the `gthulhu_refresh` cookie
/// supplies it. A body token wins over the cookie.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // Documentation only: the handler reads the body itself.
pub(crate) struct RefreshRequest {
    #[serde(default)]
    #[schema(example = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.e30.c2ln")]
    refresh_token: String,
}

/// `data` of `GET /api/v1/auth/validate`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ValidateData {
    /// Always true: an invalid token gets 401.
    #[schema(example = true)]
    pub valid: bool,
    #[schema(example = "65f0c1d2e3f4a5b6c7d8e9f0")]
    pub uid: String,
    /// The user's stored status is 3 (must change password).
    #[schema(example = false)]
    pub need_change_password: bool,
}
