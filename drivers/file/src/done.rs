//! Acked job files: renamed out of their queue at once, deleted in the background.
//!
//! Deleting a job file that was synced to disk is the slowest step of a run (ext4 frees
//! its blocks; on this project's test machine about 90 µs against 10 µs for a rename),
//! and a worker's claims wait behind it. So an ack renames the held file into `done/`,
//! which ends the job as surely (no claim, rescue or listing looks there), and one thread
//! per store deletes what is in `done/`. A crash leaves at most some files there, which
//! the next sweep of any process deletes.

use crate::files::{Found, move_file};
use crate::fsio;
use crate::keys::Layout;
use rakit_job_core::DriverError;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// How long a sweep waits after the first ack that asks for it.
const GATHER: Duration = Duration::from_millis(200);

/// Ends a held job by renaming its file into `done/`; false when the file was gone.
pub(crate) fn retire(layout: &Layout, found: &Found) -> Result<bool, DriverError> {
    let name = found.path.file_name().unwrap_or_default();
    move_file(&found.path, &layout.done().join(name))
}

/// Deletes the files in `done/` on a thread of its own, when poked.
pub(crate) struct Sweeper {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    state: Mutex<State>,
    poked: Condvar,
}

#[derive(Default)]
struct State {
    pending: bool,
    started: bool,
    stop: bool,
}

impl Sweeper {
    pub(crate) fn new(layout: &Layout) -> Sweeper {
        let shared = Shared {
            dir: layout.done(),
            state: Mutex::default(),
            poked: Condvar::new(),
        };
        Sweeper {
            shared: Arc::new(shared),
        }
    }

    /// Asks for a sweep soon, starting the thread on first use. If the system refuses a
    /// thread, the caller sweeps now.
    pub(crate) fn poke(&self) {
        let mut state = self.shared.lock();
        state.pending = true;
        if state.started {
            self.shared.poked.notify_one();
            return;
        }
        let shared = Arc::clone(&self.shared);
        let spawned = std::thread::Builder::new()
            .name("rakit-file-sweep".into())
            .spawn(move || shared.run());
        match spawned {
            Ok(_) => state.started = true,
            Err(e) => {
                drop(state);
                tracing::debug!("no thread for deleting acked job files ({e}); deleting them now");
                self.shared.sweep();
            }
        }
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.poked.notify_one();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self) {
        loop {
            let mut state = self.lock();
            while !state.pending && !state.stop {
                state = self.poked.wait(state).unwrap_or_else(|p| p.into_inner());
            }
            if state.stop {
                return;
            }
            state.pending = false;
            drop(state);
            // Gathers the acks of a moment into one sweep, and leaves the disk to the
            // claims and dispatches of a quiet queue.
            std::thread::sleep(GATHER);
            self.sweep();
        }
    }

    /// Deletes the files in `done/` as the listing meets them (holding none of their
    /// names, however many wait); one another process deleted first is skipped.
    fn sweep(&self) {
        let mut failed = None;
        let listed = fsio::each_name(&self.dir, |entry| {
            if failed.is_some() {
                return;
            }
            let path = entry.with_path(&self.dir).path;
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if fsio::is_gone(&e) => {}
                Err(e) => failed = Some(format!("{}: {e}", path.display())),
            }
        });
        if let Some(e) = listed
            .err()
            .map(|e| format!("{}: {e}", self.dir.display()))
            .or(failed)
        {
            tracing::warn!("acked job files could not be deleted and will be tried again ({e})");
        }
    }
}
