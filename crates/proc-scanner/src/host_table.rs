//! The DM's host task table in periodic mode (targeting.md 9.3): every
//! task of the covered processes with its own `comm`, kept by one pass
//! every `refresh_interval`. A pass lists the proc root and reads completely
//! only the new TGIDs and a rotating slice of the known ones, so every TGID
//! is re-read within `full_refresh_interval` and an idle node's pass costs a
//! directory listing.

mod walk;

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use gthulhu_domain::{HostTableStatus, HostTaskScope, HostTaskSnapshot, HostTaskTable};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::host_table::walk::{TableState, Walk};
use crate::{DURATION_BUCKETS, lock};

/// Where and how often to walk (targeting.md 14).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostTableConfig {
    /// The host's `/proc`.
    pub proc_root: PathBuf,
    /// One pass (`scan.host_refresh_interval_ms`).
    pub refresh_interval: Duration,
    /// Every TGID fully re-read within this period
    /// (`scan.host_full_refresh_interval_ms`).
    pub full_refresh_interval: Duration,
}

impl Default for HostTableConfig {
    fn default() -> Self {
        Self {
            proc_root: PathBuf::from("/proc"),
            refresh_interval: Duration::from_millis(1000),
            full_refresh_interval: Duration::from_millis(10_000),
        }
    }
}

/// Shortest interval, whatever the configuration says (targeting.md 14).
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// The `<reason>` of the `/health` text: this build has no proc connector.
const EVENTS_UNAVAILABLE: &str = "not implemented in this build";

/// The `mode` label values of `gthulhu_dm_host_table_mode`.
const MODES: [&str; 3] = ["off", "periodic", "events"];

impl HostTableConfig {
    /// Raises the intervals to the limits of targeting.md 14, with a warning.
    fn normalized(mut self) -> Self {
        if self.refresh_interval < MIN_INTERVAL {
            tracing::warn!(
                configured_ms = self.refresh_interval.as_millis(),
                "scan.host_refresh_interval_ms below 100 ms; using 100 ms"
            );
            self.refresh_interval = MIN_INTERVAL;
        }
        if self.full_refresh_interval < self.refresh_interval {
            tracing::warn!(
                configured_ms = self.full_refresh_interval.as_millis(),
                pass_ms = self.refresh_interval.as_millis(),
                "scan.host_full_refresh_interval_ms below the pass interval; using the pass interval"
            );
            self.full_refresh_interval = self.refresh_interval;
        }
        self
    }

