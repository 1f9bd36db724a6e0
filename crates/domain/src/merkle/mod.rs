//! The Merkle root shared bit-for-bit by the Manager and every Decision
//! Maker (ours and upstream's). The Manager re-sends a node's intents
//! whenever its expected root and the DM's root differ, so any deviation
//! here means endless re-pushes.

use sha2::{Digest, Sha256};

use crate::{Intent, NodeIntent, parse_rfc3339_secs};

pub mod node;

/// SHA-256 of the empty string: the root of an empty intent set.
pub const EMPTY_ROOT: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// `k=v` strings sorted bytewise as strings (so `a.b=2` precedes `a=1`),
/// joined with `,`.
fn labels_string(intent: &Intent) -> String {
    let mut pairs: Vec<String> = intent.pod_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort_unstable();
    pairs.join(",")
}

/// The leaf serialization `podName=…|podID=…|…|podLabels=…`.
pub fn leaf_serialization(intent: &Intent) -> String {
    format!(
        "podName={}|podID={}|nodeID={}|k8sNamespace={}|commandRegex={}|priority={}|executionTime={}|podLabels={}",
        intent.pod_name,
        intent.pod_id,
        intent.node_id,
        intent.k8s_namespace,
        intent.command_regex,
        intent.priority,
        intent.execution_time,
        labels_string(intent)
    )
}

/// The order in which leaves are hashed; senders that must send intents in
/// Merkle order sort by it too.
pub fn sort_key(intent: &Intent) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{}",
        intent.pod_name,
        intent.pod_id,
        intent.node_id,
        intent.k8s_namespace,
        intent.command_regex,
        intent.priority,
        intent.execution_time,
        labels_string(intent)
    )
}

/// Raw SHA-256 of one intent's leaf serialization.
pub fn leaf_hash(intent: &Intent) -> [u8; 32] {
    Sha256::digest(leaf_serialization(intent).as_bytes()).into()
}

/// Builds the tree over leaf hashes in the given order: pairs left to
/// right, an odd last node paired with itself, parents hashed over the raw
/// 32-byte children.
pub fn root_of_leaves(leaves: &[[u8; 32]]) -> String {
    if leaves.is_empty() {
        return EMPTY_ROOT.to_string();
    }
    let mut level: Vec<[u8; 32]> = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| {
                let left = pair[0];
                let right = *pair.get(1).unwrap_or(&pair[0]);
                let mut h = Sha256::new();
                h.update(left);
                h.update(right);
                h.finalize().into()
            })
            .collect();
    }
    hex::encode(level[0])
}

/// The root over a set of intents: leaves ordered by the intent sort key
/// (never by hash), duplicates kept.
pub fn root<'a>(intents: impl IntoIterator<Item = &'a Intent>) -> String {
    sorted_root(intents.into_iter().map(|i| (sort_key(i), leaf_serialization(i))))
}

/// `|expiresAt=<Unix seconds>`, empty seconds without an expiry (or with
/// one that does not parse: stores reject those before hashing).
fn expiry_suffix(expires_at: Option<&str>) -> String {
    let seconds = expires_at
        .and_then(parse_rfc3339_secs)
        .map(|s| s.to_string())
        .unwrap_or_default();
    format!("|expiresAt={seconds}")
}

/// Ours (targeting.md 8.2): the leaf text that also covers `matchThreads`
/// and `expiresAt`, which the base leaf (fixed by upstream) cannot see.
pub fn extended_leaf_serialization(intent: &Intent) -> String {
    format!(
        "{}|matchThreads={}{}",
        leaf_serialization(intent),
        intent.match_threads,
        expiry_suffix(intent.expires_at.as_deref())
    )
}

/// The `extendedRootHash` of a pod-intent set: base key order, ties
/// broken by the extended text.
pub fn extended_root<'a>(intents: impl IntoIterator<Item = &'a Intent>) -> String {
    sorted_root(
        intents
            .into_iter()
            .map(|i| (sort_key(i), extended_leaf_serialization(i))),
    )
}

/// Hashes `(key, leaf text)` pairs in key order, ties broken by the text.
fn sorted_root(keyed: impl Iterator<Item = (String, String)>) -> String {
    let mut keyed: Vec<(String, String)> = keyed.collect();
    keyed.sort_unstable();
    let leaves: Vec<[u8; 32]> = keyed
        .iter()
        .map(|(_, text)| Sha256::digest(text.as_bytes()).into())
        .collect();
    root_of_leaves(&leaves)
}

