use actix_web::{HttpRequest, HttpResponse, web};
use gthulhu_domain::preview::PreviewRequest;
use gthulhu_domain::{DeleteIntents, DeleteNodeIntents, Intent, NodeIntent};
use serde::Deserialize;

use super::encoded::reply;
use crate::ApiError;
use crate::body::{decode_json, read_json, read_limited};
use crate::dm::{DmApi, INTENTS_BODY_LIMIT, ManagerBearer};
use crate::envelope::success;

#[derive(Deserialize)]
struct IntentsRequest {
    /// Missing, `null` or `[]` all mean "no intents"; `null` entries are dropped.
    #[serde(default)]
    intents: Option<Vec<Option<Intent>>>,
}

/// Reads a whole set (up to 16 MiB) and hands it to `apply` on the
/// blocking pool: decoding, compiling its patterns and hashing it take
/// milliseconds to tens of them, and meanwhile the worker keeps answering
/// its other connections (`/health`, the scheduler's poll).
async fn on_set<T: Send + 'static>(
    api: &DmApi,
    mut payload: web::Payload,
    failure: &'static str,
    apply: impl FnOnce(&[u8]) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let limit = INTENTS_BODY_LIMIT.max(api.settings.max_body_bytes);
    let bytes = read_limited(&mut payload, limit, ApiError::InvalidPayload).await?;
    web::block(move || apply(&bytes))
        .await
        .map_err(|_| ApiError::Internal(failure))?
}

async fn replace_set(
    api: &DmApi,
    payload: web::Payload,
    failure: &'static str,
    apply: impl FnOnce(&[u8]) -> Result<(), ApiError> + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    on_set(api, payload, failure, apply).await?;
    Ok(success(None))
}

pub async fn replace(_: ManagerBearer, api: web::Data<DmApi>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let service = api.intents.clone();
    replace_set(&api, payload, "Failed to store intents", move |bytes| {
        let request: IntentsRequest = decode_json(bytes)?;
        let intents: Vec<Intent> = request.intents.unwrap_or_default().into_iter().flatten().collect();
        let count = intents.len();
        service
            .replace(intents)
            .map_err(|e| ApiError::from_dm(e, "Failed to store intents"))?;
        tracing::info!(count, root = %service.merkle_root(), "intent set replaced");
        Ok(())
    })
    .await
}

pub async fn delete(_: ManagerBearer, api: web::Data<DmApi>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let request: DeleteIntents = read_json(payload, api.settings.max_body_bytes).await?;
    let summary = format!("all={} podId={} pid={}", request.all, request.pod_id, request.pid);
    api.intents
        .delete(request)
        .map_err(|e| ApiError::from_dm(e, "Failed to delete intents"))?;
    tracing::info!(request = %summary, root = %api.intents.merkle_root(), "intents deleted");
    Ok(success(None))
}

pub async fn merkle(_: ManagerBearer, req: HttpRequest, api: web::Data<DmApi>) -> HttpResponse {
    reply(&req, api.intents.merkle_answer())
}

#[derive(Deserialize)]
struct NodeIntentsRequest {
    /// Missing, `null` or `[]` all mean "none"; `null` entries are dropped.
    #[serde(default)]
    policies: Option<Vec<Option<NodeIntent>>>,
}

/// `POST /api/v1/node-intents` (targeting.md 7.1): the node's whole
/// node-intent set.
pub async fn replace_nodes(
    _: ManagerBearer,
    api: web::Data<DmApi>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let service = api.intents.clone();
    replace_set(&api, payload, "Failed to store node intents", move |bytes| {
        let request: NodeIntentsRequest = decode_json(bytes)?;
        let intents: Vec<NodeIntent> = request.policies.unwrap_or_default().into_iter().flatten().collect();
        let count = intents.len();
        service
            .replace_node_intents(intents)
            .map_err(|e| ApiError::from_dm(e, "Failed to store node intents"))?;
        tracing::info!(count, root = %service.node_merkle_root(), "node-intent set replaced");
        Ok(())
    })
    .await
}

pub async fn delete_nodes(
    _: ManagerBearer,
    api: web::Data<DmApi>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let request: DeleteNodeIntents = read_json(payload, api.settings.max_body_bytes).await?;
    let summary = format!("all={} policyId={}", request.all, request.policy_id);
    api.intents
        .delete_node_intents(request)
        .map_err(|e| ApiError::from_dm(e, "Failed to delete node intents"))?;
    tracing::info!(request = %summary, root = %api.intents.node_merkle_root(), "node intents deleted");
    Ok(success(None))
}

pub async fn node_merkle(_: ManagerBearer, req: HttpRequest, api: web::Data<DmApi>) -> HttpResponse {
    reply(&req, api.intents.node_merkle_answer())
}

/// `POST /api/v1/intents/preview` (targeting.md 11.6): installs nothing.
pub async fn preview(_: ManagerBearer, api: web::Data<DmApi>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    const FAILURE: &str = "Failed to preview intents";
    let service = api.scheduling.clone();
    let report = on_set(&api, payload, FAILURE, move |bytes| {
        let request: PreviewRequest = decode_json(bytes)?;
        service.preview(request).map_err(|e| ApiError::from_dm(e, FAILURE))
    })
    .await?;
    let data = serde_json::to_value(report).map_err(|_| ApiError::Internal(FAILURE))?;
    Ok(success(Some(data)))
}
