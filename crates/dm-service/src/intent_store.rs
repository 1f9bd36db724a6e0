use std::collections::HashSet;
use std::sync::Arc;

use gthulhu_domain::merkle;
use gthulhu_domain::{DeleteIntents, DmError, Intent};

use crate::pattern_set::{self, Compiled};
use crate::versioned::Versioned;

/// One consistent view of the intent set: readers never see a list whose
/// root or regexes belong to another version.
pub struct IntentState {
    pub intents: Vec<Intent>,
    /// One per intent, `None` for an empty regex (matches everything).
    pub regexes: Compiled,
    /// One per intent: Unix seconds of `expiresAt`.
    pub expiries: Vec<Option<i64>>,
    pub root: String,
    pub extended_root: String,
    /// `(podId, pid)` pairs suppressed by `DELETE {"podId","pid"}`.
    pub exclusions: HashSet<(String, u32)>,
}

impl IntentState {
    fn new(
        intents: Vec<Intent>,
        regexes: Compiled,
        expiries: Vec<Option<i64>>,
        exclusions: HashSet<(String, u32)>,
    ) -> Self {
        let root = merkle::root(&intents);
        let extended_root = merkle::extended_root(&intents);
        Self {
            intents,
            regexes,
            expiries,
            root,
            extended_root,
            exclusions,
        }
    }

    fn empty() -> Self {
        Self::new(Vec::new(), Vec::new(), Vec::new(), HashSet::new())
    }

    /// Whether `DELETE {"podId","pid"}` suppressed this process; builds no
    /// key in the usual case of no exclusions (resolution asks per process).
    pub fn excludes(&self, pod_id: &str, pid: u32) -> bool {
        !self.exclusions.is_empty() && self.exclusions.contains(&(pod_id.to_owned(), pid))
    }

    /// Validates the set, every regex and every `expiresAt` (messages name
    /// `array`), with no exclusions. Patterns `reuse` already has are not
    /// compiled again, so a push costs what changed.
    pub fn validated(array: &str, intents: Vec<Intent>, reuse: &IntentState) -> Result<Self, DmError> {
        let previous = reuse
            .intents
            .iter()
            .map(|intent| intent.command_regex.as_str())
            .zip(&reuse.regexes);
        let regexes = pattern_set::compile(array, intents.iter().map(|i| i.command_regex.as_str()), previous)?;
        let expiries = pattern_set::expiries(array, intents.iter().map(|i| i.expires_at.as_deref()))?;
        Ok(Self::new(intents, regexes, expiries, HashSet::new()))
    }
}

/// The intent set, replaced as a whole by POST and edited by DELETE.
pub struct IntentStore {
    state: Versioned<IntentState>,
}

impl Default for IntentStore {
    fn default() -> Self {
        Self {
            state: Versioned::new(IntentState::empty()),
        }
    }
}

impl IntentStore {
    pub fn load(&self) -> Arc<IntentState> {
        self.state.load()
    }

    /// An invalid set is never stored.
    pub fn replace(&self, intents: Vec<Intent>) -> Result<(), DmError> {
        self.state
            .update(|current| IntentState::validated("intents", intents, current))
    }

    pub fn delete(&self, request: &DeleteIntents) -> Result<(), DmError> {
        if request.all {
            return self.state.update(|_| Ok::<_, DmError>(IntentState::empty()));
        }
        if request.pod_id.is_empty() {
            return Err(DmError::Validation("podId is required when 'all' is false".into()));
        }
        let pid =
            u32::try_from(request.pid).map_err(|_| DmError::Validation("pid must be a positive integer".into()))?;
        self.state.update(|current| {
            if pid > 0 {
                let mut exclusions = current.exclusions.clone();
                exclusions.insert((request.pod_id.clone(), pid));
                return Ok(IntentState {
                    intents: current.intents.clone(),
                    regexes: current.regexes.clone(),
                    expiries: current.expiries.clone(),
                    root: current.root.clone(),
                    extended_root: current.extended_root.clone(),
                    exclusions,
                });
            }
            let keep: Vec<usize> = (0..current.intents.len())
                .filter(|&i| current.intents[i].pod_id != request.pod_id)
                .collect();
            let exclusions = current
                .exclusions
                .iter()
                .filter(|(pod, _)| *pod != request.pod_id)
                .cloned()
                .collect();
            Ok(IntentState::new(
                keep.iter().map(|&i| current.intents[i].clone()).collect(),
                keep.iter().map(|&i| current.regexes[i].clone()).collect(),
                keep.iter().map(|&i| current.expiries[i]).collect(),
                exclusions,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use gthulhu_domain::comm_regex::{MAX_DISTINCT_PER_SET, MAX_INTENTS_PER_SET};

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
    fn invalid_expiry_is_rejected_and_expiry_moves_only_the_extended_root() {
        let store = IntentStore::default();
        let mut dated = intent("a", "x");
        dated.expires_at = Some("2026-02-30T00:00:00Z".into());
        assert_eq!(
            store.replace(vec![intent("b", ""), dated]).unwrap_err(),
            DmError::Validation("intents[1].expiresAt: invalid RFC 3339 time".into())
        );
        store.replace(vec![intent("a", "x")]).unwrap();
        let plain = store.load();
        let mut dated = intent("a", "x");
        dated.expires_at = Some("2026-03-11T08:00:00Z".into());
        store.replace(vec![dated]).unwrap();
        let s = store.load();
        assert_eq!(s.root, plain.root);
        assert_ne!(s.extended_root, plain.extended_root);
        assert_eq!(s.expiries, vec![Some(1_773_216_000)]);
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
