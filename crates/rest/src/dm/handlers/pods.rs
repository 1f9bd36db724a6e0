use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use gthulhu_domain::PodReportEntry;
use serde::Serialize;
use serde_json::json;

use crate::ApiError;
use crate::dm::{Bearer, DmApi};
use crate::envelope::{json_response, rfc3339};

#[derive(Serialize)]
struct ProcessItem<'a> {
    pid: u32,
    command: &'a str,
    ppid: u32,
    container_id: &'a str,
}

#[derive(Serialize)]
struct PodItem<'a> {
    pod_uid: &'a str,
    pod_name: &'a str,
    namespace: &'a str,
    container_id: &'a str,
    processes: Vec<ProcessItem<'a>>,
}

fn pod_item(entry: &PodReportEntry) -> PodItem<'_> {
    PodItem {
        pod_uid: &entry.meta.uid,
        pod_name: &entry.meta.name,
        namespace: &entry.meta.namespace,
        container_id: entry
            .processes
            .iter()
            .map(|p| p.container_id.as_str())
            .find(|c| !c.is_empty())
            .unwrap_or_default(),
        processes: entry
            .processes
            .iter()
            .map(|p| ProcessItem {
                pid: p.pid,
                command: &p.comm,
                ppid: p.ppid,
                container_id: &p.container_id,
            })
            .collect(),
    }
}

/// One body both client generations decode: legacy top-level `pods`, and
/// the current `data.pods`.
pub async fn list(_: Bearer, api: web::Data<DmApi>) -> Result<HttpResponse, ApiError> {
    let report = api
        .scheduling
        .pods()
        .map_err(|e| ApiError::from_dm(e, "Failed to retrieve pod information"))?;
    let pods: Vec<PodItem<'_>> = report.pods.iter().map(pod_item).collect();
    let scanned_at = rfc3339(report.scanned_at);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "success": true,
            "message": "Pod-PID mappings retrieved successfully",
            "timestamp": scanned_at,
            "pods": pods,
            "data": {"pods": pods, "timestamp": scanned_at, "node_name": api.settings.node_name},
        }),
    ))
}
