//! One pass over the proc root (targeting.md 9.2, 9.3, 9.5), applied to
//! the table in place: only what differs is replaced, and `dirty` says
//! whether anything did.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::ops::Bound;
use std::os::unix::fs::DirEntryExt;
use std::path::{Path, PathBuf};

use gthulhu_domain::{HostProcess, HostTask, HostTaskScope, HostTaskSnapshot};
use rustix::io::Errno;

use super::HostWalkError;
use crate::discover::parse_pid;
use crate::procfile::{read_stat, try_read_comm};

/// The table between passes.
#[derive(Debug, Default)]
pub(super) struct TableState {
    pub processes: BTreeMap<u32, Process>,
    /// The last TGID of the previous rotating slice.
    pub cursor: u32,
    /// Changed since the last published snapshot.
    pub dirty: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) struct Process {
    pub start_time: u64,
    /// `d_ino` of `/proc/<tgid>` when last listed: a change hints at reuse.
    /// 0 in scope pod threads, which lists nothing.
    pub ino: u64,
    /// Sorted by `tid`.
    pub tasks: Vec<HostTask>,
}

impl TableState {
    /// Drops the table and its memory (scope off).
    pub fn release(&mut self) {
        *self = Self::default();
    }

    pub fn thread_count(&self) -> usize {
        self.processes.values().map(|p| p.tasks.len()).sum()
    }

    pub fn snapshot(&self, generation: u64, scope: HostTaskScope) -> HostTaskSnapshot {
        let processes = self
            .processes
            .iter()
            .map(|(&tgid, p)| HostProcess {
                tgid,
                start_time: p.start_time,
                tasks: p.tasks.clone(),
            })
            .collect();
        HostTaskSnapshot {
            processes,
            generation,
            scope,
        }
    }
}

/// One pass's reads and counts.
pub(super) struct Walk<'a> {
    proc_root: &'a Path,
    /// TGIDs read completely.
    pub full_reads: usize,
    /// Whether every covered TGID was read completely.
    pub full: bool,
    /// Tasks and processes skipped on unexpected errors.
    pub errors: u64,
}

impl<'a> Walk<'a> {
    pub fn new(proc_root: &'a Path) -> Self {
        Self {
            proc_root,
            full_reads: 0,
            full: false,
            errors: 0,
        }
    }

    /// Scope host: the listing, then the new, reused and sliced TGIDs.
    pub fn host(&mut self, state: &mut TableState, slices: usize) -> Result<(), HostWalkError> {
        let listing = self.list()?;
        let before = state.processes.len();
        state
            .processes
            .retain(|tgid, _| listing.binary_search_by_key(tgid, |&(t, _)| t).is_ok());
        state.dirty |= state.processes.len() != before;
        // Known TGIDs not read completely yet this pass.
        let mut known = state.processes.len();
        // TGIDs read completely below, ascending.
        let mut fresh = Vec::new();
        for &(tgid, ino) in &listing {
            match state.processes.get(&tgid).map(|p| (p.ino, p.start_time)) {
                None => {}
                Some((recorded_ino, _)) if recorded_ino == ino => continue,
                Some((_, recorded_start)) => match self.start_time(&self.dir(tgid)) {
                    // The same process: only the hint is updated.
                    Some(start) if start == recorded_start => {
                        if let Some(process) = state.processes.get_mut(&tgid) {
                            process.ino = ino;
                        }
                        continue;
                    }
                    // Reused: read as new below.
                    Some(_) => known -= 1,
                    None => {
                        known -= 1;
                        state.processes.remove(&tgid);
                        state.dirty = true;
                        continue;
                    }
                },
            }
            fresh.push(tgid);
            self.reread(state, tgid, ino);
        }
        let size = known.div_ceil(slices);
        self.full = size == known;
        let after = (Bound::Excluded(state.cursor), Bound::Unbounded);
        let slice: Vec<(u32, u64)> = state
            .processes
            .range(after)
            .chain(state.processes.range(..=state.cursor))
            .filter(|(tgid, _)| fresh.binary_search(tgid).is_err())
            .map(|(&tgid, p)| (tgid, p.ino))
            .take(size)
            .collect();
        if let Some(&(last, _)) = slice.last() {
            state.cursor = last;
        }
        for (tgid, ino) in slice {
            self.reread(state, tgid, ino);
        }
        Ok(())
    }

