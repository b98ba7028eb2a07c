//! Per-queue, per-minute counts of finished runs: one [`Cell`] per queue and minute,
//! `throughput/<minute>-<queue>`, whose value `<done>-<failed>` is added to by
//! compare-and-swap, so processes adding at once never lose a count. Counts older than
//! three hours are removed as new ones come in.

use crate::cell::Cell;
use crate::fsio::{self, io_error};
use crate::keys::{Layout, leading_time, padded_time};
use rakit_job_core::{DriverError, Millis, MinuteCount, now_ms, validate_queue};

/// How long counts are kept.
const KEEP: Millis = 3 * 3_600_000;
/// How many times a contended count is tried before giving up with an error.
const TRIES: usize = 100;

fn cell_name(minute: Millis, queue: &str) -> String {
    format!("{}-{queue}", padded_time(minute))
}

/// The minute and queue a cell's name says.
fn parse_name(name: &str) -> Option<(Millis, &str)> {
    let (minute, rest) = leading_time(name)?;
    Some((minute, rest.strip_prefix('-')?))
}

/// The done and failed counts a cell's value says.
fn parse_value(value: &str) -> Option<(u64, u64)> {
    let (done, failed) = value.split_once('-')?;
    Some((done.parse().ok()?, failed.parse().ok()?))
}

/// Adds to the counts of each queue and minute.
pub(crate) fn add(layout: &Layout, counts: &[MinuteCount]) -> Result<(), DriverError> {
    let root = layout.throughput();
    let err = |e| io_error(&root, e);
    for count in counts {
        validate_queue(&count.queue)?;
        let cell = Cell::new(&root, &cell_name(count.minute, &count.queue), false);
        let mut added = false;
        for _ in 0..TRIES {
            let current = cell.read().map_err(err)?;
            let (done, failed) = current.as_deref().and_then(parse_value).unwrap_or((0, 0));
            let value = format!("{}-{}", done + count.done, failed + count.failed);
            added = match &current {
                None => cell.create(&value).map_err(err)?,
                Some(current) => cell.swap(current, &value).map_err(err)?,
            };
            if added {
                break;
            }
        }
        if !added {
            return Err(DriverError::store(
                "the throughput counts are too contended; try again",
            ));
        }
    }
    if !counts.is_empty() {
        prune(layout)?;
    }
    Ok(())
}

fn prune(layout: &Layout) -> Result<(), DriverError> {
    let root = layout.throughput();
    let oldest = now_ms() - KEEP;
    for name in fsio::subfolders(&root).map_err(|e| io_error(&root, e))? {
        if parse_name(&name).is_some_and(|(minute, _)| minute < oldest) {
            let cell = Cell::new(&root, &name, false);
            if let Ok(Some(value)) = cell.read() {
                let _ = cell.clear(&value);
            }
        }
    }
    Ok(())
}

/// The counts of every minute from `since` on, sorted by minute then queue.
pub(crate) fn read(layout: &Layout, since: Millis) -> Result<Vec<MinuteCount>, DriverError> {
    let root = layout.throughput();
    let mut counts = Vec::new();
    for name in fsio::subfolders(&root).map_err(|e| io_error(&root, e))? {
        let Some((minute, queue)) = parse_name(&name) else {
            continue;
        };
        if minute < since {
            continue;
        }
        let value = Cell::new(&root, &name, false)
            .read()
            .map_err(|e| io_error(&root, e))?;
        if let Some((done, failed)) = value.as_deref().and_then(parse_value) {
            counts.push(MinuteCount {
                queue: queue.to_string(),
                minute,
                done,
                failed,
            });
        }
    }
    counts.sort_by(|a, b| (a.minute, &a.queue).cmp(&(b.minute, &b.queue)));
    Ok(counts)
}
