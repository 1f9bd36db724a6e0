//! Ctrl-C and SIGTERM turn into an error at the next check, so the bench
//! unwinds through its Drop guards (child processes killed, cgroups
//! removed) instead of dying with them in place.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::runtime::Runtime;
use tokio::signal::unix::{SignalKind, signal};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Replaces the default (fatal) SIGINT and SIGTERM actions with a flag.
pub fn install(runtime: &Runtime) -> anyhow::Result<()> {
    // Registered before returning, so no signal slips through unhandled.
    let (mut int, mut term) =
        runtime.block_on(async { anyhow::Ok((signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?)) })?;
    runtime.spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        eprintln!("interrupted: stopping and cleaning up");
        INTERRUPTED.store(true, Ordering::SeqCst);
    });
    Ok(())
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Fails once a signal has arrived.
pub fn check() -> anyhow::Result<()> {
    if interrupted() {
        anyhow::bail!("interrupted");
    }
    Ok(())
}
