use std::time::{Duration, SystemTime};

/// One host process (TGID) that belongs to a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    /// TGID in the host PID namespace.
    pub pid: u32,
    /// Parent PID, 0 when unknown.
    pub ppid: u32,
    /// `/proc/<pid>/comm`, trimmed: the 15-byte task name regexes match.
    pub comm: String,
    /// `/proc/<pid>/cmdline`, arguments joined with single spaces.
    pub cmdline: String,
    /// Field 22 of `stat` (clock ticks since boot): tells a reused PID
    /// apart from the process that held it before.
    pub start_time: u64,
    /// Container ID from the cgroup path, `""` when unknown.
    pub container_id: String,
}

impl ProcessInfo {
    /// The pod sandbox process, listed in `pods/pids` but never scheduled.
    pub fn is_pause(&self) -> bool {
        self.comm == "pause"
    }
}

/// The processes of one pod, in scan order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodProcesses {
    /// Dashed pod UID derived from the cgroup path.
    pub pod_uid: String,
    pub processes: Vec<ProcessInfo>,
}

/// How the last index refresh found processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanMode {
    /// Pod cgroups discovered under the cgroup root(s), `cgroup.procs` read.
    Cgroups,
    /// No cgroup root readable: every `/proc/<pid>` walked.
    ProcWalk,
}

/// The PID→pod index at one point in time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSnapshot {
    /// Sorted by `pod_uid`.
    pub pods: Vec<PodProcesses>,
    /// When the refresh that produced this content finished; refreshes that
    /// find nothing changed keep the snapshot (`ScanHealth::last_scan_at`
    /// says when the last one ran).
    pub scanned_at: SystemTime,
    /// Bumped every time the content changes.
    pub generation: u64,
    pub mode: ScanMode,
}

impl ProcessSnapshot {
    pub fn empty(mode: ScanMode) -> Self {
        Self {
            pods: Vec::new(),
            scanned_at: SystemTime::now(),
            generation: 0,
            mode,
        }
    }

    pub fn process_count(&self) -> usize {
        self.pods.iter().map(|p| p.processes.len()).sum()
    }

    pub fn pod(&self, uid: &str) -> Option<&PodProcesses> {
        self.pods
            .binary_search_by(|p| p.pod_uid.as_str().cmp(uid))
            .ok()
            .map(|i| &self.pods[i])
    }
}

/// Health of the background refresher, for `/health` and logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanHealth {
    /// The error of the last refresh, if it failed (the previous index is kept).
    pub last_error: Option<String>,
    /// Duration of the last refresh.
    pub last_duration: Duration,
    /// Whether cgroup changes trigger refreshes (inotify).
    pub watching_cgroups: bool,
    /// When the last successful refresh ran. A refresh that finds nothing
    /// changed keeps the snapshot (and its `scanned_at`) as it was.
    pub last_scan_at: Option<SystemTime>,
}
