use std::sync::Arc;

use gthulhu_domain::{SchedulerMetrics, SchedulerMetricsService, SchedulingService};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// The scheduler's 11 BSS gauges, exactly as upstream names and describes
/// them, labelled with `machine_id`; nothing until the first POST.
struct SchedulerGauges {
    metrics: Arc<dyn SchedulerMetricsService>,
    machine_id: String,
}

impl std::fmt::Debug for SchedulerGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerGauges")
            .field("machine_id", &self.machine_id)
            .finish()
    }
}

type Field = (&'static str, &'static str, fn(&SchedulerMetrics) -> u64);

const SCHEDULER_GAUGES: [Field; 11] = [
    (
        "user_sched_last_run_at",
        "the timestamp of the last user scheduling run",
        |m| m.usersched_last_run_at,
    ),
    ("nr_queued", "number of tasks queued in the userspace scheduler", |m| {
        m.nr_queued
    }),
    (
        "nr_scheduled",
        "number of tasks scheduled by the userspace scheduler",
        |m| m.nr_scheduled,
    ),
    (
        "nr_running",
        "number of tasks currently running in the userspace scheduler",
        |m| m.nr_running,
    ),
    ("nr_online_cpus", "number of online CPUs in the system", |m| {
        m.nr_online_cpus
    }),
    ("nr_user_dispatches", "number of user-space dispatches", |m| {
        m.nr_user_dispatches
    }),
    ("nr_kernel_dispatches", "number of kernel-space dispatches", |m| {
        m.nr_kernel_dispatches
    }),
    ("nr_cancel_dispatches", "number of canceled dispatches", |m| {
        m.nr_cancel_dispatches
    }),
    ("nr_bounce_dispatches", "number of bounced dispatches", |m| {
        m.nr_bounce_dispatches
    }),
    ("nr_failed_dispatches", "number of failed dispatches", |m| {
        m.nr_failed_dispatches
    }),
    (
        "nr_sched_congested",
        "number of times the scheduler was congested",
        |m| m.nr_sched_congested,
    ),
];

impl Collector for SchedulerGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(latest) = self.metrics.latest() else {
            return Ok(());
        };
        let labels = [("machine_id", self.machine_id.as_str())];
        for (name, help, value) in SCHEDULER_GAUGES {
            let gauge = ConstGauge::new(value(&latest.metrics) as f64);
            let mut metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// `(name, help, label, [(label value, value)])` of one gauge family.
type LabelledGauges = (&'static str, &'static str, &'static str, Vec<(&'static str, usize)>);

/// The DM's own state gauges, read at scrape time.
struct DmGauges {
    scheduling: Arc<dyn SchedulingService>,
}

impl std::fmt::Debug for DmGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DmGauges")
    }
}

impl Collector for DmGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let h = self.scheduling.health();
        let gauges: [(&str, &str, i64); 8] = [
            (
                "gthulhu_dm_pods_tracked",
                "Pods with at least one process in the PID-to-pod index",
                h.pods as i64,
            ),
            (
                "gthulhu_dm_processes_tracked",
                "Pod processes in the PID-to-pod index",
                h.processes as i64,
            ),
            ("gthulhu_dm_intents", "Intents currently held", h.intents as i64),
            (
                "gthulhu_dm_node_intents",
                "Node intents currently held",
                h.node_intents as i64,
            ),
            (
                "gthulhu_dm_entries_truncated",
                "Entries dropped by resolve.max_entries in the last resolution",
                h.truncated_entries as i64,
            ),
            (
                "gthulhu_dm_legacy_templates",
                "Legacy strategy templates currently held (standalone mode)",
                h.templates as i64,
            ),
            (
                "gthulhu_dm_resolved_entries",
                "Entries in the last resolved scheduling list, after de-duplication and the cap",
                h.resolved_entries as i64,
            ),
            (
                "gthulhu_dm_index_built",
                "1 once the PID-to-pod index has been built",
                i64::from(h.index_built),
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        let c = h.conflicts;
        let families: [LabelledGauges; 2] = [
            (
                "gthulhu_dm_expired_intents",
                "Intents held but expired, so not resolved",
                "set",
                vec![("pod", h.expired_intents.0), ("node", h.expired_intents.1)],
            ),
            (
                "gthulhu_dm_conflicts",
                "Losing candidates in the last resolution, by winner class over loser class",
                "kind",
                vec![
                    ("pod_over_pod", c.pod_over_pod),
                    ("pod_over_node", c.pod_over_node),
                    ("node_over_node", c.node_over_node),
                    ("over_legacy", c.over_legacy),
                ],
            ),
        ];
        for (name, help, label, values) in families {
            let mut family =
                encoder.encode_descriptor(name, help, None, prometheus_client::metrics::MetricType::Gauge)?;
            for (value_label, value) in values {
                ConstGauge::new(value as i64).encode(family.encode_family(&[(label, value_label)])?)?;
            }
        }
        Ok(())
    }
}

/// The `machine_id` label: `MACHINE_ID`, else `/etc/machine-id`, else
/// `unknown-machine-id`; trimmed, an empty value falls through.
pub fn machine_id(env_value: Option<String>, machine_id_file: Option<String>) -> String {
    [env_value, machine_id_file]
        .into_iter()
        .flatten()
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown-machine-id".to_string())
}

/// Registers the scheduler gauges and the DM state gauges.
pub fn register_dm_metrics(
    registry: &mut Registry,
    metrics: Arc<dyn SchedulerMetricsService>,
    scheduling: Arc<dyn SchedulingService>,
) {
    let machine_id = machine_id(
        std::env::var("MACHINE_ID").ok(),
        std::fs::read_to_string("/etc/machine-id").ok(),
    );
    registry.register_collector(Box::new(SchedulerGauges { metrics, machine_id }));
    registry.register_collector(Box::new(DmGauges { scheduling }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_id_sources_in_order_trimmed() {
        assert_eq!(machine_id(Some(" abc \n".into()), Some("def\n".into())), "abc");
        assert_eq!(machine_id(Some("  ".into()), Some("def\n".into())), "def");
        assert_eq!(machine_id(None, None), "unknown-machine-id");
    }
}
