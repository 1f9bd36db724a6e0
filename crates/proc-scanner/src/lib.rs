//! The Decision Maker's PID→pod index (spec section 10): pod processes are
//! found through the kubepods cgroups (`cgroup.procs`), or by walking
//! `/proc` when no kubepods cgroup tree is visible, and kept current in the
//! background. A refresh reads `comm`/`cmdline` only for processes it has
//! not seen before, so its cost follows the pod processes, not the node.
//! Over the real `/proc`, each indexed process also has a pidfd: one `poll()`
//! tells which ones exited, and the others (alive, so their PID was not
//! reused) skip the `stat` read too, apart from a periodic recheck
//! (`index::YOUNG`, `index::SWEEP`).
//!
//! It also holds the DM's host task table ([`HostTable`], targeting.md 9):
//! every task of the covered processes with its own `comm`.

pub mod cgroup;
mod discover;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixture;
mod host_table;
mod index;
mod liveness;
mod procfile;
pub mod stat;
mod watcher;

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use gthulhu_domain::{ProcessIndex, ProcessSnapshot, ScanHealth, ScanMode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use crate::host_table::{HostTable, HostTableConfig, HostWalkError, PassOutcome};
use crate::index::{Entry, Resolver};
use crate::liveness::PidLiveness;
use crate::watcher::CgroupWatcher;

/// Where and how often to scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannerConfig {
    /// The host's `/proc`.
    pub proc_root: PathBuf,
    /// The host's cgroup mount (`/sys/fs/cgroup`): a v2 mount, or a
    /// directory of v1 (and hybrid `unified`) hierarchies.
    pub cgroup_root: PathBuf,
    pub refresh_interval: Duration,
    /// Refresh at once on cgroup directory changes (inotify).
    pub watch_cgroups: bool,
}

