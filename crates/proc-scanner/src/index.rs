//! The PID→pod index between refreshes, and the snapshot built from it.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use gthulhu_domain::{PodProcesses, ProcessInfo};

use crate::cgroup::CgroupIdentity;
use crate::liveness::PidLiveness;
use crate::procfile::{read_cmdline, read_comm, read_stat};

/// One indexed process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub pod_uid: String,
    pub info: ProcessInfo,
    /// When this process was first read.
    pub indexed_at: Instant,
    /// Until then, a process whose pidfd says it is alive is not re-read.
    pub recheck_at: Instant,
}

/// Processes indexed less than this long ago have their `stat` re-read on
/// every refresh even when their pidfd says they are alive.
///
/// Why: a pidfd proves the PID was not reused, but says nothing about the
/// task name (exec, `prctl(PR_SET_NAME)`) or the ppid. Nothing cheaper than a
/// per-process read reports those exactly (the proc connector would, but it
/// needs `CAP_NET_ADMIN` in the initial network namespace and can drop
/// events). The rename that matters happens right after container start
/// (`runc:[2:INIT]` execs the entrypoint, which often execs the server), so
/// young processes are watched closely, older ones by the sweep below, and a
/// parent that leaves the index triggers a re-read of its children
/// (reparenting changes their ppid).
pub(crate) const YOUNG: Duration = Duration::from_secs(30);

/// Live processes older than [`YOUNG`] are re-read once every
/// `SWEEP / 2 .. SWEEP`, spread by PID so that they do not all come due
/// together. Bounds how stale a late exec, a self-rename or a reparenting
/// under a parent outside the index can be (10,000 processes: ~220 `stat`
/// reads per second).
pub(crate) const SWEEP: Duration = Duration::from_secs(60);

fn next_recheck(now: Instant, indexed_at: Instant, pid: u32) -> Instant {
    if now.saturating_duration_since(indexed_at) < YOUNG {
        now
    } else {
        now + SWEEP / 2 + SWEEP / 2 * (pid % 64) / 64
    }
}

/// How one refresh turns discovered PIDs into entries.
pub(crate) struct Resolver<'a> {
    pub proc_root: &'a Path,
    pub now: Instant,
    /// pidfds, when the proc root is the real `/proc`.
    pub liveness: Option<&'a mut PidLiveness>,
    /// Tracked PIDs whose process exited (or might have), polled once
    /// before the refresh.
    pub exited: HashSet<u32>,
    /// Indexed PIDs whose (indexed) parent exited or left the index since
    /// the last refresh: their ppid may have changed.
    pub orphans: HashSet<u32>,
    /// `stat` reads made so far (PID-reuse checks and new processes).
    pub stat_reads: usize,
    /// Whether an entry was added or differs from the previous one.
    pub changed: bool,
}

