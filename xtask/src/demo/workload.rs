//! The demo pods' processes: real `sleep`s, one per pod. Where this host
//! lets us (root, writable cgroupfs) they go into real kubepods cgroups laid
//! out as kubelet (systemd driver) and containerd make them, and the DM
//! reads the real `/proc` and `/sys/fs/cgroup`. Otherwise a fixture tree
//! under `.demo/fixture` mirrors the same processes (their real `stat`,
//! `comm` and `cmdline`) in fake pod cgroups, and the DM is pointed at it.
//! Either way the PIDs the DM serves are those of live processes.
//!
//! Every process is a child of xtask and is killed and reaped on drop,
//! before the cgroups it created are removed, so errors and Ctrl-C clean up
//! too. Processes and cgroups are also recorded in the work directory
//! (`leftovers`), so the next run removes what a killed run left behind.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail, ensure};
use rustix::process::geteuid;

use super::leftovers;
use super::pods::DemoPod;

/// Long enough for any demo session; a SIGKILLed xtask cannot reap its
/// children, and this bounds how long they linger.
const SLEEP_SECONDS: &str = "86400";

/// Where the DM finds the processes.
pub enum Roots {
    /// The host's `/proc` and `/sys/fs/cgroup` (the DM's defaults).
    Host { hierarchy: PathBuf },
    /// A fixture tree: `DM_SCAN_PROC_ROOT`, `DM_SCAN_CGROUP_ROOT`.
    Fixture { proc_root: PathBuf, cgroup_root: PathBuf },
}

pub struct Workload {
    pub roots: Roots,
    /// `(pod index, child)`, in pod order.
    processes: Vec<(usize, Child)>,
    /// Real cgroup directories this run created, parents first.
    created: Vec<PathBuf>,
    work_dir: PathBuf,
}

impl Workload {
    /// Real cgroups unless `force_fixture` or the host does not allow them.
    pub fn start(pods: &[DemoPod], work_dir: &Path, force_fixture: bool) -> anyhow::Result<Self> {
        let hierarchy = if force_fixture {
            println!("workload: --no-cgroups given: fixture /proc and cgroup tree");
            None
        } else {
            match writable_hierarchy() {
                Ok(hierarchy) => Some(hierarchy),
                Err(reason) => {
                    println!(
                        "workload: real kubepods cgroups not possible ({reason:#}); fixture /proc and cgroup tree"
                    );
                    None
                }
            }
        };
        let mut workload = Self {
            roots: Roots::Fixture {
                proc_root: work_dir.join("fixture/proc"),
                cgroup_root: work_dir.join("fixture/cgroup"),
            },
            processes: Vec::new(),
            created: Vec::new(),
            work_dir: work_dir.to_path_buf(),
        };
        for (index, pod) in pods.iter().enumerate() {
            let child = Command::new("sleep")
                .arg(SLEEP_SECONDS)
                .stdin(Stdio::null())
                .spawn()
                .context("starting `sleep`")?;
            let pid = child.id();
            workload.processes.push((index, child));
            leftovers::record_process(work_dir, pid)?;
            let path = container_path(&pod.uid);
            match &hierarchy {
                Some(hierarchy) => workload.join_real_cgroup(hierarchy, &path, pid)?,
                None => mirror_into_fixture(work_dir, &path, pid)?,
            }
            println!(
                "workload: pod {}/{} ({}): sleep pid {pid} in {path}",
                super::pods::NAMESPACE,
                pod.name,
                pod.uid
            );
        }
        if let Some(hierarchy) = hierarchy {
            workload.roots = Roots::Host { hierarchy };
        }
        Ok(workload)
    }

    /// PIDs of the pods' processes, with the pod index.
    pub fn pids(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        self.processes.iter().map(|(pod, child)| (*pod, child.id()))
    }

