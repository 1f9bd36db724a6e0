//! The Manager's pod cache: slim pods by UID, queried for strategy matching
//! (manager.md 9) and DM discovery (11.1), and the source of the
//! event-driven intent pipeline's `PodEvent`s.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use gthulhu_domain::Selector;
use gthulhu_domain::manager::{DecisionMakerEndpoint, PodEvent, PodInfo};
use tokio::sync::broadcast;

use crate::projection::SlimPod;

/// Room for a burst (a node draining, a big rollout) before a slow
/// consumer lags; a lagging consumer recomputes everything anyway.
const EVENT_CAPACITY: usize = 4096;

/// Index postings share one allocation per UID.
type Uid = Arc<str>;

#[derive(Default)]
struct Pods {
    by_uid: HashMap<Uid, SlimPod>,
    /// UIDs of the DM pods, so that discovery does not scan every pod.
    dms: BTreeSet<Uid>,
    /// Postings for `query`: a strategy names a few namespaces or an exact
    /// label, so it only scans the pods that can match (100 strategies
    /// against 150,000 pods must not be 15 million comparisons).
    by_namespace: HashMap<String, HashSet<Uid>>,
    by_label: HashMap<(String, String), HashSet<Uid>>,
}

impl Pods {
    fn insert(&mut self, pod: SlimPod) -> Option<SlimPod> {
        let previous = self.remove(&pod.info.uid);
        let uid: Uid = Arc::from(pod.info.uid.as_str());
        if pod.dm.is_some() {
            self.dms.insert(uid.clone());
        }
        self.by_namespace
            .entry(pod.info.namespace.clone())
            .or_default()
            .insert(uid.clone());
        for (key, value) in &pod.info.labels {
            self.by_label
                .entry((key.clone(), value.clone()))
                .or_default()
                .insert(uid.clone());
        }
        self.by_uid.insert(uid, pod);
        previous
    }

    fn remove(&mut self, uid: &str) -> Option<SlimPod> {
        let (uid, pod) = self.by_uid.remove_entry(uid)?;
        self.dms.remove(&uid);
        unpost(&mut self.by_namespace, &pod.info.namespace, &uid);
        for (key, value) in &pod.info.labels {
            unpost(&mut self.by_label, &(key.clone(), value.clone()), &uid);
        }
        Some(pod)
    }

    /// The smallest posting list that every match must be in: the union of
    /// the named namespaces, or an exact-value selector's pods. `None`:
    /// nothing narrows the search (no namespaces, only existence selectors).
    fn candidates(&self, namespaces: &[String], selectors: &[Selector]) -> Option<Vec<&Uid>> {
        let mut best: Option<Vec<&Uid>> = None;
        if !namespaces.is_empty() {
            let mut unique: Vec<&String> = namespaces.iter().collect();
            unique.sort_unstable();
            unique.dedup();
            best = Some(
                unique
                    .into_iter()
                    .filter_map(|ns| self.by_namespace.get(ns))
                    .flatten()
                    .collect(),
            );
        }
        for s in selectors.iter().filter(|s| !s.value.is_empty()) {
            let posting = self.by_label.get(&(s.key.clone(), s.value.clone()));
            let size = posting.map_or(0, HashSet::len);
            if best.as_ref().is_none_or(|b| size < b.len()) {
                best = Some(posting.into_iter().flatten().collect());
            }
        }
        best
    }
}

fn unpost<K: std::hash::Hash + Eq>(index: &mut HashMap<K, HashSet<Uid>>, key: &K, uid: &Uid) {
    if let Some(uids) = index.get_mut(key) {
        uids.remove(uid);
        if uids.is_empty() {
            index.remove(key);
        }
    }
}

pub struct PodCache {
    pods: RwLock<Pods>,
    events: broadcast::Sender<PodEvent>,
    synced: AtomicBool,
}

impl Default for PodCache {
    fn default() -> Self {
        Self {
            pods: RwLock::default(),
            events: broadcast::Sender::new(EVENT_CAPACITY),
            synced: AtomicBool::new(false),
        }
    }
}

