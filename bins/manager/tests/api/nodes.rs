//! The nodes routes without a cluster (manager.md 10): the handler mapping
//! with a live cluster is covered by the handler tests over mocks.

use crate::helpers::*;

#[tokio::test]
async fn without_a_cluster_nodes_are_503_and_no_node_has_a_decision_maker() {
    let app = spawn_app(Options::default()).await;
    let admin = app.admin_token().await;
    let (status, body) = app.get("/api/v1/nodes", &admin).await;
    assert_eq!(
        (status, body),
        (
            503,
            serde_json::json!({"success": false, "error": "kubernetes API unavailable"})
        )
    );
    let (status, body) = app.get("/api/v1/nodes/kind-worker/pods/pids", &admin).await;
    assert_eq!(
        (status, body),
        (
            404,
            serde_json::json!({"success": false, "error": "no decision maker found on node kind-worker"})
        )
    );
    let (status, _) = app.call(reqwest::Method::GET, "/api/v1/nodes", None, None).await;
    assert_eq!(status, 401);
}