    fn join_real_cgroup(&mut self, hierarchy: &Path, path: &str, pid: u32) -> anyhow::Result<()> {
        let mut dir = hierarchy.to_path_buf();
        for part in path.trim_start_matches('/').split('/') {
            dir.push(part);
            if !dir.exists() {
                fs::create_dir(&dir).with_context(|| format!("creating cgroup {}", dir.display()))?;
                self.created.push(dir.clone());
                leftovers::record_cgroup(&self.work_dir, &dir)?;
            }
        }
        let procs = dir.join("cgroup.procs");
        println!("$ echo {pid} > {}", procs.display());
        OpenOptions::new()
            .write(true)
            .open(&procs)
            .and_then(|mut f| f.write_all(pid.to_string().as_bytes()))
            .with_context(|| format!("moving pid {pid} into {}", procs.display()))
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        for (_, child) in &mut self.processes {
            let _ = child.kill();
            let _ = child.wait();
        }
        for dir in self.created.iter().rev() {
            leftovers::remove_cgroup(dir);
        }
    }
}

/// A pod's container cgroup below the hierarchy root: a Guaranteed pod (no
/// QoS slice), systemd driver, containerd (decision-maker.md 10.2).
pub fn container_path(pod_uid: &str) -> String {
    let container_id = format!("{:0>64}", pod_uid.replace('-', ""));
    format!(
        "/kubepods.slice/kubepods-pod{}.slice/cri-containerd-{container_id}.scope",
        pod_uid.replace('-', "_")
    )
}

/// The first cgroup hierarchy the DM scans by default where we may create
/// pod cgroups: cgroup v2 (pure, or `unified` on a hybrid host), else the
/// v1 `name=systemd` hierarchy.
fn writable_hierarchy() -> anyhow::Result<PathBuf> {
    ensure!(geteuid().is_root(), "not root");
    let candidates = [
        ("/sys/fs/cgroup", "cgroup.controllers"),
        ("/sys/fs/cgroup/unified", "cgroup.controllers"),
        ("/sys/fs/cgroup/systemd", "cgroup.procs"),
    ];
    let mut reasons = Vec::new();
    for (root, marker) in candidates {
        let root = PathBuf::from(root);
        if !root.join(marker).is_file() {
            continue;
        }
        let probe = root.join(format!("xtask-demo-probe-{}", std::process::id()));
        match fs::create_dir(&probe) {
            Ok(()) => {
                fs::remove_dir(&probe).with_context(|| format!("removing {}", probe.display()))?;
                return Ok(root);
            }
            Err(e) => reasons.push(format!("{}: {e}", root.display())),
        }
    }
    if reasons.is_empty() {
        bail!("no cgroup hierarchy under /sys/fs/cgroup");
    }
    bail!("cgroupfs is not writable ({})", reasons.join("; "))
}

/// Adds live process `pid` to the fixture tree under `work_dir/fixture` as a
/// member of cgroup `path` (cgroup v2 mounted at the fixture's cgroup root):
/// `proc/<pid>/` holds its real `stat`, `comm` and `cmdline` and a `cgroup`
/// file naming `path`; `cgroup/<path>/cgroup.procs` lists it.
fn mirror_into_fixture(work_dir: &Path, path: &str, pid: u32) -> anyhow::Result<()> {
    let real = PathBuf::from(format!("/proc/{pid}"));
    let read = |name: &str| fs::read(real.join(name)).with_context(|| format!("reading /proc/{pid}/{name}"));
    write_fixture_process(work_dir, path, pid, &read("stat")?, &read("comm")?, &read("cmdline")?)
}

