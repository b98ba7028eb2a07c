//! Per-queue, per-minute counts of finished runs: two counters per queue and minute
//! (`<prefix>:tp:<minute>:<queue>:done|failed`), added to with `add` (the first count of
//! a minute, with an expiry of a bit over three hours) or else `incr`, both atomic on the
//! server. The queues with counts are kept in a registry, since memcached cannot list
//! keys; reading asks for every minute from `since` to now in one multi-get.

use crate::queues;
use crate::server::Server;
use rakit_job_core::{DriverError, Millis, MinuteCount, now_ms, validate_queue};
use std::collections::BTreeMap;

/// How long counts are kept.
const KEEP: Millis = 3 * 3_600_000;
const MINUTE: Millis = 60_000;

/// Adds to the counts of each queue and minute.
pub(crate) fn add(server: &Server, counts: &[MinuteCount]) -> Result<(), DriverError> {
    let ttl = ((KEEP + 2 * MINUTE) / 1000) as u32;
    for count in counts {
        validate_queue(&count.queue)?;
        queues::add(server, &server.keys.throughput_queues(), &count.queue)?;
        for (field, n) in [("done", count.done), ("failed", count.failed)] {
            if n == 0 {
                continue;
            }
            let key = server.keys.throughput(count.minute, &count.queue, field);
            if !server.mc.add(&key, n.to_string().as_bytes(), ttl)? {
                server.mc.incr(&key, n)?;
            }
        }
    }
    Ok(())
}

/// The counts of every minute from `since` on (at most the kept three hours), sorted by
/// minute then queue.
pub(crate) fn read(server: &Server, since: Millis) -> Result<Vec<MinuteCount>, DriverError> {
    let now = now_ms();
    let first = since.max(now - KEEP).div_euclid(MINUTE) * MINUTE;
    let first = if first < since { first + MINUTE } else { first };
    let last = now.div_euclid(MINUTE) * MINUTE + MINUTE;
    let queues = queues::names(server, &server.keys.throughput_queues())?;
    let mut keys = Vec::new();
    let mut minute = first;
    while minute <= last {
        for queue in &queues {
            for field in ["done", "failed"] {
                keys.push((minute, queue, field));
            }
        }
        minute += MINUTE;
    }
    let names: Vec<String> = keys
        .iter()
        .map(|(minute, queue, field)| server.keys.throughput(*minute, queue, field))
        .collect();
    let mut values = std::collections::HashMap::new();
    for chunk in names.chunks(500) {
        values.extend(server.mc.get_many(chunk)?);
    }
    let mut counts: BTreeMap<(Millis, String), (u64, u64)> = BTreeMap::new();
    for ((minute, queue, field), name) in keys.iter().zip(&names) {
        let Some(n) = values
            .get(name)
            .and_then(|(bytes, _)| std::str::from_utf8(bytes).ok()?.trim().parse::<u64>().ok())
        else {
            continue;
        };
        let slot = counts.entry((*minute, queue.to_string())).or_default();
        match *field {
            "done" => slot.0 += n,
            _ => slot.1 += n,
        }
    }
    Ok(counts
        .into_iter()
        .map(|((minute, queue), (done, failed))| MinuteCount {
            queue,
            minute,
            done,
            failed,
        })
        .collect())
}
