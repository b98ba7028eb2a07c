//! The few file-system steps the driver is built from: durable writes, folder syncs,
//! listings that skip links, and the mapping of I/O errors.

use rakit_job_core::DriverError;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How old a `.tmp-` file must be before it is taken for the leftover of a crash.
/// A push writes and syncs its temp file in well under a second.
pub(crate) const STALE_TEMP: Duration = Duration::from_secs(300);

/// Prefix of files being written; never read as jobs.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// One entry of a folder.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    /// A regular file (not a folder, link or device).
    pub(crate) is_file: bool,
}

/// One entry of a folder, without its path: what long listings keep per entry.
#[derive(Debug)]
pub(crate) struct Name {
    /// Its name; empty when the name is not UTF-8 (no job's is).
    pub(crate) name: String,
    /// The name as the folder holds it, when it is not UTF-8.
    odd: Option<std::ffi::OsString>,
    /// A regular file (not a folder, link or device).
    pub(crate) is_file: bool,
}

impl Name {
    /// The entry in folder `dir`.
    pub(crate) fn with_path(self, dir: &Path) -> Entry {
        let path = match &self.odd {
            Some(odd) => dir.join(odd),
            None => dir.join(&self.name),
        };
        Entry {
            path,
            name: self.name,
            is_file: self.is_file,
        }
    }
}

/// Calls `each` with every name of a folder, without following links and without keeping
/// them: a claim on a long backlog holds only what it keeps. A missing folder is empty.
pub(crate) fn each_name(dir: &Path, mut each: impl FnMut(Name)) -> io::Result<()> {
    refuse_link(dir)?;
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in read {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        each(match entry.file_name().into_string() {
            Ok(name) => Name {
                name,
                odd: None,
                // `file_type` does not follow links, so a link is never taken for a job file.
                is_file: entry.file_type().is_ok_and(|t| t.is_file()),
            },
            Err(odd) => Name {
                name: String::new(),
                odd: Some(odd),
                is_file: false,
            },
        });
    }
    Ok(())
}

/// Lists a folder without following links; a missing folder is empty.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    each_name(dir, |name| entries.push(name.with_path(dir)))?;
    Ok(entries)
}

/// Fails when `path` is a symbolic link, so no listing leaves the store's folder.
pub(crate) fn refuse_link(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "is a symbolic link; the file driver follows no links, so replace it with a folder",
        )),
        _ => Ok(()),
    }
}

/// Names of the sub-folders of `dir` (links excluded), sorted.
pub(crate) fn subfolders(dir: &Path) -> io::Result<Vec<String>> {
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in read.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir())
            && let Ok(name) = entry.file_name().into_string()
        {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Reads a whole file, refusing links so nothing outside the folder is read.
pub(crate) fn read(path: &Path) -> io::Result<Vec<u8>> {
    if fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "is a symbolic link",
        ));
    }
    fs::read(path)
}

/// Writes `bytes` to a fresh temp file in `dir`, its data synced to disk when `durable`
/// (its content and size, all a rename needs to publish it whole); the caller renames it
/// into place.
pub(crate) fn write_temp(dir: &Path, bytes: &[u8], durable: bool) -> io::Result<PathBuf> {
    let (path, file) = create_temp(dir, bytes)?;
    if durable && let Err(e) = file.sync_data() {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    Ok(path)
}

/// Writes `bytes` to a fresh temp file in `dir` and keeps it open, its data not yet
/// synced: the caller renames it into place and hands it to [`Unsynced`].
pub(crate) fn create_temp(dir: &Path, bytes: &[u8]) -> io::Result<(PathBuf, File)> {
    let path = dir.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.write_all(bytes)?;
        Ok(file)
    })();
    match written {
        Ok(file) => Ok((path, file)),
        Err(e) => {
            let _ = fs::remove_file(&path);
            Err(e)
        }
    }
}

