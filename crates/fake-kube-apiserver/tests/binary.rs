//! The standalone binary serves the pods and nodes of a `kubectl get pods,nodes -A -o json` dump.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use gthulhu_fake_kube_apiserver::{node, pod};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

/// Kills the server even when an assertion fails first.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Already exited is fine: the test then fails on its own.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serves_a_loaded_dump_until_killed() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("cluster.json");
    let list = serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            pod("ns", "p1", "uid-1", Some("n1"), &[("app", "web")], "Running"),
            node("n1", true),
            pod("ns", "p2", "", None, &[], "Pending"),
            { "apiVersion": "v1", "kind": "Service", "metadata": { "name": "ignored" } },
        ],
    });
    std::fs::write(&dump, serde_json::to_vec(&list).unwrap()).unwrap();

    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_fake-kube-apiserver"))
            .args(["--port", "0", "--load"])
            .arg(&dump)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut url = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let url = url.trim();
    assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");

    let client = Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
    let pods: Vec<_> = Api::<Pod>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .iter()
        .map(|p| (p.name_any(), p.uid()))
        .collect();
    let names: Vec<_> = pods.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["p1", "p2"]);
    assert_eq!(pods[0].1.as_deref(), Some("uid-1"), "the dump's uid is kept");
    assert!(pods[1].1.is_some(), "a missing uid is generated");
    let nodes = Api::<Node>::all(client).list(&ListParams::default()).await.unwrap();
    assert_eq!(nodes.items.len(), 1);
}
