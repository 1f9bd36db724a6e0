//! The demo's cluster, as the Manager sees it: a `kubectl get pods -A -o
//! json` file (`MANAGER_K8S_PODS_FILE`) with the demo pods and the Decision
//! Maker pod through which the Manager finds the DM (manager.md 11.1).

use serde_json::{Value, json};

pub const NODE: &str = "demo-node";
pub const NAMESPACE: &str = "demo";
/// The namespace of the DM pod, as in the manifests.
const DM_NAMESPACE: &str = "gthulhu-system";

/// One demo pod: its processes are started by the workload.
#[derive(Clone, Debug)]
pub struct DemoPod {
    pub name: &'static str,
    /// The `app` label the sample strategy selects on.
    pub app: &'static str,
    pub uid: String,
}

/// Two pods the sample strategy selects (`app=web`) and one it leaves
/// alone (`app=batch`), with fresh UIDs.
pub fn demo_pods() -> Vec<DemoPod> {
    [("web-1", "web"), ("web-2", "web"), ("batch-1", "batch")]
        .into_iter()
        .map(|(name, app)| DemoPod {
            name,
            app,
            uid: uuid::Uuid::new_v4().to_string(),
        })
        .collect()
}

/// The pods file: every demo pod Running on [`NODE`], and the DM pod
/// (`app=decisionmaker`) at `127.0.0.1` with its port named `http`.
pub fn pods_file(pods: &[DemoPod], dm_uid: &str, dm_port: u16) -> Value {
    let mut items: Vec<Value> = pods
        .iter()
        .map(|pod| {
            json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": pod.name,
                    "namespace": NAMESPACE,
                    "uid": pod.uid,
                    "labels": {"app": pod.app},
                },
                "spec": {
                    "nodeName": NODE,
                    "containers": [{"name": pod.app, "image": "busybox:1.36", "command": ["sleep", "infinity"]}],
                },
                "status": {"phase": "Running", "hostIP": "127.0.0.1"},
            })
        })
        .collect();
    items.push(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("decisionmaker-{NODE}"),
            "namespace": DM_NAMESPACE,
            "uid": dm_uid,
            "labels": {"app": "decisionmaker"},
        },
        "spec": {
            "nodeName": NODE,
            "containers": [{
                "name": "decisionmaker",
                "image": "gthulhu-decisionmaker:dev",
                "ports": [{"name": "http", "containerPort": dm_port, "protocol": "TCP"}],
            }],
        },
        "status": {"phase": "Running", "podIP": "127.0.0.1", "hostIP": "127.0.0.1"},
    }));
    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items})
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Pod;

    use super::*;

    fn label(pod: &Pod, key: &str) -> Option<String> {
        pod.metadata.labels.as_ref()?.get(key).cloned()
    }

    #[test]
    fn pods_file_is_a_kubectl_list_of_pods() {
        let pods = demo_pods();
        let file = pods_file(&pods, "dm-uid", 18081);
        // kubectl prints a generic `List` (k8s-openapi's `List<Pod>` insists on `PodList`): each item is a Pod.
        assert_eq!((&file["apiVersion"], &file["kind"]), (&json!("v1"), &json!("List")));
        let items: Vec<Pod> = serde_json::from_value(file["items"].clone()).unwrap();
        assert_eq!(items.len(), 4);
        assert!(file["items"].as_array().unwrap().iter().all(|i| i["kind"] == "Pod"));

        for (pod, item) in pods.iter().zip(&items) {
            assert_eq!(item.metadata.uid.as_deref(), Some(pod.uid.as_str()));
            assert_eq!(item.metadata.namespace.as_deref(), Some(NAMESPACE));
            assert_eq!(label(item, "app").as_deref(), Some(pod.app));
            assert_eq!(item.spec.as_ref().unwrap().node_name.as_deref(), Some(NODE));
            assert_eq!(item.status.as_ref().unwrap().phase.as_deref(), Some("Running"));
        }
        let apps: Vec<_> = items.iter().filter_map(|p| label(p, "app")).collect();
        assert_eq!(apps, ["web", "web", "batch", "decisionmaker"]);

        let dm = &items[3];
        assert_eq!(dm.metadata.uid.as_deref(), Some("dm-uid"));
        assert_eq!(dm.spec.as_ref().unwrap().node_name.as_deref(), Some(NODE));
        let status = dm.status.as_ref().unwrap();
        assert_eq!(status.pod_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(status.phase.as_deref(), Some("Running"));
        let port = &dm.spec.as_ref().unwrap().containers[0].ports.as_ref().unwrap()[0];
        assert_eq!((port.name.as_deref(), port.container_port), (Some("http"), 18081));
    }

    #[test]
    fn pod_uids_are_fresh_and_dashed() {
        let (a, b) = (demo_pods(), demo_pods());
        assert_ne!(a[0].uid, b[0].uid);
        assert!(a.iter().all(|p| p.uid.len() == 36 && p.uid.matches('-').count() == 4));
    }
}
