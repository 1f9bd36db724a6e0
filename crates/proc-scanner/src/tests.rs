//! Refresh and background behaviour over fixture trees.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use gthulhu_domain::{PodProcesses, ProcessIndex, ProcessInfo, ScanMode};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

use super::*;
use crate::fixture::{FixtureTree, container_id, pod_uid, systemd_container_path};

const UID_A: &str = "31e4e721-a5a0-421a-ae1d-b7971ae30d6e";
const UID_B: &str = "e52d4a2a-6e5f-44d9-a8b8-37ff3daa7413";
const CID: &str = "d0f631ca1ddba8db3bcfcb9e057cdc98d0379f1bee00e75a545147a27dadd982";

fn scanner(config: ScannerConfig) -> Arc<ProcScanner> {
    ProcScanner::new(config, &mut Registry::default())
}

/// A config whose cgroup root does not exist: proc-walk mode.
fn walk_config(tree: &FixtureTree) -> ScannerConfig {
    ScannerConfig {
        cgroup_root: tree.path().join("no-cgroups"),
        ..tree.config()
    }
}

fn pods(scanner: &ProcScanner) -> Vec<PodProcesses> {
    scanner.snapshot().expect("a snapshot").pods.clone()
}

fn pids_of(scanner: &ProcScanner, uid: &str) -> Vec<u32> {
    scanner
        .snapshot()
        .and_then(|s| s.pod(uid).map(|p| p.processes.iter().map(|p| p.pid).collect()))
        .unwrap_or_default()
}

fn find(scanner: &ProcScanner, pid: u32) -> Option<(String, ProcessInfo)> {
    scanner.snapshot()?.pods.iter().find_map(|pod| {
        pod.processes
            .iter()
            .find(|p| p.pid == pid)
            .map(|p| (pod.pod_uid.clone(), p.clone()))
    })
}

/// Several 10.2 layouts in one cgroup v2 tree, plus processes that are no
/// pod's: a QoS slice process and a host service.
fn mixed_v2_tree() -> FixtureTree {
    let tree = FixtureTree::new();
    let a_ = UID_A.replace('-', "_");
    let b_ = UID_B.replace('-', "_");
    let uid_upper = "0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D";
    let layouts: Vec<(u32, &str, String)> = vec![
        (
            2,
            "pause",
            format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{a_}.slice/cri-containerd-{}.scope",
                container_id(1)
            ),
        ),
        (
            1000,
            "nginx",
            format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{a_}.slice/cri-containerd-{CID}.scope"
            ),
        ),
        (
            30,
            "my app (v2)",
            format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{a_}.slice/cri-containerd-{CID}.scope"
            ),
        ),
        (400, "sleep", format!("/kubepods/besteffort/pod{UID_B}/{CID}")),
        (
            401,
            "conmon",
            format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/crio-conmon-{CID}.scope",
                pod_uid(7).replace('-', "_")
            ),
        ),
        (
            402,
            "crio-app",
            format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/crio-{CID}.scope",
                pod_uid(7).replace('-', "_")
            ),
        ),
        (500, "java", format!("/kubepods/pod{uid_upper}/crio-{CID}")),
        (
            600,
            "docker-app",
            format!(
                "/kubepods.slice/kubepods-pod{b_}.slice/docker-{}.scope",
                container_id(2)
            ),
        ),
        (700, "qos", "/kubepods.slice/kubepods-burstable.slice".to_owned()),
        (800, "containerd", "/system.slice/containerd.service".to_owned()),
        (
            900,
            "legacy",
            "/kubepods/burstable/pod123abc-456def/docker-abcdef.scope".to_owned(),
        ),
    ];
    for (pid, comm, path) in layouts {
        tree.add_pod_process(pid, 1, comm, 100 + u64::from(pid), &path);
    }
    tree.set_cmdline(1000, &["nginx: master process", "-g", "daemon off;"]);
    tree
}

