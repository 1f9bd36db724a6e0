use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwap;
use gthulhu_domain::comm_regex::{self, MAX_DISTINCT_PER_SET, MAX_INTENTS_PER_SET};
use gthulhu_domain::merkle;
use gthulhu_domain::{DeleteIntents, DmError, Intent};
use parking_lot::Mutex;
use regex::bytes::Regex;

/// One consistent view of the intent set: readers never see a list whose
/// root or regexes belong to another version.
pub struct IntentState {
    pub intents: Vec<Intent>,
    /// One per intent, `None` for an empty regex (matches everything).
    /// Intents sharing a pattern share one compiled program and its match
    /// cache: a cloned `Regex` would carry a cache pool of its own (~2 KiB
    /// each once used), which at 50,000 intents is ~100 MiB.
    pub regexes: Vec<Option<Arc<Regex>>>,
    pub root: String,
    /// `(podId, pid)` pairs suppressed by `DELETE {"podId","pid"}`.
    pub exclusions: HashSet<(String, u32)>,
}

impl IntentState {
    fn empty() -> Self {
        Self {
            intents: Vec::new(),
            regexes: Vec::new(),
            root: merkle::EMPTY_ROOT.to_string(),
            exclusions: HashSet::new(),
        }
    }
}

/// The intent set, replaced as a whole by POST and edited by DELETE.
pub struct IntentStore {
    state: ArcSwap<IntentState>,
    /// Serialises writers so a DELETE never resurrects a replaced set.
    write_lock: Mutex<()>,
}

impl Default for IntentStore {
    fn default() -> Self {
        Self {
            state: ArcSwap::from_pointee(IntentState::empty()),
            write_lock: Mutex::new(()),
        }
    }
}

impl IntentStore {
    pub fn load(&self) -> Arc<IntentState> {
        self.state.load_full()
    }

    /// Validates the set and every regex first, so an invalid set is never
    /// stored. Each distinct pattern is compiled once, and a pattern the
    /// current set already has is reused, so a push costs what changed.
    pub fn replace(&self, intents: Vec<Intent>) -> Result<(), DmError> {
        if intents.len() > MAX_INTENTS_PER_SET {
            return Err(DmError::Validation(format!(
                "intents: at most {MAX_INTENTS_PER_SET} intents per node (got {})",
                intents.len()
            )));
        }
        let current = self.load();
        let previous: HashMap<&str, &Option<Arc<Regex>>> = current
            .intents
            .iter()
            .map(|intent| intent.command_regex.as_str())
            .zip(&current.regexes)
            .collect();
        let mut compiled: HashMap<&str, Option<Arc<Regex>>> = HashMap::new();
        let mut regexes = Vec::with_capacity(intents.len());
        for (i, intent) in intents.iter().enumerate() {
            let pattern = intent.command_regex.as_str();
            if let Some(regex) = compiled.get(pattern) {
                regexes.push(regex.clone());
                continue;
            }
            if compiled.len() >= MAX_DISTINCT_PER_SET {
                return Err(DmError::Validation(format!(
                    "intents: at most {MAX_DISTINCT_PER_SET} distinct commandRegex values per node"
                )));
            }
            let regex = match previous.get(pattern) {
                Some(reused) => (*reused).clone(),
                None => comm_regex::compile(pattern)
                    .map_err(|detail| {
                        DmError::Validation(format!(
                            "intents[{i}].commandRegex: invalid regular expression: {detail}"
                        ))
                    })?
                    .map(Arc::new),
            };
            compiled.insert(pattern, regex.clone());
            regexes.push(regex);
        }
        let root = merkle::root(&intents);
        let _guard = self.write_lock.lock();
        self.state.store(Arc::new(IntentState {
            intents,
            regexes,
            root,
            exclusions: HashSet::new(),
        }));
        Ok(())
    }