impl Resolver<'_> {
    /// The entry for a discovered PID. A known process in the same pod
    /// whose pidfd proves it alive costs no read at all until it is due for
    /// a recheck (see [`YOUNG`]). Otherwise a known process with the same
    /// start time costs one `stat` read (its ppid may change; a changed task
    /// name means an exec, so `comm`/`cmdline` are re-read). Anything else
    /// is read in full. `None` when the process is gone.
    pub(crate) fn resolve(
        &mut self,
        previous: &mut HashMap<u32, Entry>,
        pid: u32,
        identity: &CgroupIdentity,
    ) -> Option<Entry> {
        let CgroupIdentity { pod_uid, container_id } = identity;
        let mut known = previous.remove(&pid).filter(|e| e.pod_uid == *pod_uid);
        let proven_alive = known
            .as_ref()
            .is_some_and(|k| self.now < k.recheck_at && self.is_alive(pid) && !self.orphans.contains(&pid));
        if proven_alive && let Some(mut entry) = known.take() {
            if entry.info.container_id != *container_id {
                entry.info.container_id.clone_from(container_id);
                self.changed = true;
            }
            return Some(entry);
        }
        let dir = self.proc_root.join(pid.to_string());
        let stat = read_stat(&dir);
        self.stat_reads += 1;
        if let Some(known) = known
            && let Ok(stat) = &stat
            && stat.as_ref().map_or(0, |s| s.start_time) == known.info.start_time
        {
            let mut info = known.info;
            if info.container_id != *container_id {
                info.container_id.clone_from(container_id);
                self.changed = true;
            }
            if let Some(stat) = stat {
                if info.ppid != stat.ppid {
                    info.ppid = stat.ppid;
                    self.changed = true;
                }
                if stat.comm.trim() != info.comm {
                    info.comm = read_comm(&dir)?;
                    info.cmdline = read_cmdline(&dir);
                    self.changed = true;
                }
            }
            return Some(Entry {
                pod_uid: known.pod_uid,
                info,
                indexed_at: known.indexed_at,
                recheck_at: next_recheck(self.now, known.indexed_at, pid),
            });
        }
        let Some(comm) = read_comm(&dir) else {
            tracing::trace!(pid, "comm unreadable, process gone");
            return None;
        };
        self.changed = true;
        let stat = stat.ok().flatten();
        if let Some(liveness) = self.liveness.as_deref_mut() {
            match &stat {
                Some(stat) => {
                    liveness.track(pid, stat.start_time);
                }
                None => liveness.untrack(pid),
            }
        }
        let info = ProcessInfo {
            pid,
            ppid: stat.as_ref().map_or(0, |s| s.ppid),
            comm,
            cmdline: read_cmdline(&dir),
            start_time: stat.as_ref().map_or(0, |s| s.start_time),
            container_id: container_id.clone(),
        };
        Some(Entry {
            pod_uid: pod_uid.clone(),
            info,
            indexed_at: self.now,
            recheck_at: self.now,
        })
    }

    /// Whether a pidfd proves `pid` still held by the process indexed under it.
    fn is_alive(&self, pid: u32) -> bool {
        self.liveness.as_ref().is_some_and(|l| l.is_tracked(pid)) && !self.exited.contains(&pid)
    }
}

/// Pods sorted by UID; processes by PID compared as decimal strings
/// (upstream's directory order: `1000` before `2`).
pub(crate) fn build_pods(entries: &HashMap<u32, Entry>) -> Vec<PodProcesses> {
    let mut pods: BTreeMap<&str, Vec<&ProcessInfo>> = BTreeMap::new();
    for entry in entries.values() {
        pods.entry(&entry.pod_uid).or_default().push(&entry.info);
    }
    pods.into_iter()
        .map(|(uid, mut processes)| {
            processes.sort_unstable_by(|a, b| cmp_as_decimal_strings(a.pid, b.pid));
            PodProcesses {
                pod_uid: uid.to_owned(),
                processes: processes.into_iter().cloned().collect(),
            }
        })
        .collect()
}

/// `a.to_string().cmp(&b.to_string())` without allocating: pad both to the
/// same number of digits; on a tie the shorter (a prefix) comes first.
fn cmp_as_decimal_strings(a: u32, b: u32) -> Ordering {
    let (da, db) = (a.checked_ilog10().unwrap_or(0), b.checked_ilog10().unwrap_or(0));
    let width = da.max(db);
    let scaled = |n: u32, digits: u32| u64::from(n) * 10u64.pow(width - digits);
    scaled(a, da).cmp(&scaled(b, db)).then(da.cmp(&db))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recheck_schedule() {
        let now = Instant::now();
        assert_eq!(next_recheck(now, now, 7), now);
        let old = now.checked_sub(YOUNG).unwrap();
        let due: Vec<Duration> = (0..200).map(|pid| next_recheck(now, old, pid) - now).collect();
        assert!(due.iter().all(|d| *d >= SWEEP / 2 && *d < SWEEP));
        assert!(due.iter().any(|d| *d < SWEEP * 3 / 4) && due.iter().any(|d| *d > SWEEP * 3 / 4));
    }

    #[test]
    fn decimal_string_order() {
        let pairs = [
            (1000, 2),
            (1, 10),
            (10, 1),
            (100, 1000),
            (99, 100),
            (7, 7),
            (0, 1),
            (4_294_967_295, 5),
            (12, 119),
        ];
        for (a, b) in pairs {
            assert_eq!(
                cmp_as_decimal_strings(a, b),
                a.to_string().cmp(&b.to_string()),
                "{a} vs {b}"
            );
        }
        let mut pids = vec![2, 1000, 31, 3, 300, 30, 1];
        pids.sort_by(|a, b| cmp_as_decimal_strings(*a, *b));
        assert_eq!(pids, [1, 1000, 2, 3, 30, 300, 31]);
    }
}