#[test]
fn cgroup_and_walk_modes_give_the_same_pods() {
    let tree = mixed_v2_tree();
    let by_cgroups = scanner(tree.config());
    let by_walk = scanner(walk_config(&tree));
    let a = by_cgroups.refresh().unwrap();
    let b = by_walk.refresh().unwrap();
    assert_eq!((a.mode, b.mode), (ScanMode::Cgroups, ScanMode::ProcWalk));
    assert_eq!(by_cgroups.snapshot().unwrap().mode, ScanMode::Cgroups);
    assert_eq!(pods(&by_cgroups), pods(&by_walk));
    assert_eq!((a.pods, a.processes), (4, 8));

    let uids: Vec<String> = pods(&by_cgroups).into_iter().map(|p| p.pod_uid).collect();
    let mut sorted = uids.clone();
    sorted.sort();
    assert_eq!(uids, sorted);
    assert!(uids.contains(&"0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D".to_owned()));

    // PIDs ordered as decimal strings; pause is listed.
    assert_eq!(pids_of(&by_cgroups, UID_A), [1000, 2, 30]);
    let (_, pause) = find(&by_cgroups, 2).unwrap();
    assert!(pause.is_pause());
    let (uid, nginx) = find(&by_cgroups, 1000).unwrap();
    assert_eq!(uid, UID_A);
    assert_eq!(
        nginx,
        ProcessInfo {
            pid: 1000,
            ppid: 1,
            comm: "nginx".into(),
            cmdline: "nginx: master process -g daemon off;".into(),
            start_time: 1100,
            container_id: CID.into(),
        }
    );
    assert_eq!(find(&by_cgroups, 30).unwrap().1.comm, "my app (v2)");
    let (uid, sleep) = find(&by_cgroups, 400).unwrap();
    assert_eq!((uid.as_str(), sleep.container_id.as_str()), (UID_B, CID));
    assert_eq!(find(&by_cgroups, 401).unwrap().1.container_id, "");
    assert_eq!(find(&by_cgroups, 402).unwrap().1.container_id, CID);
    assert_eq!(find(&by_cgroups, 600).unwrap().1.container_id, container_id(2));
    for skipped in [700, 800, 900] {
        assert_eq!(find(&by_cgroups, skipped), None, "pid {skipped}");
    }
}

#[test]
fn readable_cgroup_root_without_kubepods_falls_back_to_the_walk() {
    let tree = FixtureTree::new();
    tree.make_cgroup("", "/system.slice/containerd.service");
    tree.add_process(42, 1, "nginx", 7, &[&format!("0::/kubepods/pod{UID_A}/{CID}")]);
    let scanner = scanner(tree.config());
    assert_eq!(scanner.refresh().unwrap().mode, ScanMode::ProcWalk);
    assert_eq!(pids_of(&scanner, UID_A), [42]);
}

#[test]
fn v1_and_v2_duplicates_are_listed_once() {
    let tree = FixtureTree::new();
    let uid_ = UID_A.replace('-', "_");
    let pod = format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice");
    let container = format!("{pod}/cri-containerd-{CID}.scope");
    let lines = [
        format!("12:memory:{container}"),
        format!("4:cpu,cpuacct:{container}"),
        format!("1:name=systemd:{container}"),
        format!("0::{container}"),
    ];
    tree.add_process(77, 1, "app", 5, &lines.iter().map(String::as_str).collect::<Vec<_>>());
    // The v2 hierarchy has it at pod level only: a later one supplies the container.
    tree.add_to_cgroup("unified", &pod, 77);
    for hierarchy in ["memory", "cpu,cpuacct", "systemd"] {
        tree.add_to_cgroup(hierarchy, &container, 77);
    }
    std::os::unix::fs::symlink(tree.cgroup_root().join("cpu,cpuacct"), tree.cgroup_root().join("cpu")).unwrap();

    let by_cgroups = scanner(tree.config());
    let outcome = by_cgroups.refresh().unwrap();
    assert_eq!(
        (outcome.mode, outcome.pods, outcome.processes),
        (ScanMode::Cgroups, 1, 1)
    );
    let (uid, info) = find(&by_cgroups, 77).unwrap();
    assert_eq!((uid.as_str(), info.container_id.as_str()), (UID_A, CID));

    let by_walk = scanner(walk_config(&tree));
    by_walk.refresh().unwrap();
    assert_eq!(pods(&by_walk), pods(&by_cgroups));
}

