use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// The scheduler's BSS counters (`POST /api/v1/metrics`). Missing fields
/// count as 0; the full u64 range is valid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SchedulerMetrics {
    pub usersched_last_run_at: u64,
    pub nr_queued: u64,
    pub nr_scheduled: u64,
    pub nr_running: u64,
    pub nr_online_cpus: u64,
    pub nr_user_dispatches: u64,
    pub nr_kernel_dispatches: u64,
    pub nr_cancel_dispatches: u64,
    pub nr_bounce_dispatches: u64,
    pub nr_failed_dispatches: u64,
    pub nr_sched_congested: u64,
}

/// A metrics set together with the time it was received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceivedMetrics {
    pub metrics: SchedulerMetrics,
    pub received_at: SystemTime,
}
