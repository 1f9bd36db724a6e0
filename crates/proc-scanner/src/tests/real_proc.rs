//! Over the real `/proc`: pidfds, start times and exits of real child
//! processes.

use super::*;

/// Fixture (non-`/proc`) roots keep the `stat` path: no pidfds, and every
/// known process is checked through `stat` on every refresh.
#[test]
fn fixture_roots_use_the_stat_path() {
    let tree = FixtureTree::new();
    let path = systemd_container_path(UID_A, CID);
    tree.add_pod_process(10, 1, "nginx", 1, &path);
    tree.add_pod_process(11, 1, "nginx", 1, &path);
    let scanner = scanner(tree.config());
    scanner.refresh().unwrap();
    assert!(lock(&scanner.state).liveness.is_none());
    // Even once old and not due for a recheck.
    make_old(&scanner);
    assert!(!scanner.refresh().unwrap().changed);
    assert_eq!(lock(&scanner.state).last_stat_reads, 2);
    tree.add_process(10, 42, "nginx", 1, &[]);
    assert!(scanner.refresh().unwrap().changed);
    assert_eq!(find(&scanner, 10).unwrap().1.ppid, 42);
}

/// Marks every entry indexed long ago and not due for a recheck.
pub(super) fn make_old(scanner: &ProcScanner) {
    let mut state = lock(&scanner.state);
    let now = Instant::now();
    let long_ago = now
        .checked_sub(index::YOUNG + Duration::from_secs(1))
        .expect("uptime above YOUNG");
    for entry in state.entries.values_mut() {
        entry.indexed_at = long_ago;
        entry.recheck_at = now + index::SWEEP;
    }
}

/// Real child processes, killed and reaped on drop.
pub(super) struct Children(Vec<std::process::Child>);

impl Children {
    pub(super) fn sleeps(n: usize) -> Self {
        Self((0..n).map(|_| spawn(&["sleep", "600"])).collect())
    }