#[test]
fn reused_pid_is_reattributed() {
    let tree = FixtureTree::new();
    let path_a = systemd_container_path(UID_A, CID);
    let path_b = systemd_container_path(UID_B, &container_id(9));
    tree.add_pod_process(500, 1, "old", 100, &path_a);
    tree.add_pod_process(600, 1, "first", 100, &path_a);
    let scanner = scanner(tree.config());
    scanner.refresh().unwrap();
    assert_eq!(pids_of(&scanner, UID_A), [500, 600]);

    // 500 exits and is reused in another pod; 600 is reused in the same pod.
    tree.remove_process(500);
    tree.add_pod_process(500, 1, "new", 200, &path_b);
    tree.remove_process(600);
    tree.add_pod_process(600, 2, "second", 300, &path_a);
    tree.set_cmdline(600, &["second", "--flag"]);
    let outcome = scanner.refresh().unwrap();
    assert!(outcome.changed);
    assert_eq!(pids_of(&scanner, UID_A), [600]);
    let (uid, info) = find(&scanner, 500).unwrap();
    assert_eq!((uid.as_str(), info.comm.as_str(), info.start_time), (UID_B, "new", 200));
    assert_eq!(info.container_id, container_id(9));
    let (_, info) = find(&scanner, 600).unwrap();
    assert_eq!(
        (info.comm.as_str(), info.cmdline.as_str(), info.ppid, info.start_time),
        ("second", "second --flag", 2, 300)
    );
}

#[test]
fn reused_pid_is_reattributed_in_walk_mode() {
    let tree = FixtureTree::new();
    tree.add_process(
        500,
        1,
        "old",
        100,
        &[&format!("0::{}", systemd_container_path(UID_A, CID))],
    );
    let scanner = scanner(walk_config(&tree));
    scanner.refresh().unwrap();
    tree.add_process(
        500,
        1,
        "new",
        200,
        &[&format!("0::{}", systemd_container_path(UID_B, CID))],
    );
    scanner.refresh().unwrap();
    assert!(pids_of(&scanner, UID_A).is_empty());
    assert_eq!(find(&scanner, 500).unwrap().1.comm, "new");
}

#[test]
fn vanished_process_leaves_the_index() {
    let tree = FixtureTree::new();
    let path = systemd_container_path(UID_A, CID);
    tree.add_pod_process(10, 1, "a", 1, &path);
    tree.add_pod_process(11, 1, "b", 1, &path);
    let scanner = scanner(tree.config());
    let mut generations = scanner.subscribe();
    let first = scanner.refresh().unwrap();
    assert!(generations.has_changed().unwrap());
    assert_eq!(*generations.borrow_and_update(), first.generation);

    tree.remove_process(11);
    let second = scanner.refresh().unwrap();
    assert_eq!(pids_of(&scanner, UID_A), [10]);
    assert_eq!(second.generation, first.generation + 1);
    assert_eq!(*generations.borrow_and_update(), second.generation);

    // Listed in cgroup.procs but already gone from /proc: skipped.
    tree.add_to_cgroup("", &path, 12);
    scanner.refresh().unwrap();
    assert_eq!(pids_of(&scanner, UID_A), [10]);
}

#[test]
fn generation_changes_only_with_content() {
    let tree = mixed_v2_tree();
    let scanner = scanner(tree.config());
    assert!(scanner.snapshot().is_none());
    let mut generations = scanner.subscribe();
    let first = scanner.refresh().unwrap();
    assert!(first.changed);
    assert_eq!(first.generation, 1);
    assert_eq!(*generations.borrow_and_update(), 1);
    let scanned_at = scanner.snapshot().unwrap().scanned_at;

    std::thread::sleep(Duration::from_millis(5));
    let again = scanner.refresh().unwrap();
    assert!(!again.changed);
    assert_eq!(again.generation, 1);
    assert!(!generations.has_changed().unwrap());
    let snapshot = scanner.snapshot().unwrap();
    assert_eq!(snapshot.generation, 1);
    assert_eq!(
        snapshot.scanned_at, scanned_at,
        "an unchanged refresh keeps the snapshot"
    );
    assert!(scanner.health().last_scan_at.unwrap() > scanned_at);

    // A changed ppid is a content change.
    tree.add_process(30, 77, "my app (v2)", 130, &[]);
    let third = scanner.refresh().unwrap();
    assert!(third.changed);
    assert_eq!(find(&scanner, 30).unwrap().1.ppid, 77);
}

#[test]
fn empty_first_snapshot_is_published() {
    let tree = FixtureTree::new();
    tree.make_cgroup("", "/kubepods.slice");
    let scanner = scanner(tree.config());
    let outcome = scanner.refresh().unwrap();
    assert_eq!((outcome.changed, outcome.generation, outcome.pods), (true, 1, 0));
    assert_eq!(outcome.mode, ScanMode::Cgroups);
    assert!(scanner.snapshot().unwrap().pods.is_empty());
    assert_eq!(*scanner.subscribe().borrow(), 1);
}

