//! A host task table whose content the test sets: it serves its table
//! only while the decision maker has turned it on, as the real one does.

use std::sync::Arc;

use gthulhu_domain::{HostProcess, HostTableStatus, HostTask, HostTaskScope, HostTaskSnapshot, HostTaskTable};
use parking_lot::Mutex;
use tokio::sync::watch;

pub struct FakeHostTable {
    processes: Mutex<Vec<HostProcess>>,
    scope: Mutex<HostTaskScope>,
    generation: watch::Sender<u64>,
}

impl FakeHostTable {
    pub fn empty() -> Arc<Self> {
        Self::with(Vec::new())
    }

    pub fn with(processes: Vec<HostProcess>) -> Arc<Self> {
        Arc::new(Self {
            processes: Mutex::new(processes),
            scope: Mutex::new(HostTaskScope::Off),
            generation: watch::Sender::new(0),
        })
    }

    /// Replaces the content, as a walk that found changes would.
    pub fn set(&self, processes: Vec<HostProcess>) {
        *self.processes.lock() = processes;
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn scope(&self) -> HostTaskScope {
        self.scope.lock().clone()
    }
}

/// A process with `(tid, comm)` tasks; the leader is the first.
pub fn process(tgid: u32, tasks: &[(u32, &str)]) -> HostProcess {
    HostProcess {
        tgid,
        start_time: 0,
        tasks: tasks
            .iter()
            .map(|&(tid, comm)| HostTask { tid, comm: comm.into() })
            .collect(),
    }
}

impl HostTaskTable for FakeHostTable {
    fn set_scope(&self, scope: HostTaskScope) {
        *self.scope.lock() = scope;
    }

    fn snapshot(&self) -> Option<Arc<HostTaskSnapshot>> {
        let scope = self.scope();
        let processes = self.processes.lock();
        let covered: Vec<HostProcess> = match &scope {
            HostTaskScope::Off => return None,
            HostTaskScope::Host => processes.clone(),
            HostTaskScope::PodThreads(tgids) => processes.iter().filter(|p| tgids.contains(&p.tgid)).cloned().collect(),
        };
        Some(Arc::new(HostTaskSnapshot {
            processes: covered,
            generation: *self.generation.borrow(),
            scope,
        }))
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    fn status(&self) -> HostTableStatus {
        HostTableStatus::Off
    }

    fn walk_once(&self) -> Option<Arc<HostTaskSnapshot>> {
        Some(Arc::new(HostTaskSnapshot {
            processes: self.processes.lock().clone(),
            generation: 0,
            scope: HostTaskScope::Host,
        }))
    }
}
