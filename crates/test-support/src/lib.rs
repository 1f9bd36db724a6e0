//! Helpers for end-to-end tests on real processes in real kubepods cgroups
//! (as root, with a writable cgroupfs; the tests skip with a reason
//! elsewhere).

#[cfg(feature = "apps")]
pub mod apps;
mod fixtures;
pub use fixtures::{keys, mtls};
pub mod json_bodies;
pub mod precondition;
pub mod slow_client;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// A fresh UUID from the kernel.
pub fn uuid() -> String {
    fs::read_to_string("/proc/sys/kernel/random/uuid")
        .expect("kernel uuid")
        .trim()
        .to_string()
}

/// A pod cgroup created for a test, with the children it started. Children
/// are killed and every directory it created is removed on drop, whatever
/// happened.
pub struct PodCgroup {
    pub uid: String,
    /// Directories created, outermost first.
    created: Vec<PathBuf>,
    procs_file: PathBuf,
    children: Vec<Child>,
}

impl PodCgroup {
    /// `layout` is the path below `hierarchy`, with `{uid_}` (the pod UID
    /// with underscores), `{uid}` and `{cid}` (a container id) filled in.
    pub fn create(hierarchy: &Path, layout: &str) -> std::io::Result<Self> {
        let uid = uuid();
        let cid = format!("{:0>64}", uuid().replace('-', ""));
        let rel = layout
            .replace("{uid_}", &uid.replace('-', "_"))
            .replace("{uid}", &uid)
            .replace("{cid}", &cid);
        let mut guard = Self {
            uid,
            created: Vec::new(),
            procs_file: hierarchy.join(&rel).join("cgroup.procs"),
            children: Vec::new(),
        };
        // Other tests create and remove the shared parents (`kubepods.slice`)
        // concurrently: a parent vanishing under us means walking again.
        let mut attempts = 0;
        'walk: loop {
            let mut dir = hierarchy.to_path_buf();
            for part in rel.split('/') {
                dir = dir.join(part);
                if dir.exists() {
                    continue;
                }
                match fs::create_dir(&dir) {
                    // `guard` removes what it created, innermost first, on drop.
                    Ok(()) => guard.created.push(dir.clone()),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 5 => {
                        attempts += 1;
                        continue 'walk;
                    }
                    Err(e) => return Err(e),
                }
            }
            return Ok(guard);
        }
    }

    /// Starts `program 600` (`sleep`, or a copy of it under another name)
    /// and moves it into the cgroup; returns its PID.
    pub fn spawn(&mut self, program: &Path) -> u32 {
        let child = Command::new(program)
            .arg("600")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn child");
        self.adopt(child)
    }

    /// Moves a started child (all its threads) into the cgroup and kills
    /// it with the cgroup; returns its PID.
    pub fn adopt(&mut self, child: Child) -> u32 {
        let pid = child.id();
        self.children.push(child);
        fs::OpenOptions::new()
            .write(true)
            .open(&self.procs_file)
            .and_then(|mut f| f.write_all(pid.to_string().as_bytes()))
            .expect("move child into its pod cgroup");
        pid
    }

    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    pub fn kill(&mut self, pid: u32) {
        if let Some(i) = self.children.iter().position(|c| c.id() == pid) {
            let mut child = self.children.remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PodCgroup {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for dir in self.created.iter().rev() {
            for _ in 0..50 {
                if fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Sends SIGTERM to `pid` (what Kubernetes does to stop a pod).
pub fn sigterm(pid: u32) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM {pid}: {status}");
}
