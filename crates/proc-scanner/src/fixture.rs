//! Fake `/proc` and cgroup trees in a temporary directory, for tests and
//! benches (feature `fixtures`). Helpers panic on I/O errors: they are test
//! set-up, not product code.
//!
//! ```
//! use gthulhu_proc_scanner::fixture::{FixtureTree, container_id, pod_uid, systemd_container_path};
//!
//! let tree = FixtureTree::new();
//! for pod in 0..3 {
//!     let path = systemd_container_path(&pod_uid(pod), &container_id(pod));
//!     tree.add_pod_process(1000 + pod, 1, "nginx", 4242, &path);
//! }
//! let config = tree.config();
//! assert_eq!(config.proc_root, tree.proc_root());
//! ```

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tempfile::TempDir;

use crate::ScannerConfig;

/// A deterministic dashed pod UID for test number `n`.
pub fn pod_uid(n: u32) -> String {
    format!("{n:08x}-0000-4000-8000-{n:012x}")
}

/// A deterministic 64-hex container ID for test number `n`.
pub fn container_id(n: u32) -> String {
    format!("{n:064x}")
}

/// cgroup v2 path of a Burstable container, systemd driver, containerd
/// (spec 10.2 row 1).
pub fn systemd_container_path(pod_uid: &str, container_id: &str) -> String {
    let uid_ = pod_uid.replace('-', "_");
    format!(
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/cri-containerd-{container_id}.scope"
    )
}

/// A temporary `proc/` and `cgroup/` pair; removed on drop.
pub struct FixtureTree {
    dir: TempDir,
    proc_root: PathBuf,
    cgroup_root: PathBuf,
    /// The `cgroup.procs` files each PID was added to, so that removing the
    /// process removes it there too, as the kernel does.
    memberships: Mutex<HashMap<u32, Vec<PathBuf>>>,
}

impl Default for FixtureTree {
    fn default() -> Self {
        Self::new()
    }
}