    /// k of targeting.md 9.3: the passes over which every TGID is re-read.
    fn slices(&self) -> usize {
        let k = self.full_refresh_interval.as_millis() / self.refresh_interval.as_millis();
        usize::try_from(k).unwrap_or(usize::MAX).max(1)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HostWalkError {
    #[error("cannot list the proc root {}: {source}", path.display())]
    ProcRoot {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassOutcome {
    /// Whether a new snapshot was published (always for the first pass
    /// after the table turned on).
    pub changed: bool,
    /// Generation of the snapshot now published.
    pub generation: u64,
    pub processes: usize,
    pub threads: usize,
    /// TGIDs read completely: new, reused and the rotating slice.
    pub full_reads: usize,
    /// Whether every covered TGID was read completely (`kind="full"`).
    pub full: bool,
    /// Tasks and processes skipped on unexpected errors.
    pub errors: u64,
    pub duration: Duration,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabel {
    mode: &'static str,
}

struct Metrics {
    processes: Gauge,
    threads: Gauge,
    walk_duration: Family<KindLabel, Histogram, fn() -> Histogram>,
    walk_errors: Counter,
    mode: Family<ModeLabel, Gauge>,
}

impl Metrics {
    fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            processes: Gauge::default(),
            threads: Gauge::default(),
            walk_duration: Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS)),
            walk_errors: Counter::default(),
            mode: Family::default(),
        };
        registry.register(
            "gthulhu_dm_host_processes",
            "Processes in the host task table",
            metrics.processes.clone(),
        );
        registry.register(
            "gthulhu_dm_host_threads",
            "Tasks (threads) in the host task table",
            metrics.threads.clone(),
        );
        registry.register(
            "gthulhu_dm_host_walk_duration_seconds",
            "Duration of one host task table walk, by kind (pass or full)",
            metrics.walk_duration.clone(),
        );
        // The encoder appends `_total`.
        registry.register(
            "gthulhu_dm_host_walk_errors",
            "Host tasks skipped on unexpected errors, and failed walks",
            metrics.walk_errors.clone(),
        );
        registry.register(
            "gthulhu_dm_host_table_mode",
            "1 for the current mode of the host task table",
            metrics.mode.clone(),
        );
        metrics.set_mode(HostTableStatus::Off.mode());
        metrics
    }

    fn set_mode(&self, current: &str) {
        for mode in MODES {
            self.mode
                .get_or_create(&ModeLabel { mode })
                .set(i64::from(mode == current));
        }
    }

    fn set_size(&self, processes: usize, threads: usize) {
        self.processes.set(i64::try_from(processes).unwrap_or(i64::MAX));
        self.threads.set(i64::try_from(threads).unwrap_or(i64::MAX));
    }
}

/// The host task table; see the module docs.
pub struct HostTable {
    config: HostTableConfig,
    /// The table itself; held for a whole pass, which serialises passes.
    state: Mutex<TableState>,
    /// Never held across I/O, so `set_scope` and `status` never wait for a
    /// pass. `set_scope` changes the scope under it and a pass publishes
    /// under it, so a pass never publishes a table of a replaced scope.
    status: Mutex<HostTableStatus>,
    scope: watch::Sender<HostTaskScope>,
    snapshot: ArcSwapOption<HostTaskSnapshot>,
    generation: watch::Sender<u64>,
    metrics: Metrics,
    /// The last one-off walk for previews, and when it finished: reused
    /// within one pass interval, so concurrent previews share one walk.
    one_off: Mutex<Option<(Instant, Arc<HostTaskSnapshot>)>>,
}

impl HostTable {
    /// Starts off. Registers `gthulhu_dm_host_processes`,
    /// `gthulhu_dm_host_threads`, `gthulhu_dm_host_walk_duration_seconds`,
    /// `gthulhu_dm_host_walk_errors_total` and `gthulhu_dm_host_table_mode`.
    pub fn new(config: HostTableConfig, registry: &mut Registry) -> Arc<Self> {
        Arc::new(Self {
            config: config.normalized(),
            state: Mutex::new(TableState::default()),
            status: Mutex::new(HostTableStatus::Off),
            scope: watch::Sender::new(HostTaskScope::Off),
            snapshot: ArcSwapOption::empty(),
            generation: watch::Sender::new(0),
            metrics: Metrics::register(registry),
            one_off: Mutex::new(None),
        })
    }

    /// One pass, synchronously (tests, benches; the background loop runs it
    /// in `spawn_blocking`). With the scope off it only releases the table.
    /// On error the previous table is kept and the status is degraded.
    pub fn pass(&self) -> Result<PassOutcome, HostWalkError> {
        let started = Instant::now();
        let mut state = lock(&self.state);
        let scope = self.scope.borrow().clone();
        let mut walk = Walk::new(&self.config.proc_root);
        let result = match &scope {
            HostTaskScope::Off => {
                state.release();
                return Ok(PassOutcome {
                    generation: *self.generation.borrow(),
                    ..PassOutcome::default()
                });
            }
            HostTaskScope::Host => walk.host(&mut state, self.config.slices()),
            HostTaskScope::PodThreads(tgids) => walk.pod_threads(&mut state, tgids),
        };
        self.metrics.walk_errors.inc_by(walk.errors);
        let kind = if walk.full { "full" } else { "pass" };
        self.metrics
            .walk_duration
            .get_or_create(&KindLabel { kind })
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(()) => Ok(self.publish(&mut state, &scope, &walk, started)),
            Err(error) => {
                self.metrics.walk_errors.inc();
                tracing::warn!(%error, "host task table walk failed; keeping the previous table");
                let mut status = lock(&self.status);
                if *self.scope.borrow() == scope {
                    *status = HostTableStatus::Degraded {
                        detail: error.to_string(),
                    };
                    self.metrics.set_mode(status.mode());
                }
                Err(error)
            }
        }
    }

