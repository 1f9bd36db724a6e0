//! What a demo starts, listed in its work directory as it starts it, so the
//! next run can stop and remove what a run killed outright (SIGKILL, a
//! closed terminal) left behind: the services still holding their ports,
//! the pods' `sleep`s, and the kubepods cgroups.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use rustix::process::{Pid, Signal, kill_process};

const FILE: &str = "started";

fn record(work_dir: &Path, line: &str) -> anyhow::Result<()> {
    let file = work_dir.join(FILE);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .and_then(|mut f| writeln!(f, "{line}"))
        .with_context(|| format!("recording `{line}` in {}", file.display()))
}

fn executable(pid: u32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// Whether `pid` has not finished exiting: its `/proc` entry is there and
/// not a zombie's (an exiting process loses its executable link before it
/// closes its sockets, so that link cannot tell).
fn exiting_or_running(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        !matches!(state, Some('Z' | 'X'))
    })
}

/// A process the demo started, with its executable: a later run kills the
/// PID only while it still runs that executable.
pub fn record_process(work_dir: &Path, pid: u32) -> anyhow::Result<()> {
    let exe = executable(pid).with_context(|| format!("reading the executable of pid {pid}"))?;
    record(work_dir, &format!("process {pid} {}", exe.display()))
}

/// A cgroup the demo created (parents before children).
pub fn record_cgroup(work_dir: &Path, dir: &Path) -> anyhow::Result<()> {
    record(work_dir, &format!("cgroup {}", dir.display()))
}

/// Kills the recorded processes that still run their recorded executable,
/// waits for them to go, then removes the recorded cgroups (only kubepods
/// ones under `/sys/fs/cgroup`: the list is ours, but a file is not to be
/// trusted with an `rmdir` anywhere). Call it before removing `work_dir`.
pub fn clean(work_dir: &Path) -> anyhow::Result<()> {
    let file = work_dir.join(FILE);
    let Ok(text) = fs::read_to_string(&file) else {
        return Ok(());
    };
    let mut killed = Vec::new();
    let mut cgroups = Vec::new();
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("process", rest)) => {
                let Some((pid, exe)) = rest.split_once(' ') else {
                    continue;
                };
                let Ok(pid) = pid.parse::<u32>() else { continue };
                if executable(pid).is_some_and(|running| running == Path::new(exe)) {
                    println!("stopping pid {pid} ({exe}) left by an earlier demo");
                    if let Some(raw) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
                        let _ = kill_process(raw, Signal::KILL);
                        killed.push(pid);
                    }
                }
            }
            Some(("cgroup", dir)) => {
                let dir = PathBuf::from(dir);
                if dir.starts_with("/sys/fs/cgroup") && dir.to_string_lossy().contains("/kubepods") {
                    cgroups.push(dir);
                }
            }
            _ => {}
        }
    }
    // A killed process holds its ports and cgroup until it has exited.
    let deadline = Instant::now() + Duration::from_secs(5);
    while killed.iter().any(|pid| exiting_or_running(*pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // A parent such as `kubepods.slice` may hold someone else's cgroups by
    // now: then the list stays, and the next run tries again.
    if cgroups.iter().rev().all(|dir| remove_cgroup(dir)) {
        fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
    }
    Ok(())
}

/// Removes a cgroup once the kernel has noticed its last process left;
/// whether it is gone.
pub fn remove_cgroup(dir: &Path) -> bool {
    for _ in 0..50 {
        if fs::remove_dir(dir).is_ok() || !dir.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("could not remove cgroup {}", dir.display());
    false
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    use super::*;

    #[test]
    fn processes_left_running_are_stopped_only_while_they_run_what_was_recorded() {
        let work = tempfile::tempdir().unwrap();
        let mut left = Command::new("sleep").arg("600").spawn().unwrap();
        let mut reused = Command::new("sleep").arg("600").spawn().unwrap();
        record_process(work.path(), left.id()).unwrap();
        // A PID recorded with another executable (reused since): spared.
        record(work.path(), &format!("process {} /usr/bin/not-sleep", reused.id())).unwrap();
        record(work.path(), "process garbage").unwrap();

        clean(work.path()).unwrap();
        assert_eq!(left.wait().unwrap().signal(), Some(9));
        assert_eq!(reused.try_wait().unwrap(), None, "still running");
        assert!(!work.path().join(FILE).exists());
        reused.kill().unwrap();
        reused.wait().unwrap();
        // Nothing recorded: nothing to do.
        clean(work.path()).unwrap();
    }
}