/// Both roots of a node-intent set (targeting.md 8.1, 8.2).
pub fn node_roots(intents: &[NodeIntent]) -> (String, String) {
    (node::root(intents), node::extended_root(intents))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn intent(
        name: &str,
        id: &str,
        node: &str,
        ns: &str,
        re: &str,
        prio: i64,
        exec: i64,
        l: &[(&str, &str)],
    ) -> Intent {
        Intent {
            pod_name: name.into(),
            pod_id: id.into(),
            node_id: node.into(),
            k8s_namespace: ns.into(),
            command_regex: re.into(),
            priority: prio,
            execution_time: exec,
            pod_labels: labels(l),
            match_threads: false,
            expires_at: None,
        }
    }

    fn a() -> Intent {
        intent(
            "pod-a",
            "pod-id-a",
            "node-a",
            "default",
            "nginx",
            1,
            100,
            &[("z", "2"), ("a", "1")],
        )
    }
    fn b() -> Intent {
        intent(
            "pod-b",
            "pod-id-b",
            "node-b",
            "kube-system",
            "busybox",
            0,
            200,
            &[("k2", "v2")],
        )
    }
    fn web(i: usize) -> Intent {
        intent(
            &format!("web-{i}"),
            &format!("uid-{i}"),
            "node-1",
            "prod",
            "",
            1,
            20_000_000,
            &[("app", "web")],
        )
    }

    #[test]
    fn vector_01_leaf_label_order_independent() {
        let i = intent(
            "pod",
            "pod-id",
            "node-id",
            "default",
            "nginx",
            1,
            42,
            &[("b", "2"), ("a", "1")],
        );
        assert_eq!(
            hex::encode(leaf_hash(&i)),
            "0106d5a05424ea127c35556843d17456c73057183efa089b1431110c328ad276"
        );
    }
    #[test]
    fn vector_02_empty() {
        assert_eq!(root(&[]), EMPTY_ROOT);
    }
    #[test]
    fn vector_03_04_leaves() {
        assert_eq!(
            leaf_serialization(&a()),
            "podName=pod-a|podID=pod-id-a|nodeID=node-a|k8sNamespace=default|commandRegex=nginx|priority=1|executionTime=100|podLabels=a=1,z=2"
        );
        assert_eq!(
            hex::encode(leaf_hash(&a())),
            "6a04252b7164b8fdb6bf7574e5caf9e3d223d2a1af5f7ff09e59f55e1e2dd430"
        );
        assert_eq!(
            hex::encode(leaf_hash(&b())),
            "f141440d052e1303aafe72e08cec697423f0dcc5f9aae8c78e8331bcb2d9604a"
        );
    }
    #[test]
    fn vector_05_root_in_either_order() {
        let want = "13b24eaff38439195da4f830abc27f5154e548f7ffd3572ce66a2c0d76970b1a";
        assert_eq!(root(&[a(), b()]), want);
        assert_eq!(root(&[b(), a()]), want);
    }
    #[test]
    fn vector_06_unsorted_sequence_odd_node() {
        let leaves = [leaf_hash(&a()), leaf_hash(&b()), leaf_hash(&a())];
        assert_eq!(
            root_of_leaves(&leaves),
            "88e74117519c9751fa8027004baa39f077b49815e25d8961be7ddcfcb733aae1"
        );
    }
    #[test]
    fn vector_07_single_leaf() {
        assert_eq!(
            root(&[a()]),
            "6a04252b7164b8fdb6bf7574e5caf9e3d223d2a1af5f7ff09e59f55e1e2dd430"
        );
    }
    #[test]
    fn vector_08_duplicates_kept() {
        assert_eq!(
            root(&[a(), b(), a()]),
            "dcee1e6a16731ef729f3956b6e48824a71aa21f08fa70f8ce14ad57f4112d888"
        );
    }
    #[test]
    fn vector_09_missing_sort_gives_other_root() {
        let leaves = [leaf_hash(&b()), leaf_hash(&a())];
        assert_eq!(
            root_of_leaves(&leaves),
            "a896de99359fff5042e2357c4694bd1db45107fdcc50b9c5864da0eff5052ee3"
        );
        assert_ne!(root(&[b(), a()]), root_of_leaves(&leaves));
    }
    #[test]
    fn vector_10_sort_by_key_not_hash() {
        assert_eq!(
            root(&[web(1), web(0)]),
            "5765a0d1be55a280fd598f27c9d5ee9f451f5d2a3e90a94f27c4f0eb689758bd"
        );
        let mut by_hash = [leaf_hash(&web(1)), leaf_hash(&web(0))];
        by_hash.sort();
        assert_eq!(
            root_of_leaves(&by_hash),
            "620af4c708286b0aa92235ec7f12b73324a60e6114a16bc80fae91ffd27e5cfc"
        );
    }
    #[test]
    fn vector_11_five_leaves_any_order() {
        let want = "1e92de8a8ef4b84837ed0c5d56520df33134712a06dd1e1cbcd27806e973e82b";
        assert_eq!(root(&[web(0), web(1), web(2), web(3), web(4)]), want);
        assert_eq!(root(&[web(3), web(1), web(4), web(0), web(2)]), want);
        let leaves = [
            "0ed583f5d0c475cf651461e4be8db1ae4fbdc169e227a250c08240b919bea45f",
            "055ac6ede5260141c89f58c9fc61148683b1f9134047ee486f8fc088f31c72ff",
            "10ba7b36113fbd3bac03238d4b57806e91839f512c0756ba0f3d0088a18f84d1",
            "9822bd5e826593305b0754d3dbd830a297d5e80075cef019f3a9d31a7eae9c72",
            "cb7f3dad5b1de613183cd74668d1023bb39fec963c1057cd21fbdb72c6f4b3fb",
        ];
        for (i, want) in leaves.iter().enumerate() {
            assert_eq!(hex::encode(leaf_hash(&web(i))), *want);
        }
    }
    #[test]
    fn vector_12_labels_sorted_as_strings() {
        let i = intent(
            "pod-l",
            "uid-l",
            "node-1",
            "default",
            "",
            5,
            0,
            &[("a", "1"), ("a.b", "2")],
        );
        assert_eq!(
            hex::encode(leaf_hash(&i)),
            "b56bbab5ee092193e31528497632cc00521c57628b69bbb7933db4e4a92bdc2a"
        );
    }
    #[test]
    fn vector_13_negative_numbers_no_labels() {
        let i = intent("pod-n", "uid-n", "node-1", "default", "^java$", -3, -1, &[]);
        assert_eq!(
            hex::encode(leaf_hash(&i)),
            "4eb81b9713e51257e35729b8469fe5afebfbea7045f2187152a9910bda3948b2"
        );
    }
    #[test]
    fn vector_14_all_zero() {
        assert_eq!(
            hex::encode(leaf_hash(&Intent::default())),
            "445e656a73c5ceadebb51bdb98eac96fd0a072c32b7349e4e601b9f8daa99aea"
        );
    }

    fn ax() -> Intent {
        Intent {
            match_threads: true,
            expires_at: Some("2026-03-11T08:00:00Z".into()),
            ..a()
        }
    }
    fn sha(text: &str) -> String {
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// targeting.md 8.3, X4–X8.
    #[test]
    fn extended_pod_vectors() {
        assert_eq!(
            extended_leaf_serialization(&ax()),
            "podName=pod-a|podID=pod-id-a|nodeID=node-a|k8sNamespace=default|commandRegex=nginx|priority=1|executionTime=100|podLabels=a=1,z=2|matchThreads=true|expiresAt=1773216000"
        );
        assert_eq!(
            sha(&extended_leaf_serialization(&ax())),
            "dcb128a9ed81ca4519b4cc6a2b9cbb6715d00bb557eac2141aa7ccf207c212c0"
        );
        assert_eq!(
            sha(&extended_leaf_serialization(&a())),
            "1fc11d686a014b72c5d710321e260d1928cacd48befdbeea5a43859e5594241f"
        );
        assert_eq!(
            sha(&extended_leaf_serialization(&b())),
            "ebd20bec325bfaa41f529f05ddc750438b8af81d4d91990cfc69e6babbd87f5d"
        );
        assert_eq!(
            extended_root(&[ax(), b()]),
            "36cbb736a39fa755dadcafc01d57eb8fa93ae8d944f35d1b9dc06dcc9de5da25"
        );
        assert_eq!(
            root(&[ax(), b()]),
            "13b24eaff38439195da4f830abc27f5154e548f7ffd3572ce66a2c0d76970b1a"
        );
        let x8 = "3ce9e70a52e4ca4388dc21ec7b66505b770e5231a78c8131fd0f1fb3b190a61a";
        assert_eq!(extended_root(&[ax(), a()]), x8);
        assert_eq!(extended_root(&[a(), ax()]), x8);
        assert_eq!(
            root(&[ax(), a()]),
            "d4ebd403eeb112fbcbf88edfadf0b0a74a049f813b425f56190b281fa0a5e017"
        );
    }
}
