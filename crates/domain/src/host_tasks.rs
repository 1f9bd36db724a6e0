//! The DM's host task table (targeting.md 9): every task (thread) of the
//! processes it covers, with each task's own `comm`, kept current in the
//! background only while node intents or thread-level intents need it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// What the table covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum HostTaskScope {
    /// No walk, memory released.
    #[default]
    Off,
    /// Only these TGIDs (the processes of pods with a `matchThreads`
    /// intent), fully re-read on every pass.
    PodThreads(BTreeSet<u32>),
    /// Every TGID under the proc root, kernel threads included.
    Host,
}

impl HostTaskScope {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::PodThreads(_) => "pod threads",
            Self::Host => "host",
        }
    }
}

/// One task of a process: its TID in the host PID namespace and its own
/// `comm` (`task/<tid>/comm`, trimmed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostTask {
    pub tid: u32,
    pub comm: String,
}

/// One process (TGID) and its tasks, the leader (TID = TGID) included.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostProcess {
    pub tgid: u32,
    /// Field 22 of `stat`: a different value under the same TGID is a new
    /// process.
    pub start_time: u64,
    /// Sorted by `tid`.
    pub tasks: Vec<HostTask>,
}

/// The table at one point in time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostTaskSnapshot {
    /// Sorted by `tgid`.
    pub processes: Vec<HostProcess>,
    /// Bumped every time the content changes.
    pub generation: u64,
    pub scope: HostTaskScope,
}

impl HostTaskSnapshot {
    pub fn process(&self, tgid: u32) -> Option<&HostProcess> {
        self.processes
            .binary_search_by_key(&tgid, |p| p.tgid)
            .ok()
            .map(|i| &self.processes[i])
    }

    pub fn thread_count(&self) -> usize {
        self.processes.iter().map(|p| p.tasks.len()).sum()
    }
}

/// How the table is being kept, for `/health` (`checks.host_processes`)
/// and `gthulhu_dm_host_table_mode`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum HostTableStatus {
    #[default]
    Off,
    /// Turned on; the first walk has not finished.
    Starting,
    Periodic {
        interval: Duration,
        scope: &'static str,
        processes: usize,
        threads: usize,
        /// Why the proc connector is not used.
        events_unavailable: String,
    },
    /// The last walk failed; the previous table is kept.
    Degraded { detail: String },
}

impl HostTableStatus {
    /// The exact `checks.host_processes` text (targeting.md 9.7).
    pub fn describe(&self) -> String {
        match self {
            Self::Off => "off".into(),
            Self::Starting => "starting: first walk not finished".into(),
            Self::Periodic {
                interval,
                scope,
                processes,
                threads,
                events_unavailable,
            } => format!(
                "periodic every {} ms, {scope}: {processes} processes, {threads} threads (proc connector: {events_unavailable})",
                interval.as_millis()
            ),
            Self::Degraded { detail } => format!("degraded: last walk failed: {detail}"),
        }
    }

    /// The `mode` label of `gthulhu_dm_host_table_mode`.
    pub fn mode(&self) -> &'static str {
        match self {
            Self::Off => "off",
            _ => "periodic",
        }
    }
}

/// The host task table, kept in the background.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait HostTaskTable: Send + Sync {
    /// Changes what the table covers; setting the current scope again is a
    /// no-op. `Off` stops the walk and releases the table.
    fn set_scope(&self, scope: HostTaskScope);
    /// The latest table; `None` while off or until the first walk after it
    /// turned on has finished.
    fn snapshot(&self) -> Option<Arc<HostTaskSnapshot>>;
    /// Yields the snapshot generation each time the table changes.
    fn subscribe(&self) -> watch::Receiver<u64>;
    fn status(&self) -> HostTableStatus;
    /// One walk of the whole host for a preview while the table is not on
    /// for the host; concurrent and back-to-back callers share it.
    fn walk_once(&self) -> Option<Arc<HostTaskSnapshot>>;
}
