//! The reconciler (manager.md 12.2): keeps stored intents equal to what the
//! strategies select in the pod cache, and every Decision Maker's set equal
//! to the stored one (checked with the Merkle root).
//!
//! Two paths share one lock, so intent writes of one never interleave with
//! the other's:
//! * full passes, `initial_delay` after start and then every `interval`:
//!   step 1 refreshes the intents of every strategy, step 2 compares each
//!   Online DM's root with the expected one and pushes the nodes that
//!   differ; step 3 checks every node's scheduler runtime config and
//!   re-applies it on drift (sessions-and-runtime.md 15.4);
//! * pod events from the cache, collected for `debounce`: only the intents
//!   of the pods that changed are recomputed, and only their nodes pushed,
//!   in the background (`PushQueue`), so a slow DM delays no other event.
//!   `Resynced` or a lagging receiver means events were missed: a full pass.
//!
//! Nothing runs while the pod cache has not synced (a partial cache would
//! delete the intents of pods it has not seen yet) or storage is down.

mod changes;
mod event_path;
mod full_pass;
mod run_loop;
#[cfg(test)]
mod tests;

use crate::delivery::NodePusher;
use crate::node_status::NodeStatusBoard;
use crate::push_queue::PushQueue;
use crate::runtime_configs::RuntimeConfigs;
use changes::Changes;
use gthulhu_domain::manager::{ClusterStatus, DecisionMakerAdapter, K8sAdapter, K8sError, RepoError, Repository};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconcilerSettings {
    pub initial_delay: Duration,
    /// At least one second.
    pub interval: Duration,
    /// How long pod events are collected into one batch, counted from the
    /// batch's first event (bounded latency even under constant churn).
    pub debounce: Duration,
    /// DMs asked for their Merkle root at once.
    pub max_concurrent_checks: usize,
}

impl Default for ReconcilerSettings {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_secs(5),
            interval: Duration::from_secs(30),
            debounce: Duration::from_millis(200),
            max_concurrent_checks: 64,
        }
    }
}

/// Why a pass did nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// Another pass or event batch holds the lock.
    Busy,
    /// The pod cache has not (re)synced.
    ClusterNotReady,
    StorageUnavailable,
}

/// What a pass or event batch changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    pub inserted: usize,
    pub updated: usize,
    pub deleted: usize,
    /// Nodes whose DMs already held the expected set.
    pub in_sync: BTreeSet<String>,
    /// Nodes pushed (by an event batch: queued for a push).
    pub pushed: BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PassOutcome {
    Completed(PassReport),
    Skipped(SkipReason),
    /// Storage or the cluster failed mid-way; what was written stays, the
    /// next pass continues from there.
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
enum PassError {
    #[error("storage: {0}")]
    Storage(#[from] RepoError),
    #[error("cluster: {0}")]
    Cluster(#[from] K8sError),
}

pub struct Reconciler {
    repo: Arc<dyn Repository>,
    k8s: Arc<dyn K8sAdapter>,
    dms: Arc<dyn DecisionMakerAdapter>,
    pusher: Arc<NodePusher>,
    /// The event path's pushes.
    queue: Arc<PushQueue>,
    board: Arc<NodeStatusBoard>,
    /// Step 3 of every full pass.
    runtime: Arc<RuntimeConfigs>,
    settings: ReconcilerSettings,
    /// Held by a full pass or an event batch.
    work: tokio::sync::Mutex<()>,
}

impl Reconciler {
    pub fn new(
        repo: Arc<dyn Repository>,
        k8s: Arc<dyn K8sAdapter>,
        dms: Arc<dyn DecisionMakerAdapter>,
        pusher: Arc<NodePusher>,
        board: Arc<NodeStatusBoard>,
        runtime: Arc<RuntimeConfigs>,
        settings: ReconcilerSettings,
    ) -> Self {
        Self {
            repo,
            k8s,
            dms,
            queue: PushQueue::new(pusher.clone()),
            pusher,
            board,
            runtime,
            settings,
            work: tokio::sync::Mutex::new(()),
        }
    }

    async fn not_ready(&self) -> Option<SkipReason> {
        if self.k8s.status() != ClusterStatus::Ready {
            return Some(SkipReason::ClusterNotReady);
        }
        if self.repo.ping().await.is_err() {
            return Some(SkipReason::StorageUnavailable);
        }
        None
    }

    /// One write for all of `changes`.
    async fn persist(&self, changes: &Changes, report: &mut PassReport) -> Result<(), RepoError> {
        let intents = &changes.intents;
        match self.repo.apply_intent_changes(intents).await {
            // A strategy change raced us and stored some of these pods'
            // intents.
            Err(RepoError::Conflict(field)) => {
                tracing::info!(%field, "intents were stored concurrently; the next pass settles them");
                Ok(())
            }
            Err(error) => Err(error),
            Ok(()) => {
                report.deleted += intents.delete.len();
                report.updated += intents.update.len();
                report.inserted += intents.insert.len();
                Ok(())
            }
        }
    }
}

fn finish(what: &str, started: Instant, report: PassReport, result: Result<(), PassError>) -> PassOutcome {
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(()) => {
            let changed = report.inserted + report.updated + report.deleted + report.pushed.len() > 0;
            let (inserted, updated, deleted) = (report.inserted, report.updated, report.deleted);
            let (pushed, in_sync) = (report.pushed.len(), report.in_sync.len());
            if changed {
                tracing::info!(inserted, updated, deleted, pushed, in_sync, elapsed_ms, "{what} done");
            } else {
                tracing::debug!(in_sync, elapsed_ms, "{what} done; nothing to change");
            }
            PassOutcome::Completed(report)
        }
        Err(error) => {
            tracing::warn!(%error, elapsed_ms, "{what} failed; the next pass retries");
            PassOutcome::Failed(error.to_string())
        }
    }
}
