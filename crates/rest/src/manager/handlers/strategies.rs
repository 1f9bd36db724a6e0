use actix_web::{HttpResponse, web};
use gthulhu_domain::manager::StrategyApplied;

use super::{deleted, ok};
use crate::ApiError;
use crate::manager::ManagerApi;
use crate::manager::auth::{Authed, StrategyCreate, StrategyDelete, StrategyRead, StrategyUpdate};
use crate::manager::decode::STRATEGY_ID;
use crate::manager::dto::{
    DeleteStrategyRequest, Empty, Envelope, ErrorBody, StrategiesData, StrategyAppliedData, StrategyFields,
    StrategyItem, UpdateStrategyRequest,
};

fn applied(a: StrategyApplied) -> HttpResponse {
    ok(StrategyAppliedData {
        strategy_id: a.strategy_id.to_string(),
        matched_pods: a.matched_pods,
        pending: a.matched_pods.is_none(),
    })
}

/// Create a strategy and one intent per pod it selects now; every affected
/// node's DM receives its full intent set. No matching pod is not an error.
#[utoipa::path(post, path = "/api/v1/strategies", tag = "strategies", request_body = StrategyFields,
    security(("bearer" = [])), responses(
    (status = 200, body = Envelope<StrategyAppliedData>),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, description = "`namespace \"<ns>\" is outside the namespaces granted for \
schedule_strategy.create`", body = ErrorBody),
    (status = 413, body = ErrorBody),
    (status = 422, description = "`commandRegex: invalid regular expression: …`, `executionTime must be >= 0`, …",
        body = ErrorBody),
    (status = 503, description = "`storage unavailable`, `kubernetes API unavailable`", body = ErrorBody),
))]
pub(crate) async fn create(
    auth: Authed<StrategyCreate>,
    api: web::Data<ManagerApi>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: StrategyFields = auth.body(&api, payload, &[]).await?;
    let result = api.strategies.create_strategy(&auth.caller, body.into()).await?;
    auth.set_target(result.strategy_id.to_string());
    Ok(applied(result))
}

/// Replace a strategy (omitted fields become empty or zero) and recompute
/// its intents.
#[utoipa::path(put, path = "/api/v1/strategies", tag = "strategies", request_body = UpdateStrategyRequest,
    security(("bearer" = [])), responses(
    (status = 200, body = Envelope<StrategyAppliedData>),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, description = "`strategy not found or you don't have permission to update it`", body = ErrorBody),
    (status = 413, body = ErrorBody),
    (status = 422, description = "`strategyId is required`, `invalid strategyId`, …", body = ErrorBody),
    (status = 503, body = ErrorBody),
))]
pub(crate) async fn update(
    auth: Authed<StrategyUpdate>,
    api: web::Data<ManagerApi>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: UpdateStrategyRequest = auth.body(&api, payload, &[STRATEGY_ID]).await?;
    auth.set_target(body.strategy_id.clone());
    let result = api
        .strategies
        .update_strategy(&auth.caller, &body.strategy_id, body.fields.into())
        .await?;
    Ok(applied(result))
}

/// Delete a strategy and its intents; affected nodes are re-pushed.
#[utoipa::path(delete, path = "/api/v1/strategies", tag = "strategies", request_body = DeleteStrategyRequest,
    security(("bearer" = [])), responses(
    (status = 200, body = Envelope<Empty>),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, description = "`strategy not found or you don't have permission to delete it`", body = ErrorBody),
    (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody),
))]
pub(crate) async fn delete(
    auth: Authed<StrategyDelete>,
    api: web::Data<ManagerApi>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: DeleteStrategyRequest = auth.body(&api, payload, &[STRATEGY_ID]).await?;
    auth.set_target(body.strategy_id.clone());
    api.strategies.delete_strategy(&auth.caller, &body.strategy_id).await?;
    Ok(deleted())
}

/// The caller's own strategies within its namespace scope, creation order.
#[utoipa::path(get, path = "/api/v1/strategies/self", tag = "strategies", security(("bearer" = [])), responses(
    (status = 200, body = Envelope<StrategiesData>),
    (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
))]
pub(crate) async fn list_own(auth: Authed<StrategyRead>, api: web::Data<ManagerApi>) -> Result<HttpResponse, ApiError> {
    let strategies = api.strategies.list_own_strategies(&auth.caller).await?;
    Ok(ok(StrategiesData {
        strategies: strategies.into_iter().map(|s| StrategyItem::new(s, false)).collect(),
    }))
}

/// Every strategy the caller's scope covers (all for `admin`), with `creatorId`.
#[utoipa::path(get, path = "/api/v1/strategies", tag = "strategies", security(("bearer" = [])), responses(
    (status = 200, body = Envelope<StrategiesData>),
    (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
))]
pub(crate) async fn list_all(auth: Authed<StrategyRead>, api: web::Data<ManagerApi>) -> Result<HttpResponse, ApiError> {
    let strategies = api.strategies.list_strategies(&auth.caller).await?;
    Ok(ok(StrategiesData {
        strategies: strategies.into_iter().map(|s| StrategyItem::new(s, true)).collect(),
    }))
}