    /// Scope pod threads: each covered TGID read completely (the set is
    /// small), no listing.
    pub fn pod_threads(&mut self, state: &mut TableState, tgids: &BTreeSet<u32>) -> Result<(), HostWalkError> {
        // Without it a missing root would look like every process exiting.
        fs::metadata(self.proc_root).map_err(|source| self.root_error(source))?;
        let before = state.processes.len();
        state.processes.retain(|tgid, _| tgids.contains(tgid));
        state.dirty |= state.processes.len() != before;
        for &tgid in tgids {
            let ino = state.processes.get(&tgid).map_or(0, |p| p.ino);
            self.reread(state, tgid, ino);
        }
        self.full = true;
        Ok(())
    }

    /// The numeric entries of the proc root with their `d_ino`, ascending.
    fn list(&self) -> Result<Vec<(u32, u64)>, HostWalkError> {
        let entries = fs::read_dir(self.proc_root).map_err(|source| self.root_error(source))?;
        let mut listing = Vec::new();
        for entry in entries {
            // An incomplete listing would remove every TGID after the error.
            let entry = entry.map_err(|source| self.root_error(source))?;
            if let Some(tgid) = entry.file_name().to_str().and_then(parse_pid) {
                listing.push((tgid, entry.ino()));
            }
        }
        listing.sort_unstable();
        Ok(listing)
    }

    fn root_error(&self, source: io::Error) -> HostWalkError {
        HostWalkError::ProcRoot {
            path: self.proc_root.to_owned(),
            source,
        }
    }

    fn dir(&self, tgid: u32) -> PathBuf {
        self.proc_root.join(tgid.to_string())
    }

    /// Reads `tgid` completely and replaces its entry when it differs; a
    /// different start time drops the old tasks with it (reuse).
    fn reread(&mut self, state: &mut TableState, tgid: u32, ino: u64) {
        self.full_reads += 1;
        match (self.read_process(tgid, ino), state.processes.entry(tgid)) {
            (Some(process), Entry::Vacant(vacant)) => {
                vacant.insert(process);
                state.dirty = true;
            }
            (Some(process), Entry::Occupied(mut occupied)) => {
                let old = occupied.get_mut();
                if old.start_time != process.start_time || old.tasks != process.tasks {
                    *old = process;
                    state.dirty = true;
                } else {
                    old.ino = process.ino;
                }
            }
            (None, Entry::Occupied(occupied)) => {
                occupied.remove();
                state.dirty = true;
            }
            (None, Entry::Vacant(_)) => {}
        }
    }

    /// Start time, `task/` entries and each task's own `comm`; `None` when
    /// the process is gone or unreadable.
    fn read_process(&mut self, tgid: u32, ino: u64) -> Option<Process> {
        let dir = self.dir(tgid);
        let start_time = self.start_time(&dir)?;
        let task_dir = dir.join("task");
        let entries = match fs::read_dir(&task_dir) {
            Ok(entries) => entries,
            Err(error) => {
                self.skip(&task_dir, &error);
                return None;
            }
        };
        let mut tasks = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    self.skip(&task_dir, &error);
                    continue;
                }
            };
            let Some(tid) = entry.file_name().to_str().and_then(parse_pid) else {
                continue;
            };
            let path = entry.path();
            match try_read_comm(&path) {
                Ok(comm) => tasks.push(HostTask { tid, comm }),
                Err(error) => self.skip(&path, &error),
            }
        }
        tasks.sort_unstable_by_key(|t| t.tid);
        // Every task gone while being read: so is the process.
        (!tasks.is_empty()).then_some(Process { start_time, ino, tasks })
    }

    /// Field 22 of `stat`.
    fn start_time(&mut self, dir: &Path) -> Option<u64> {
        match read_stat(dir) {
            Ok(Some(stat)) => Some(stat.start_time),
            Ok(None) => {
                self.errors += 1;
                tracing::debug!(path = %dir.display(), "unparsable stat; process skipped");
                None
            }
            Err(error) => {
                self.skip(&dir.join("stat"), &error);
                None
            }
        }
    }

    /// A vanished file skips silently; anything else counts as an error.
    fn skip(&mut self, path: &Path, error: &io::Error) {
        let vanished = error.kind() == io::ErrorKind::NotFound || Errno::from_io_error(error) == Some(Errno::SRCH);
        if vanished {
            tracing::trace!(path = %path.display(), "gone while read");
        } else {
            self.errors += 1;
            tracing::debug!(path = %path.display(), %error, "unreadable; skipped");
        }
    }
}