fn write_fixture_process(
    work_dir: &Path,
    path: &str,
    pid: u32,
    stat: &[u8],
    comm: &[u8],
    cmdline: &[u8],
) -> anyhow::Result<()> {
    let proc_dir = work_dir.join("fixture/proc").join(pid.to_string());
    let cgroup_root = work_dir.join("fixture/cgroup");
    let cgroup_dir = cgroup_root.join(path.trim_start_matches('/'));
    fs::create_dir_all(proc_dir.join("task").join(pid.to_string()))?;
    fs::create_dir_all(&cgroup_dir)?;
    fs::write(proc_dir.join("stat"), stat)?;
    fs::write(proc_dir.join("comm"), comm)?;
    fs::write(proc_dir.join("cmdline"), cmdline)?;
    fs::write(proc_dir.join("cgroup"), format!("0::{path}\n"))?;
    // The v2 root has a cgroup.procs too; the DM recognises the mount by it.
    for dir in [&cgroup_root, &cgroup_dir] {
        let procs = dir.join("cgroup.procs");
        if !procs.exists() {
            fs::write(&procs, "")?;
        }
    }
    let mut procs = OpenOptions::new().append(true).open(cgroup_dir.join("cgroup.procs"))?;
    writeln!(procs, "{pid}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use gthulhu_domain::ProcessIndex;
    use gthulhu_proc_scanner::{ProcScanner, ScannerConfig};
    use prometheus_client::registry::Registry;

    use super::*;

    #[test]
    fn cgroups_left_by_a_killed_run_are_removed_by_the_next() {
        let hierarchy = match writable_hierarchy() {
            Ok(hierarchy) => hierarchy,
            Err(reason) => {
                eprintln!("skipped: needs real cgroups ({reason:#})");
                return;
            }
        };
        let work = tempfile::tempdir().unwrap();
        let uid = uuid::Uuid::new_v4().to_string();
        let mut sleeper = Command::new("sleep").arg("600").spawn().unwrap();
        leftovers::record_process(work.path(), sleeper.id()).unwrap();
        let mut killed_run = Workload {
            roots: Roots::Host {
                hierarchy: hierarchy.clone(),
            },
            processes: Vec::new(),
            created: Vec::new(),
            work_dir: work.path().to_path_buf(),
        };
        killed_run
            .join_real_cgroup(&hierarchy, &container_path(&uid), sleeper.id())
            .unwrap();
        let created = killed_run.created.clone();
        assert!(!created.is_empty());
        // SIGKILL: no `Drop`.
        std::mem::forget(killed_run);

        leftovers::clean(work.path()).unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(sleeper.wait().unwrap().signal(), Some(9));
        assert!(created.iter().all(|dir| !dir.exists()), "{created:?} removed");
    }

    #[test]
    fn container_path_parses_as_the_pod() {
        let uid = "2b0c1e5e-9a52-4d0b-8a47-1f6f5b2d7c11";
        let path = container_path(uid);
        assert_eq!(
            path,
            "/kubepods.slice/kubepods-pod2b0c1e5e_9a52_4d0b_8a47_1f6f5b2d7c11.slice/\
             cri-containerd-000000000000000000000000000000002b0c1e5e9a524d0b8a471f6f5b2d7c11.scope"
        );
        let identity = gthulhu_proc_scanner::cgroup::parse_cgroup_file(&format!("0::{path}\n")).unwrap();
        assert_eq!(identity.pod_uid, uid);
    }

    /// The fixture tree is what the DM's scanner reads: each process is
    /// found in its pod.
    #[test]
    fn fixture_tree_maps_processes_to_their_pods() {
        let dir = tempfile::tempdir().unwrap();
        let pods = [
            ("0a6f4c1e-0000-4000-8000-000000000001", 4101),
            ("0a6f4c1e-0000-4000-8000-000000000002", 4102),
        ];
        for (uid, pid) in pods {
            let stat = format!(
                "{pid} (sleep) S 1 {pid} {pid} 0 -1 4194560 90 0 0 0 0 0 0 0 20 0 1 0 777 8192000 200 \
                 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
            );
            write_fixture_process(
                dir.path(),
                &container_path(uid),
                pid,
                stat.as_bytes(),
                b"sleep\n",
                b"sleep\086400\0",
            )
            .unwrap();
        }
        assert!(dir.path().join("fixture/proc/4101/task/4101").is_dir());
        assert!(dir.path().join("fixture/cgroup/cgroup.procs").is_file());

        let scanner = ProcScanner::new(
            ScannerConfig {
                proc_root: dir.path().join("fixture/proc"),
                cgroup_root: dir.path().join("fixture/cgroup"),
                refresh_interval: Duration::from_secs(1),
                watch_cgroups: false,
            },
            &mut Registry::default(),
        );
        scanner.refresh().unwrap();
        let snapshot = scanner.snapshot().unwrap();
        let found: Vec<(String, Vec<u32>, Vec<String>)> = snapshot
            .pods
            .iter()
            .map(|p| {
                (
                    p.pod_uid.clone(),
                    p.processes.iter().map(|p| p.pid).collect(),
                    p.processes.iter().map(|p| p.comm.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            found,
            pods.iter()
                .map(|(uid, pid)| (uid.to_string(), vec![*pid], vec!["sleep".to_string()]))
                .collect::<Vec<_>>()
        );
    }
}
