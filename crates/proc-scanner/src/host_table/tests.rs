//! The host task table over fixture trees (targeting.md 17 item 8), the
//! background loop, and one pass over the real `/proc`.

use std::collections::BTreeSet;
use std::fs;
use std::sync::mpsc;

use gthulhu_domain::HostTask;
use prometheus_client::encoding::text::encode;

use super::*;
use crate::fixture::FixtureTree;
use crate::stat::parse_stat;

/// A table over `tree` whose full re-read spans `k` passes, turned on.
fn table(tree: &FixtureTree, k: u32, scope: HostTaskScope) -> Arc<HostTable> {
    table_with(tree, k, scope, &mut Registry::default())
}

fn table_with(tree: &FixtureTree, k: u32, scope: HostTaskScope, registry: &mut Registry) -> Arc<HostTable> {
    let config = HostTableConfig {
        proc_root: tree.proc_root().to_owned(),
        refresh_interval: Duration::from_millis(100),
        full_refresh_interval: Duration::from_millis(100) * k,
    };
    let table = HostTable::new(config, registry);
    table.set_scope(scope);
    table
}

fn tasks(table: &HostTable, tgid: u32) -> Vec<(u32, String)> {
    let snapshot = table.snapshot().expect("a snapshot");
    let process = snapshot.process(tgid).unwrap_or_else(|| panic!("no process {tgid}"));
    process.tasks.iter().map(|t| (t.tid, t.comm.clone())).collect()
}

fn tgids(table: &HostTable) -> Vec<u32> {
    let snapshot = table.snapshot().expect("a snapshot");
    snapshot.processes.iter().map(|p| p.tgid).collect()
}

fn owned(tasks: &[(u32, &str)]) -> Vec<(u32, String)> {
    tasks.iter().map(|&(tid, comm)| (tid, comm.to_owned())).collect()
}

fn metrics(registry: &Registry) -> String {
    let mut text = String::new();
    encode(&mut text, registry).unwrap();
    text
}

/// Ten processes, 100..=109, leaders named `p<tgid>`.
fn ten_processes(tree: &FixtureTree) {
    for tgid in 100..110 {
        tree.add_threaded_process(tgid, &format!("p{tgid}"), u64::from(tgid), &[(tgid + 1000, "worker")]);
    }
}

#[test]
fn tasks_with_their_own_comm_and_kernel_threads() {
    let tree = FixtureTree::new();
    tree.add_threaded_process(100, "my app (v2)", 555, &[(101, "worker 1"), (130, ") S 9 (")]);
    tree.add_kernel_thread(2, "kthreadd", 1);
    tree.add_kernel_thread(7, "kworker/0:1", 3);
    // Not a TGID.
    fs::create_dir(tree.proc_root().join("sys")).unwrap();
    let table = table(&tree, 10, HostTaskScope::Host);
    assert_eq!(table.status(), HostTableStatus::Starting);
    assert!(table.snapshot().is_none());

    let outcome = table.pass().unwrap();
    assert!(outcome.changed && outcome.full);
    assert_eq!((outcome.generation, outcome.processes, outcome.threads), (1, 3, 5));
    assert_eq!(outcome.errors, 0);
    assert_eq!(tgids(&table), [2, 7, 100]);
    assert_eq!(
        tasks(&table, 100),
        owned(&[(100, "my app (v2)"), (101, "worker 1"), (130, ") S 9 (")])
    );
    assert_eq!(tasks(&table, 7), owned(&[(7, "kworker/0:1")]));
    let snapshot = table.snapshot().unwrap();
    assert_eq!(snapshot.process(100).unwrap().start_time, 555);
    assert_eq!(snapshot.scope, HostTaskScope::Host);
    assert_eq!(
        table.status().describe(),
        "periodic every 100 ms, host: 3 processes, 5 threads (proc connector: not implemented in this build)"
    );
}

