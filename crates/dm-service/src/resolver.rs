//! Turns intents and legacy templates into PID-level entries against one
//! snapshot of the process index (spec: decision-maker.md 5.2,
//! legacy-bss.md 10.5).

use gthulhu_domain::{LegacyPriority, PodMetadataSource, ProcessInfo, ProcessSnapshot, SchedulingDecision, Selector};
use regex::bytes::Regex;

use crate::decision_maker::LegacyPriorityMap;
use crate::intent_store::IntentState;
use crate::template_store::CompiledTemplate;

fn selected(process: &ProcessInfo, regex: Option<&Regex>) -> bool {
    !process.is_pause() && regex.is_none_or(|r| r.is_match(process.comm.as_bytes()))
}

fn label_matches(labels: &std::collections::BTreeMap<String, String>, selector: &Selector) -> bool {
    match labels.get(&selector.key) {
        Some(value) => selector.value.is_empty() || *value == selector.value,
        None => false,
    }
}

/// Legacy template entries come first, Manager intents after them, so an
/// intent wins at the scheduler (it keeps the last entry for a PID).
pub fn resolve(
    snapshot: &ProcessSnapshot,
    intents: &IntentState,
    templates: &[CompiledTemplate],
    metadata: &dyn PodMetadataSource,
    priorities: LegacyPriorityMap,
) -> Vec<SchedulingDecision> {
    let mut out = Vec::new();
    for compiled in templates {
        let t = &compiled.template;
        let priority = match t.priority {
            LegacyPriority::Flag(true) => priorities.when_true,
            LegacyPriority::Flag(false) => priorities.when_false,
            LegacyPriority::Level(level) => level,
        };
        if !t.selectors.is_empty() {
            for pod in &snapshot.pods {
                let Some(meta) = metadata.lookup(&pod.pod_uid) else {
                    continue;
                };
                if !t.selectors.iter().all(|s| label_matches(&meta.labels, s)) {
                    continue;
                }
                out.extend(
                    pod.processes
                        .iter()
                        .filter(|p| selected(p, compiled.regex.as_ref()))
                        .map(|p| SchedulingDecision {
                            priority,
                            execution_time: t.execution_time,
                            pid: p.pid,
                            selectors: t.selectors.clone(),
                            command_regex: t.command_regex.clone(),
                        }),
                );
            }
        } else if t.pid > 0 {
            out.push(SchedulingDecision {
                priority,
                execution_time: t.execution_time,
                pid: u32::try_from(t.pid).unwrap_or(0),
                ..Default::default()
            });
        }
    }
    for (intent, regex) in intents.intents.iter().zip(&intents.regexes) {
        let Some(pod) = snapshot.pod(&intent.pod_id) else {
            continue;
        };
        let selectors: Vec<Selector> = intent
            .pod_labels
            .iter()
            .map(|(k, v)| Selector {
                key: k.clone(),
                value: v.clone(),
            })
            .collect();
        let execution_time = u64::try_from(intent.execution_time).unwrap_or(0);
        out.extend(
            pod.processes
                .iter()
                .filter(|p| selected(p, regex.as_deref()))
                .filter(|p| !intents.exclusions.contains(&(intent.pod_id.clone(), p.pid)))
                .map(|p| SchedulingDecision {
                    priority: intent.priority,
                    execution_time,
                    pid: p.pid,
                    selectors: selectors.clone(),
                    command_regex: intent.command_regex.clone(),
                }),
        );
    }
    out
}
