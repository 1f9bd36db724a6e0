use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, web};
use gthulhu_domain::manager::ClusterStatus;

use super::ok;
use crate::ApiError;
use crate::envelope::{json_response, now};
use crate::manager::ManagerApi;
use crate::manager::dto::{Envelope, Health, NotReady, Readiness, Version};

const ENDPOINTS: &str = "/health, /version, /ready, /metrics, /swagger-ui/, /api-docs/openapi.json, \
POST /api/v1/auth/login, /api/v1/users, /api/v1/roles, /api/v1/permissions, /api/v1/strategies, \
/api/v1/intents, /api/v1/audit-logs";

/// Liveness: static, checks no dependency.
#[utoipa::path(get, path = "/health", tag = "system",
    responses((status = 200, description = "Always, while the process serves", body = Health)))]
pub(crate) async fn health() -> HttpResponse {
    json_response(StatusCode::OK, &Health::now())
}

#[utoipa::path(get, path = "/version", tag = "system", responses((status = 200, body = Version)))]
pub(crate) async fn version(api: web::Data<ManagerApi>) -> HttpResponse {
    json_response(StatusCode::OK, &Version::new(&api.settings.version, ENDPOINTS))
}

/// Readiness: storage answers a ping and the cluster is usable.
#[utoipa::path(get, path = "/ready", tag = "system", responses(
    (status = 200, description = "Every dependency is reachable", body = Envelope<Readiness>),
    (status = 503, description = "A dependency is down; `data.checks` says which", body = NotReady),
))]
pub(crate) async fn ready(api: web::Data<ManagerApi>) -> HttpResponse {
    let mut checks = BTreeMap::new();
    let mut failing = Vec::new();
    let readiness = api.readiness.readiness().await;
    match readiness.storage_error {
        None => {
            checks.insert("storage", "ok".to_string());
        }
        Some(e) => {
            // The reason is logged, not shown: it may name hosts or paths.
            tracing::warn!(error = %e, "readiness: storage ping failed");
            api.metrics.storage_error();
            checks.insert("storage", "unavailable".to_string());
            failing.push("storage");
        }
    }
    let cluster = match readiness.cluster {
        ClusterStatus::Ready => "ok".to_string(),
        ClusterStatus::Unreachable(reason) => format!("unreachable: {reason}"),
        ClusterStatus::NotConfigured(reason) => format!("not configured: {reason}"),
    };
    if cluster != "ok" {
        failing.push("kubernetes");
    }
    checks.insert("kubernetes", cluster);
    if failing.is_empty() {
        return ok(Readiness {
            status: "ready",
            checks,
        });
    }
    json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &NotReady {
            success: false,
            error: format!("not ready: {}", failing.join(", ")),
            data: Readiness {
                status: "not ready",
                checks,
            },
            timestamp: now(),
        },
    )
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub(crate) async fn prometheus(api: web::Data<ManagerApi>) -> Result<HttpResponse, ApiError> {
    let mut body = String::new();
    prometheus_client::encoding::text::encode_registry(&mut body, &api.registry)
        .map_err(|_| ApiError::Internal("Failed to encode metrics"))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body))
}

/// Upstream's Swagger location, kept for old links.
#[utoipa::path(get, path = "/swagger/{tail}", tag = "system",
    params(("tail" = String, Path, description = "Any path under /swagger/")),
    responses((status = 302, description = "Redirect to /swagger-ui/")))]
pub(crate) async fn swagger_redirect() -> HttpResponse {
    HttpResponse::Found().insert_header((LOCATION, "/swagger-ui/")).finish()
}