#[test]
fn vanished_files_skip_silently_and_other_errors_count() {
    let tree = FixtureTree::new();
    tree.add_threaded_process(100, "app", 1, &[(101, "w")]);
    // A thread that exited between the `task/` listing and its `comm`.
    tree.add_thread(100, 102);
    // A process that exited before its `stat` was read.
    fs::create_dir(tree.proc_root().join("200")).unwrap();
    let mut registry = Registry::default();
    let table = table_with(&tree, 10, HostTaskScope::Host, &mut registry);
    let outcome = table.pass().unwrap();
    assert_eq!(outcome.errors, 0);
    assert_eq!(tgids(&table), [100]);
    assert_eq!(tasks(&table, 100), owned(&[(100, "app"), (101, "w")]));

    // A `comm` that cannot be read (EISDIR) is unexpected.
    tree.remove_task(100, 102);
    fs::create_dir_all(tree.proc_root().join("300/task/301/comm")).unwrap();
    tree.add_task(300, 300, "ok");
    fs::copy(tree.proc_root().join("100/stat"), tree.proc_root().join("300/stat")).unwrap();
    let outcome = table.pass().unwrap();
    assert_eq!(outcome.errors, 1);
    assert_eq!(tasks(&table, 300), owned(&[(300, "ok")]));
    assert!(metrics(&registry).contains("gthulhu_dm_host_walk_errors_total 1\n"));
}

#[test]
fn new_and_exited_processes_show_on_the_next_pass() {
    let tree = FixtureTree::new();
    ten_processes(&tree);
    let table = table(&tree, 100, HostTaskScope::Host);
    table.pass().unwrap();
    tree.remove_process(103);
    tree.add_threaded_process(500, "new", 9, &[]);
    let outcome = table.pass().unwrap();
    assert!(outcome.changed);
    assert_eq!(tgids(&table), [100, 101, 102, 104, 105, 106, 107, 108, 109, 500]);
    // The new TGID and a slice of one.
    assert_eq!(outcome.full_reads, 2);
    assert!(!outcome.full);
}

#[test]
fn reuse_is_detected_by_start_time() {
    let tree = FixtureTree::new();
    ten_processes(&tree);
    // k = 100: one TGID per slice, so the last one is not re-read by the
    // slice soon; the new directory inode leads to its start time.
    let table = table(&tree, 100, HostTaskScope::Host);
    table.pass().unwrap();
    assert_eq!(tasks(&table, 109), owned(&[(109, "p109"), (1109, "worker")]));
    tree.replace_process(109, "other", 999, &[(2000, "fresh")]);
    let outcome = table.pass().unwrap();
    assert!(outcome.changed);
    assert_eq!(tasks(&table, 109), owned(&[(109, "other"), (2000, "fresh")]));
    assert_eq!(table.snapshot().unwrap().process(109).unwrap().start_time, 999);
}

#[test]
fn same_start_time_under_a_new_inode_is_the_same_process() {
    let tree = FixtureTree::new();
    ten_processes(&tree);
    let table = table(&tree, 100, HostTaskScope::Host);
    table.pass().unwrap();
    // Same start time: only the start time is re-read, so the rename stays
    // unseen until the slice reaches it.
    tree.replace_process(109, "p109", 109, &[(1109, "renamed")]);
    let outcome = table.pass().unwrap();
    assert!(!outcome.changed);
    assert_eq!(outcome.full_reads, 1);
    assert_eq!(tasks(&table, 109), owned(&[(109, "p109"), (1109, "worker")]));
}

#[test]
fn sliced_full_reread_reaches_every_tgid_within_k_passes() {
    let tree = FixtureTree::new();
    ten_processes(&tree);
    let table = table(&tree, 5, HostTaskScope::Host);
    table.pass().unwrap();
    for tgid in 100..110 {
        tree.rename_task(tgid, tgid + 1000, "renamed");
    }
    tree.add_task(100, 1200, "late");
    tree.remove_task(109, 1109);
    let renamed = |table: &HostTable| {
        let snapshot = table.snapshot().unwrap();
        snapshot
            .processes
            .iter()
            .filter(|p| p.tasks.iter().any(|t| t.comm == "renamed"))
            .count()
    };

    // ⌈10 / 5⌉ = 2 TGIDs per pass.
    let outcome = table.pass().unwrap();
    assert_eq!((outcome.full_reads, outcome.full), (2, false));
    assert_eq!(renamed(&table), 2);
    for _ in 0..4 {
        table.pass().unwrap();
    }
    assert_eq!(renamed(&table), 9);
    assert_eq!(
        tasks(&table, 100),
        owned(&[(100, "p100"), (1100, "renamed"), (1200, "late")])
    );
    assert_eq!(tasks(&table, 109), owned(&[(109, "p109")]));
}