    pub(super) fn pid(&self, i: usize) -> u32 {
        self.0[i].id()
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub(super) fn spawn(argv: &[&str]) -> std::process::Child {
    std::process::Command::new(argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn a child process")
}

/// A scanner over the real `/proc` whose cgroup root is a fixture tree
/// listing the given PIDs in one container.
pub(super) fn real_proc_scanner(tree: &FixtureTree, pids: &[u32]) -> Arc<ProcScanner> {
    let path = systemd_container_path(UID_A, CID);
    tree.make_cgroup("", &path);
    for &pid in pids {
        tree.add_to_cgroup("", &path, pid);
    }
    scanner(ScannerConfig {
        proc_root: PathBuf::from("/proc"),
        ..tree.config()
    })
}

pub(super) fn wait_until(what: &str, pred: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub(super) fn has_exited(pid: u32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')')
        .is_none_or(|(_, rest)| rest.trim_start().starts_with('Z'))
}

#[test]
fn real_proc_live_processes_with_pidfds_cost_no_read() {
    let children = Children::sleeps(3);
    let pids: Vec<u32> = (0..3).map(|i| children.pid(i)).collect();
    let tree = FixtureTree::new();
    let scanner = real_proc_scanner(&tree, &pids);
    let first = scanner.refresh().unwrap();
    assert_eq!((first.pods, first.processes), (1, 3));
    let (uid, info) = find(&scanner, pids[0]).unwrap();
    assert_eq!(uid, UID_A);
    assert_eq!(
        (info.comm.as_str(), info.ppid, info.container_id.as_str()),
        ("sleep", std::process::id(), CID)
    );
    let stat_reads = || lock(&scanner.state).last_stat_reads;
    let pidfds = || lock(&scanner.state).liveness.as_ref().map(|l| l.len());
    assert_eq!((stat_reads(), pidfds()), (3, Some(3)));

    // Young processes are still read on every refresh (exec renames)...
    assert!(!scanner.refresh().unwrap().changed);
    assert_eq!(stat_reads(), 3);
    // ...old live ones are not read at all.
    make_old(&scanner);
    assert!(!scanner.refresh().unwrap().changed);
    assert_eq!(stat_reads(), 0);
    // Due for the sweep: read again.
    for entry in lock(&scanner.state).entries.values_mut() {
        entry.recheck_at = Instant::now();
    }
    assert!(!scanner.refresh().unwrap().changed);
    assert_eq!(stat_reads(), 3);
    make_old(&scanner);

    // A killed and reaped process still listed in cgroup.procs: its pidfd
    // is readable, the stat check finds it gone.
    let mut children = children;
    children.0[0].kill().unwrap();
    children.0[0].wait().unwrap();
    assert!(scanner.refresh().unwrap().changed);
    assert_eq!(pids_of(&scanner, UID_A).len(), 2);
    assert_eq!(find(&scanner, pids[0]), None);
    assert_eq!((stat_reads(), pidfds()), (1, Some(2)));
    // (The kernel drops it from cgroup.procs; a listed but gone PID costs a read.)
    tree.remove_process(pids[0]);

    // A zombie has exited too, but holds its PID and start time: it is
    // checked through stat (and kept, as without pidfds) on every refresh.
    children.0[1].kill().unwrap();
    wait_until("the zombie", || has_exited(pids[1]));
    assert!(!scanner.refresh().unwrap().changed);
    assert_eq!(stat_reads(), 1);
    assert!(find(&scanner, pids[1]).is_some());

    // Leaving cgroup.procs drops the pidfd.
    tree.remove_process(pids[2]);
    scanner.refresh().unwrap();
    assert_eq!(pids_of(&scanner, UID_A), [pids[1]]);
    assert_eq!(pidfds(), Some(1));
}

#[test]
fn real_proc_exec_in_a_young_process_refreshes_comm() {
    let mut children = Children(vec![spawn(&["sh", "-c", "read line; exec sleep 600"])]);
    let pid = children.pid(0);
    let tree = FixtureTree::new();
    let scanner = real_proc_scanner(&tree, &[pid]);
    scanner.refresh().unwrap();
    assert_eq!(find(&scanner, pid).unwrap().1.comm, "sh");
    use std::io::Write as _;
    let stdin = children.0[0].stdin.as_mut().unwrap();
    stdin.write_all(b"go\n").unwrap();
    stdin.flush().unwrap();
    wait_until("the exec", || {
        fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
    });
    assert!(scanner.refresh().unwrap().changed);
    let (_, info) = find(&scanner, pid).unwrap();
    assert_eq!((info.comm.as_str(), info.cmdline.as_str()), ("sleep", "sleep 600"));
}

#[test]
fn real_proc_children_of_an_exited_parent_are_reread() {
    // sh forks a sleep and prints its PID; both are pod processes.
    let mut children = Children(vec![spawn(&["sh", "-c", "sleep 600 & echo $!; wait"])]);
    let parent = children.pid(0);
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(children.0[0].stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let orphan: u32 = line.trim().parse().unwrap();
    let tree = FixtureTree::new();
    let scanner = real_proc_scanner(&tree, &[parent, orphan]);
    scanner.refresh().unwrap();
    assert_eq!(find(&scanner, orphan).unwrap().1.ppid, parent);
    make_old(&scanner);
    assert!(!scanner.refresh().unwrap().changed);
    assert_eq!(lock(&scanner.state).last_stat_reads, 0);

    children.0[0].kill().unwrap();
    children.0[0].wait().unwrap();
    wait_until("the reparenting", || {
        fs::read_to_string(format!("/proc/{orphan}/stat"))
            .ok()
            .and_then(|s| crate::stat::parse_stat(&s))
            .is_some_and(|s| s.ppid != parent)
    });
    assert!(scanner.refresh().unwrap().changed);
    // The dead parent and its (old, alive) child were read; nothing else.
    assert_eq!(lock(&scanner.state).last_stat_reads, 2);
    assert_eq!(pids_of(&scanner, UID_A), [orphan]);
    assert_ne!(find(&scanner, orphan).unwrap().1.ppid, parent);
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_raw(orphan as i32).unwrap(),
        rustix::process::Signal::KILL,
    );
}