impl FixtureTree {
    /// Empty `proc/` and `cgroup/` directories.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("create fixture tempdir");
        let proc_root = dir.path().join("proc");
        let cgroup_root = dir.path().join("cgroup");
        fs::create_dir(&proc_root).expect("create fixture proc root");
        fs::create_dir(&cgroup_root).expect("create fixture cgroup root");
        Self {
            dir,
            proc_root,
            cgroup_root,
            memberships: Mutex::new(HashMap::new()),
        }
    }

    /// The temporary directory holding both trees.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn proc_root(&self) -> &Path {
        &self.proc_root
    }

    pub fn cgroup_root(&self) -> &Path {
        &self.cgroup_root
    }

    /// A scanner configuration over this tree: 1 s interval, no inotify.
    pub fn config(&self) -> ScannerConfig {
        ScannerConfig {
            proc_root: self.proc_root.clone(),
            cgroup_root: self.cgroup_root.clone(),
            refresh_interval: Duration::from_secs(1),
            watch_cgroups: false,
        }
    }

    /// Writes `proc/<pid>/` with `cgroup` (the given lines), `comm`, a full
    /// `stat` line (ppid field 4, start time field 22), `cmdline` (`comm` as
    /// argv\[0\]) and `task/<pid>/comm`. Replaces an existing `proc/<pid>/`
    /// (PID reuse) but leaves cgroup memberships alone.
    pub fn add_process(&self, pid: u32, ppid: u32, comm: &str, start_time: u64, cgroup_lines: &[&str]) {
        let dir = self.pid_dir(pid);
        remove_dir(&dir);
        write_process(&dir, pid, ppid, comm, start_time, cgroup_lines);
    }

    /// A process (parent 1, no cgroup lines) whose leader is named `comm`,
    /// with further `threads` (TID, own `comm`).
    pub fn add_threaded_process(&self, tgid: u32, comm: &str, start_time: u64, threads: &[(u32, &str)]) {
        self.add_process(tgid, 1, comm, start_time, &[]);
        for &(tid, thread_comm) in threads {
            self.add_task(tgid, tid, thread_comm);
        }
    }

    /// A kernel thread: parent `kthreadd` (2), empty `cmdline`.
    pub fn add_kernel_thread(&self, pid: u32, comm: &str, start_time: u64) {
        self.add_process(pid, 2, comm, start_time, &[]);
        write(&self.pid_dir(pid).join("cmdline"), b"");
    }

    /// PID reuse seen through a new directory: a different process under
    /// `tgid`, built aside and renamed over the old one, so that its
    /// `proc/<tgid>/` inode differs as on Linux.
    pub fn replace_process(&self, tgid: u32, comm: &str, start_time: u64, threads: &[(u32, &str)]) {
        let staging = self.dir.path().join(format!("staging-{tgid}"));
        write_process(&staging, tgid, 1, comm, start_time, &[]);
        for &(tid, thread_comm) in threads {
            write_task(&staging, tid, thread_comm);
        }
        let dir = self.pid_dir(tgid);
        remove_dir(&dir);
        fs::rename(&staging, &dir).unwrap_or_else(|e| panic!("rename to {}: {e}", dir.display()));
    }

    /// A new thread: `task/<tid>/comm`.
    pub fn add_task(&self, tgid: u32, tid: u32, comm: &str) {
        write_task(&self.pid_dir(tgid), tid, comm);
    }

    /// A thread renames itself (`prctl(PR_SET_NAME)`): its `comm`, and the
    /// process's when it is the leader.
    pub fn rename_task(&self, tgid: u32, tid: u32, comm: &str) {
        let dir = self.pid_dir(tgid);
        write(
            &dir.join("task").join(tid.to_string()).join("comm"),
            format!("{comm}\n").as_bytes(),
        );
        if tid == tgid {
            write(&dir.join("comm"), format!("{comm}\n").as_bytes());
        }
    }

    /// A thread exits: `task/<tid>/` goes.
    pub fn remove_task(&self, tgid: u32, tid: u32) {
        remove_dir(&self.pid_dir(tgid).join("task").join(tid.to_string()));
    }

    /// A process in a cgroup v2 tree mounted at the cgroup root: its
    /// `cgroup` file is `0::<rel_path>` and it is listed in that cgroup's
    /// `cgroup.procs`.
    pub fn add_pod_process(&self, pid: u32, ppid: u32, comm: &str, start_time: u64, rel_path: &str) {
        self.add_process(pid, ppid, comm, start_time, &[&format!("0::{rel_path}")]);
        self.add_to_cgroup("", rel_path, pid);
    }

    /// Replaces `cmdline` with the NUL-separated `args`.
    pub fn set_cmdline(&self, pid: u32, args: &[&str]) {
        let mut raw = Vec::new();
        for arg in args {
            raw.extend_from_slice(arg.as_bytes());
            raw.push(0);
        }
        write(&self.pid_dir(pid).join("cmdline"), &raw);
    }

    /// Adds `task/<tid>/`.
    pub fn add_thread(&self, pid: u32, tid: u32) {
        fs::create_dir_all(self.pid_dir(pid).join("task").join(tid.to_string())).expect("create fixture task dir");
    }

    /// Creates a cgroup directory (and its parents) with an empty
    /// `cgroup.procs`. `hierarchy` `""` is a cgroup v2 mount at the root
    /// (the root gets a `cgroup.procs` too); otherwise it names a
    /// hierarchy directory under the root (`unified`, `systemd`, `cpu,cpuacct`…).
    pub fn make_cgroup(&self, hierarchy: &str, rel_path: &str) -> PathBuf {
        let root = self.cgroup_root.join(hierarchy);
        let dir = root.join(rel_path.trim_start_matches('/'));
        fs::create_dir_all(&dir).expect("create fixture cgroup dir");
        for d in [&root, &dir] {
            let procs = d.join("cgroup.procs");
            if !procs.exists() {
                write(&procs, b"");
            }
        }
        dir
    }

    /// Lists `pid` in the `cgroup.procs` of `hierarchy`/`rel_path`, creating
    /// the cgroup as in [`Self::make_cgroup`].
    pub fn add_to_cgroup(&self, hierarchy: &str, rel_path: &str, pid: u32) {
        let procs = self.make_cgroup(hierarchy, rel_path).join("cgroup.procs");
        let mut file = OpenOptions::new()
            .append(true)
            .open(&procs)
            .expect("open fixture cgroup.procs");
        writeln!(file, "{pid}").expect("append to fixture cgroup.procs");
        self.lock_memberships().entry(pid).or_default().push(procs);
    }

    /// Removes a cgroup directory and everything below it.
    pub fn remove_cgroup(&self, hierarchy: &str, rel_path: &str) {
        let dir = self.cgroup_root.join(hierarchy).join(rel_path.trim_start_matches('/'));
        fs::remove_dir_all(&dir).expect("remove fixture cgroup dir");
        for files in self.lock_memberships().values_mut() {
            files.retain(|f| !f.starts_with(&dir));
        }
    }

    /// The process exits: `proc/<pid>/` goes, and so does the PID from
    /// every `cgroup.procs` it was added to.
    pub fn remove_process(&self, pid: u32) {
        remove_dir(&self.pid_dir(pid));
        let files = self.lock_memberships().remove(&pid).unwrap_or_default();
        let needle = pid.to_string();
        for procs in files {
            let Ok(content) = fs::read_to_string(&procs) else {
                continue;
            };
            let kept: String = content
                .lines()
                .filter(|l| l.trim() != needle)
                .flat_map(|l| [l, "\n"])
                .collect();
            write(&procs, kept.as_bytes());
        }
    }

    fn pid_dir(&self, pid: u32) -> PathBuf {
        self.proc_root.join(pid.to_string())
    }

    fn lock_memberships(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Vec<PathBuf>>> {
        self.memberships
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn write(path: &Path, content: &[u8]) {
    fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// `remove_dir_all` that accepts a missing directory.
fn remove_dir(dir: &Path) {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != ErrorKind::NotFound => panic!("remove {}: {e}", dir.display()),
        _ => {}
    }
}

/// The files of `proc/<pid>/` in `dir`, leader task included.
fn write_process(dir: &Path, pid: u32, ppid: u32, comm: &str, start_time: u64, cgroup_lines: &[&str]) {
    fs::create_dir_all(dir).expect("create fixture pid dir");
    let mut cgroup = cgroup_lines.join("\n");
    cgroup.push('\n');
    write(&dir.join("cgroup"), cgroup.as_bytes());
    write(&dir.join("comm"), format!("{comm}\n").as_bytes());
    write(&dir.join("stat"), stat_line(pid, comm, ppid, start_time).as_bytes());
    write(&dir.join("cmdline"), format!("{comm}\0").as_bytes());
    write_task(dir, pid, comm);
}

/// `task/<tid>/comm` under a process directory.
fn write_task(pid_dir: &Path, tid: u32, comm: &str) {
    let dir = pid_dir.join("task").join(tid.to_string());
    fs::create_dir_all(&dir).expect("create fixture task dir");
    write(&dir.join("comm"), format!("{comm}\n").as_bytes());
}

/// A full 52-field `stat` line as Linux 6.x prints it.
fn stat_line(pid: u32, comm: &str, ppid: u32, start_time: u64) -> String {
    format!(
        "{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 1523 0 0 0 3 1 0 0 20 0 1 0 {start_time} 2510848 224 \
         18446744073709551615 94251227766784 94251227862337 140726452512144 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 \
         94251227884400 94251227889024 94251240693760 140726452517745 140726452517761 140726452517761 \
         140726452518891 0\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stat::parse_stat;

    #[test]
    fn stat_line_is_complete_and_parses() {
        let line = stat_line(4321, "my app (v2)", 1200, 98765);
        let after = &line[line.rfind(')').unwrap() + 1..];
        assert_eq!(after.split_whitespace().count() + 2, 52);
        let parsed = parse_stat(&line).unwrap();
        assert_eq!((parsed.ppid, parsed.start_time), (1200, 98765));
    }

    #[test]
    fn remove_process_cleans_cgroup_procs() {
        let tree = FixtureTree::new();
        tree.add_pod_process(12, 1, "a", 1, "/kubepods/pod1");
        tree.add_pod_process(123, 1, "b", 1, "/kubepods/pod1");
        tree.add_to_cgroup("systemd", "/kubepods/pod1", 12);
        tree.remove_process(12);
        let procs =
            |h: &str| fs::read_to_string(tree.cgroup_root().join(h).join("kubepods/pod1/cgroup.procs")).unwrap();
        assert_eq!(procs(""), "123\n");
        assert_eq!(procs("systemd"), "");
        assert!(!tree.proc_root().join("12").exists());
        assert!(tree.proc_root().join("123/task/123").is_dir());
    }
}