impl PodCache {
    pub fn subscribe(&self) -> broadcast::Receiver<PodEvent> {
        self.events.subscribe()
    }

    /// Whether a full list has been loaded at least once.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    pub fn len(&self) -> usize {
        self.read().by_uid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds or replaces a pod. Emits `Applied` only when the pod's
    /// `PodInfo` changed: most watch events are status churn (container
    /// restarts, probes) that matters to no strategy.
    pub fn apply(&self, pod: SlimPod) {
        let mut pods = self.write();
        // Status churn leaves the projection unchanged: nothing to re-index,
        // copy or announce.
        if pods.by_uid.get(pod.info.uid.as_str()) == Some(&pod) {
            return;
        }
        let current = pod.info.clone();
        let previous = pods.insert(pod).map(|p| p.info);
        if previous.as_ref() != Some(&current) {
            // Sent under the lock so that receivers see events in the order
            // the cache changed. No receiver is not an error.
            let _ = self.events.send(PodEvent::Applied { previous, current });
        }
    }

    pub fn delete(&self, uid: &str) {
        let mut pods = self.write();
        if let Some(gone) = pods.remove(uid) {
            let _ = self.events.send(PodEvent::Deleted(gone.info));
        }
    }

    /// Replaces the whole content (first list, relist after a 410 or a
    /// reconnect) and emits `Resynced`: consumers recompute everything
    /// rather than receive 150,000 diffs.
    pub fn replace_all(&self, all: Vec<SlimPod>) {
        let mut fresh = Pods::default();
        fresh.by_uid.reserve(all.len());
        for pod in all {
            fresh.insert(pod);
        }
        let mut pods = self.write();
        *pods = fresh;
        self.synced.store(true, Ordering::Release);
        let _ = self.events.send(PodEvent::Resynced);
    }

    /// Every UID held, for diffing a full snapshot against the cache.
    pub fn uids(&self) -> Vec<String> {
        self.read().by_uid.keys().map(|uid| uid.to_string()).collect()
    }

    pub fn get(&self, uid: &str) -> Option<PodInfo> {
        self.read().by_uid.get(uid).map(|p| p.info.clone())
    }

    /// manager.md 9: pods in `namespaces` (empty = all) carrying every
    /// selector (empty value = key exists), scheduled and not finished,
    /// sorted by namespace then name (then UID, for same-named pods of
    /// different generations).
    pub fn query(&self, namespaces: &[String], selectors: &[Selector]) -> Vec<PodInfo> {
        let pods = self.read();
        let matches = |p: &&PodInfo| p.is_schedulable() && p.matches(namespaces, selectors);
        let mut matched: Vec<PodInfo> = match pods.candidates(namespaces, selectors) {
            Some(uids) => uids
                .into_iter()
                .filter_map(|uid| pods.by_uid.get(uid).map(|p| &p.info))
                .filter(matches)
                .cloned()
                .collect(),
            None => pods.by_uid.values().map(|p| &p.info).filter(matches).cloned().collect(),
        };
        drop(pods);
        matched.sort_unstable_by(|a, b| (&a.namespace, &a.name, &a.uid).cmp(&(&b.namespace, &b.name, &b.uid)));
        matched
    }

    /// Every DM pod, whatever its state, sorted by node then pod name.
    pub fn decision_makers(&self) -> Vec<DecisionMakerEndpoint> {
        let pods = self.read();
        let mut dms: Vec<DecisionMakerEndpoint> = pods
            .dms
            .iter()
            .filter_map(|uid| pods.by_uid.get(uid))
            .filter_map(SlimPod::endpoint)
            .collect();
        drop(pods);
        dms.sort_unstable_by(|a, b| (&a.node_name, &a.pod_name).cmp(&(&b.node_name, &b.pod_name)));
        dms
    }

