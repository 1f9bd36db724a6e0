//! Node-intent leaves (targeting.md 8.1): upstream DM's format, which our
//! Manager uses too. Upstream's Manager hashed `nodeID=…|policyID=…` and so
//! never agreed with any DM; that format is never produced here.

use super::{expiry_suffix, sorted_root};
use crate::NodeIntent;

pub fn leaf_serialization(intent: &NodeIntent) -> String {
    format!(
        "policyID={}|nodeID={}|commandRegex={}|priority={}|executionTime={}",
        intent.policy_id, intent.node_id, intent.command_regex, intent.priority, intent.execution_time
    )
}

/// Leaf order; also the precedence key among node intents (10.2): the
/// greatest wins.
pub fn sort_key(intent: &NodeIntent) -> String {
    format!(
        "{}|{}|{}|{}|{}",
        intent.policy_id, intent.node_id, intent.command_regex, intent.priority, intent.execution_time
    )
}

pub fn extended_leaf_serialization(intent: &NodeIntent) -> String {
    format!(
        "{}{}",
        leaf_serialization(intent),
        expiry_suffix(intent.expires_at.as_deref())
    )
}

pub fn root<'a>(intents: impl IntoIterator<Item = &'a NodeIntent>) -> String {
    sorted_root(intents.into_iter().map(|i| (sort_key(i), leaf_serialization(i))))
}

pub fn extended_root<'a>(intents: impl IntoIterator<Item = &'a NodeIntent>) -> String {
    sorted_root(
        intents
            .into_iter()
            .map(|i| (sort_key(i), extended_leaf_serialization(i))),
    )
}

/// Vectors N1–N11 and X1–X3 of targeting.md 8.3.
#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::merkle::EMPTY_ROOT;

    fn p(n: u32, node: &str, re: &str, priority: i64, exec: i64) -> NodeIntent {
        NodeIntent {
            policy_id: format!("65f00000000000000000000{n}"),
            node_id: node.into(),
            command_regex: re.into(),
            priority,
            execution_time: exec,
            expires_at: None,
        }
    }
    fn p1() -> NodeIntent {
        p(1, "node-a", "^kworker", 10, 20_000_000)
    }
    fn p2() -> NodeIntent {
        p(2, "node-a", "EngineCore", 0, 0)
    }
    fn p3() -> NodeIntent {
        p(3, "node-a", "^cuda-EvtHandlr$", 5, 1_000_000)
    }
    fn p1x() -> NodeIntent {
        NodeIntent {
            expires_at: Some("2026-03-11T08:00:00Z".into()),
            ..p1()
        }
    }
    fn sha(text: &str) -> String {
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    #[test]
    fn n1_to_n6_leaves() {
        assert_eq!(
            leaf_serialization(&p1()),
            "policyID=65f000000000000000000001|nodeID=node-a|commandRegex=^kworker|priority=10|executionTime=20000000"
        );
        assert_eq!(
            sha(&leaf_serialization(&p1())),
            "1ee11bce694ca06432fb4ea6876855b83c38bebc29aab284d30b6fb2a67e720c"
        );
        // N2: upstream Manager's format, which this module never produces.
        let upstream_manager =
            "nodeID=node-a|policyID=65f000000000000000000001|commandRegex=^kworker|priority=10|executionTime=20000000";
        assert_eq!(
            sha(upstream_manager),
            "3e8101d0d3dde4b758d93a59ce11d3e79d4e72329af2530452c985602ebfee62"
        );
        assert_ne!(leaf_serialization(&p1()), upstream_manager);
        assert_eq!(
            sha(&leaf_serialization(&p2())),
            "2d6fc8527e68c499b3d451620f36ed6112e1301e29f7f177ed7f26d3e8782b0b"
        );
        assert_eq!(
            sha(&leaf_serialization(&p3())),
            "033e74febf38bb5b50e0e436d2c4292a6bd13f713241b3dc5c9cf7923b209544"
        );
        assert_eq!(
            sha(&leaf_serialization(&p(4, "node-a", "", 0, 0))),
            "3e57a6c9c7b7259547ddeb816554e18d7187b3a502fcd68113f928608efcf644"
        );
        assert_eq!(
            sha(&leaf_serialization(&p(1, "node-b", "^kworker", 10, 20_000_000))),
            "ddddcfcd259724bba73c48abfb89fbf5964f092b54486dc7294bf1ca0d227b67"
        );
    }

    #[test]
    fn n7_to_n11_roots() {
        let n7 = "b821425bbf8742c7093d6363a6ce03942d2c4e92aaaa1edb7792dfe6346ad4be";
        assert_eq!(root(&[p1(), p2()]), n7);
        assert_eq!(root(&[p2(), p1()]), n7);
        let n8 = "8f5af4f64e85dfcc73049c255db1aa7de62a129d7e322d69889ea72dedde1bc2";
        assert_eq!(root(&[p3(), p1(), p2()]), n8);
        assert_eq!(root(&[p2(), p3(), p1()]), n8);
        // N9: sorting by leaf hash instead of key gives another root.
        let mut by_hash: Vec<[u8; 32]> = [p1(), p2(), p3()]
            .iter()
            .map(|i| Sha256::digest(leaf_serialization(i).as_bytes()).into())
            .collect();
        by_hash.sort_unstable();
        assert_eq!(
            crate::merkle::root_of_leaves(&by_hash),
            "18fef3884deaa1d8e22d542049b92317e186fa7efd7e65782a0c945c2f9243ce"
        );
        assert_eq!(
            root(&[p2(), p1(), p2()]),
            "6df5a95b114b7e6802197d1e7cf4729178512a68a17f654b191531fd75847028"
        );
        assert_eq!(root(&[]), EMPTY_ROOT);
        assert_eq!(extended_root(&[]), EMPTY_ROOT);
    }

    #[test]
    fn x1_to_x3_extended() {
        assert_eq!(
            sha(&extended_leaf_serialization(&p1x())),
            "62a5e54a8127e897552dfcdee7711659ce4ca6d4ccf260f35c5cdfb4106c0a3d"
        );
        assert_eq!(
            sha(&extended_leaf_serialization(&p2())),
            "585b7ca8e7ee1187031a8f5d5da6e00419356054819842c9ecd5b04b4cfd21bb"
        );
        assert_eq!(
            extended_root(&[p1x(), p2()]),
            "9061b93deeccd0a7833ea2690e209afe583a6c394cdf18517066b9a9ab60614c"
        );
        // Expiry is invisible to the base root.
        assert_eq!(
            root(&[p1x(), p2()]),
            "b821425bbf8742c7093d6363a6ce03942d2c4e92aaaa1edb7792dfe6346ad4be"
        );
    }
}
