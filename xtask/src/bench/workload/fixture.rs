//! A generated `/proc` and cgroup v2 tree (proc-scanner's `FixtureTree`):
//! the pod processes plus the non-pod processes a real node also runs.

use std::path::Path;
use std::time::Instant;

use gthulhu_proc_scanner::fixture::FixtureTree;

use super::{PodNames, Shape, Workload, churn_slots, pod_names};

/// Host services and kernel threads: a real node has many, and every full walk pays for them.
const SYSTEM_PROCESSES: u32 = 2_000;

pub struct FixtureWorkload {
    tree: FixtureTree,
    pods: Vec<PodNames>,
    /// Process slot → (pod index, current PID).
    slots: Vec<(usize, u32)>,
    next_pid: u32,
    rounds: usize,
}

impl FixtureWorkload {
    pub fn create(shape: Shape) -> Self {
        let started = Instant::now();
        let tree = FixtureTree::new();
        for pid in 1..=SYSTEM_PROCESSES {
            // Every fourth one a kernel thread in the root cgroup, the rest services.
            if pid % 4 == 0 {
                tree.add_process(pid, 2, &format!("kworker/{pid}"), u64::from(pid), &["0::/"]);
            } else {
                let line = format!("0::/system.slice/svc-{pid}.service");
                tree.add_process(pid, 1, &format!("svc-{pid}"), u64::from(pid), &[&line]);
            }
        }
        let pods = pod_names(shape);
        let mut workload = Self {
            tree,
            pods,
            slots: Vec::with_capacity(shape.processes),
            next_pid: SYSTEM_PROCESSES + 1,
            rounds: 0,
        };
        for i in 0..shape.processes {
            let pod = shape.pod_of(i);
            let pid = workload.add_pod_process(pod);
            workload.slots.push((pod, pid));
        }
        println!(
            "workload: generated {} pod processes in {} pods plus {SYSTEM_PROCESSES} system processes under {} in {:.1?}",
            shape.processes,
            shape.pods,
            workload.tree.path().display(),
            started.elapsed()
        );
        workload
    }

    fn add_pod_process(&mut self, pod: usize) -> u32 {
        let pid = self.next_pid;
        self.next_pid += 1;
        self.tree
            .add_pod_process(pid, 1, "sleep", u64::from(pid), &self.pods[pod].rel_path);
        pid
    }
}

impl Workload for FixtureWorkload {
    fn kind(&self) -> &'static str {
        "fixture"
    }

    fn proc_root(&self) -> &Path {
        self.tree.proc_root()
    }

    fn cgroup_root(&self) -> &Path {
        self.tree.cgroup_root()
    }

    fn pod_uids(&self) -> Vec<String> {
        self.pods.iter().map(|p| p.uid.clone()).collect()
    }

    fn churn(&mut self, count: usize) -> anyhow::Result<()> {
        let slots: Vec<usize> = churn_slots(self.slots.len(), count, self.rounds).collect();
        self.rounds += 1;
        for slot in slots {
            let (pod, old) = self.slots[slot];
            self.tree.remove_process(old);
            self.slots[slot].1 = self.add_pod_process(pod);
        }
        Ok(())
    }
}