#[test]
fn a_failed_listing_keeps_the_previous_table() {
    let tree = FixtureTree::new();
    tree.add_threaded_process(100, "app", 1, &[]);
    let mut registry = Registry::default();
    let table = table_with(&tree, 10, HostTaskScope::Host, &mut registry);
    table.pass().unwrap();
    let before = table.snapshot().unwrap();

    let moved = tree.path().join("proc-moved");
    fs::rename(tree.proc_root(), &moved).unwrap();
    let error = table.pass().unwrap_err();
    assert!(matches!(error, HostWalkError::ProcRoot { .. }));
    assert!(Arc::ptr_eq(&before, &table.snapshot().unwrap()));
    let status = table.status().describe();
    assert!(
        status.starts_with("degraded: last walk failed: cannot list the proc root "),
        "{status}"
    );
    let text = metrics(&registry);
    assert!(text.contains("gthulhu_dm_host_walk_errors_total 1\n"), "{text}");
    assert!(
        text.contains("gthulhu_dm_host_table_mode{mode=\"periodic\"} 1\n"),
        "{text}"
    );

    fs::rename(&moved, tree.proc_root()).unwrap();
    assert!(!table.pass().unwrap().changed);
    assert!(matches!(table.status(), HostTableStatus::Periodic { processes: 1, .. }));
}

#[test]
fn a_failed_first_walk_publishes_nothing() {
    let tree = FixtureTree::new();
    let table = HostTable::new(
        HostTableConfig {
            proc_root: tree.path().join("nope"),
            ..HostTableConfig::default()
        },
        &mut Registry::default(),
    );
    table.set_scope(HostTaskScope::Host);
    assert!(table.pass().is_err());
    assert!(table.snapshot().is_none());
    assert!(matches!(table.status(), HostTableStatus::Degraded { .. }));
    table.set_scope(HostTaskScope::PodThreads(BTreeSet::from([1])));
    assert!(table.pass().is_err());
}

#[test]
fn pod_threads_cover_only_the_listed_tgids() {
    let tree = FixtureTree::new();
    for tgid in [10, 11, 12] {
        tree.add_threaded_process(tgid, "app", 1, &[(tgid * 10, "w")]);
    }
    let scope = HostTaskScope::PodThreads(BTreeSet::from([10, 12, 99]));
    let table = table(&tree, 100, scope.clone());
    let outcome = table.pass().unwrap();
    assert!(outcome.full);
    assert_eq!(tgids(&table), [10, 12]);
    assert_eq!(table.snapshot().unwrap().scope, scope);
    assert_eq!(
        table.status().describe(),
        "periodic every 100 ms, pod threads: 2 processes, 4 threads (proc connector: not implemented in this build)"
    );
    // Every covered TGID is re-read on every pass, whatever k.
    tree.rename_task(12, 120, "renamed");
    assert_eq!(table.pass().unwrap().full_reads, 3);
    assert_eq!(tasks(&table, 12), owned(&[(12, "app"), (120, "renamed")]));

    table.set_scope(HostTaskScope::Host);
    assert!(table.pass().unwrap().changed);
    assert_eq!(tgids(&table), [10, 11, 12]);
    assert_eq!(table.snapshot().unwrap().scope, HostTaskScope::Host);
    table.set_scope(HostTaskScope::PodThreads(BTreeSet::from([11])));
    table.pass().unwrap();
    assert_eq!(tgids(&table), [11]);
}

