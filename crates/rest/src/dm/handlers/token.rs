use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::ApiError;
use crate::body::read_json;
use crate::dm::DmApi;
use crate::envelope::{json_response, now};

#[derive(Deserialize)]
struct TokenRequest {
    #[serde(default)]
    public_key: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    /// Sent by the upstream Manager, ignored; only its type is checked.
    #[serde(default, rename = "expired_at")]
    _expired_at: Option<i64>,
}

pub async fn issue(api: web::Data<DmApi>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let request: TokenRequest = read_json(payload, api.settings.max_body_bytes).await?;
    let client_id = request.client_id.unwrap_or_default();
    let issued = api
        .tokens
        .issue(request.public_key.as_deref().unwrap_or_default(), &client_id)
        .map_err(|e| {
            tracing::warn!(reason = %e, client_id, "token refused");
            ApiError::PublicKeyRejected
        })?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "success": true,
            "message": "Token generated successfully",
            "token": issued.token,
            "data": {"token": issued.token, "expired_at": issued.expires_at},
            "timestamp": now(),
        }),
    ))
}
