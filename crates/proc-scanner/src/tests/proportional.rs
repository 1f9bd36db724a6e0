//! A refresh costs what changed: nothing read and the snapshot kept when
//! nothing did, one process read when one process appears.

use super::*;

const CID_B: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

#[test]
fn real_proc_refresh_cost_follows_the_change() {
    let children = Children::sleeps(3);
    let pids: Vec<u32> = (0..3).map(|i| children.pid(i)).collect();
    let tree = FixtureTree::new();
    let scanner = real_proc_scanner(&tree, &pids[..2]);
    let mut generations = scanner.subscribe();
    assert!(scanner.refresh().unwrap().changed);
    generations.borrow_and_update();
    make_old(&scanner);
    let stat_reads = || lock(&scanner.state).last_stat_reads;

    let before = scanner.snapshot().unwrap();
    let outcome = scanner.refresh().unwrap();
    assert!(!outcome.changed);
    assert_eq!(
        (outcome.pods, outcome.processes, outcome.generation),
        (1, 2, before.generation)
    );
    assert_eq!(stat_reads(), 0);
    assert!(
        Arc::ptr_eq(&before, &scanner.snapshot().unwrap()),
        "an unchanged refresh publishes nothing new"
    );
    assert!(!generations.has_changed().unwrap());

    // A process appears in a second pod: it alone is read.
    let path = systemd_container_path(UID_B, CID_B);
    tree.make_cgroup("", &path);
    tree.add_to_cgroup("", &path, pids[2]);
    let outcome = scanner.refresh().unwrap();
    assert!(outcome.changed);
    assert_eq!((outcome.pods, outcome.processes), (2, 3));
    assert_eq!(stat_reads(), 1);
    assert_eq!(pids_of(&scanner, UID_B), [pids[2]]);
    assert_eq!(find(&scanner, pids[2]).unwrap().1.container_id, CID_B);
    assert!(generations.has_changed().unwrap());

    // It leaves: nothing is read, the pod goes.
    tree.remove_process(pids[2]);
    let outcome = scanner.refresh().unwrap();
    assert!(outcome.changed);
    assert_eq!((outcome.pods, stat_reads()), (1, 0));
}