#[test]
fn off_releases_the_table() {
    let tree = FixtureTree::new();
    tree.add_threaded_process(100, "app", 1, &[]);
    let mut registry = Registry::default();
    let table = table_with(&tree, 10, HostTaskScope::Host, &mut registry);
    let mut generations = table.subscribe();
    table.pass().unwrap();
    assert_eq!(*generations.borrow_and_update(), 1);

    table.set_scope(HostTaskScope::Off);
    assert!(table.snapshot().is_none());
    assert_eq!(table.status().describe(), "off");
    assert!(generations.has_changed().unwrap());
    assert_eq!(*generations.borrow_and_update(), 2);
    let text = metrics(&registry);
    assert!(text.contains("gthulhu_dm_host_table_mode{mode=\"off\"} 1\n"), "{text}");
    assert!(text.contains("gthulhu_dm_host_processes 0\n"), "{text}");
    let outcome = table.pass().unwrap();
    assert_eq!((outcome.changed, outcome.processes), (false, 0));
    assert!(lock(&table.state).processes.is_empty());
    assert!(table.snapshot().is_none());

    table.set_scope(HostTaskScope::Host);
    assert_eq!(table.status().describe(), "starting: first walk not finished");
    assert!(table.snapshot().is_none());
    assert_eq!(table.pass().unwrap().generation, 3);
    assert_eq!(tgids(&table), [100]);
}

#[test]
fn nothing_changed_keeps_the_snapshot_and_the_generation() {
    let tree = FixtureTree::new();
    ten_processes(&tree);
    let table = table(&tree, 1, HostTaskScope::Host);
    let mut generations = table.subscribe();
    table.pass().unwrap();
    generations.borrow_and_update();
    let first = table.snapshot().unwrap();
    let outcome = table.pass().unwrap();
    assert_eq!(
        (outcome.changed, outcome.generation, outcome.full_reads),
        (false, 1, 10)
    );
    assert!(Arc::ptr_eq(&first, &table.snapshot().unwrap()));
    assert!(!generations.has_changed().unwrap());
    // Setting the current scope again is a no-op.
    table.set_scope(HostTaskScope::Host);
    assert!(!table.pass().unwrap().changed);

    tree.rename_task(105, 105, "renamed");
    assert_eq!(table.pass().unwrap().generation, 2);
    assert!(generations.has_changed().unwrap());
}

#[test]
fn intervals_are_raised_to_their_limits() {
    let config = |refresh, full| {
        HostTableConfig {
            proc_root: PathBuf::from("/proc"),
            refresh_interval: Duration::from_millis(refresh),
            full_refresh_interval: Duration::from_millis(full),
        }
        .normalized()
    };
    let millis = |c: HostTableConfig| (c.refresh_interval.as_millis(), c.full_refresh_interval.as_millis());
    assert_eq!(millis(config(10, 50)), (100, 100));
    assert_eq!(millis(config(1000, 500)), (1000, 1000));
    assert_eq!(millis(config(250, 1000)), (250, 1000));
    assert_eq!(config(250, 1000).slices(), 4);
    assert_eq!(config(300, 1000).slices(), 3);
    assert_eq!(HostTableConfig::default().normalized().slices(), 10);
}

#[test]
fn metrics_are_registered() {
    let tree = FixtureTree::new();
    tree.add_threaded_process(100, "app", 1, &[(101, "w")]);
    tree.add_kernel_thread(2, "kthreadd", 1);
    let mut registry = Registry::default();
    let table = HostTable::new(
        HostTableConfig {
            proc_root: tree.proc_root().to_owned(),
            ..HostTableConfig::default()
        },
        &mut registry,
    );
    let text = metrics(&registry);
    assert!(text.contains("gthulhu_dm_host_table_mode{mode=\"off\"} 1\n"), "{text}");
    assert!(
        text.contains("gthulhu_dm_host_table_mode{mode=\"events\"} 0\n"),
        "{text}"
    );
    table.set_scope(HostTaskScope::Host);
    table.pass().unwrap();
    table.pass().unwrap();
    let text = metrics(&registry);
    for line in [
        "# TYPE gthulhu_dm_host_processes gauge",
        "gthulhu_dm_host_processes 2\n",
        "gthulhu_dm_host_threads 3\n",
        "# TYPE gthulhu_dm_host_walk_duration_seconds histogram",
        "gthulhu_dm_host_walk_duration_seconds_count{kind=\"full\"} 1\n",
        "gthulhu_dm_host_walk_duration_seconds_count{kind=\"pass\"} 1\n",
        "# TYPE gthulhu_dm_host_walk_errors counter",
        "gthulhu_dm_host_walk_errors_total 0\n",
        "gthulhu_dm_host_table_mode{mode=\"off\"} 0\n",
        "gthulhu_dm_host_table_mode{mode=\"periodic\"} 1\n",
        "gthulhu_dm_host_table_mode{mode=\"events\"} 0\n",
    ] {
        assert!(text.contains(line), "{line:?} missing from\n{text}");
    }
}