    /// Publishes the table after a good pass: a new snapshot only when its
    /// content changed, and the status and gauges in any case.
    fn publish(&self, state: &mut TableState, scope: &HostTaskScope, walk: &Walk, started: Instant) -> PassOutcome {
        let mut status = lock(&self.status);
        let processes = state.processes.len();
        let threads = state.thread_count();
        let mut outcome = PassOutcome {
            changed: false,
            generation: *self.generation.borrow(),
            processes,
            threads,
            full_reads: walk.full_reads,
            full: walk.full,
            errors: walk.errors,
            duration: started.elapsed(),
        };
        // The scope changed during the pass: the pass it woke publishes.
        if *self.scope.borrow() != *scope {
            return outcome;
        }
        let stale = self.snapshot.load().as_ref().is_none_or(|s| s.scope != *scope);
        if state.dirty || stale {
            outcome.changed = true;
            outcome.generation += 1;
            let snapshot = state.snapshot(outcome.generation, scope.clone());
            self.snapshot.store(Some(Arc::new(snapshot)));
            self.generation.send_replace(outcome.generation);
            state.dirty = false;
        }
        *status = HostTableStatus::Periodic {
            interval: self.config.refresh_interval,
            scope: scope.label(),
            processes,
            threads,
            events_unavailable: EVENTS_UNAVAILABLE.into(),
        };
        self.metrics.set_mode(status.mode());
        self.metrics.set_size(processes, threads);
        outcome
    }

    /// Background loop on the current tokio runtime: while the scope is off
    /// it only waits for a scope change; otherwise it runs a pass every
    /// `refresh_interval`, and at once after a scope change (which is also
    /// how turning off releases the table). Stops when `shutdown` becomes
    /// true or its sender is dropped.
    pub fn spawn(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let table = Arc::clone(self);
        let mut scope = self.scope.subscribe();
        let interval = self.config.refresh_interval;
        tokio::spawn(async move {
            loop {
                if *shutdown.borrow_and_update() {
                    break;
                }
                // Marked seen before the pass, so a change made during it
                // triggers another pass at once.
                let off = *scope.borrow_and_update() == HostTaskScope::Off;
                let worker = Arc::clone(&table);
                // Walk errors are logged and in the status already.
                if let Err(error) = tokio::task::spawn_blocking(move || worker.pass()).await {
                    tracing::error!(%error, "host task table pass failed to run");
                }
                tokio::select! {
                    changed = shutdown.changed() => {
                        if changed.is_err() {
                            break;
                        }
                    }
                    changed = scope.changed() => {
                        if changed.is_err() {
                            break;
                        }
                    }
                    () = tokio::time::sleep(interval), if !off => {}
                }
            }
        })
    }
}

impl HostTaskTable for HostTable {
    fn set_scope(&self, scope: HostTaskScope) {
        let mut status = lock(&self.status);
        let was_off = *self.scope.borrow() == HostTaskScope::Off;
        if *self.scope.borrow() == scope {
            return;
        }
        let off = scope == HostTaskScope::Off;
        self.scope.send_replace(scope);
        if off {
            // The internal table goes on the pass this change wakes.
            if self.snapshot.swap(None).is_some() {
                self.generation.send_modify(|g| *g += 1);
            }
            *status = HostTableStatus::Off;
            self.metrics.set_size(0, 0);
        } else if was_off {
            *status = HostTableStatus::Starting;
        }
        self.metrics.set_mode(status.mode());
    }

    fn snapshot(&self) -> Option<Arc<HostTaskSnapshot>> {
        self.snapshot.load_full()
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    fn status(&self) -> HostTableStatus {
        lock(&self.status).clone()
    }

    fn walk_once(&self) -> Option<Arc<HostTaskSnapshot>> {
        let mut cached = lock(&self.one_off);
        if let Some((at, snapshot)) = cached.as_ref()
            && at.elapsed() < self.config.refresh_interval
        {
            return Some(snapshot.clone());
        }
        let mut state = TableState::default();
        let mut walk = Walk::new(&self.config.proc_root);
        if let Err(error) = walk.host(&mut state, 1) {
            tracing::warn!(%error, "one-off host walk for a preview failed");
            return None;
        }
        self.metrics.walk_errors.inc_by(walk.errors);
        let snapshot = Arc::new(state.snapshot(0, HostTaskScope::Host));
        *cached = Some((Instant::now(), snapshot.clone()));
        Some(snapshot)
    }
}

#[cfg(test)]
mod tests;
