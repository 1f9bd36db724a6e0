use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use gthulhu_domain::PodMetadataStatus;
use serde_json::json;

use crate::ApiError;
use crate::dm::DmApi;
use crate::envelope::{json_response, now};

const SERVICE: &str = "BSS Metrics API Server";

/// Liveness: static, never scans. `checks` (additive) says what is
/// degraded, e.g. why selector templates match nothing.
pub async fn health(api: web::Data<DmApi>) -> HttpResponse {
    let h = api.scheduling.health();
    let process_index = match (&h.scan.last_error, h.index_built) {
        (Some(e), _) => format!("degraded: last refresh failed: {e}"),
        (None, false) => "starting: index not built yet".to_string(),
        (None, true) => "ok".to_string(),
    };
    let pod_labels = match h.pod_metadata {
        PodMetadataStatus::Ready => "ok".to_string(),
        PodMetadataStatus::Degraded(reason) => format!("degraded: {reason}"),
        PodMetadataStatus::NotConfigured(reason) => format!("not configured: {reason}"),
    };
    let scheduling = if h.truncated_entries > 0 {
        format!(
            "truncated: {} of {} entries (resolve.max_entries)",
            h.resolved_entries,
            h.resolved_entries + h.truncated_entries
        )
    } else {
        format!("ok: {} entries", h.resolved_entries)
    };
    json_response(
        StatusCode::OK,
        &json!({
            "status": "healthy",
            "timestamp": now(),
            "service": SERVICE,
            "checks": {
                "process_index": process_index,
                "cgroup_watch": if h.scan.watching_cgroups { "inotify" } else { "interval only" },
                "pod_labels": pod_labels,
                "host_processes": h.host_table.describe(),
                "scheduling": scheduling,
                "clock": api.clock.describe(),
            },
        }),
    )
}

pub async fn version(api: web::Data<DmApi>) -> HttpResponse {
    json_response(
        StatusCode::OK,
        &json!({
            "message": SERVICE,
            "version": api.settings.version,
            "endpoints": "/health, /version, POST_/api/v1/intents, GET_/api/v1/scheduling/strategies",
        }),
    )
}

/// The OpenAPI description of what this DM serves.
pub async fn openapi(api: web::Data<DmApi>) -> HttpResponse {
    json_response(StatusCode::OK, crate::dm::openapi_document(api.settings.standalone))
}

/// Standalone mode's legacy `GET /`.
pub async fn legacy_root(api: web::Data<DmApi>) -> HttpResponse {
    json_response(
        StatusCode::OK,
        &json!({
            "message": SERVICE,
            "version": api.settings.version,
            "endpoints": "/api/v1/auth/token (POST), /api/v1/metrics (GET, POST), /api/v1/pods/pids (GET), /api/v1/scheduling/strategies (GET, POST), /health (GET)",
        }),
    )
}

pub async fn prometheus(api: web::Data<DmApi>) -> Result<HttpResponse, ApiError> {
    let mut body = String::new();
    prometheus_client::encoding::text::encode_registry(&mut body, &api.registry)
        .map_err(|_| ApiError::Internal("Failed to encode metrics"))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body))
}
