//! Pod UID and container ID from cgroup paths (spec section 10.2).

use std::sync::LazyLock;

use regex::Regex;

static POD_PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"pod([0-9a-fA-F]{8}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{12})")
        .expect("static pod UID pattern")
});

/// The pod (and container, when known) a cgroup path belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CgroupIdentity {
    /// Dashed UID, case as in the path.
    pub pod_uid: String,
    /// `""` when the path names no container (or a non-container process such as conmon).
    pub container_id: String,
}

/// Applies the 10.2 rules to the content of `/proc/<pid>/cgroup`: the first
/// `kubepods` line with a pod segment sets the UID; a later line with the
/// same UID may supply a missing container ID. Lines without a match are
/// skipped.
pub fn parse_cgroup_file(content: &str) -> Option<CgroupIdentity> {
    let mut found: Option<CgroupIdentity> = None;
    for line in content.lines().filter(|l| l.contains("kubepods")) {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(_), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let Some(identity) = identity_from_path(path) else {
            continue;
        };
        match &mut found {
            None => found = Some(identity),
            Some(current) => {
                if current.container_id.is_empty() && current.pod_uid == identity.pod_uid {
                    current.container_id = identity.container_id;
                }
            }
        }
        if found.as_ref().is_some_and(|f| !f.container_id.is_empty()) {
            break;
        }
    }
    found
}

/// Applies rules 2 and 4 of 10.2 to one cgroup path: the last segment
/// holding a pod UID wins, the segment right after it names the container.
/// The `kubepods` filter applies to whole lines and is the caller's.
pub fn identity_from_path(path: &str) -> Option<CgroupIdentity> {
    let segments: Vec<&str> = path.split('/').collect();
    let (index, pod_uid) = segments
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, s)| pod_uid_in_segment(s).map(|uid| (i, uid)))?;
    let container_id = segments
        .get(index + 1)
        .map_or_else(String::new, |s| container_id_from_segment(s));
    Some(CgroupIdentity { pod_uid, container_id })
}

/// The dashed pod UID in one path segment, if it has one.
pub(crate) fn pod_uid_in_segment(segment: &str) -> Option<String> {
    POD_PATTERN.captures(segment).map(|c| c[1].replace('_', "-"))
}