#[test]
fn known_processes_cost_one_stat_read() {
    let tree = FixtureTree::new();
    let path = systemd_container_path(UID_A, CID);
    tree.add_pod_process(10, 1, "nginx", 1, &path);
    let scanner = scanner(tree.config());
    scanner.refresh().unwrap();

    // Were comm or cmdline read again, the process would vanish or change.
    let dir = tree.proc_root().join("10");
    fs::remove_file(dir.join("comm")).unwrap();
    fs::remove_file(dir.join("cmdline")).unwrap();
    let outcome = scanner.refresh().unwrap();
    assert!(!outcome.changed);
    let (_, info) = find(&scanner, 10).unwrap();
    assert_eq!((info.comm.as_str(), info.cmdline.as_str()), ("nginx", "nginx"));

    // A new process whose comm cannot be read has exited: skipped.
    tree.add_pod_process(11, 1, "gone", 1, &path);
    fs::remove_file(tree.proc_root().join("11/comm")).unwrap();
    scanner.refresh().unwrap();
    assert_eq!(pids_of(&scanner, UID_A), [10]);
}

#[test]
fn exec_in_a_known_process_refreshes_comm() {
    let tree = FixtureTree::new();
    let path = systemd_container_path(UID_A, CID);
    tree.add_pod_process(10, 1, "runc:[2:INIT]", 1, &path);
    let scanner = scanner(tree.config());
    scanner.refresh().unwrap();
    // Same PID and start time, new task name (exec).
    tree.add_process(10, 1, "nginx", 1, &[]);
    tree.set_cmdline(10, &["nginx", "-g", "daemon off;"]);
    assert!(scanner.refresh().unwrap().changed);
    let (_, info) = find(&scanner, 10).unwrap();
    assert_eq!(
        (info.comm.as_str(), info.cmdline.as_str()),
        ("nginx", "nginx -g daemon off;")
    );
}

#[test]
fn unparsable_stat_gives_ppid_zero() {
    let tree = FixtureTree::new();
    tree.add_pod_process(10, 5, "x", 1, &systemd_container_path(UID_A, CID));
    fs::write(tree.proc_root().join("10/stat"), "garbage").unwrap();
    let scanner = scanner(tree.config());
    scanner.refresh().unwrap();
    let (_, info) = find(&scanner, 10).unwrap();
    assert_eq!((info.ppid, info.start_time, info.comm.as_str()), (0, 0, "x"));
    scanner.refresh().unwrap();
    assert_eq!(find(&scanner, 10).unwrap().1, info);
}

#[test]
fn failed_refresh_keeps_the_index_and_reports() {
    let tree = FixtureTree::new();
    tree.add_process(10, 1, "x", 1, &[&format!("0::{}", systemd_container_path(UID_A, CID))]);
    let mut registry = Registry::default();
    let scanner = ProcScanner::new(walk_config(&tree), &mut registry);
    scanner.refresh().unwrap();
    let moved: PathBuf = tree.path().join("proc-moved");
    fs::rename(tree.proc_root(), &moved).unwrap();
    let err = scanner.refresh().unwrap_err();
    assert!(matches!(err, ScanError::ProcRoot { .. }));
    assert_eq!(pids_of(&scanner, UID_A), [10]);
    let health = scanner.health();
    assert!(
        health.last_error.as_deref().is_some_and(|e| e.contains("proc root")),
        "{health:?}"
    );
    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    assert!(text.contains("gthulhu_dm_scan_errors_total 1\n"), "{text}");

    fs::rename(&moved, tree.proc_root()).unwrap();
    scanner.refresh().unwrap();
    assert_eq!(scanner.health().last_error, None);
}

#[test]
fn missing_proc_root_is_an_error_in_cgroup_mode_too() {
    let tree = FixtureTree::new();
    tree.make_cgroup("", "/kubepods.slice");
    let scanner = scanner(ScannerConfig {
        proc_root: tree.path().join("nope"),
        ..tree.config()
    });
    assert!(scanner.refresh().is_err());
    assert!(scanner.snapshot().is_none());
}