impl Default for ScannerConfig {
    fn default() -> Self {
        Self {
            proc_root: PathBuf::from("/proc"),
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            refresh_interval: Duration::from_secs(1),
            watch_cgroups: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot read the proc root {}: {source}", path.display())]
    ProcRoot {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What one refresh found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshOutcome {
    /// Whether the pods or processes differ from the previous snapshot
    /// (always true for the first one).
    pub changed: bool,
    /// Generation of the snapshot now published.
    pub generation: u64,
    pub mode: ScanMode,
    pub pods: usize,
    pub processes: usize,
    pub duration: Duration,
}

struct Metrics {
    duration: Histogram,
    errors: Counter,
}

/// The PID→pod index; see the crate docs.
pub struct ProcScanner {
    config: ScannerConfig,
    /// The index the last successful refresh built; held during a refresh,
    /// which serialises refreshes.
    state: Mutex<IndexState>,
    snapshot: ArcSwapOption<ProcessSnapshot>,
    generation: watch::Sender<u64>,
    health: Mutex<ScanHealth>,
    metrics: Metrics,
}

struct IndexState {
    entries: HashMap<u32, Entry>,
    /// One pidfd per indexed process, when scanning the real `/proc`
    /// (fixture trees use `stat` reads only).
    liveness: Option<PidLiveness>,
    /// `stat` reads the last refresh made (tests, trace log).
    last_stat_reads: usize,
}

/// Buckets of the walk-duration histograms, in seconds.
const DURATION_BUCKETS: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Shortest wait between interval refreshes, whatever the configuration says.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ProcScanner {
    /// Registers `gthulhu_dm_scan_duration_seconds` and `gthulhu_dm_scan_errors`.
    pub fn new(config: ScannerConfig, registry: &mut Registry) -> Arc<Self> {
        let duration = Histogram::new(DURATION_BUCKETS);
        let errors = Counter::default();
        registry.register(
            "gthulhu_dm_scan_duration_seconds",
            "Duration of one PID-to-pod index refresh",
            duration.clone(),
        );
        registry.register("gthulhu_dm_scan_errors", "Index refreshes that failed", errors.clone());
        let liveness = PidLiveness::for_proc_root(&config.proc_root);
        Arc::new(Self {
            config,
            state: Mutex::new(IndexState {
                entries: HashMap::new(),
                liveness,
                last_stat_reads: 0,
            }),
            snapshot: ArcSwapOption::empty(),
            generation: watch::Sender::new(0),
            health: Mutex::new(ScanHealth::default()),
            metrics: Metrics { duration, errors },
        })
    }

    /// One refresh, synchronously (tests, benches). Keeps the previous index on error.
    pub fn refresh(&self) -> Result<RefreshOutcome, ScanError> {
        self.refresh_and_list_dirs().map(|(outcome, _)| outcome)
    }

    /// Also returns the directories to watch for cgroup changes.
    fn refresh_and_list_dirs(&self) -> Result<(RefreshOutcome, Vec<PathBuf>), ScanError> {
        let started = Instant::now();
        let result = self.scan(started);
        let elapsed = started.elapsed();
        self.metrics.duration.observe(elapsed.as_secs_f64());
        let mut health = lock(&self.health);
        health.last_duration = elapsed;
        match &result {
            Ok(_) => health.last_error = None,
            Err(e) => {
                self.metrics.errors.inc();
                tracing::warn!(error = %e, "PID-to-pod index refresh failed; keeping the previous index");
                health.last_error = Some(e.to_string());
            }
        }
        result
    }

    fn scan(&self, started: Instant) -> Result<(RefreshOutcome, Vec<PathBuf>), ScanError> {
        let mut state = lock(&self.state);
        let IndexState {
            entries,
            liveness,
            last_stat_reads,
        } = &mut *state;
        let found = discover::discover(&self.config.proc_root, &self.config.cgroup_root)?;
        let mut previous = std::mem::take(entries);
        let indexed_before = previous.len();
        // Polled after discovery, never before: a pidfd still unreadable now
        // proves its process held the PID when `cgroup.procs` listed it.
        let exited = liveness.as_ref().map(PidLiveness::exited).unwrap_or_default();
        let orphans = if liveness.is_some() {
            orphans(&previous, |pid| exited.contains(&pid) || !found.pids.contains_key(&pid))
        } else {
            HashSet::new()
        };
        let mut resolver = Resolver {
            proc_root: &self.config.proc_root,
            now: Instant::now(),
            liveness: liveness.as_mut(),
            exited,
            orphans,
            stat_reads: 0,
            changed: false,
        };
        let mut next = HashMap::with_capacity(found.pids.len());
        for (&pid, &identity) in &found.pids {
            if let Some(entry) = resolver.resolve(&mut previous, pid, &found.identities[identity]) {
                next.insert(pid, entry);
            }
        }
        // Entries left in `previous` left the pods; a shorter index lost
        // processes that exited while being read.
        let entries_changed = resolver.changed || !previous.is_empty() || next.len() != indexed_before;
        *last_stat_reads = resolver.stat_reads;
        if let Some(liveness) = liveness {
            liveness.retain(|pid| next.contains_key(&pid));
            tracing::trace!(
                pidfds = liveness.len(),
                stat_reads = *last_stat_reads,
                "pod processes with a pidfd"
            );
        }
        *entries = next;
        lock(&self.health).last_scan_at = Some(SystemTime::now());

        // Nothing added, removed or changed: the published snapshot stays,
        // so an idle node's refresh neither rebuilds nor compares the pods.
        let last = self.snapshot.load_full();
        if let Some(last) = last.as_ref().filter(|s| !entries_changed && s.mode == found.mode) {
            let outcome = RefreshOutcome {
                changed: false,
                generation: last.generation,
                mode: last.mode,
                pods: last.pods.len(),
                processes: last.process_count(),
                duration: started.elapsed(),
            };
            return Ok((outcome, found.watch_dirs));
        }
        let pods = index::build_pods(entries);
        let changed = last.as_ref().is_none_or(|s| s.pods != pods);
        let generation = last.map_or(0, |s| s.generation) + u64::from(changed);
        let snapshot = ProcessSnapshot {
            pods,
            scanned_at: SystemTime::now(),
            generation,
            mode: found.mode,
        };
        let outcome = RefreshOutcome {
            changed,
            generation,
            mode: found.mode,
            pods: snapshot.pods.len(),
            processes: snapshot.process_count(),
            duration: started.elapsed(),
        };
        self.snapshot.store(Some(Arc::new(snapshot)));
        if changed {
            self.generation.send_replace(generation);
        }
        Ok((outcome, found.watch_dirs))
    }

    /// Background refresher on the current tokio runtime: refreshes every
    /// `refresh_interval`, and right after (debounced) cgroup directory
    /// changes when `watch_cgroups` is set and inotify works. Stops when
    /// `shutdown` becomes true or its sender is dropped.
    pub fn spawn(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let scanner = Arc::clone(self);
        let interval = scanner.config.refresh_interval.max(MIN_INTERVAL);
        tokio::spawn(async move {
            let mut watcher = if scanner.config.watch_cgroups {
                CgroupWatcher::new()
                    .inspect_err(|error| tracing::warn!(%error, "inotify unavailable; refreshing on the interval only"))
                    .ok()
            } else {
                None
            };
            loop {
                if *shutdown.borrow_and_update() {
                    break;
                }
                let worker = Arc::clone(&scanner);
                let rescan_soon = match tokio::task::spawn_blocking(move || worker.refresh_and_list_dirs()).await {
                    Ok(Ok((_, dirs))) => watcher.as_mut().is_some_and(|w| w.sync(&dirs) > 0),
                    // Already logged and recorded in the health.
                    Ok(Err(_)) => false,
                    Err(error) => {
                        tracing::error!(%error, "PID-to-pod index refresh task failed");
                        false
                    }
                };
                lock(&scanner.health).watching_cgroups = watcher.as_ref().is_some_and(CgroupWatcher::is_active);
                tokio::select! {
                    changed = shutdown.changed() => {
                        if changed.is_err() {
                            break;
                        }
                    }
                    () = tokio::time::sleep(if rescan_soon { watcher::DEBOUNCE } else { interval }) => {}
                    result = next_cgroup_change(watcher.as_mut()) => {
                        if let Err(error) = result {
                            tracing::warn!(%error, "inotify failed; refreshing on the interval only");
                            watcher = None;
                        }
                    }
                }
            }
        })
    }
}

/// The indexed PIDs whose parent is an indexed process that `departed`
/// (exited, or left the pod cgroups): reparented, so their ppid changed.
fn orphans(entries: &HashMap<u32, Entry>, departed: impl Fn(u32) -> bool) -> HashSet<u32> {
    entries
        .values()
        .filter(|e| entries.contains_key(&e.info.ppid) && departed(e.info.ppid))
        .map(|e| e.info.pid)
        .collect()
}

async fn next_cgroup_change(watcher: Option<&mut CgroupWatcher>) -> io::Result<()> {
    match watcher {
        Some(watcher) => watcher.changed().await,
        None => std::future::pending().await,
    }
}

impl ProcessIndex for ProcScanner {
    fn snapshot(&self) -> Option<Arc<ProcessSnapshot>> {
        self.snapshot.load_full()
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    fn health(&self) -> ScanHealth {
        lock(&self.health).clone()
    }

    fn threads(&self, pid: u32) -> Vec<u32> {
        procfile::read_threads(&self.config.proc_root.join(pid.to_string()))
    }
}

#[cfg(test)]
mod tests;
