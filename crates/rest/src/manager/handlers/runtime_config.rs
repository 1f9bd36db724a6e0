//! The scheduler runtime configuration of the nodes
//! (sessions-and-runtime.md 14), applied through their Decision Makers.

use actix_web::{HttpRequest, HttpResponse, web};

use super::{deleted, ok};
use crate::ApiError;
use crate::manager::ManagerApi;
use crate::manager::auth::{Authed, SchedulerConfigRead, SchedulerConfigUpdate};
use crate::manager::dto::{Empty, Envelope, ErrorBody};
use crate::manager::node_dto::{RuntimeApplyRequest, RuntimeDeleteRequest, RuntimeResultsData, RuntimeStatusParams};

/// `nodes:<ids>` or `nodes:*`, the audit target of these routes.
fn target(node_ids: &[String]) -> String {
    match node_ids {
        [] => "nodes:*".into(),
        ids => format!("nodes:{}", ids.join(",")),
    }
}

/// Apply a runtime configuration to nodes: stored as each node's desired
/// config, then sent to every Online Decision Maker there. 200 even when
/// some or all nodes failed: each row says how its DM answered.
#[utoipa::path(post, path = "/api/v1/scheduler/runtime-config/apply", tag = "scheduler",
    request_body = RuntimeApplyRequest, security(("bearer" = [])), responses(
    (status = 200, body = Envelope<RuntimeResultsData>),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, description = "`no decision maker pods found` (no `nodeIds` and no DM at all)", body = ErrorBody),
    (status = 409, description = "`configVersion \"<v>\" is already used on node <n> with different content`",
        body = ErrorBody),
    (status = 413, body = ErrorBody),
    (status = 422, description = "`config is required`, `config.<field> …`, `nodeIds[<i>]: invalid node name \"<n>\"`",
        body = ErrorBody),
    (status = 503, description = "`kubernetes API unavailable`, `storage unavailable`", body = ErrorBody),
))]
pub(crate) async fn apply(
    auth: Authed<SchedulerConfigUpdate>,
    api: web::Data<ManagerApi>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: RuntimeApplyRequest = auth.body(&api, payload, &[]).await?;
    auth.set_target(target(&body.node_ids));
    let config = body
        .config
        .ok_or_else(|| ApiError::Validation("config is required".into()))?;
    let results = api
        .scheduler_config
        .apply_runtime_config(&auth.caller, &body.node_ids, config.into())
        .await?;
    Ok(ok(RuntimeResultsData {
        results: results.into_iter().map(Into::into).collect(),
    }))
}

/// What each node's Decision Makers report the scheduler runs, beside the
/// stored desired config and the drift between them.
#[utoipa::path(get, path = "/api/v1/scheduler/runtime-config/status", tag = "scheduler",
    params(RuntimeStatusParams), security(("bearer" = [])), responses(
    (status = 200, body = Envelope<RuntimeResultsData>),
    (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 422, description = "`nodeIds[<i>]: invalid node name \"<n>\"`", body = ErrorBody),
    (status = 503, description = "`kubernetes API unavailable`, `storage unavailable`", body = ErrorBody),
))]
pub(crate) async fn status(
    auth: Authed<SchedulerConfigRead>,
    api: web::Data<ManagerApi>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = web::Query::<RuntimeStatusParams>::from_query(req.query_string())
        .map_err(|e| ApiError::Validation(format!("invalid query string: {e}")))?
        .into_inner();
    let node_ids: Vec<String> = params
        .node_ids
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect();
    let results = api
        .scheduler_config
        .runtime_config_status(&auth.caller, &node_ids)
        .await?;
    Ok(ok(RuntimeResultsData {
        results: results.into_iter().map(Into::into).collect(),
    }))
}

/// Stop managing nodes' runtime configs: their desired configs are deleted
/// (unknown nodes skipped); what the schedulers run is not changed.
#[utoipa::path(delete, path = "/api/v1/scheduler/runtime-config", tag = "scheduler",
    request_body = RuntimeDeleteRequest, security(("bearer" = [])), responses(
    (status = 200, body = Envelope<Empty>),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 413, body = ErrorBody),
    (status = 422, description = "`nodeIds: at least one node is required`, `nodeIds[<i>]: invalid node name \"<n>\"`",
        body = ErrorBody),
    (status = 503, description = "`storage unavailable`", body = ErrorBody),
))]
pub(crate) async fn delete(
    auth: Authed<SchedulerConfigUpdate>,
    api: web::Data<ManagerApi>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: RuntimeDeleteRequest = auth.body(&api, payload, &[]).await?;
    if !body.node_ids.is_empty() {
        auth.set_target(target(&body.node_ids));
    }
    api.scheduler_config
        .delete_runtime_configs(&auth.caller, &body.node_ids)
        .await?;
    Ok(deleted())
}