/// The container ID named by the segment after the pod segment; `""` for
/// anything that is not a known container form.
pub(crate) fn container_id_from_segment(segment: &str) -> String {
    // conmon is CRI-O's monitor, not a container process, whatever the driver.
    if segment.starts_with("crio-conmon-") {
        return String::new();
    }
    let id = if let Some(rest) = segment.strip_prefix("cri-containerd-") {
        rest.strip_suffix(".scope")
    } else if let Some(rest) = segment.strip_prefix("docker-") {
        rest.strip_suffix(".scope")
    } else if let Some(rest) = segment.strip_prefix("crio-") {
        Some(rest.strip_suffix(".scope").unwrap_or(rest))
    } else if segment.len() == 64 && segment.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Some(segment)
    } else {
        None
    };
    id.unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "31e4e721-a5a0-421a-ae1d-b7971ae30d6e";
    const UID_: &str = "31e4e721_a5a0_421a_ae1d_b7971ae30d6e";
    const CID: &str = "d0f631ca1ddba8db3bcfcb9e057cdc98d0379f1bee00e75a545147a27dadd982";

    fn ident(uid: &str, cid: &str) -> Option<CgroupIdentity> {
        Some(CgroupIdentity {
            pod_uid: uid.to_owned(),
            container_id: cid.to_owned(),
        })
    }

    fn parse(content: &str) -> Option<CgroupIdentity> {
        parse_cgroup_file(
            &content
                .replace("<uid_>", UID_)
                .replace("<uid>", UID)
                .replace("<cid>", CID),
        )
    }

    #[test]
    fn row_01_v2_systemd_containerd() {
        let line = "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<cid>.scope\n";
        assert_eq!(parse(line), ident(UID, CID));
    }

    #[test]
    fn row_02_kind_kubelet_slice() {
        let line = "0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pode52d4a2a_6e5f_44d9_a8b8_37ff3daa7413.slice/cri-containerd-<cid>.scope";
        assert_eq!(parse(line), ident("e52d4a2a-6e5f-44d9-a8b8-37ff3daa7413", CID));
    }

    #[test]
    fn row_03_guaranteed_systemd() {
        let line = "0::/kubepods.slice/kubepods-pod<uid_>.slice/cri-containerd-<cid>.scope";
        assert_eq!(parse(line), ident(UID, CID));
    }

    #[test]
    fn row_04_cgroupfs_containerd() {
        assert_eq!(parse("0::/kubepods/burstable/pod<uid>/<cid>"), ident(UID, CID));
    }

    #[test]
    fn row_05_cgroupfs_guaranteed() {
        assert_eq!(parse("0::/kubepods/pod<uid>/<cid>"), ident(UID, CID));
    }

    #[test]
    fn row_06_systemd_crio() {
        let line = "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/crio-<cid>.scope";
        assert_eq!(parse(line), ident(UID, CID));
    }

    #[test]
    fn row_07_crio_conmon() {
        let line =
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/crio-conmon-<cid>.scope";
        assert_eq!(parse(line), ident(UID, ""));
    }

    #[test]
    fn row_08_cgroupfs_crio() {
        assert_eq!(parse("0::/kubepods/besteffort/pod<uid>/crio-<cid>"), ident(UID, CID));
    }

    #[test]
    fn row_09_systemd_docker() {
        let line = "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/docker-<cid>.scope";
        assert_eq!(parse(line), ident(UID, CID));
    }

    #[test]
    fn row_10_v1_cgroupfs_docker_many_lines() {
        let content = "11:memory:/kubepods/burstable/pod<uid>/<cid>\n\
                       10:devices:/kubepods/burstable/pod<uid>/<cid>\n\
                       4:cpu,cpuacct:/kubepods/burstable/pod<uid>/<cid>\n\
                       1:name=systemd:/kubepods/burstable/pod<uid>/<cid>\n";
        assert_eq!(parse(content), ident(UID, CID));
    }

    #[test]
    fn row_11_v1_systemd_containerd() {
        let content = "12:cpuset:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<cid>.scope\n\
                       3:pids:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<cid>.scope\n\
                       1:name=systemd:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<cid>.scope\n";
        assert_eq!(parse(content), ident(UID, CID));
    }

    #[test]
    fn row_12_hybrid() {
        let content = "12:cpuset:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/cri-containerd-<cid>.scope\n\
                       1:name=systemd:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/cri-containerd-<cid>.scope\n\
                       0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/cri-containerd-<cid>.scope\n";
        assert_eq!(parse(content), ident(UID, CID));
    }

    #[test]
    fn row_13_relative_path_in_cgroup_namespace() {
        let line = "0::/../../kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/cri-containerd-<cid>.scope";
        assert_eq!(parse(line), ident(UID, CID));
    }

    #[test]
    fn row_14_qos_slice_skipped() {
        assert_eq!(parse("0::/kubepods.slice/kubepods-burstable.slice"), None);
    }

    #[test]
    fn row_15_host_service_skipped() {
        assert_eq!(parse("0::/system.slice/containerd.service"), None);
        // A pod-looking path without `kubepods` on the line is still skipped.
        assert_eq!(parse("0::/system.slice/pod<uid>/<cid>"), None);
    }

    #[test]
    fn row_16_non_uuid_pod_segment_skipped() {
        assert_eq!(
            parse("9:cpuset:/kubepods/burstable/pod123abc-456def/docker-abcdef.scope"),
            None
        );
    }

    #[test]
    fn uppercase_hex_preserved() {
        let line =
            "0::/kubepods.slice/kubepods-pod31E4E721_A5A0_421A_AE1D_B7971AE30D6E.slice/cri-containerd-<cid>.scope";
        assert_eq!(parse(line), ident("31E4E721-A5A0-421A-AE1D-B7971AE30D6E", CID));
    }

    #[test]
    fn line_without_match_does_not_stop_parsing() {
        let content = "5:memory:/kubepods.slice/kubepods-burstable.slice\n\
                       0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<cid>.scope\n";
        assert_eq!(parse(content), ident(UID, CID));
    }

    #[test]
    fn later_line_with_same_uid_supplies_container_id() {
        let content = "4:cpu:/kubepods/burstable/pod<uid>\n1:name=systemd:/kubepods/burstable/pod<uid>/<cid>\n";
        assert_eq!(parse(content), ident(UID, CID));
    }

    #[test]
    fn first_uid_wins_over_a_different_later_uid() {
        let other = "e52d4a2a-6e5f-44d9-a8b8-37ff3daa7413";
        let content =
            format!("4:cpu:/kubepods/burstable/pod<uid>\n1:name=systemd:/kubepods/burstable/pod{other}/<cid>\n");
        assert_eq!(parse(&content), ident(UID, ""));
    }

    #[test]
    fn last_matching_segment_wins() {
        let other = "e52d4a2a-6e5f-44d9-a8b8-37ff3daa7413";
        let line = format!("0::/kubepods/pod<uid>/nested/pod{other}/<cid>");
        assert_eq!(parse(&line), ident(other, CID));
    }

    #[test]
    fn short_and_odd_lines_do_not_panic() {
        assert_eq!(parse("kubepods\n0:kubepods\n::\n\n:::::kubepods"), None);
        assert_eq!(parse("0::kubepods/pod<uid>"), ident(UID, ""));
    }

    #[test]
    fn container_id_forms() {
        let cases = [
            (format!("cri-containerd-{CID}.scope"), CID),
            (format!("crio-conmon-{CID}.scope"), ""),
            (format!("crio-conmon-{CID}"), ""),
            (format!("crio-{CID}.scope"), CID),
            (format!("crio-{CID}"), CID),
            (format!("docker-{CID}.scope"), CID),
            (CID.to_owned(), CID),
            (CID.to_uppercase(), ""),
            (CID[..63].to_owned(), ""),
            (format!("{CID}0"), ""),
            (format!("docker-{CID}"), ""),
            (format!("cri-containerd-{CID}"), ""),
            ("init.scope".to_owned(), ""),
            (String::new(), ""),
        ];
        for (segment, want) in cases {
            assert_eq!(container_id_from_segment(&segment), want, "segment {segment}");
        }
    }

    #[test]
    fn identity_from_path_without_following_segment() {
        assert_eq!(
            identity_from_path(&format!("/kubepods/besteffort/pod{UID}")),
            ident(UID, "")
        );
        assert_eq!(
            identity_from_path(&format!("/kubepods/besteffort/pod{UID}/")),
            ident(UID, "")
        );
        assert_eq!(identity_from_path("/kubepods/besteffort"), None);
    }
}
