use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use gthulhu_domain::{ReceivedMetrics, SchedulerMetrics, SchedulerMetricsService};

/// The last metrics set, swapped atomically as a whole.
#[derive(Default)]
pub struct SchedulerMetricsStore {
    latest: ArcSwapOption<ReceivedMetrics>,
}

impl SchedulerMetricsService for SchedulerMetricsStore {
    fn record(&self, metrics: SchedulerMetrics) {
        self.latest.store(Some(Arc::new(ReceivedMetrics {
            metrics,
            received_at: SystemTime::now(),
        })));
    }

    fn latest(&self) -> Option<ReceivedMetrics> {
        self.latest.load_full().map(|m| *m)
    }
}
