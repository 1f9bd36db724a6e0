//! The node-intent set (targeting.md 7): replaced as a whole by POST,
//! trimmed by DELETE; memory only, restored by the Manager's next pass.

use std::sync::Arc;

use gthulhu_domain::merkle::{self, EMPTY_ROOT};
use gthulhu_domain::{DeleteNodeIntents, DmError, NodeIntent};

use crate::pattern_set::{self, Compiled};
use crate::versioned::Versioned;

/// One consistent view: intents in posted order, their programs (`None`
/// for an empty pattern, which matches no task), expiries and both roots.
pub struct NodeIntentState {
    pub intents: Vec<NodeIntent>,
    pub regexes: Compiled,
    pub expiries: Vec<Option<i64>>,
    pub root: String,
    pub extended_root: String,
}

impl NodeIntentState {
    fn new(intents: Vec<NodeIntent>, regexes: Compiled, expiries: Vec<Option<i64>>) -> Self {
        let (root, extended_root) = merkle::node_roots(&intents);
        Self {
            intents,
            regexes,
            expiries,
            root,
            extended_root,
        }
    }

    fn empty() -> Self {
        Self {
            intents: Vec::new(),
            regexes: Vec::new(),
            expiries: Vec::new(),
            root: EMPTY_ROOT.into(),
            extended_root: EMPTY_ROOT.into(),
        }
    }

    /// Validates every regex, then every `expiresAt` (messages name
    /// `array`), compiling only patterns `reuse` does not have.
    pub fn validated(array: &str, intents: Vec<NodeIntent>, reuse: &NodeIntentState) -> Result<Self, DmError> {
        let previous = reuse
            .intents
            .iter()
            .map(|i| i.command_regex.as_str())
            .zip(&reuse.regexes);
        let regexes = pattern_set::compile(array, intents.iter().map(|i| i.command_regex.as_str()), previous)?;
        let expiries = pattern_set::expiries(array, intents.iter().map(|i| i.expires_at.as_deref()))?;
        Ok(Self::new(intents, regexes, expiries))
    }
}

pub struct NodeIntentStore {
    state: Versioned<NodeIntentState>,
}

impl Default for NodeIntentStore {
    fn default() -> Self {
        Self {
            state: Versioned::new(NodeIntentState::empty()),
        }
    }
}

impl NodeIntentStore {
    pub fn load(&self) -> Arc<NodeIntentState> {
        self.state.load()
    }

    /// An invalid set leaves the current one in place.
    pub fn replace(&self, intents: Vec<NodeIntent>) -> Result<(), DmError> {
        self.state
            .update(|current| NodeIntentState::validated("policies", intents, current))
    }

    pub fn delete(&self, request: &DeleteNodeIntents) -> Result<(), DmError> {
        if !request.all && request.policy_id.is_empty() {
            return Err(DmError::Validation("policyId is required when 'all' is false".into()));
        }
        self.state.update(|current| {
            if request.all {
                return Ok(NodeIntentState::empty());
            }
            let keep: Vec<usize> = (0..current.intents.len())
                .filter(|&i| current.intents[i].policy_id != request.policy_id)
                .collect();
            Ok(NodeIntentState::new(
                keep.iter().map(|&i| current.intents[i].clone()).collect(),
                keep.iter().map(|&i| current.regexes[i].clone()).collect(),
                keep.iter().map(|&i| current.expiries[i]).collect(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_intent(policy: &str, re: &str) -> NodeIntent {
        NodeIntent {
            policy_id: policy.into(),
            node_id: "node-a".into(),
            command_regex: re.into(),
            priority: 3,
            ..Default::default()
        }
    }

    #[test]
    fn starts_empty_with_both_roots_of_nothing() {
        let s = NodeIntentStore::default().load();
        assert_eq!((s.root.as_str(), s.extended_root.as_str()), (EMPTY_ROOT, EMPTY_ROOT));
    }

    #[test]
    fn invalid_regex_or_expiry_leaves_the_set_unchanged() {
        let store = NodeIntentStore::default();
        store.replace(vec![node_intent("p1", "^a")]).unwrap();
        let root = store.load().root.clone();
        let err = store
            .replace(vec![node_intent("p2", ""), node_intent("p3", "(")])
            .unwrap_err();
        assert!(
            matches!(&err, DmError::Validation(m) if m.starts_with("policies[1].commandRegex: invalid regular expression: ")),
            "{err:?}"
        );
        let mut dated = node_intent("p2", "b");
        dated.expires_at = Some("soon".into());
        assert_eq!(
            store.replace(vec![node_intent("p1", "^a"), dated]).unwrap_err(),
            DmError::Validation("policies[1].expiresAt: invalid RFC 3339 time".into())
        );
        assert_eq!(store.load().root, root);
        assert_eq!(store.load().intents.len(), 1);
    }

    #[test]
    fn empty_pattern_is_kept_and_hashed_and_expiry_moves_only_the_extended_root() {
        let store = NodeIntentStore::default();
        store.replace(vec![node_intent("p1", "")]).unwrap();
        let plain = store.load();
        assert!(plain.regexes[0].is_none());
        assert_eq!(plain.root, merkle::node::root(&[node_intent("p1", "")]));
        let mut dated = node_intent("p1", "");
        dated.expires_at = Some("2026-03-11T08:00:00Z".into());
        store.replace(vec![dated]).unwrap();
        let s = store.load();
        assert_eq!(s.root, plain.root);
        assert_ne!(s.extended_root, plain.extended_root);
        assert_eq!(s.expiries, vec![Some(1_773_216_000)]);
    }

    #[test]
    fn delete_by_policy_or_all() {
        let store = NodeIntentStore::default();
        store
            .replace(vec![
                node_intent("p1", "a"),
                node_intent("p2", "b"),
                node_intent("p1", "c"),
            ])
            .unwrap();
        store
            .delete(&DeleteNodeIntents {
                policy_id: "p1".into(),
                ..Default::default()
            })
            .unwrap();
        let s = store.load();
        assert_eq!(s.intents, vec![node_intent("p2", "b")]);
        assert_eq!(s.root, merkle::node::root(&[node_intent("p2", "b")]));
        assert_eq!(
            store.delete(&DeleteNodeIntents::default()).unwrap_err(),
            DmError::Validation("policyId is required when 'all' is false".into())
        );
        store
            .delete(&DeleteNodeIntents {
                all: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(store.load().root, EMPTY_ROOT);
    }
}
