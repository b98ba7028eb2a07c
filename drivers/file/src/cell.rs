//! A cell: a folder holding exactly one empty file whose name is the cell's value.
//!
//! Renaming that file is a compare-and-swap (only one process's rename of a given name
//! succeeds), creating the cell is exclusive (a prepared folder is renamed into place,
//! which fails when a non-empty one is there), and a crash at any point leaves either
//! the old value or the new one, never a cell that is stuck. Lock slots, unique keys,
//! unique windows and throughput counters are cells.

use crate::fsio;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// How many times a read retries while other processes are changing the cell.
const READ_TRIES: usize = 50;

/// One cell: the folder `<parent>/<name>`.
pub(crate) struct Cell {
    parent: PathBuf,
    dir: PathBuf,
    /// Sync folders after each change, so the value survives a power loss.
    durable: bool,
}

impl Cell {
    pub(crate) fn new(parent: &Path, name: &str, durable: bool) -> Self {
        Cell {
            parent: parent.to_path_buf(),
            dir: parent.join(name),
            durable,
        }
    }

    /// The current value, or `None` when the cell does not exist.
    pub(crate) fn read(&self) -> io::Result<Option<String>> {
        for _ in 0..READ_TRIES {
            let names: Vec<String> = match fs::read_dir(&self.dir) {
                Ok(read) => read
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| !n.starts_with('.'))
                    .collect(),
                Err(e) if fsio::is_gone(&e) => return Ok(None),
                Err(e) => return Err(e),
            };
            match names.as_slice() {
                // Emptied by a `clear` that has not removed the folder yet (or crashed
                // before it could): anyone may remove an empty cell.
                [] => {
                    let _ = fs::remove_dir(&self.dir);
                }
                [one] => return Ok(Some(one.clone())),
                // A rename seen half-way by the listing; look again.
                _ => std::thread::yield_now(),
            }
        }
        Err(io::Error::other(format!(
            "{} keeps changing; try again",
            self.dir.display()
        )))
    }

    /// Creates the cell holding `value`; false when it already exists.
    pub(crate) fn create(&self, value: &str) -> io::Result<bool> {
        let staging = self
            .parent
            .join(format!(".init-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&self.parent)?;
        fs::create_dir(&staging)?;
        let result =
            fs::File::create(staging.join(value)).and_then(|_| fs::rename(&staging, &self.dir));
        match result {
            Ok(()) => {
                if self.durable {
                    fsio::sync_dir(&self.parent)?;
                }
                Ok(true)
            }
            Err(e) => {
                let _ = fs::remove_file(staging.join(value));
                let _ = fs::remove_dir(&staging);
                // A non-empty cell is already there: someone else created it first.
                if self.dir.is_dir() { Ok(false) } else { Err(e) }
            }
        }
    }

    /// Replaces `old` with `new`; false when the value was no longer `old`.
    pub(crate) fn swap(&self, old: &str, new: &str) -> io::Result<bool> {
        match fs::rename(self.dir.join(old), self.dir.join(new)) {
            Ok(()) => {
                if self.durable {
                    fsio::sync_dir(&self.dir)?;
                }
                Ok(true)
            }
            Err(e) if fsio::is_gone(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes the cell if its value is still `old`; false otherwise.
    pub(crate) fn clear(&self, old: &str) -> io::Result<bool> {
        match fs::remove_file(self.dir.join(old)) {
            Ok(()) => {
                // Fails harmlessly when another process already re-created the cell.
                let _ = fs::remove_dir(&self.dir);
                Ok(true)
            }
            Err(e) if fsio::is_gone(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_is_created_once_swapped_by_value_and_cleared() {
        let parent =
            std::env::temp_dir().join(format!("rakit-cell-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&parent).unwrap();
        let cell = Cell::new(&parent, "k", false);
        assert_eq!(cell.read().unwrap(), None);
        assert!(cell.create("a").unwrap());
        assert!(!cell.create("b").unwrap());
        assert_eq!(cell.read().unwrap().as_deref(), Some("a"));
        assert!(!cell.swap("b", "c").unwrap());
        assert!(cell.swap("a", "c").unwrap());
        assert!(!cell.clear("a").unwrap());
        assert!(cell.clear("c").unwrap());
        assert_eq!(cell.read().unwrap(), None);
        fs::remove_dir_all(&parent).unwrap();
    }
}
