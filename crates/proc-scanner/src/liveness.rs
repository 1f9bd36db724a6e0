//! Exact, cheap liveness of indexed processes through pidfds (Linux ≥ 5.3).
//!
//! A pidfd refers to one process, never to a later holder of its PID, and
//! polls readable (`POLLIN`) once that process has exited. While it is not
//! readable the process is alive, so its PID cannot have been reused: a
//! refresh may skip the `stat` read that would otherwise detect PID reuse.
//! One `poll()` over all pidfds replaces thousands of `stat` reads.
//!
//! Only usable when the scanned proc root is the real `/proc` of our own PID
//! namespace: the PIDs it lists are the ones `pidfd_open` resolves.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Resource, Rlimit, getrlimit, pidfd_open, setrlimit};

use crate::procfile::read_stat;

/// File descriptors left for everything else (sockets, files being read).
pub(crate) const FD_RESERVE: u64 = 1024;

/// pidfds per `poll()` call.
const POLL_CHUNK: usize = 1024;

/// One pidfd per tracked PID, at most `cap` of them.
#[derive(Debug)]
pub(crate) struct PidLiveness {
    fds: HashMap<u32, OwnedFd>,
    cap: usize,
    /// Set once `pidfd_open` reported ENOSYS (kernel < 5.3): stop trying.
    unsupported: bool,
}

impl PidLiveness {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            fds: HashMap::new(),
            cap,
            unsupported: false,
        }
    }

    /// For a scanner over `proc_root`: `Some` only when it is the real
    /// `/proc` of our PID namespace. Raises `RLIMIT_NOFILE`'s soft limit to
    /// the hard limit and caps the pidfds at the soft limit minus
    /// [`FD_RESERVE`]; logs the cap once.
    pub(crate) fn for_proc_root(proc_root: &Path) -> Option<Self> {
        if !is_own_proc(proc_root) {
            return None;
        }
        let cap = usize::try_from(raise_nofile_limit().saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
        tracing::info!(
            max_pidfds = cap,
            "tracking pod process liveness with pidfds; processes beyond the cap are checked through stat"
        );
        Some(Self::new(cap))
    }

    /// Opens a pidfd for `pid`, whose `stat` start time was `start_time`, and
    /// keeps it only if the start time read again afterwards still matches:
    /// the PID may have died and been reused between the first read and
    /// `pidfd_open`. False (no pidfd kept) when over the cap, when the
    /// kernel lacks pidfds, or on any error: the PID then falls back to the
    /// `stat` check. A previous pidfd for `pid` is dropped first.
    pub(crate) fn track(&mut self, pid: u32, start_time: u64) -> bool {
        self.fds.remove(&pid);
        if self.unsupported || self.fds.len() >= self.cap {
            return false;
        }
        let Some(raw) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
            return false;
        };
        let fd = match pidfd_open(raw, PidfdFlags::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOSYS) => {
                tracing::info!("pidfd_open unsupported (Linux < 5.3); checking liveness through stat");
                self.unsupported = true;
                return false;
            }
            Err(error) => {
                tracing::trace!(pid, %error, "pidfd_open failed; checking through stat");
                return false;
            }
        };
        let again = read_stat(&Path::new("/proc").join(pid.to_string()));
        if !matches!(again, Ok(Some(s)) if s.start_time == start_time) {
            tracing::trace!(pid, "PID changed hands before pidfd_open; checking through stat");
            return false;
        }
        self.fds.insert(pid, fd);
        true
    }

    pub(crate) fn untrack(&mut self, pid: u32) {
        self.fds.remove(&pid);
    }

    pub(crate) fn is_tracked(&self, pid: u32) -> bool {
        self.fds.contains_key(&pid)
    }

    /// Drops the pidfds of PIDs `keep` rejects.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        self.fds.retain(|&pid, _| keep(pid));
    }

    /// The tracked PIDs whose process has exited (or whose state `poll()`
    /// could not tell: those go through the `stat` check too). Does not wait.
    pub(crate) fn exited(&self) -> HashSet<u32> {
        self.exited_in_chunks(POLL_CHUNK)
    }

    fn exited_in_chunks(&self, chunk_len: usize) -> HashSet<u32> {
        let mut exited = HashSet::new();
        let tracked: Vec<(u32, &OwnedFd)> = self.fds.iter().map(|(&pid, fd)| (pid, fd)).collect();
        let now = Timespec { tv_sec: 0, tv_nsec: 0 };
        for chunk in tracked.chunks(chunk_len) {
            let mut fds: Vec<PollFd<'_>> = chunk.iter().map(|(_, fd)| PollFd::new(*fd, PollFlags::IN)).collect();
            let ready = loop {
                match poll(&mut fds, Some(&now)) {
                    Err(Errno::INTR) => {}
                    other => break other,
                }
            };
            match ready {
                Ok(0) => {}
                Ok(_) => exited.extend(
                    chunk
                        .iter()
                        .zip(&fds)
                        .filter(|(_, fd)| !fd.revents().is_empty())
                        .map(|((pid, _), _)| *pid),
                ),
                Err(error) => {
                    tracing::debug!(%error, "poll on pidfds failed; checking through stat");
                    exited.extend(chunk.iter().map(|(pid, _)| *pid));
                }
            }
        }
        exited
    }

    pub(crate) fn len(&self) -> usize {
        self.fds.len()
    }
}

