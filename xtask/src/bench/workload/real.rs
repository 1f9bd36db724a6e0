//! Real `sleep` processes in real pod cgroups on the cgroup v2 hierarchy,
//! laid out as kubelet (systemd driver) and containerd would.
//!
//! Every process is a direct child of the bench, so it is killed and reaped
//! here (this host's init may not reap orphans); the cgroups are removed
//! afterwards. Both happen on drop, hence on errors and Ctrl-C too.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use rustix::process::{Resource, geteuid, getrlimit};

use super::{PodNames, Shape, Workload, churn_slots, pod_names};
use crate::bench::interrupt;

/// Long enough for any bench run, short enough that processes left by a
/// SIGKILLed bench go away on their own.
const SLEEP_SECONDS: &str = "900";

/// PIDs left free for everything else (the DM's threads, cargo, the shell).
const PID_MARGIN: usize = 2_000;

/// Where the pod slices live, relative to the v2 mount.
const QOS_SLICES: [&str; 2] = ["kubepods.slice", "kubepods.slice/kubepods-burstable.slice"];

/// The cgroup v2 mount if we may create pod cgroups there and start the
/// processes; the reason otherwise.
pub fn preflight(shape: Shape) -> anyhow::Result<PathBuf> {
    ensure!(geteuid().is_root(), "not root");
    let v2_mount = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.controllers").is_file())
        .context("no cgroup v2 hierarchy under /sys/fs/cgroup")?;
    let probe = v2_mount.join(format!("xtask-bench-probe-{}", std::process::id()));
    fs::create_dir(&probe).with_context(|| format!("{} is not writable", v2_mount.display()))?;
    fs::remove_dir(&probe).with_context(|| format!("removing {}", probe.display()))?;

    let pid_max: usize = read_number("/proc/sys/kernel/pid_max")?;
    let threads_max: usize = read_number("/proc/sys/kernel/threads-max")?;
    let running = fs::read_dir("/proc")?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.parse::<u32>().is_ok()))
        .count();
    // RLIMIT_NPROC (`ulimit -u`) does not bind root, which we are.
    let nproc = getrlimit(Resource::Nproc)
        .current
        .map_or_else(|| "unlimited".to_string(), |n| n.to_string());
    let room = pid_max.min(threads_max).saturating_sub(running + PID_MARGIN);
    println!(
        "workload: pid_max {pid_max}, threads-max {threads_max}, ulimit -u {nproc} (not enforced for root), \
         {running} processes running: room for {room} more"
    );
    ensure!(
        shape.processes <= room,
        "{} processes requested but only {room} PIDs are free (keeping {PID_MARGIN} spare)",
        shape.processes
    );
    Ok(v2_mount)
}

fn read_number(path: &str) -> anyhow::Result<usize> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    text.trim().parse().with_context(|| format!("parsing {path}"))
}

pub struct RealWorkload {
    proc_root: PathBuf,
    cgroup_root: PathBuf,
    pods: Vec<PodNames>,
    /// One container cgroup per pod, in pod order.
    containers: Vec<PathBuf>,
    /// Directories this run created, parents first.
    created: Vec<PathBuf>,
    /// Process slot → (pod index, the child).
    processes: Vec<(usize, Child)>,
    rounds: usize,
}

impl RealWorkload {
    pub fn create(shape: Shape, v2_mount: &Path) -> anyhow::Result<Self> {
        let mut workload = Self {
            proc_root: PathBuf::from("/proc"),
            // The scanner finds the v2 mount (and any v1 hierarchies) below it.
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            pods: pod_names(shape),
            containers: Vec::with_capacity(shape.pods),
            created: Vec::new(),
            processes: Vec::with_capacity(shape.processes),
            rounds: 0,
        };
        // From here on, drop cleans up whatever was made before a failure.
        for slice in QOS_SLICES {
            let dir = v2_mount.join(slice);
            match fs::create_dir(&dir) {
                Ok(()) => workload.created.push(dir),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
            }
        }
        for pod in &workload.pods {
            let container = v2_mount.join(pod.rel_path.trim_start_matches('/'));
            let pod_slice = container
                .parent()
                .context("container cgroup has a parent")?
                .to_path_buf();
            for dir in [pod_slice, container.clone()] {
                fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
                workload.created.push(dir);
            }
            workload.containers.push(container);
        }
        println!(
            "workload: created {} pod cgroups under {}; starting {} `sleep {SLEEP_SECONDS}` processes",
            shape.pods,
            v2_mount.join(QOS_SLICES[1]).display(),
            shape.processes
        );
        let started = Instant::now();
        for i in 0..shape.processes {
            if i % 500 == 0 {
                interrupt::check()?;
            }
            let pod = shape.pod_of(i);
            let child = workload.start_in(pod)?;
            workload.processes.push((pod, child));
        }
        println!(
            "workload: {} processes running in their pod cgroups after {:.1?}",
            shape.processes,
            started.elapsed()
        );
        Ok(workload)
    }

    /// Starts one `sleep` and moves it into the pod's container cgroup.
    fn start_in(&self, pod: usize) -> anyhow::Result<Child> {
        let mut child = Command::new("sleep")
            .arg(SLEEP_SECONDS)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting sleep")?;
        let procs = self.containers[pod].join("cgroup.procs");
        if let Err(e) = fs::write(&procs, child.id().to_string()) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e).with_context(|| format!("writing {}", procs.display()));
        }
        Ok(child)
    }

    fn cleanup(&mut self) {
        // cgroup.kill (Linux ≥ 5.14) reaches anything in our cgroups, even a
        // process we lost track of; the per-child kill covers older kernels.
        for container in &self.containers {
            let _ = fs::write(container.join("cgroup.kill"), "1");
        }
        for (_, child) in &mut self.processes {
            let _ = child.kill();
        }
        for (_, child) in &mut self.processes {
            let _ = child.wait();
        }
        let mut failed = 0;
        for dir in self.created.iter().rev() {
            if let Err(e) = remove_cgroup(dir) {
                eprintln!("workload: could not remove {}: {e}", dir.display());
                failed += 1;
            }
        }
        println!(
            "workload: stopped {} processes, removed {} of {} cgroups",
            self.processes.len(),
            self.created.len() - failed,
            self.created.len()
        );
    }
}

/// `rmdir`, retried while the kernel still counts exiting processes in it.
fn remove_cgroup(dir: &Path) -> std::io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match fs::remove_dir(dir) {
            Err(e) if e.kind() == ErrorKind::ResourceBusy && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            other => return other,
        }
    }
}

impl Drop for RealWorkload {
    fn drop(&mut self) {
        self.cleanup();
    }
}

impl Workload for RealWorkload {
    fn kind(&self) -> &'static str {
        "real"
    }

    fn proc_root(&self) -> &Path {
        &self.proc_root
    }

    fn cgroup_root(&self) -> &Path {
        &self.cgroup_root
    }

    fn pod_uids(&self) -> Vec<String> {
        self.pods.iter().map(|p| p.uid.clone()).collect()
    }

    fn churn(&mut self, count: usize) -> anyhow::Result<()> {
        let slots: Vec<usize> = churn_slots(self.processes.len(), count, self.rounds).collect();
        self.rounds += 1;
        for slot in slots {
            let (pod, old) = &mut self.processes[slot];
            let pod = *pod;
            old.kill().context("stopping a churned process")?;
            old.wait().context("reaping a churned process")?;
            self.processes[slot].1 = self.start_in(pod)?;
        }
        Ok(())
    }
}
