//! Which PIDs belong to pods: from the cgroup tree when it has kubepods
//! cgroups, else by walking `/proc` (spec 10.1, 10.5).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs;
use std::path::{Path, PathBuf};

use gthulhu_domain::ScanMode;

use crate::ScanError;
use crate::cgroup::{CgroupIdentity, container_id_from_segment, parse_cgroup_file, pod_uid_in_segment};
use crate::procfile::read_lossy;

/// The pod processes found by one refresh, before `/proc` details are read.
pub(crate) struct Discovery {
    pub mode: ScanMode,
    /// Each PID's index into `identities`: one identity per cgroup
    /// directory, not one copy per process, so an unchanged refresh does
    /// not allocate per process.
    pub pids: HashMap<u32, usize>,
    pub identities: Vec<CgroupIdentity>,
    /// Directories whose changes announce new or removed pod cgroups (empty
    /// outside cgroup mode).
    pub watch_dirs: Vec<PathBuf>,
}

pub(crate) fn discover(proc_root: &Path, cgroup_root: &Path) -> Result<Discovery, ScanError> {
    let proc_root_error = |source| ScanError::ProcRoot {
        path: proc_root.to_owned(),
        source,
    };
    if let Some(found) = discover_cgroups(cgroup_root) {
        fs::metadata(proc_root).map_err(proc_root_error)?;
        return Ok(found);
    }
    let entries = fs::read_dir(proc_root).map_err(proc_root_error)?;
    let mut pids = HashMap::new();
    let mut identities = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(parse_pid) else {
            continue;
        };
        let Ok(content) = read_lossy(&entry.path().join("cgroup")) else {
            tracing::trace!(pid, "cgroup unreadable, process gone");
            continue;
        };
        if let Some(identity) = parse_cgroup_file(&content) {
            pids.insert(pid, identities.len());
            identities.push(identity);
        }
    }
    Ok(Discovery {
        mode: ScanMode::ProcWalk,
        pids,
        identities,
        watch_dirs: Vec::new(),
    })
}

#[cfg(test)]
impl Discovery {
    pub fn identity(&self, pid: u32) -> Option<&CgroupIdentity> {
        self.pids.get(&pid).map(|&i| &self.identities[i])
    }
}

/// A decimal PID; also rejects the `+5` that `u32::from_str` accepts.
pub(crate) fn parse_pid(name: &str) -> Option<u32> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok().filter(|&pid| pid != 0)
}

/// `None` when the root is unreadable or holds no kubepods tree.
fn discover_cgroups(root: &Path) -> Option<Discovery> {
    let mut pids = HashMap::new();
    let mut identities = Vec::new();
    let mut watch_dirs = Vec::new();
    let mut found_tree = false;
    for hierarchy in hierarchies(root)? {
        let mut walk = HierarchyWalk {
            pids: &mut pids,
            identities: &mut identities,
            dirs: Vec::new(),
            found_tree: false,
        };
        walk.run(&hierarchy);
        found_tree |= walk.found_tree;
        // One hierarchy is enough to hear about pod and container cgroups.
        if walk.found_tree && watch_dirs.is_empty() {
            watch_dirs.push(hierarchy);
            watch_dirs.append(&mut walk.dirs);
        }
    }
    found_tree.then_some(Discovery {
        mode: ScanMode::Cgroups,
        pids,
        identities,
        watch_dirs,
    })
}

/// The root itself when it is a cgroup v2 mount, else each subdirectory
/// (v1 controllers, hybrid `unified`), `unified` first. Symlinked aliases
/// such as `cpu -> cpu,cpuacct` are skipped.
fn hierarchies(root: &Path) -> Option<Vec<PathBuf>> {
    if root.join("cgroup.procs").exists() {
        return Some(vec![root.to_owned()]);
    }
    let mut found: Vec<(bool, String, PathBuf)> = fs::read_dir(root)
        .ok()?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name != "unified", name, e.path())
        })
        .collect();
    found.sort();
    Some(found.into_iter().map(|(_, _, path)| path).collect())
}

struct HierarchyWalk<'a> {
    pids: &'a mut HashMap<u32, usize>,
    identities: &'a mut Vec<CgroupIdentity>,
    dirs: Vec<PathBuf>,
    found_tree: bool,
}

/// One directory still to visit.
struct Pending {
    path: PathBuf,
    under_kubepods: bool,
    /// Pod (and container) the path names so far, per 10.2.
    identity: Option<CgroupIdentity>,
    /// Whether the last segment was the pod segment: the next names the container.
    pod_segment: bool,
}

