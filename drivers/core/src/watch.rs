//! Waking idle workers of stores kept in files (a job folder, an SQLite database) when
//! another process writes there.
//!
//! The OS file watcher (inotify on Linux, through the `notify` crate) reports changes
//! from any process. When it cannot start (no inotify, too many watches), the store's
//! wait falls back to polling, at least every [`UNSIGNALLED_POLL`](crate::UNSIGNALLED_POLL).

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

/// Which events wake the waiters.
type Wanted = Arc<dyn Fn(&notify::Event) -> bool + Send + Sync>;

/// The watcher of one driver, started on the first wait: it wakes the waiters when an
/// event its filter wants happens in a watched folder.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use rakit_job_core::watch::{FileWatch, file_arrived};
/// let dir = std::env::temp_dir();
/// let watch = FileWatch::new("the job folders", file_arrived);
/// watch.poke(); // a push in this process
/// let watched = watch.wait(&[dir], std::time::Duration::from_secs(5)).await;
/// assert!(watched, "returns at once: the poke came since the last wait");
/// # });
/// ```
pub struct FileWatch {
    what: &'static str,
    wanted: Wanted,
    signal: Arc<Signal>,
    watching: Mutex<Watching>,
    /// The event count when the last wait returned.
    seen: AtomicU64,
}

impl FileWatch {
    /// A watch that wakes on the events `wanted` accepts; `what` names the watched files
    /// in the warning logged when they cannot be watched.
    pub fn new(
        what: &'static str,
        wanted: impl Fn(&notify::Event) -> bool + Send + Sync + 'static,
    ) -> Self {
        FileWatch {
            what,
            wanted: Arc::new(wanted),
            signal: Arc::default(),
            watching: Mutex::new(Watching::NotStarted),
            seen: AtomicU64::new(0),
        }
    }

    /// Wakes this process's waiters now (after a push through this driver).
    pub fn poke(&self) {
        self.signal.fire();
    }

    /// Waits until a wanted event happens in one of `dirs`, or `limit` passes; returns at
    /// once when one happened since the last wait, or when a folder is watched only now
    /// (it may have changed before). False, without waiting, when the folders cannot be
    /// watched: the caller polls instead.
    pub async fn wait(&self, dirs: &[PathBuf], limit: std::time::Duration) -> bool {
        let notified = self.signal.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let watching = self.watch(dirs);
        let events = self.signal.events.load(Ordering::SeqCst);
        // Something arrived since the last wait returned: let the caller look right away.
        if self.seen.swap(events, Ordering::SeqCst) != events {
            return true;
        }
        match watching {
            Watched::Unavailable => return false,
            Watched::Newly => return true,
            Watched::Already => {}
        }
        let _ = tokio::time::timeout(limit, notified).await;
        self.seen
            .store(self.signal.events.load(Ordering::SeqCst), Ordering::SeqCst);
        true
    }

    /// Adds watches on `dirs`, starting the watcher if needed.
    fn watch(&self, dirs: &[PathBuf]) -> Watched {
        let mut watching = self.watching.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(*watching, Watching::NotStarted) {
            let signal = self.signal.clone();
            let wanted = self.wanted.clone();
            let handler = move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| wanted(&e)) {
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
                        "cannot watch {} ({e}); idle workers will poll instead",
                        self.what
                    );
                    Watching::Unavailable
                }
            };
        }
        let Watching::Running {
            watcher,
            dirs: watched,
        } = &mut *watching
        else {
            return Watched::Unavailable;
        };
        let mut outcome = Watched::Already;
        for dir in dirs {
            if watched.contains(dir) {
                continue;
            }
            match watcher.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    watched.insert(dir.clone());
                    if !matches!(outcome, Watched::Unavailable) {
                        outcome = Watched::Newly;
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        folder = %dir.display(),
                        "cannot watch {} ({e}); idle workers will poll it instead",
                        self.what
                    );
                    outcome = Watched::Unavailable;
                }
            }
        }
        outcome
    }
}

/// What [`FileWatch::watch`] found.
enum Watched {
    /// Every folder was watched already.
    Already,
    /// At least one folder is watched only from now on.
    Newly,
    /// Some folder cannot be watched.
    Unavailable,
}

/// True for events that may mean a job file arrived: a visible file created or renamed in.
///
/// ```
/// use notify::event::{CreateKind, Event, EventKind};
/// let created = Event::new(EventKind::Create(CreateKind::File)).add_path("/jobs/ready/1".into());
/// assert!(rakit_job_core::watch::file_arrived(&created));
/// let temp = Event::new(EventKind::Create(CreateKind::File)).add_path("/jobs/ready/.tmp".into());
/// assert!(!rakit_job_core::watch::file_arrived(&temp));
/// ```
pub fn file_arrived(event: &notify::Event) -> bool {
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
