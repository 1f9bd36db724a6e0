//! The pod processes the bench measures: real `sleep`s in real pod cgroups
//! where this host lets us create them, else a generated tree of the same
//! shape. Both remove everything they made when dropped.

mod fixture;
mod real;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use gthulhu_proc_scanner::fixture::systemd_container_path;

/// How many pod processes, spread round-robin over how many pods.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub processes: usize,
    pub pods: usize,
}

impl Shape {
    /// The pod that process number `i` belongs to.
    fn pod_of(&self, i: usize) -> usize {
        i % self.pods
    }
}

pub trait Workload {
    /// `"real"` or `"fixture"`.
    fn kind(&self) -> &'static str;
    fn proc_root(&self) -> &Path;
    fn cgroup_root(&self) -> &Path;
    /// Dashed UIDs of the pods, one intent each.
    fn pod_uids(&self) -> Vec<String>;
    /// `count` pod processes exit and as many new ones start in the same pods.
    fn churn(&mut self, count: usize) -> anyhow::Result<()>;
}

/// Real processes unless `force_fixture` or the host does not allow them.
pub fn create(shape: Shape, force_fixture: bool) -> anyhow::Result<Box<dyn Workload>> {
    if force_fixture {
        println!("workload: --fixture given, generating a fake /proc and cgroup tree");
    } else {
        match real::preflight(shape) {
            Ok(v2_mount) => return Ok(Box::new(real::RealWorkload::create(shape, &v2_mount)?)),
            Err(reason) => println!("workload: real processes not possible ({reason:#}); generating a fake tree"),
        }
    }
    Ok(Box::new(fixture::FixtureWorkload::create(shape)))
}

/// One pod's names: UID, container ID and cgroup v2 path (systemd driver,
/// containerd, Burstable QoS: spec 10.2 row 1).
struct PodNames {
    uid: String,
    rel_path: String,
}

/// Names unique to this run, so pods that anyone else left on the host
/// never collide with ours.
fn pod_names(shape: Shape) -> Vec<PodNames> {
    let run = run_id();
    (0..shape.pods)
        .map(|n| {
            let uid = format!("{run:08x}-b3c0-4000-8000-{n:012x}");
            let container_id = format!("{run:08x}{n:056x}");
            let rel_path = systemd_container_path(&uid, &container_id);
            PodNames { uid, rel_path }
        })
        .collect()
}

fn run_id() -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    nanos ^ std::process::id().rotate_left(16)
}

/// The process slots replaced by churn round `round`: evenly spread over
/// all slots (hence over the pods), shifted each round.
fn churn_slots(total: usize, count: usize, round: usize) -> impl Iterator<Item = usize> {
    let count = count.min(total);
    let stride = total / count.max(1);
    (0..count).map(move |k| (round + k * stride) % total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_slots_are_distinct_and_spread() {
        let slots: Vec<usize> = churn_slots(10_000, 100, 3).collect();
        assert_eq!(slots.len(), 100);
        assert_eq!((slots[0], slots[1], slots[99]), (3, 103, 9903));
        assert_eq!(churn_slots(5, 10, 0).count(), 5);
    }

    #[test]
    fn pod_names_parse_as_pods() {
        let shape = Shape { processes: 4, pods: 2 };
        for pod in pod_names(shape) {
            let identity = gthulhu_proc_scanner::cgroup::parse_cgroup_file(&format!("0::{}\n", pod.rel_path)).unwrap();
            assert_eq!(identity.pod_uid, pod.uid);
            assert_eq!(identity.container_id.len(), 64);
        }
    }
}