impl HierarchyWalk<'_> {
    /// Descends only towards pod cgroups, then through everything below them;
    /// reads `cgroup.procs` at and below each pod directory.
    fn run(&mut self, hierarchy: &Path) {
        let mut stack = vec![Pending {
            path: hierarchy.to_owned(),
            under_kubepods: false,
            identity: None,
            pod_segment: false,
        }];
        while let Some(dir) = stack.pop() {
            if let Some(identity) = &dir.identity {
                self.read_procs(&dir.path, identity);
            }
            let Ok(entries) = fs::read_dir(&dir.path) else {
                continue;
            };
            for entry in entries.flatten() {
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let kubepods = name.contains("kubepods");
                if !(dir.under_kubepods || kubepods || name == "kubelet.slice") {
                    continue;
                }
                self.found_tree |= kubepods;
                let (identity, pod_segment) = match (pod_uid_in_segment(&name), &dir.identity) {
                    (Some(pod_uid), _) => (
                        Some(CgroupIdentity {
                            pod_uid,
                            container_id: String::new(),
                        }),
                        true,
                    ),
                    (None, Some(parent)) if dir.pod_segment => (
                        Some(CgroupIdentity {
                            pod_uid: parent.pod_uid.clone(),
                            container_id: container_id_from_segment(&name),
                        }),
                        false,
                    ),
                    (None, parent) => (parent.clone(), false),
                };
                let path = entry.path();
                self.dirs.push(path.clone());
                stack.push(Pending {
                    path,
                    under_kubepods: dir.under_kubepods || kubepods,
                    identity,
                    pod_segment,
                });
            }
        }
    }

    fn read_procs(&mut self, dir: &Path, identity: &CgroupIdentity) {
        let Ok(content) = read_lossy(&dir.join("cgroup.procs")) else {
            return;
        };
        let mut index = None;
        for pid in content.lines().filter_map(|l| parse_pid(l.trim())) {
            let this = *index.get_or_insert_with(|| {
                self.identities.push(identity.clone());
                self.identities.len() - 1
            });
            match self.pids.entry(pid) {
                Entry::Vacant(slot) => {
                    slot.insert(this);
                }
                Entry::Occupied(mut slot) => {
                    let known = &self.identities[*slot.get()];
                    if known.container_id.is_empty() && known.pod_uid == identity.pod_uid {
                        slot.insert(this);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::identity_from_path;
    use crate::fixture::FixtureTree;

    #[test]
    fn pid_names() {
        assert_eq!(parse_pid("42"), Some(42));
        for bad in ["", "+5", "-1", "0", "self", "4294967296", "1a"] {
            assert_eq!(parse_pid(bad), None, "{bad}");
        }
    }

    #[test]
    fn directory_identity_matches_path_rules() {
        let tree = FixtureTree::new();
        let paths = [
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod31e4e721_a5a0_421a_ae1d_b7971ae30d6e.slice/cri-containerd-d0f631ca1ddba8db3bcfcb9e057cdc98d0379f1bee00e75a545147a27dadd982.scope/nested",
            "/kubepods/besteffort/pode52d4a2a-6e5f-44d9-a8b8-37ff3daa7413/crio-conmon-abc.scope",
            "/kubepods/pod0A0B0C0D-6e5f-44d9-a8b8-37ff3daa7413/0000000000000000000000000000000000000000000000000000000000000000",
            "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod11111111_2222_3333_4444_555555555555.slice",
        ];
        for (i, path) in paths.iter().enumerate() {
            tree.add_to_cgroup("", path, 100 + i as u32);
        }
        let found = discover_cgroups(tree.cgroup_root()).unwrap();
        assert_eq!(found.pids.len(), paths.len());
        for (i, path) in paths.iter().enumerate() {
            assert_eq!(
                found.identity(100 + i as u32),
                identity_from_path(path).as_ref(),
                "{path}"
            );
        }
    }

    #[test]
    fn only_kubepods_trees_are_entered() {
        let tree = FixtureTree::new();
        tree.add_to_cgroup("", "/system.slice/pod31e4e721-a5a0-421a-ae1d-b7971ae30d6e/x", 5);
        tree.add_to_cgroup("", "/kubepods.slice/kubepods-burstable.slice", 6);
        let found = discover_cgroups(tree.cgroup_root()).unwrap();
        assert!(found.pids.is_empty());
        let watched: Vec<_> = found
            .watch_dirs
            .iter()
            .map(|p| p.strip_prefix(tree.cgroup_root()).unwrap())
            .collect();
        assert_eq!(
            watched,
            [
                Path::new(""),
                Path::new("kubepods.slice"),
                Path::new("kubepods.slice/kubepods-burstable.slice")
            ]
        );
    }

    #[test]
    fn no_kubepods_tree_or_unreadable_root_means_no_cgroup_mode() {
        let tree = FixtureTree::new();
        assert!(discover_cgroups(&tree.cgroup_root().join("missing")).is_none());
        tree.add_to_cgroup("", "/system.slice/containerd.service", 5);
        assert!(discover_cgroups(tree.cgroup_root()).is_none());
    }
}