/// Polls `condition` for up to 5 s.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn the_loop_follows_scope_changes() {
    let tree = FixtureTree::new();
    tree.add_threaded_process(10, "a", 1, &[]);
    tree.add_threaded_process(20, "b", 1, &[]);
    // An hour between passes: only a scope change can bring one soon.
    let hour = Duration::from_secs(3600);
    let table = HostTable::new(
        HostTableConfig {
            proc_root: tree.proc_root().to_owned(),
            refresh_interval: hour,
            full_refresh_interval: hour,
        },
        &mut Registry::default(),
    );
    let (stop, shutdown) = watch::channel(false);
    let handle = table.spawn(shutdown);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(table.snapshot().is_none());
    assert_eq!(table.status(), HostTableStatus::Off);

    table.set_scope(HostTaskScope::Host);
    eventually("the first pass", || table.snapshot().is_some()).await;
    assert_eq!(tgids(&table), [10, 20]);
    assert!(matches!(table.status(), HostTableStatus::Periodic { processes: 2, .. }));

    tree.add_threaded_process(30, "c", 1, &[]);
    table.set_scope(HostTaskScope::PodThreads(BTreeSet::from([10, 30])));
    eventually("the pod-threads pass", || {
        table
            .snapshot()
            .is_some_and(|s| matches!(s.scope, HostTaskScope::PodThreads(_)))
    })
    .await;
    assert_eq!(tgids(&table), [10, 30]);

    table.set_scope(HostTaskScope::Off);
    assert!(table.snapshot().is_none());
    eventually("the release", || lock(&table.state).processes.is_empty()).await;

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("the loop stops")
        .unwrap();
}

/// The tid of the calling thread, from `/proc/thread-self` (`<tgid>/task/<tid>`).
fn own_tid() -> u32 {
    let link = fs::read_link("/proc/thread-self").unwrap();
    link.file_name().unwrap().to_str().unwrap().parse().unwrap()
}

#[test]
fn real_proc_lists_a_renamed_thread() {
    let (tid_tx, tid_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        let tid = own_tid();
        fs::write(format!("/proc/self/task/{tid}/comm"), "gt-xyz-w0").unwrap();
        tid_tx.send(tid).unwrap();
        // Alive until the table has been read.
        done_rx.recv().ok();
    });
    let tid = tid_rx.recv().unwrap();

    let table = HostTable::new(HostTableConfig::default(), &mut Registry::default());
    table.set_scope(HostTaskScope::Host);
    let outcome = table.pass().unwrap();
    done_tx.send(()).unwrap();
    worker.join().unwrap();

    let snapshot = table.snapshot().unwrap();
    let pid = std::process::id();
    let me = snapshot.process(pid).expect("the test process");
    assert!(
        me.tasks.contains(&HostTask {
            tid,
            comm: "gt-xyz-w0".into()
        }),
        "{me:?}"
    );
    assert!(me.tasks.iter().any(|t| t.tid == pid));
    assert!(me.tasks.is_sorted_by_key(|t| t.tid));
    let stat = parse_stat(&fs::read_to_string("/proc/self/stat").unwrap()).unwrap();
    assert_eq!(me.start_time, stat.start_time);
    assert!(snapshot.processes.is_sorted_by_key(|p| p.tgid));
    assert_eq!(outcome.processes, snapshot.processes.len());
}
