use actix_web::{HttpResponse, web};
use gthulhu_domain::{DeleteIntents, Intent};
use serde::Deserialize;
use serde_json::json;

use crate::ApiError;
use crate::body::read_json;
use crate::dm::{DmApi, INTENTS_BODY_LIMIT, ManagerBearer};
use crate::envelope::success;

#[derive(Deserialize)]
struct IntentsRequest {
    /// Missing, `null` or `[]` all mean "no intents"; `null` entries are dropped.
    #[serde(default)]
    intents: Option<Vec<Option<Intent>>>,
}

pub async fn replace(_: ManagerBearer, api: web::Data<DmApi>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let limit = INTENTS_BODY_LIMIT.max(api.settings.max_body_bytes);
    let request: IntentsRequest = read_json(payload, limit).await?;
    let intents: Vec<Intent> = request.intents.unwrap_or_default().into_iter().flatten().collect();
    let count = intents.len();
    api.intents
        .replace(intents)
        .map_err(|e| ApiError::from_dm(e, "Failed to store intents"))?;
    tracing::info!(count, root = %api.intents.merkle_root(), "intent set replaced");
    Ok(success(None))
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

pub async fn merkle(_: ManagerBearer, api: web::Data<DmApi>) -> HttpResponse {
    success(Some(json!({"rootHash": api.intents.merkle_root()})))
}
