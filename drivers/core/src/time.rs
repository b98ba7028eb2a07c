//! Wall-clock time as the stores keep it: milliseconds since the Unix epoch, UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (UTC); every stored time uses this unit.
pub type Millis = i64;

/// The current time in [`Millis`].
///
/// ```
/// assert!(rakit_job_core::now_ms() > 1_700_000_000_000);
/// ```
pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}
