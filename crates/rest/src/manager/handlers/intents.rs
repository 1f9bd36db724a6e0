use actix_web::{HttpResponse, web};

use super::{deleted, ok};
use crate::ApiError;
use crate::manager::ManagerApi;
use crate::manager::auth::{Authed, IntentDelete, IntentRead};
use crate::manager::decode::INTENT_IDS;
use crate::manager::dto::{DeleteIntentsRequest, Empty, Envelope, ErrorBody, IntentsData};

/// The caller's own intents within its namespace scope.
#[utoipa::path(get, path = "/api/v1/intents/self", tag = "intents", security(("bearer" = [])), responses(
    (status = 200, body = Envelope<IntentsData>),
    (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
))]
pub(crate) async fn list_own(auth: Authed<IntentRead>, api: web::Data<ManagerApi>) -> Result<HttpResponse, ApiError> {
    let intents = api.intents.list_own_intents(&auth.caller).await?;
    Ok(ok(IntentsData {
        intents: intents.into_iter().map(Into::into).collect(),
    }))
}

/// Delete intents (a short-term override: the reconciler re-creates those
/// whose pods still match).
#[utoipa::path(delete, path = "/api/v1/intents", tag = "intents", request_body = DeleteIntentsRequest,
    security(("bearer" = [])), responses(
    (status = 200, body = Envelope<Empty>),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, description = "`one or more intents not found or you don't have permission to delete them`",
        body = ErrorBody),
    (status = 413, body = ErrorBody),
    (status = 422, description = "`intentIds: at least one intent ID is required`, `intentIds[<i>]: invalid intent ID`",
        body = ErrorBody),
    (status = 503, body = ErrorBody),
))]
pub(crate) async fn delete(
    auth: Authed<IntentDelete>,
    api: web::Data<ManagerApi>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: DeleteIntentsRequest = auth.body(&api, payload, &[INTENT_IDS]).await?;
    if !body.intent_ids.is_empty() {
        auth.set_target(body.intent_ids.join(","));
    }
    api.intents.delete_intents(&auth.caller, &body.intent_ids).await?;
    Ok(deleted())
}
