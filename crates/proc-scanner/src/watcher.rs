//! inotify on the kubepods directories: a pod or container cgroup created or
//! removed triggers a refresh without waiting for the interval.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use inotify::{EventMask, EventStream, Inotify, WatchDescriptor, WatchMask};

/// Lets a burst (pod dir, then its container dirs) settle into one refresh.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(30);

pub(crate) struct CgroupWatcher {
    events: EventStream<Vec<u8>>,
    watched: HashMap<PathBuf, WatchDescriptor>,
}

impl CgroupWatcher {
    pub fn new() -> io::Result<Self> {
        let events = Inotify::init()?.into_event_stream(vec![0; 4096])?;
        Ok(Self {
            events,
            watched: HashMap::new(),
        })
    }

    /// Whether any directory is watched.
    pub fn is_active(&self) -> bool {
        !self.watched.is_empty()
    }

    /// Watches exactly `dirs` (the kubepods directories of the last refresh).
    /// Returns how many watches were added: a directory created between that
    /// refresh's walk and its watch went unheard, so the caller rescans.
    pub fn sync(&mut self, dirs: &[PathBuf]) -> usize {
        let mut watches = self.events.watches();
        let wanted: HashSet<&PathBuf> = dirs.iter().collect();
        self.watched.retain(|path, wd| {
            let keep = wanted.contains(path);
            if !keep {
                // Fails harmlessly when the directory is already gone.
                let _ = watches.remove(wd.clone());
            }
            keep
        });
        let (mut added, mut failed) = (0usize, 0usize);
        let mut last_error = None;
        for dir in dirs {
            if self.watched.contains_key(dir) {
                continue;
            }
            match watches.add(dir, WatchMask::CREATE | WatchMask::DELETE | WatchMask::ONLYDIR) {
                Ok(wd) => {
                    self.watched.insert(dir.clone(), wd);
                    added += 1;
                }
                Err(e) => {
                    failed += 1;
                    last_error = Some(e);
                }
            }
        }
        if let Some(error) = last_error {
            tracing::warn!(failed, %error, "cannot watch some cgroup directories; relying on the refresh interval for them");
        }
        added
    }

    /// Waits for a directory event, then for the burst to settle. `Err` when
    /// the inotify stream fails.
    pub async fn changed(&mut self) -> io::Result<()> {
        let first = self
            .events
            .next()
            .await
            .unwrap_or_else(|| Err(io::Error::other("inotify stream ended")))?;
        self.forget_if_removed(first.mask, &first.wd);
        tokio::time::sleep(DEBOUNCE).await;
        while let Some(Some(event)) = self.events.next().now_or_never() {
            let event = event?;
            self.forget_if_removed(event.mask, &event.wd);
        }
        Ok(())
    }

    /// The kernel drops the watch of a removed directory; a directory
    /// re-created at the same path must be watched again.
    fn forget_if_removed(&mut self, mask: EventMask, wd: &WatchDescriptor) {
        if mask.contains(EventMask::IGNORED) {
            self.watched.retain(|_, w| w != wd);
        }
    }
}
