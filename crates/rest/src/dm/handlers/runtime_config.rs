//! The scheduler's runtime configuration through the local daemon
//! (sessions-and-runtime.md 16–17). Changing it restarts the scheduler, so
//! the POST needs the Manager's token role; any DM token may read it.

use actix_web::{HttpResponse, web};
use gthulhu_domain::runtime_config::RuntimeSchedulerConfig;
use serde_json::json;

use crate::ApiError;
use crate::body::read_json;
use crate::dm::{Bearer, DmApi, ManagerBearer};
use crate::envelope::success;

pub async fn apply(_: ManagerBearer, api: web::Data<DmApi>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let config: RuntimeSchedulerConfig = read_json(payload, api.settings.max_body_bytes).await?;
    let noop = api
        .runtime
        .apply(config)
        .await
        .map_err(|e| ApiError::from_dm(e, "Failed to apply runtime config"))?;
    Ok(success(Some(json!({ "noop": noop }))))
}

pub async fn status(_: Bearer, api: web::Data<DmApi>) -> Result<HttpResponse, ApiError> {
    let status = api
        .runtime
        .status()
        .await
        .map_err(|e| ApiError::from_dm(e, "Failed to read runtime config"))?;
    Ok(success(Some(status.to_json())))
}
