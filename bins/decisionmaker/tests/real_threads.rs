//! Thread-level targeting end to end (targeting.md 10, 17 item 11 on the
//! DM side): the real `gthulhu-decisionmaker` binary over this machine's
//! real `/proc`, real multi-threaded processes whose threads rename
//! themselves, one of them in a real kubepods cgroup, node intents and pod
//! intents posted as the Manager would. Every check is the exact set of
//! (pid, priority) served for the run's tagged tasks.
//! Skips with a printed reason where cgroupfs is not writable.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Dm;
use gthulhu_test_support::{CGROUP_ROOT, PodCgroup};
use serde_json::json;

/// Renames the main thread to `<tag>-<role>`, starts `n` threads named
/// `<tag>-<prefix><i>`, sleeps. A thread renames itself again to the
/// content of `<control>/<its name>` when that file appears (only a
/// thread's own process may write its `comm`).
const THREADED: &str = r#"
import os, sys, threading, time
tag, role, prefix, n, control = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
def name(text):
    with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as f:
        f.write(text)
name(f"{tag}-{role}")
def worker(i):
    mine = f"{tag}-{prefix}{i}"
    name(mine)
    order = os.path.join(control, mine)
    while not os.path.exists(order):
        time.sleep(0.05)
    with open(order) as f:
        name(f.read().strip())
    time.sleep(600)
for i in range(n):
    threading.Thread(target=worker, args=(i,), daemon=True).start()
time.sleep(600)
"#;

fn unsupported() -> Option<String> {
    let probe = Path::new(CGROUP_ROOT)
        .join("unified")
        .join(format!("gthulhu-probe-t{}", std::process::id()));
    if let Err(e) = fs::create_dir(&probe) {
        return Some(format!("cannot create cgroups under {CGROUP_ROOT}/unified: {e}"));
    }
    let _ = fs::remove_dir(&probe);
    if Command::new("python3")
        .arg("-c")
        .arg("pass")
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        return Some("python3 is not available".into());
    }
    None
}

struct Threaded {
    child: Option<Child>,
    pid: u32,
}

impl Drop for Threaded {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_threaded(tag: &str, role: &str, prefix: &str, threads: usize, control: &Path) -> Threaded {
    let child = Command::new("python3")
        .args(["-c", THREADED, tag, role, prefix, &threads.to_string()])
        .arg(control)
        .stdin(Stdio::null())
        .spawn()
        .expect("python3");
    let pid = child.id();
    let process = Threaded {
        child: Some(child),
        pid,
    };
    // Every thread named before anyone looks: the pod index reads a
    // process's comm once, when it first sees it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while tasks(pid).len() < threads + 1 || !tasks(pid).values().all(|c| c.starts_with(tag)) {
        assert!(
            Instant::now() < deadline,
            "threads of {pid} not named: {:?}",
            tasks(pid)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    process
}

/// `comm` → TID of a process's tasks.
fn tasks(pid: u32) -> BTreeMap<u32, String> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return BTreeMap::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let tid: u32 = e.file_name().to_str()?.parse().ok()?;
            let comm = fs::read_to_string(e.path().join("comm")).ok()?;
            Some((tid, comm.trim_end().to_string()))
        })
        .collect()
}

fn tid_named(pid: u32, comm: &str) -> u32 {
    *tasks(pid)
        .iter()
        .find(|(_, c)| *c == comm)
        .unwrap_or_else(|| panic!("no task {comm} in {pid}"))
        .0
}

