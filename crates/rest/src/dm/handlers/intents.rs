use actix_web::{HttpRequest, HttpResponse, web};
use gthulhu_domain::{DeleteIntents, Intent};
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

/// Decoding a set (up to 16 MiB), compiling its patterns and hashing it
/// take milliseconds to tens of them: that runs on the blocking pool, so
/// the worker keeps answering its other connections (`/health`, the
/// scheduler's poll) meanwhile.
pub async fn replace(
    _: ManagerBearer,
    api: web::Data<DmApi>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let limit = INTENTS_BODY_LIMIT.max(api.settings.max_body_bytes);
    let bytes = read_limited(&mut payload, limit, ApiError::InvalidPayload).await?;
    let service = api.intents.clone();
    web::block(move || {
        let request: IntentsRequest = decode_json(&bytes)?;
        let intents: Vec<Intent> = request.intents.unwrap_or_default().into_iter().flatten().collect();
        let count = intents.len();
        service
            .replace(intents)
            .map_err(|e| ApiError::from_dm(e, "Failed to store intents"))?;
        tracing::info!(count, root = %service.merkle_root(), "intent set replaced");
        Ok::<(), ApiError>(())
    })
    .await
    .map_err(|_| ApiError::Internal("Failed to store intents"))??;
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

pub async fn merkle(_: ManagerBearer, req: HttpRequest, api: web::Data<DmApi>) -> HttpResponse {
    reply(&req, api.intents.merkle_answer())
}
