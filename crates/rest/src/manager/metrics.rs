use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use crate::HttpMetrics;

/// The Manager's HTTP metrics and its storage-error counter.
#[derive(Clone)]
pub struct ManagerMetrics {
    pub(crate) http: HttpMetrics,
    storage_errors: Counter,
}

impl ManagerMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let http = HttpMetrics::register(registry);
        let storage_errors = Counter::default();
        registry.register(
            "gthulhu_manager_storage_errors",
            "Requests answered 503 because storage was unavailable, and failed readiness pings",
            storage_errors.clone(),
        );
        Self { http, storage_errors }
    }

    pub(crate) fn storage_error(&self) {
        self.storage_errors.inc();
    }
}
