use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use gthulhu_domain::StrategyTemplate;
use serde::Deserialize;
use serde_json::json;

use super::encoded::reply;
use crate::ApiError;
use crate::body::read_json_detailed;
use crate::dm::{Bearer, DmApi};
use crate::envelope::{json_response, now};

/// The scheduler's poll: the body serialised when the resolved list last
/// changed, never a scan nor a serialisation.
pub async fn list(_: Bearer, req: HttpRequest, api: web::Data<DmApi>) -> Result<HttpResponse, ApiError> {
    let body = api
        .scheduling
        .strategies_answer()
        .map_err(|e| ApiError::from_dm(e, "Failed to list scheduling intents"))?;
    Ok(reply(&req, body))
}

#[derive(Deserialize)]
struct TemplatesRequest {
    #[serde(default)]
    strategies: Option<Vec<StrategyTemplate>>,
}

/// Standalone mode: the legacy templates, replaced as a whole.
pub async fn replace_templates(
    _: Bearer,
    api: web::Data<DmApi>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let request: TemplatesRequest = read_json_detailed(payload, api.settings.max_body_bytes).await?;
    let templates = request.strategies.unwrap_or_default();
    let count = templates.len();
    api.scheduling
        .replace_templates(templates)
        .map_err(|e| ApiError::from_dm(e, "Failed to store strategies"))?;
    tracing::info!(count, "legacy strategy templates replaced");
    Ok(json_response(
        StatusCode::OK,
        &json!({"success": true, "message": "Scheduling strategies saved successfully", "timestamp": now()}),
    ))
}