/// The served (pid, priority) pairs for `ours`, waited for until they
/// equal `want`.
async fn wait_for(dm: &Dm, ours: &[u32], mut want: Vec<(u32, i64)>) -> Duration {
    want.sort_unstable();
    let started = Instant::now();
    loop {
        let got: Vec<(u32, i64)> = dm
            .scheduled()
            .await
            .into_iter()
            .filter(|(pid, _)| ours.contains(pid))
            .collect();
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "served {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn conflicts(dm: &Dm, kind: &str) -> String {
    let text = reqwest::get(format!("http://{}/metrics", dm.addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("gthulhu_dm_conflicts{{kind=\"{kind}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn node_and_pod_intents_reach_exactly_the_named_threads() {
    if let Some(reason) = unsupported() {
        gthulhu_test_support::precondition::skip_or_fail(&format!(
            "node_and_pod_intents_reach_exactly_the_named_threads: {reason}"
        ));
        return;
    }
    let tag = format!("gt{:06x}", (std::process::id() ^ 0x5a5a5a) & 0xff_ffff);
    let control = tempfile::tempdir().unwrap();
    let host = start_threaded(&tag, "host", "x", 0, control.path());
    let mt = start_threaded(&tag, "mt", "w", 3, control.path());
    let pod_process = start_threaded(&tag, "pod", "pw", 2, control.path());
    let mut pod = PodCgroup::create(
        &Path::new(CGROUP_ROOT).join("unified"),
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/cri-containerd-{cid}.scope",
    )
    .unwrap();
    let mut pod_process = pod_process;
    let pod_pid = pod.adopt(pod_process.child.take().unwrap());
    let w = |i: usize| tid_named(mt.pid, &format!("{tag}-w{i}"));
    let pw = |i: usize| tid_named(pod_pid, &format!("{tag}-pw{i}"));
    let (w0, w1, w2, pw0, pw1) = (w(0), w(1), w(2), pw(0), pw(1));
    let ours = [host.pid, mt.pid, w0, w1, w2, pod_pid, pw0, pw1];

    let dm = Dm::start(&[
        ("DM_SCAN_REFRESH_INTERVAL_MS", "100"),
        ("DM_SCAN_HOST_REFRESH_INTERVAL_MS", "100"),
        ("DM_SCAN_HOST_FULL_REFRESH_INTERVAL_MS", "1000"),
    ])
    .await;
    let node_intent = |policy: u32, re: String, priority: i64| json!({"policyID": format!("65f00000000000000000000{policy}"), "nodeID": "e2e-node", "commandRegex": re, "priority": priority});
    let pod_intent = |match_threads: bool| {
        json!({"podName": "web-1", "podID": pod.uid, "nodeID": "e2e-node", "k8sNamespace": "demo",
               "commandRegex": format!("^{tag}-p"), "priority": 1, "matchThreads": match_threads})
    };

    // NP1: the host process and the three `w` threads, not the `-mt` leader.
    dm.call(
        reqwest::Method::POST,
        "/api/v1/node-intents",
        Some(json!({"policies": [node_intent(1, format!("^{tag}-(host|w[0-9])$"), 3)]})),
    )
    .await;
    let took = wait_for(&dm, &ours, vec![(host.pid, 3), (w0, 3), (w1, 3), (w2, 3)]).await;
    eprintln!("node intent served on the host's threads after {took:?}");

    // NP3 on the pod's tasks and S1 on the pod: the pod intent takes the
    // process (its TGID), the node intent its other threads.
    let np3 = node_intent(3, format!("^{tag}-p"), 4);
    dm.call(
        reqwest::Method::POST,
        "/api/v1/node-intents",
        Some(json!({"policies": [node_intent(1, format!("^{tag}-(host|w[0-9])$"), 3), np3]})),
    )
    .await;
    dm.call(
        reqwest::Method::POST,
        "/api/v1/intents",
        Some(json!({"intents": [pod_intent(false)]})),
    )
    .await;
    let base = vec![(host.pid, 3), (w0, 3), (w1, 3), (w2, 3)];
    let with = |extra: &[(u32, i64)]| [base.clone(), extra.to_vec()].concat();
    wait_for(&dm, &ours, with(&[(pod_pid, 1), (pw0, 4), (pw1, 4)])).await;
    assert_eq!(conflicts(&dm, "pod_over_node").await, "1");

    // matchThreads: the pod intent now claims every thread of the pod.
    dm.call(
        reqwest::Method::POST,
        "/api/v1/intents",
        Some(json!({"intents": [pod_intent(true)]})),
    )
    .await;
    wait_for(&dm, &ours, with(&[(pod_pid, 1), (pw0, 1), (pw1, 1)])).await;
    assert_eq!(conflicts(&dm, "pod_over_node").await, "3");

    // A rename takes w2 out within the full-refresh period; the exit of
    // `-mt` takes its threads out within a pass.
    fs::write(control.path().join(format!("{tag}-w2")), format!("{tag}-zz")).unwrap();
    let took = wait_for(
        &dm,
        &ours,
        vec![(host.pid, 3), (w0, 3), (w1, 3), (pod_pid, 1), (pw0, 1), (pw1, 1)],
    )
    .await;
    eprintln!("renamed thread left the answer after {took:?}");
    drop(mt);
    let took = wait_for(&dm, &ours, vec![(host.pid, 3), (pod_pid, 1), (pw0, 1), (pw1, 1)]).await;
    eprintln!("exited process's threads left the answer after {took:?}");
    drop(host);
}
