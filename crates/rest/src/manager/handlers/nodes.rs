use actix_web::{HttpResponse, web};

use super::ok;
use crate::ApiError;
use crate::manager::ManagerApi;
use crate::manager::auth::{Authed, PodPidRead};
use crate::manager::dto::{Envelope, ErrorBody};
use crate::manager::node_dto::{NodePodsPidsData, NodesData};

/// The cluster's nodes, live from the Kubernetes API, sorted by name, each
/// with the Manager's last push and reconcile check of its intents.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "nodes", security(("bearer" = [])), responses(
    (status = 200, body = Envelope<NodesData>),
    (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 503, description = "`kubernetes API unavailable`", body = ErrorBody),
))]
pub(crate) async fn list(auth: Authed<PodPidRead>, api: web::Data<ManagerApi>) -> Result<HttpResponse, ApiError> {
    let nodes = api.nodes.list_nodes(&auth.caller).await?;
    Ok(ok(NodesData {
        nodes: nodes.into_iter().map(Into::into).collect(),
    }))
}

/// The node's pod → process map, proxied from its Decision Maker; pods
/// outside the caller's namespaces are left out.
#[utoipa::path(get, path = "/api/v1/nodes/{nodeID}/pods/pids", tag = "nodes", security(("bearer" = [])),
    params(("nodeID" = String, Path, description = "The node's name")),
    responses(
    (status = 200, body = Envelope<NodePodsPidsData>),
    (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, description = "`no decision maker found on node <nodeID>`", body = ErrorBody),
    (status = 503, description = "`decision maker on node <nodeID> is unavailable`, `kubernetes API unavailable`",
        body = ErrorBody),
))]
pub(crate) async fn pods_pids(
    auth: Authed<PodPidRead>,
    api: web::Data<ManagerApi>,
    node_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let pods = api.nodes.node_pods_pids(&auth.caller, &node_id).await?;
    Ok(ok(NodePodsPidsData::from(pods)))
}