/// Files renamed into place before their data was synced, and where they were put.
///
/// A job file is published first and synced after, so a worker watching its folder can
/// take it while the disk is still busy: its content is whole in the page cache from the
/// start. The push returns only once [`sync`](Self::sync) has put every file on disk, so a
/// returned dispatch survives a power loss as before; one lost to a power loss before it
/// returned may leave an empty file, which is set aside as corrupt.
#[derive(Default)]
pub(crate) struct Unsynced {
    files: Vec<(PathBuf, File)>,
}

/// How many files one thread of [`Unsynced::sync`] syncs at least: a few threads syncing
/// at once let the file system commit their files together, but a thread costs more than
/// a handful of syncs.
const SYNCS_A_THREAD: usize = 8;

/// The most threads [`Unsynced::sync`] starts.
const SYNC_THREADS: usize = 8;

impl Unsynced {
    /// Holds `file`, renamed to `path`, until [`sync`](Self::sync).
    pub(crate) fn add(&mut self, path: PathBuf, file: File) {
        self.files.push((path, file));
    }

    /// How many files are held (each holds a descriptor open).
    pub(crate) fn len(&self) -> usize {
        self.files.len()
    }

    /// Puts every held file's data on disk, from several threads when there are many so
    /// their flushes share the file system's commits. A file that cannot be synced stays
    /// where it is (its job may run; delivery is at least once) and its error is returned.
    pub(crate) fn sync(&mut self) -> Result<(), DriverError> {
        let files = std::mem::take(&mut self.files);
        let threads = (files.len() / SYNCS_A_THREAD).clamp(1, SYNC_THREADS);
        let sync_share = |share: usize| -> Result<(), DriverError> {
            for (path, file) in files.iter().skip(share).step_by(threads) {
                file.sync_data().map_err(|e| io_error(path, e))?;
            }
            Ok(())
        };
        if threads == 1 {
            return sync_share(0);
        }
        std::thread::scope(|scope| {
            let shares: Vec<_> = (1..threads)
                .map(|share| scope.spawn(move || sync_share(share)))
                .collect();
            let mut outcome = sync_share(0);
            for share in shares {
                let done = share.join().unwrap_or_else(|_| {
                    Err(DriverError::store("a thread syncing job files panicked"))
                });
                outcome = outcome.and(done);
            }
            outcome
        })
    }
}

/// Writes `bytes` as `dir/name` all at once: temp file, sync, rename, sync the folder.
pub(crate) fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let temp = write_temp(dir, bytes, true)?;
    if let Err(e) = fs::rename(&temp, dir.join(name)) {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    sync_dir(dir)
}

/// Makes the entries of a folder (creations, renames, removals) survive a power loss.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Creates a folder and its parents, refusing one that is a link.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), DriverError> {
    fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let meta = fs::symlink_metadata(dir).map_err(|e| io_error(dir, e))?;
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return Err(DriverError::Invalid(format!(
            "{} is not a plain folder; the file driver follows no links, so replace it with a folder",
            dir.display()
        )));
    }
    Ok(())
}

/// True when a rename or removal found nothing: another process got there first.
pub(crate) fn is_gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

/// True for a temp file old enough to be a crash leftover rather than a write in progress.
pub(crate) fn is_stale(path: &Path) -> bool {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return false;
    };
    let Ok(modified) = meta.modified() else {
        return false;
    };
    SystemTime::now()
        .duration_since(modified)
        .is_ok_and(|age| age > STALE_TEMP)
}

/// Turns an I/O error into a driver error naming the path. A folder the process may not
/// write is [`DriverError::Broken`]: waiting will not mend it, a person must.
pub(crate) fn io_error(path: &Path, e: io::Error) -> DriverError {
    match e.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            DriverError::Broken {
                store: format!("file {}", path.display()),
                reason: format!(
                    "{e}; give the user running the workers write access to the job folder"
                ),
            }
        }
        _ => DriverError::Store(format!("{}: {e}", path.display())),
    }
}
