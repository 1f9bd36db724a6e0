use std::collections::HashSet;
use std::sync::Arc;

use arc_swap::ArcSwap;
use gthulhu_domain::merkle;
use gthulhu_domain::{DeleteIntents, DmError, Intent};
use parking_lot::Mutex;
use regex::Regex;

use crate::regex_rules;

/// One consistent view of the intent set: readers never see a list whose
/// root or regexes belong to another version.
pub struct IntentState {
    pub intents: Vec<Intent>,
    /// One per intent, `None` for an empty regex (matches everything).
    pub regexes: Vec<Option<Regex>>,
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

    /// Validates every regex first, so an invalid set is never stored.
    pub fn replace(&self, intents: Vec<Intent>) -> Result<(), DmError> {
        let regexes = intents
            .iter()
            .enumerate()
            .map(|(i, intent)| {
                regex_rules::compile(&intent.command_regex).map_err(|detail| {
                    DmError::Validation(format!(
                        "intents[{i}].commandRegex: invalid regular expression: {detail}"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
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
