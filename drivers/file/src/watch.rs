//! Waking idle workers when a job file appears in a watched `ready/` folder.
//!
//! The OS file watcher (inotify on Linux, through the `notify` crate) reports new files
//! from any process. When it cannot start (no inotify, too many watches), waiting falls
//! back to sleeping, which is what every store without signals does.

use notify::event::{EventKind, ModifyKind, RenameMode};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Shared between the watcher's thread and the waiters.
#[derive(Default)]
struct Signal {
    notify: Notify,
    /// Counts the events seen, so a waiter can tell one arrived while nobody was waiting.
    events: AtomicU64,
}

impl Signal {
    fn fire(&self) {
        self.events.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

enum Watching {
    NotStarted,
    Running {
        watcher: RecommendedWatcher,
        dirs: HashSet<PathBuf>,
    },
    Unavailable,
}

/// The watcher of one driver, started on the first wait.
pub(crate) struct Waker {
    signal: Arc<Signal>,
    watching: Mutex<Watching>,
    /// The event count when the last wait returned.
    seen: AtomicU64,
}

impl Waker {
    pub(crate) fn new() -> Self {
        Waker {
            signal: Arc::default(),
            watching: Mutex::new(Watching::NotStarted),
            seen: AtomicU64::new(0),
        }
    }

    /// Wakes this process's waiters now (after a push through this driver).
    pub(crate) fn poke(&self) {
        self.signal.fire();
    }

    /// Waits until a job file appears in one of `dirs`, or `limit` passes.
    pub(crate) async fn wait(&self, dirs: &[PathBuf], limit: std::time::Duration) {
        let notified = self.signal.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        self.watch(dirs);
        let events = self.signal.events.load(Ordering::SeqCst);
        // Something arrived since the last wait returned: let the caller look right away.
        if self.seen.swap(events, Ordering::SeqCst) != events {
            return;
        }
        let _ = tokio::time::timeout(limit, notified).await;
        self.seen
            .store(self.signal.events.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// Adds watches on `dirs`, starting the watcher if needed; quietly gives up if it cannot.
    fn watch(&self, dirs: &[PathBuf]) {
        let mut watching = self.watching.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(*watching, Watching::NotStarted) {
            let signal = self.signal.clone();
            let handler = move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| announces_a_job(&e)) {
                    signal.fire();
                }
            };
            *watching = match notify::recommended_watcher(handler) {
                Ok(watcher) => Watching::Running {
                    watcher,
                    dirs: HashSet::new(),
                },
                Err(e) => {
                    tracing::warn!(
                        "cannot watch the job folders ({e}); idle workers will poll instead"
                    );
                    Watching::Unavailable
                }
            };
        }
        if let Watching::Running {
            watcher,
            dirs: watched,
        } = &mut *watching
        {
            for dir in dirs {
                if watched.contains(dir) {
                    continue;
                }
                match watcher.watch(dir, RecursiveMode::NonRecursive) {
                    Ok(()) => {
                        watched.insert(dir.clone());
                    }
                    Err(e) => tracing::warn!(
                        folder = %dir.display(),
                        "cannot watch a job folder ({e}); idle workers will poll it instead"
                    ),
                }
            }
        }
    }
}

/// True for events that may mean a job file arrived: a file created or renamed in.
fn announces_a_job(event: &notify::Event) -> bool {
    let arrival = matches!(
        event.kind,
        EventKind::Any
            | EventKind::Create(_)
            | EventKind::Modify(ModifyKind::Name(
                RenameMode::To | RenameMode::Both | RenameMode::Any
            ))
    );
    arrival && event.paths.iter().any(|p| is_visible(p))
}

/// Temp files start with a dot and are not jobs yet.
fn is_visible(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| !n.starts_with('.'))
}
