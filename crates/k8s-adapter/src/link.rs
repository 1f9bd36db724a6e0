//! Whether a watch (or the pods file) currently works, logged once per
//! change of state rather than once per retry.

use std::sync::Mutex;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Link {
    /// Never worked nor failed yet.
    Starting,
    Up,
    Down(String),
}

pub(crate) struct LinkState {
    /// What is watched, for the logs ("pod watch", "pods file").
    what: &'static str,
    link: Mutex<Link>,
}

impl LinkState {
    pub(crate) fn new(what: &'static str) -> Self {
        Self {
            what,
            link: Mutex::new(Link::Starting),
        }
    }

    pub(crate) fn get(&self) -> Link {
        self.lock().clone()
    }

    pub(crate) fn is_down(&self) -> bool {
        matches!(*self.lock(), Link::Down(_))
    }

    pub(crate) fn up(&self) {
        let mut link = self.lock();
        if let Link::Down(reason) = &*link {
            tracing::info!(what = self.what, previous_error = %reason, "kubernetes source recovered");
        }
        *link = Link::Up;
    }

    /// The reason is kept current, but only the transition is logged:
    /// the watcher's backoff retries would otherwise log every few seconds.
    pub(crate) fn down(&self, reason: String) {
        let mut link = self.lock();
        if !matches!(*link, Link::Down(_)) {
            tracing::warn!(what = self.what, error = %reason, "kubernetes source failing; serving the last good data");
        } else {
            tracing::debug!(what = self.what, error = %reason, "kubernetes source still failing");
        }
        *link = Link::Down(reason);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Link> {
        self.link.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Aborts a background task when its owner is dropped, so that adapters
/// built in tests (or replaced at runtime) do not leak watches.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions() {
        let l = LinkState::new("test");
        assert_eq!(l.get(), Link::Starting);
        assert!(!l.is_down());
        l.down("a".into());
        l.down("b".into());
        assert_eq!(l.get(), Link::Down("b".into()), "the latest reason is kept");
        assert!(l.is_down());
        l.up();
        assert_eq!(l.get(), Link::Up);
    }
}
