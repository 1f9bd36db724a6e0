//! The run loop: passes on schedule, events debounced, both only while
//! leading.

use super::Reconciler;
use gthulhu_domain::manager::PodEvent;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, MissedTickBehavior};

impl Reconciler {
    /// Runs until the task is dropped: full passes on schedule and pod
    /// events as they come, while `leader` is true (the seam for Lease
    /// election; a sender that is gone freezes the last value).
    pub async fn run(self: Arc<Self>, mut leader: watch::Receiver<bool>) {
        let mut events = self.k8s.pod_events();
        let mut events_open = true;
        let mut leader_open = true;
        let mut ticks = tokio::time::interval_at(
            Instant::now() + self.settings.initial_delay,
            self.settings.interval.max(Duration::from_secs(1)),
        );
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut batch = Vec::new();
        let mut flush_at: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    if *leader.borrow() {
                        self.run_pass().await;
                    }
                }
                changed = leader.changed(), if leader_open => match changed {
                    Ok(()) if *leader.borrow_and_update() => {
                        tracing::info!("leading: reconciling now");
                        self.run_pass().await;
                    }
                    Ok(()) => {
                        tracing::info!("no longer leading: reconciler idle");
                        batch.clear();
                        flush_at = None;
                    }
                    Err(_) => leader_open = false,
                },
                event = events.recv(), if events_open => {
                    match event {
                        Ok(event) => batch.push(event),
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "pod events lagged");
                            batch.push(PodEvent::Resynced);
                        }
                        Err(broadcast::error::RecvError::Closed) => {
                            tracing::debug!("no pod events from the cluster adapter; periodic passes only");
                            events_open = false;
                        }
                    }
                    if !batch.is_empty() && flush_at.is_none() {
                        flush_at = Some(Instant::now() + self.settings.debounce);
                    }
                }
                _ = sleep_until(flush_at), if flush_at.is_some() => {
                    flush_at = None;
                    let events = std::mem::take(&mut batch);
                    if *leader.borrow() {
                        self.apply_events(events).await;
                    }
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}
