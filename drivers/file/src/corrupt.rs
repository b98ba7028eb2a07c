//! Files that cannot be jobs: half-written leftovers of a crash, unreadable records,
//! strangers dropped into a queue folder. They are never handed to a worker; they are
//! moved to `<root>/corrupt/` and reported with a warning, for a person to inspect.

use crate::fsio;
use crate::keys::Layout;
use rakit_job_core::now_ms;
use std::fs;
use std::path::{Path, PathBuf};

/// Moves `path` (found in the folders of `queue`) to the corrupt folder and logs why.
pub(crate) fn quarantine(layout: &Layout, path: &Path, queue: &str, reason: &str) {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("unnamed")
        .trim_start_matches('.');
    let target = layout
        .corrupt()
        .join(format!("{}-{queue}-{name}", now_ms()));
    match fs::rename(path, &target) {
        Ok(()) => tracing::warn!(
            file = %path.display(),
            moved_to = %target.display(),
            "a job file is corrupt ({reason}); it was set aside and will not run: inspect it, then delete it or fix it and move it back"
        ),
        // Another process set it aside (or claimed it) first.
        Err(e) if fsio::is_gone(&e) => {}
        Err(e) => tracing::warn!(
            file = %path.display(),
            "a job file is corrupt ({reason}) and could not be set aside ({e}); it will not run: inspect it and remove it by hand"
        ),
    }
}

/// The files set aside so far, oldest first.
pub(crate) fn list(layout: &Layout) -> std::io::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = fsio::list(&layout.corrupt())?
        .into_iter()
        .map(|e| e.path)
        .collect();
    paths.sort();
    Ok(paths)
}
