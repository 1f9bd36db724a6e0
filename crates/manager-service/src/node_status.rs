//! Per-node apply status: what the last push did and what the last
//! reconcile check saw, for `GET /api/v1/nodes` and for operators. Kept in
//! memory: it describes this process's work, and the reconciler rebuilds it
//! within one pass after a restart.

use std::collections::HashMap;
use std::sync::Mutex;

use gthulhu_domain::manager::{NodeApplyStatus, PushResult, RuntimeDrift, now_ms};

#[derive(Debug, Default)]
pub struct NodeStatusBoard {
    nodes: Mutex<HashMap<String, NodeApplyStatus>>,
}

impl NodeStatusBoard {
    fn update(&self, node: &str, change: impl FnOnce(&mut NodeApplyStatus)) {
        let mut nodes = self.nodes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        change(nodes.entry(node.to_string()).or_default());
    }

    /// A push of `intents` intents whose root is `expected_root` ended with `result`.
    pub fn record_push(&self, node: &str, result: PushResult, expected_root: String, intents: usize) {
        self.update(node, |s| {
            s.last_push_ms = Some(now_ms());
            s.last_push = Some(result);
            s.expected_root = Some(expected_root);
            s.intents = Some(intents);
        });
    }

    /// A reconcile check compared the stored set with what a DM reported.
    pub fn record_check(&self, node: &str, expected_root: String, observed_root: String, intents: usize) {
        self.update(node, |s| {
            s.expected_root = Some(expected_root);
            s.observed_root = Some(observed_root);
            s.intents = Some(intents);
        });
    }

    /// A runtime-config check of the node (sessions-and-runtime.md 15.4).
    pub fn record_runtime(&self, node: &str, drift: RuntimeDrift) {
        self.update(node, |s| s.runtime = Some(drift));
    }

    /// The node's desired runtime config was deleted.
    pub fn clear_runtime(&self, node: &str) {
        self.update(node, |s| s.runtime = None);
    }

    /// The node's status; all `None` for a node never pushed or checked.
    pub fn get(&self, node: &str) -> NodeApplyStatus {
        let nodes = self.nodes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        nodes.get(node).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_and_check_fill_their_fields() {
        let board = NodeStatusBoard::default();
        assert_eq!(board.get("n1"), NodeApplyStatus::default());
        board.record_push("n1", PushResult::Failed("boom".into()), "aa".into(), 2);
        board.record_check("n1", "bb".into(), "cc".into(), 3);
        let s = board.get("n1");
        assert!(s.last_push_ms.is_some());
        assert_eq!(s.last_push, Some(PushResult::Failed("boom".into())));
        assert_eq!(
            (s.expected_root.as_deref(), s.observed_root.as_deref(), s.intents),
            (Some("bb"), Some("cc"), Some(3))
        );
        assert_eq!(board.get("n2"), NodeApplyStatus::default());
    }
}