/// Whether `proc_root` is `/proc` mounted for our own PID namespace
/// (`/proc/self` names our PID), so that its PIDs mean what `pidfd_open` means.
fn is_own_proc(proc_root: &Path) -> bool {
    fs::canonicalize(proc_root).is_ok_and(|p| p == Path::new("/proc"))
        && fs::read_link(proc_root.join("self")).is_ok_and(|p| p.to_str() == Some(&std::process::id().to_string()))
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit now in force.
fn raise_nofile_limit() -> u64 {
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => return limit.maximum.unwrap_or(u64::MAX),
            Err(error) => tracing::warn!(%error, "cannot raise RLIMIT_NOFILE to its hard limit"),
        }
    }
    limit.current.unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::process::{Child, Command};

    use super::*;

    fn sleeper() -> Child {
        Command::new("sleep").arg("600").spawn().expect("spawn sleep")
    }

    fn start_time(pid: u32) -> u64 {
        read_stat(&Path::new("/proc").join(pid.to_string()))
            .unwrap()
            .unwrap()
            .start_time
    }

    #[test]
    fn alive_child_has_not_exited() {
        let mut child = sleeper();
        let mut liveness = PidLiveness::new(16);
        assert!(liveness.track(child.id(), start_time(child.id())));
        assert!(liveness.is_tracked(child.id()));
        assert!(liveness.exited().is_empty());
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn killed_child_has_exited_before_and_after_reaping() {
        let mut child = sleeper();
        let pid = child.id();
        let mut liveness = PidLiveness::new(16);
        assert!(liveness.track(pid, start_time(pid)));
        child.kill().unwrap();
        // A zombie has exited: readable before the reap...
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !liveness.exited().contains(&pid) {
            assert!(std::time::Instant::now() < deadline, "exit never seen");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // ...and after it, whoever holds the PID next: the pidfd still
        // refers to the old process, so a reused PID is reported as exited.
        child.wait().unwrap();
        assert_eq!(liveness.exited(), HashSet::from([pid]));
        let mut others: Vec<Child> = (0..4).map(|_| sleeper()).collect();
        assert_eq!(liveness.exited(), HashSet::from([pid]));
        for other in &mut others {
            other.kill().unwrap();
            other.wait().unwrap();
        }
    }

    #[test]
    fn mismatched_start_time_keeps_no_pidfd() {
        let mut child = sleeper();
        let pid = child.id();
        let mut liveness = PidLiveness::new(16);
        // As if the PID had been reused between the stat read and pidfd_open.
        assert!(!liveness.track(pid, start_time(pid) + 1));
        assert!(!liveness.is_tracked(pid));
        child.kill().unwrap();
        child.wait().unwrap();
        // Gone before pidfd_open.
        assert!(!liveness.track(pid, 0));
        assert_eq!(liveness.len(), 0);
    }

    #[test]
    fn cap_and_retain() {
        let mut children: Vec<Child> = (0..3).map(|_| sleeper()).collect();
        let pids: Vec<u32> = children.iter().map(Child::id).collect();
        let mut liveness = PidLiveness::new(2);
        let tracked: Vec<bool> = pids.iter().map(|&pid| liveness.track(pid, start_time(pid))).collect();
        assert_eq!(tracked, [true, true, false]);
        liveness.retain(|pid| pid != pids[0]);
        assert!(!liveness.is_tracked(pids[0]) && liveness.is_tracked(pids[1]));
        // Room again after the drop.
        assert!(liveness.track(pids[2], start_time(pids[2])));
        assert_eq!(liveness.len(), 2);
        for child in &mut children {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    #[test]
    fn poll_is_chunked() {
        let mut children: Vec<Child> = (0..5).map(|_| sleeper()).collect();
        let mut liveness = PidLiveness::new(16);
        for child in &children {
            assert!(liveness.track(child.id(), start_time(child.id())));
        }
        let mut gone = HashSet::new();
        for child in children.iter_mut().step_by(2) {
            gone.insert(child.id());
            child.kill().unwrap();
            child.wait().unwrap();
        }
        assert_eq!(liveness.exited_in_chunks(2), gone);
        assert_eq!(liveness.exited(), gone);
        for child in &mut children {
            let _ = child.kill();
            child.wait().unwrap();
        }
    }

    #[test]
    fn fixture_roots_are_not_real_proc() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_own_proc(dir.path()));
        assert!(is_own_proc(Path::new("/proc")));
        assert!(is_own_proc(Path::new("/proc/self/..")));
    }
}