    // A panic while holding the lock leaves a consistent map (every
    // mutation is a single insert/remove/swap), so poisoning is ignored.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Pods> {
        self.pods.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Pods> {
        self.pods.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::DmAddress;

    fn info(uid: &str, ns: &str, name: &str, node: &str, phase: &str, labels: &[(&str, &str)]) -> PodInfo {
        PodInfo {
            uid: uid.into(),
            name: name.into(),
            namespace: ns.into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            node_name: node.into(),
            phase: phase.into(),
        }
    }

    fn slim(info: PodInfo) -> SlimPod {
        SlimPod { info, dm: None }
    }

    fn sel(key: &str, value: &str) -> Selector {
        Selector {
            key: key.into(),
            value: value.into(),
        }
    }

    fn names(pods: &[PodInfo]) -> Vec<String> {
        pods.iter().map(|p| format!("{}/{}", p.namespace, p.name)).collect()
    }

    fn cache() -> PodCache {
        let c = PodCache::default();
        c.replace_all(vec![
            slim(info(
                "1",
                "prod",
                "web-b",
                "n1",
                "Running",
                &[("app", "web"), ("tier", "front")],
            )),
            slim(info("2", "prod", "web-a", "n2", "Running", &[("app", "web")])),
            slim(info(
                "3",
                "dev",
                "web-c",
                "n1",
                "Pending",
                &[("app", "web"), ("tier", "")],
            )),
            slim(info("4", "prod", "db", "n1", "Running", &[("app", "db")])),
            slim(info("5", "prod", "web-unscheduled", "", "Pending", &[("app", "web")])),
            slim(info("6", "prod", "web-done", "n1", "Succeeded", &[("app", "web")])),
            slim(info("7", "prod", "web-failed", "n1", "Failed", &[("app", "web")])),
            slim(info("8", "kube-system", "proxy", "n1", "Unknown", &[])),
        ]);
        c
    }

    #[test]
    fn query_filters_per_spec_section_9_sorted() {
        let c = cache();
        // No namespaces, no selectors: every scheduled, unfinished pod.
        assert_eq!(
            names(&c.query(&[], &[])),
            ["dev/web-c", "kube-system/proxy", "prod/db", "prod/web-a", "prod/web-b"]
        );
        // Exact value.
        assert_eq!(
            names(&c.query(&[], &[sel("app", "web")])),
            ["dev/web-c", "prod/web-a", "prod/web-b"]
        );
        // Empty value = key exists (with any value, including empty).
        assert_eq!(names(&c.query(&[], &[sel("tier", "")])), ["dev/web-c", "prod/web-b"]);
        // Every selector must hold.
        assert_eq!(
            names(&c.query(&[], &[sel("app", "web"), sel("tier", "front")])),
            ["prod/web-b"]
        );
        // Namespace filter.
        assert_eq!(
            names(&c.query(&["prod".into()], &[sel("app", "web")])),
            ["prod/web-a", "prod/web-b"]
        );
        assert_eq!(
            names(&c.query(&["dev".into(), "kube-system".into()], &[])),
            ["dev/web-c", "kube-system/proxy"]
        );
        assert!(c.query(&["nope".into()], &[]).is_empty());
        assert!(c.query(&[], &[sel("app", "we")]).is_empty(), "no prefix matching");
    }

    #[test]
    fn get_and_len() {
        let c = cache();
        assert_eq!(c.len(), 8);
        assert_eq!(c.get("4").unwrap().name, "db");
        // get does not filter: the unscheduled pod is known.
        assert_eq!(c.get("5").unwrap().name, "web-unscheduled");
        assert!(c.get("missing").is_none());
    }

    #[tokio::test]
    async fn mutations_emit_events_in_order() {
        let c = PodCache::default();
        assert!(!c.is_synced());
        let mut rx = c.subscribe();
        c.replace_all(vec![slim(info("1", "prod", "a", "n1", "Running", &[("app", "web")]))]);
        assert!(c.is_synced());
        assert_eq!(rx.recv().await.unwrap(), PodEvent::Resynced);

        let relabelled = info("1", "prod", "a", "n1", "Running", &[("app", "api")]);
        c.apply(slim(relabelled.clone()));
        assert_eq!(
            rx.recv().await.unwrap(),
            PodEvent::Applied {
                previous: Some(info("1", "prod", "a", "n1", "Running", &[("app", "web")])),
                current: relabelled.clone(),
            }
        );
        // Unchanged projection (status churn): no event.
        c.apply(slim(relabelled.clone()));
        let added = info("2", "prod", "b", "", "Pending", &[]);
        c.apply(slim(added.clone()));
        assert_eq!(
            rx.recv().await.unwrap(),
            PodEvent::Applied {
                previous: None,
                current: added.clone()
            }
        );
        c.delete("1");
        assert_eq!(rx.recv().await.unwrap(), PodEvent::Deleted(relabelled));
        c.delete("1");
        c.replace_all(vec![]);
        assert_eq!(
            rx.recv().await.unwrap(),
            PodEvent::Resynced,
            "deleting an unknown uid emits nothing"
        );
        assert!(c.is_empty());
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn decision_makers_come_from_dm_pods_only_and_follow_changes() {
        let c = PodCache::default();
        let dm = |uid: &str, name: &str, node: &str, phase: &str| SlimPod {
            info: info(uid, "gthulhu", name, node, phase, &[("app", "decisionmaker")]),
            dm: Some(Box::new(DmAddress {
                host: format!("10.0.0.{uid}"),
                port: 8080,
            })),
        };
        c.replace_all(vec![
            dm("1", "dm-b", "n2", "Running"),
            dm("2", "dm-a", "n2", "Pending"),
            dm("3", "dm-z", "n1", "Failed"),
            slim(info("4", "prod", "web", "n1", "Running", &[])),
        ]);
        let listed: Vec<(String, String)> = c
            .decision_makers()
            .into_iter()
            .map(|d| (d.node_name, d.pod_name))
            .collect();
        assert_eq!(
            listed,
            [
                ("n1".into(), "dm-z".into()),
                ("n2".into(), "dm-a".into()),
                ("n2".into(), "dm-b".into())
            ]
        );
        // Relabelled away from the DM selector: no longer a DM.
        c.apply(slim(info("1", "gthulhu", "dm-b", "n2", "Running", &[])));
        c.delete("3");
        let left: Vec<String> = c.decision_makers().into_iter().map(|d| d.pod_name).collect();
        assert_eq!(left, ["dm-a"]);
        assert_eq!(c.decision_makers()[0].host, "10.0.0.2");
    }

    /// The cache must hold 150,000 pods in well under 2 KB each: the
    /// inline part is the six `PodInfo` fields and one pointer, nothing else.
    #[test]
    fn indexes_follow_relabels_moves_and_deletes() {
        let c = PodCache::default();
        let q = |ns: &[&str], sels: &[Selector]| {
            let ns: Vec<String> = ns.iter().map(|n| n.to_string()).collect();
            names(&c.query(&ns, sels))
        };
        c.apply(slim(info("u1", "prod", "web-a", "n1", "Running", &[("app", "web")])));
        c.apply(slim(info("u2", "prod", "web-b", "n1", "Running", &[("app", "web")])));
        assert_eq!(q(&["prod", "prod"], &[sel("app", "web")]), ["prod/web-a", "prod/web-b"]);
        // Relabelled and moved to another namespace: gone from the old postings.
        c.apply(slim(info("u1", "dev", "web-a", "n1", "Running", &[("app", "db")])));
        assert_eq!(q(&["prod"], &[sel("app", "web")]), ["prod/web-b"]);
        assert_eq!(q(&[], &[sel("app", "web")]), ["prod/web-b"]);
        assert_eq!(q(&["dev"], &[sel("app", "db")]), ["dev/web-a"]);
        assert_eq!(q(&["dev"], &[sel("app", "")]), ["dev/web-a"]);
        assert!(q(&["nowhere"], &[]).is_empty());
        assert!(q(&[], &[sel("app", "none")]).is_empty());
        c.delete("u1");
        c.delete("u2");
        assert!(q(&[], &[]).is_empty());
        let pods = c.read();
        assert!(
            pods.by_namespace.is_empty() && pods.by_label.is_empty(),
            "postings are removed with their pods"
        );
    }

    #[test]
    fn slim_pod_is_small() {
        assert!(
            std::mem::size_of::<SlimPod>() <= 5 * 24 + 24 + 8,
            "{}",
            std::mem::size_of::<SlimPod>()
        );
    }
}
