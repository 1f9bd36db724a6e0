use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use gthulhu_domain::SchedulerMetrics;
use serde_json::json;

use crate::ApiError;
use crate::body::read_json;
use crate::dm::{Bearer, DmApi};
use crate::envelope::{json_response, now, rfc3339};

pub async fn record(_: Bearer, api: web::Data<DmApi>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let metrics: SchedulerMetrics = read_json(payload, api.settings.max_body_bytes).await?;
    api.metrics.record(metrics);
    Ok(json_response(
        StatusCode::OK,
        &json!({"success": true, "message": "Metrics saved successfully", "timestamp": now()}),
    ))
}

/// Standalone mode's legacy read-back; 200 even before the first set.
pub async fn latest(_: Bearer, api: web::Data<DmApi>) -> HttpResponse {
    let body = match api.metrics.latest() {
        Some(m) => json!({
            "success": true,
            "message": "Metrics retrieved successfully",
            "timestamp": now(),
            "data": m.metrics,
            "metrics_timestamp": rfc3339(m.received_at),
        }),
        None => json!({
            "success": false,
            "message": "No metrics data available yet",
            "error": "No metrics data available yet",
            "timestamp": now(),
        }),
    };
    json_response(StatusCode::OK, &body)
}