#[test]
fn metrics_are_registered() {
    let tree = FixtureTree::new();
    let mut registry = Registry::default();
    let scanner = ProcScanner::new(tree.config(), &mut registry);
    scanner.refresh().unwrap();
    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    assert!(
        text.contains("# HELP gthulhu_dm_scan_duration_seconds Duration of one PID-to-pod index refresh"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE gthulhu_dm_scan_duration_seconds histogram"),
        "{text}"
    );
    assert!(text.contains("gthulhu_dm_scan_duration_seconds_count 1\n"), "{text}");
    assert!(
        text.contains("gthulhu_dm_scan_duration_seconds_bucket{le=\"0.0001\"}"),
        "{text}"
    );
    assert!(
        text.contains("gthulhu_dm_scan_duration_seconds_bucket{le=\"5.0\"}"),
        "{text}"
    );
    assert!(
        text.contains("# HELP gthulhu_dm_scan_errors Index refreshes that failed"),
        "{text}"
    );
    assert!(text.contains("gthulhu_dm_scan_errors_total 0\n"), "{text}");
}

#[test]
fn threads_listed_numerically() {
    let tree = FixtureTree::new();
    tree.add_process(100, 1, "x", 1, &[]);
    for tid in [1000, 101, 20000] {
        tree.add_thread(100, tid);
    }
    let scanner = scanner(tree.config());
    assert_eq!(scanner.threads(100), [100, 101, 1000, 20000]);
    assert!(scanner.threads(999).is_empty());
}

/// Waits until `pred` holds for the published snapshot.
async fn wait_for(scanner: &ProcScanner, within: Duration, pred: impl Fn(&ProcScanner) -> bool) -> bool {
    let mut generations = scanner.subscribe();
    tokio::time::timeout(within, async {
        loop {
            if pred(scanner) {
                return;
            }
            let _ = generations.changed().await;
        }
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_refresh_follows_the_interval() {
    let tree = FixtureTree::new();
    tree.add_pod_process(10, 1, "a", 1, &systemd_container_path(UID_A, CID));
    let scanner = scanner(ScannerConfig {
        refresh_interval: Duration::from_millis(100),
        ..tree.config()
    });
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = scanner.spawn(shutdown);
    assert!(wait_for(&scanner, Duration::from_secs(5), |s| !pids_of(s, UID_A).is_empty()).await);
    assert!(!scanner.health().watching_cgroups);

    tree.add_pod_process(20, 1, "b", 1, &systemd_container_path(UID_B, CID));
    assert!(wait_for(&scanner, Duration::from_secs(2), |s| pids_of(s, UID_B) == [20]).await);
    tree.remove_process(10);
    assert!(wait_for(&scanner, Duration::from_secs(2), |s| pids_of(s, UID_A).is_empty()).await);

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops on shutdown")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cgroup_directory_events_trigger_a_refresh() {
    let tree = FixtureTree::new();
    tree.add_pod_process(10, 1, "a", 1, &systemd_container_path(UID_A, CID));
    let config = ScannerConfig {
        refresh_interval: Duration::from_secs(3600),
        watch_cgroups: true,
        ..tree.config()
    };
    let scanner = scanner(config);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = scanner.spawn(shutdown);
    let watching = tokio::time::timeout(Duration::from_secs(5), async {
        while !scanner.health().watching_cgroups {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    if watching.is_err() {
        eprintln!("inotify unavailable here; skipping the event part");
        stop.send(true).unwrap();
        return;
    }
    assert_eq!(pids_of(&scanner, UID_A), [10]);

    // A new pod cgroup: refreshed long before the hour-long interval.
    tree.add_process(20, 1, "b", 1, &[]);
    tree.add_to_cgroup("", &systemd_container_path(UID_B, CID), 20);
    assert!(wait_for(&scanner, Duration::from_secs(5), |s| pids_of(s, UID_B) == [20]).await);

    // A container cgroup inside the new pod (a directory watched since).
    let path_b2 = systemd_container_path(UID_B, &container_id(3));
    tree.add_process(21, 1, "c", 1, &[]);
    tree.add_to_cgroup("", &path_b2, 21);
    assert!(wait_for(&scanner, Duration::from_secs(5), |s| pids_of(s, UID_B) == [20, 21]).await);

    // Removal of a container cgroup.
    tree.remove_process(21);
    tree.remove_cgroup("", &path_b2);
    assert!(wait_for(&scanner, Duration::from_secs(5), |s| pids_of(s, UID_B) == [20]).await);

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops on shutdown")
        .unwrap();
}

#[tokio::test]
async fn background_refresh_stops_when_the_sender_is_dropped() {
    let tree = FixtureTree::new();
    let scanner = scanner(ScannerConfig {
        refresh_interval: Duration::from_millis(20),
        ..tree.config()
    });
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = scanner.spawn(shutdown);
    drop(stop);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops")
        .unwrap();
}

/// Spec 15 test 6 at the index level: every row of the 10.2 table as a
/// fake `/proc/<pid>/cgroup`, walked.
#[test]
fn walk_covers_every_row_of_the_cgroup_table() {
    let uid_ = UID_A.replace('-', "_");
    let kind_uid = "e52d4a2a-6e5f-44d9-a8b8-37ff3daa7413";
    let sd =
        |qos: &str, leaf: &str| format!("/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{uid_}.slice/{leaf}");
    let v1_cgroupfs = format!("/kubepods/burstable/pod{UID_A}/{CID}");
    let containerd = sd("burstable", &format!("cri-containerd-{CID}.scope"));
    // (cgroup lines, expected pod UID and container ID)
    type Row<'a> = (Vec<String>, Option<(&'a str, &'a str)>);
    let rows: Vec<Row> = vec![
        (vec![format!("0::{containerd}")], Some((UID_A, CID))),
        (
            vec![format!(
                "0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{}.slice/cri-containerd-{CID}.scope",
                kind_uid.replace('-', "_")
            )],
            Some((kind_uid, CID)),
        ),
        (
            vec![format!(
                "0::/kubepods.slice/kubepods-pod{uid_}.slice/cri-containerd-{CID}.scope"
            )],
            Some((UID_A, CID)),
        ),
        (vec![format!("0::{v1_cgroupfs}")], Some((UID_A, CID))),
        (vec![format!("0::/kubepods/pod{UID_A}/{CID}")], Some((UID_A, CID))),
        (
            vec![format!("0::{}", sd("besteffort", &format!("crio-{CID}.scope")))],
            Some((UID_A, CID)),
        ),
        (
            vec![format!("0::{}", sd("burstable", &format!("crio-conmon-{CID}.scope")))],
            Some((UID_A, "")),
        ),
        (
            vec![format!("0::/kubepods/besteffort/pod{UID_A}/crio-{CID}")],
            Some((UID_A, CID)),
        ),
        (
            vec![format!("0::{}", sd("burstable", &format!("docker-{CID}.scope")))],
            Some((UID_A, CID)),
        ),
        (
            vec![
                format!("11:memory:{v1_cgroupfs}"),
                format!("4:cpu,cpuacct:{v1_cgroupfs}"),
                format!("1:name=systemd:{v1_cgroupfs}"),
            ],
            Some((UID_A, CID)),
        ),
        (
            vec![
                format!("12:cpuset:{containerd}"),
                format!("1:name=systemd:{containerd}"),
            ],
            Some((UID_A, CID)),
        ),
        (
            vec![
                format!("12:cpuset:{containerd}"),
                format!("1:name=systemd:{containerd}"),
                format!("0::{containerd}"),
            ],
            Some((UID_A, CID)),
        ),
        (
            vec![format!(
                "0::/../../kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/cri-containerd-{CID}.scope"
            )],
            Some((UID_A, CID)),
        ),
        (vec!["0::/kubepods.slice/kubepods-burstable.slice".to_owned()], None),
        (vec!["0::/system.slice/containerd.service".to_owned()], None),
        (
            vec!["9:cpuset:/kubepods/burstable/pod123abc-456def/docker-abcdef.scope".to_owned()],
            None,
        ),
    ];
    assert_eq!(rows.len(), 16);
    let tree = FixtureTree::new();
    for (row, (lines, _)) in rows.iter().enumerate() {
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        tree.add_process(101 + row as u32, 1, "app", 1, &lines);
    }
    let scanner = scanner(walk_config(&tree));
    let outcome = scanner.refresh().unwrap();
    assert_eq!((outcome.pods, outcome.processes), (2, 13));
    for (row, (_, want)) in rows.into_iter().enumerate() {
        let got = find(&scanner, 101 + row as u32);
        let got = got.as_ref().map(|(uid, p)| (uid.as_str(), p.container_id.as_str()));
        assert_eq!(got, want, "row {}", row + 1);
    }
}

mod proportional;
mod real_proc;

use real_proc::{Children, make_old, real_proc_scanner};
