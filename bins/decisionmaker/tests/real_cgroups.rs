//! End to end on real processes: real kubepods cgroups (cgroup v2
//! `unified` and cgroup v1 `name=systemd`), real children moved into them,
//! the real `gthulhu-decisionmaker` binary reading the real `/proc`.
//! Skips with a printed reason where cgroupfs is not writable.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Dm;
use gthulhu_test_support::{CGROUP_ROOT, PodCgroup};
use serde_json::{Value, json};

/// Why this machine cannot run the test, if it cannot.
fn unsupported() -> Option<String> {
    for hierarchy in ["unified", "systemd"] {
        let probe = Path::new(CGROUP_ROOT)
            .join(hierarchy)
            .join(format!("gthulhu-probe-{}", std::process::id()));
        if let Err(e) = fs::create_dir(&probe) {
            return Some(format!("cannot create cgroups under {CGROUP_ROOT}/{hierarchy}: {e}"));
        }
        let _ = fs::remove_dir(&probe);
    }
    None
}

#[tokio::test]
async fn real_processes_in_real_kubepods_cgroups_are_served() {
    if let Some(reason) = unsupported() {
        gthulhu_test_support::precondition::skip_or_fail(&format!(
            "real_processes_in_real_kubepods_cgroups_are_served: {reason}"
        ));
        return;
    }
    let bin_dir = tempfile::tempdir().unwrap();
    let pause = bin_dir.path().join("pause");
    let app = bin_dir.path().join("app-worker");
    let sleep = which("sleep");
    fs::copy(&sleep, &pause).unwrap();
    fs::copy(&sleep, &app).unwrap();

    // Pod A: cgroup v2, systemd driver, containerd. Pod B: cgroup v1
    // name=systemd hierarchy, cgroupfs driver, 64-hex container id.
    let mut pod_a = PodCgroup::create(
        &Path::new(CGROUP_ROOT).join("unified"),
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/cri-containerd-{cid}.scope",
    )
    .unwrap();
    let mut pod_b = PodCgroup::create(
        &Path::new(CGROUP_ROOT).join("systemd"),
        "kubepods/besteffort/pod{uid}/{cid}",
    )
    .unwrap();
    let _a_pause = pod_a.spawn(&pause);
    let a1 = pod_a.spawn(&app);
    let a2 = pod_a.spawn(&sleep);
    let b1 = pod_b.spawn(&sleep);
    let _filtered_by_regex = pod_b.spawn(&app);

    let dm = Dm::start(&[]).await;
    dm.call(
        reqwest::Method::POST,
        "/api/v1/intents",
        Some(json!({"intents": [
            {"podName": "a", "podID": pod_a.uid, "nodeID": "e2e-node", "k8sNamespace": "e2e", "priority": 1, "executionTime": 20000000},
            {"podName": "b", "podID": pod_b.uid, "nodeID": "e2e-node", "k8sNamespace": "e2e", "commandRegex": "^sleep$", "priority": 5},
        ]})),
    )
    .await;
    dm.wait_for(vec![(a1, 1), (a2, 1), (b1, 5)], Duration::from_secs(3))
        .await;

    let pods = dm.call(reqwest::Method::GET, "/api/v1/pods/pids", None).await;
    let listed: Vec<&Value> = pods["data"]["pods"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["pod_uid"] == pod_a.uid.as_str())
        .collect();
    assert_eq!(listed.len(), 1);
    let commands: Vec<&str> = listed[0]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["command"].as_str().unwrap())
        .collect();
    assert!(
        commands.contains(&"pause"),
        "pause is listed in pods/pids: {commands:?}"
    );
    assert_eq!(pods["data"]["node_name"], "e2e-node");

    pod_a.kill(a2);
    let took = dm.wait_for(vec![(a1, 1), (b1, 5)], Duration::from_secs(2)).await;
    eprintln!("exited process left the served set after {took:?}");

    let b3 = pod_b.spawn(&sleep);
    let took = dm
        .wait_for(vec![(a1, 1), (b1, 5), (b3, 5)], Duration::from_secs(2))
        .await;
    eprintln!("new process joined the served set after {took:?}");

    dm.call(
        reqwest::Method::DELETE,
        "/api/v1/intents",
        Some(json!({"podId": pod_b.uid})),
    )
    .await;
    assert_eq!(dm.scheduled().await, vec![(a1, 1)]);
}

fn which(program: &str) -> PathBuf {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} not on PATH"))
}
