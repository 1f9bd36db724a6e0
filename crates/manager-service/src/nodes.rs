//! Nodes (manager.md 10): the cluster's nodes with their apply status, and
//! a node's pod → process map proxied from its Decision Maker.

use async_trait::async_trait;
use gthulhu_domain::manager::{Caller, K8sError, NodeOverview, NodePodsPids, NodeService, ServiceError, ServiceResult};
use serde_json::Value;

use crate::ManagerServices;
use crate::delivery::callable;
use crate::scope::Scope;

pub(crate) fn kubernetes_unavailable(error: K8sError) -> ServiceError {
    tracing::warn!(%error, "reading the cluster failed");
    ServiceError::Unavailable("kubernetes API unavailable".into())
}

fn text(data: &Value, key: &str) -> String {
    data.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

impl ManagerServices {
    /// Whether the pod with UID `uid` is in a namespace `scope` covers; pods
    /// the cache does not know are left out (manager.md 4.4).
    async fn pod_in_scope(&self, scope: &Scope, uid: &str) -> bool {
        match self.k8s.get_pod(uid).await {
            Ok(Some(pod)) => scope.covers(&[&pod.namespace]),
            Ok(None) => false,
            Err(error) => {
                tracing::debug!(uid, %error, "pod lookup failed; omitting the pod");
                false
            }
        }
    }
}

#[async_trait]
impl NodeService for ManagerServices {
    async fn list_nodes(&self, _caller: &Caller) -> ServiceResult<Vec<NodeOverview>> {
        let nodes = self.k8s.list_nodes().await.map_err(kubernetes_unavailable)?;
        Ok(nodes
            .into_iter()
            .map(|node| NodeOverview {
                apply: self.board.get(&node.name),
                node,
            })
            .collect())
    }

    async fn node_pods_pids(&self, caller: &Caller, node_id: &str) -> ServiceResult<NodePodsPids> {
        let all = self.k8s.list_decision_makers().await.or_else(|e| match e {
            K8sError::NotConfigured(_) => Ok(vec![]),
            e => Err(kubernetes_unavailable(e)),
        })?;
        let on_node: Vec<_> = all.into_iter().filter(|dm| dm.node_name == node_id).collect();
        if on_node.is_empty() {
            return Err(ServiceError::NotFound(format!(
                "no decision maker found on node {node_id}"
            )));
        }
        let mut online: Vec<_> = callable(on_node).collect();
        online.sort_by(|a, b| a.pod_name.cmp(&b.pod_name));
        let mut answer = None;
        for dm in &online {
            match self.dms.pods_pids(dm).await {
                Ok(data) => {
                    answer = Some(data);
                    break;
                }
                Err(error) => tracing::warn!(node = node_id, dm = %dm.pod_name, %error, "pods/pids call failed"),
            }
        }
        let Some(data) = answer else {
            return Err(ServiceError::Unavailable(format!(
                "decision maker on node {node_id} is unavailable"
            )));
        };
        // `self: true` has no effect on this key: every grant applies.
        let scope = Scope::for_target(&caller.grants, &caller.user.id, &caller.user.id)
            .ok_or_else(|| ServiceError::Forbidden("permission denied".into()))?;
        let mut pods = Vec::new();
        for pod in data.get("pods").and_then(Value::as_array).cloned().unwrap_or_default() {
            let keep = match scope {
                Scope::AllNamespaces => true,
                Scope::Namespaces(_) => self.pod_in_scope(&scope, &text(&pod, "pod_uid")).await,
            };
            if keep {
                pods.push(pod);
            }
        }
        let node_id = match text(&data, "node_id") {
            reported if !reported.is_empty() => reported,
            _ => node_id.to_string(),
        };
        Ok(NodePodsPids {
            pods,
            timestamp: text(&data, "timestamp"),
            node_name: text(&data, "node_name"),
            node_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use gthulhu_domain::manager::{
        DmClientError, DmState, MockDecisionMakerAdapter, MockK8sAdapter, MockRepository, NodeInfo, NodeStatus,
        PushResult,
    };
    use serde_json::json;

    use super::*;
    use crate::testutil::*;

    fn admin() -> Caller {
        caller(vec![policy("pod_pid_mapping.read", false, "")])
    }

    #[tokio::test]
    async fn list_nodes_is_live_and_enriched_and_503_when_the_api_is_down() {
        let mut k8s = MockK8sAdapter::new();
        let mut calls = 0;
        k8s.expect_list_nodes().returning(move || {
            calls += 1;
            if calls == 1 {
                Ok(vec![
                    NodeInfo {
                        name: "a".into(),
                        status: NodeStatus::Ready,
                    },
                    NodeInfo {
                        name: "b".into(),
                        status: NodeStatus::Unknown,
                    },
                ])
            } else {
                Err(K8sError::Unavailable("timeout".into()))
            }
        });
        let svc = services_full(MockRepository::new(), k8s, MockDecisionMakerAdapter::new());
        svc.board.record_push("a", PushResult::Delivered, "root".into(), 4);
        let nodes = svc.list_nodes(&admin()).await.unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[0].node.name, "a");
        assert_eq!(nodes[0].apply.last_push, Some(PushResult::Delivered));
        assert_eq!(nodes[0].apply.intents, Some(4));
        assert_eq!(nodes[1].apply, Default::default());
        assert_eq!(
            svc.list_nodes(&admin()).await,
            Err(ServiceError::Unavailable("kubernetes API unavailable".into()))
        );
    }

    fn dms_answering(failing: &'static [&'static str]) -> MockDecisionMakerAdapter {
        let mut dms = MockDecisionMakerAdapter::new();
        dms.expect_pods_pids().returning(move |dm| {
            if failing.contains(&dm.pod_name.as_str()) {
                return Err(DmClientError::Status(404));
            }
            Ok(json!({
                "pods": [
                    {"pod_uid": "uid-web", "processes": [{"pid": 1, "command": "sleep"}]},
                    {"pod_uid": "uid-db", "processes": []},
                    {"pod_uid": "uid-unknown", "processes": []},
                ],
                "timestamp": "2026-03-10T08:00:00Z",
                "node_name": dm.node_name,
                "node_id": "",
                "answered_by": dm.pod_name,
            }))
        });
        dms
    }

    fn cluster_with_dms(dms: Vec<gthulhu_domain::manager::DecisionMakerEndpoint>) -> MockK8sAdapter {
        let mut k8s = MockK8sAdapter::new();
        k8s.expect_list_decision_makers().returning(move || Ok(dms.clone()));
        k8s.expect_get_pod().returning(|uid| {
            Ok(match uid {
                "uid-web" => Some(pod("web", "team-a", "n1", &[])),
                "uid-db" => Some(pod("db", "team-b", "n1", &[])),
                _ => None,
            })
        });
        k8s
    }

    #[tokio::test]
    async fn pods_pids_tries_online_dms_in_name_order_and_filters_scope() {
        let k8s = cluster_with_dms(vec![
            dm("n1", "dm-c", DmState::Online),
            dm("n1", "dm-b", DmState::Online),
            dm("n1", "dm-a", DmState::Offline),
            dm("n2", "dm-0", DmState::Online),
        ]);
        let svc = services_full(MockRepository::new(), k8s, dms_answering(&["dm-b"]));
        let all = svc.node_pods_pids(&admin(), "n1").await.unwrap();
        assert_eq!(all.pods.len(), 3, "an unrestricted grant keeps every pod");
        assert_eq!(
            (all.timestamp.as_str(), all.node_name.as_str(), all.node_id.as_str()),
            ("2026-03-10T08:00:00Z", "n1", "n1")
        );
        let team_a = caller(vec![policy("pod_pid_mapping.read", true, "team-a")]);
        let scoped = svc.node_pods_pids(&team_a, "n1").await.unwrap();
        let uids: Vec<_> = scoped.pods.iter().map(|p| p["pod_uid"].as_str().unwrap()).collect();
        assert_eq!(uids, ["uid-web"]);
        // Items pass through as received.
        assert_eq!(scoped.pods[0]["processes"][0]["command"], "sleep");
    }

    #[tokio::test]
    async fn pods_pids_404_without_dm_and_503_when_none_answers() {
        let k8s = cluster_with_dms(vec![
            dm("n1", "dm-a", DmState::Online),
            dm("n2", "dm-pending", DmState::Unknown),
        ]);
        let svc = services_full(MockRepository::new(), k8s, dms_answering(&["dm-a"]));
        assert_eq!(
            svc.node_pods_pids(&admin(), "n3").await,
            Err(ServiceError::NotFound("no decision maker found on node n3".into()))
        );
        for node in ["n1", "n2"] {
            assert_eq!(
                svc.node_pods_pids(&admin(), node).await,
                Err(ServiceError::Unavailable(format!(
                    "decision maker on node {node} is unavailable"
                )))
            );
        }
    }
}