    pub fn delete(&self, request: &DeleteIntents) -> Result<(), DmError> {
        if request.all {
            let _guard = self.write_lock.lock();
            self.state.store(Arc::new(IntentState::empty()));
            return Ok(());
        }
        if request.pod_id.is_empty() {
            return Err(DmError::Validation("podId is required when 'all' is false".into()));
        }
        if request.pid < 0 {
            return Err(DmError::Validation("pid must be a positive integer".into()));
        }
        let pid =
            u32::try_from(request.pid).map_err(|_| DmError::Validation("pid must be a positive integer".into()))?;
        let _guard = self.write_lock.lock();
        let current = self.state.load();
        let next = if pid > 0 {
            let mut exclusions = current.exclusions.clone();
            exclusions.insert((request.pod_id.clone(), pid));
            IntentState {
                intents: current.intents.clone(),
                regexes: current.regexes.clone(),
                root: current.root.clone(),
                exclusions,
            }
        } else {
            let (intents, regexes): (Vec<_>, Vec<_>) = current
                .intents
                .iter()
                .zip(current.regexes.iter())
                .filter(|(intent, _)| intent.pod_id != request.pod_id)
                .map(|(i, r)| (i.clone(), r.clone()))
                .unzip();
            let exclusions = current
                .exclusions
                .iter()
                .filter(|(pod, _)| *pod != request.pod_id)
                .cloned()
                .collect();
            let root = merkle::root(&intents);
            IntentState {
                intents,
                regexes,
                root,
                exclusions,
            }
        };
        self.state.store(Arc::new(next));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(pod: &str, re: &str) -> Intent {
        Intent {
            pod_id: pod.into(),
            pod_name: pod.into(),
            command_regex: re.into(),
            ..Default::default()
        }
    }

    #[test]
    fn invalid_regex_leaves_state_unchanged() {
        let store = IntentStore::default();
        store.replace(vec![intent("a", "x")]).unwrap();
        let before = store.load().root.clone();
        let err = store.replace(vec![intent("b", ""), intent("c", "(")]).unwrap_err();
        assert!(
            matches!(&err, DmError::Validation(m) if m.starts_with("intents[1].commandRegex: invalid regular expression: ")),
            "{err:?}"
        );
        assert_eq!(store.load().root, before);
        assert_eq!(store.load().intents.len(), 1);
    }

    /// Issue 9: 3,000 hostile regexes took the DM to 3.4 GB; 1,000 identical
    /// ones to 1 GB (each compiled again).
    #[test]
    fn sets_are_bounded_and_shared_patterns_compile_once() {
        let store = IntentStore::default();
        let shared: Vec<_> = (0..3000).map(|i| intent(&format!("p{i}"), r"\w{20}N")).collect();
        store.replace(shared).unwrap();
        assert_eq!(store.load().regexes.iter().flatten().count(), 3000);

        let distinct: Vec<_> = (0..3000)
            .map(|i| intent(&format!("p{i}"), &format!(r"\w{{20}}N{i}")))
            .collect();
        assert_eq!(
            store.replace(distinct).unwrap_err(),
            DmError::Validation(format!(
                "intents: at most {MAX_DISTINCT_PER_SET} distinct commandRegex values per node"
            ))
        );
        let too_many = vec![intent("p", ""); MAX_INTENTS_PER_SET + 1];
        assert_eq!(
            store.replace(too_many).unwrap_err(),
            DmError::Validation(format!(
                "intents: at most {MAX_INTENTS_PER_SET} intents per node (got {})",
                MAX_INTENTS_PER_SET + 1
            ))
        );
        let unicode = store.replace(vec![intent("p", r"\pL{8}")]).unwrap_err();
        assert!(
            matches!(&unicode, DmError::Validation(m) if m.ends_with("exceeds size limit of 65536 bytes.")),
            "{unicode:?}"
        );
        assert_eq!(store.load().intents.len(), 3000);
    }

    #[test]
    fn pod_delete_recomputes_root_and_pid_delete_only_excludes() {
        let store = IntentStore::default();
        store.replace(vec![intent("a", ""), intent("b", "")]).unwrap();
        store
            .delete(&DeleteIntents {
                pod_id: "a".into(),
                pid: 7,
                ..Default::default()
            })
            .unwrap();
        let s = store.load();
        assert_eq!(s.intents.len(), 2);
        assert!(s.exclusions.contains(&("a".to_string(), 7)));
        let root_before = s.root.clone();
        store
            .delete(&DeleteIntents {
                pod_id: "a".into(),
                ..Default::default()
            })
            .unwrap();
        let s = store.load();
        assert_eq!(s.intents.len(), 1);
        assert!(s.exclusions.is_empty());
        assert_ne!(s.root, root_before);
        assert_eq!(s.root, merkle::root(&[intent("b", "")]));
        store
            .delete(&DeleteIntents {
                all: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(store.load().root, merkle::EMPTY_ROOT);
    }

    #[test]
    fn delete_validation_messages() {
        let store = IntentStore::default();
        let e = store
            .delete(&DeleteIntents {
                pid: 3,
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e, DmError::Validation("podId is required when 'all' is false".into()));
        let e = store
            .delete(&DeleteIntents {
                pod_id: "a".into(),
                pid: -1,
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e, DmError::Validation("pid must be a positive integer".into()));
    }

    #[test]
    fn concurrent_readers_never_see_a_half_built_root() {
        let store = Arc::new(IntentStore::default());
        let sets: Vec<Vec<Intent>> = (0..4)
            .map(|n| (0..n).map(|i| intent(&format!("p{i}"), "")).collect())
            .collect();
        let roots: HashSet<String> = sets.iter().map(merkle::root).collect();
        let writer = {
            let store = store.clone();
            std::thread::spawn(move || {
                for k in 0..2000 {
                    store.replace(sets[k % sets.len()].clone()).unwrap();
                }
            })
        };
        for _ in 0..2000 {
            let s = store.load();
            assert!(roots.contains(&s.root));
            assert_eq!(merkle::root(&s.intents), s.root);
        }
        writer.join().unwrap();
    }
}
