//! Claiming ahead: jobs reserved beyond the free slots, so a busy worker claims a batch
//! per round trip instead of one job per finished job.
//!
//! How far ahead is bounded by time, not only by count: each claim asks for about
//! [`HORIZON`] of work beyond what is running, judged from how long recent jobs took.
//! Fast jobs are claimed in batches; slow jobs are claimed as slots free up, so they are
//! never parked here while another worker idles. Jobs wait in priority order (their
//! queue's rank first, then claim order), and the worker checks the higher queues before
//! it starts one of a lower queue, so claiming ahead never breaks strict priority.

use rakit_job_core::Reserved;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How much work, in time, may wait in the buffer.
const HORIZON: Duration = Duration::from_millis(50);

pub(crate) struct ClaimAhead {
    limit: usize,
    /// Jobs by (their queue's rank, arrival), with when they arrived.
    buffer: BTreeMap<(usize, u64), (Instant, Reserved)>,
    /// The same jobs by arrival alone, so the oldest is found without a scan.
    by_arrival: BTreeMap<u64, (usize, Instant)>,
    arrivals: u64,
    /// Moving average of how long a job occupies a slot; `None` before the first.
    typical_run: Option<Duration>,
}

impl ClaimAhead {
    /// A buffer holding at most `limit` claimed jobs beyond the free slots (0 turns it off).
    pub(crate) fn new(limit: usize) -> Self {
        ClaimAhead {
            limit,
            buffer: BTreeMap::new(),
            by_arrival: BTreeMap::new(),
            arrivals: 0,
            typical_run: None,
        }
    }

    /// Notes how long a finished job occupied its slot.
    pub(crate) fn finished(&mut self, took: Duration) {
        self.typical_run = Some(match self.typical_run {
            None => took,
            // An exponential average: recent jobs weigh most, one outlier does not dominate.
            Some(avg) => (avg * 7 + took) / 8,
        });
    }

    /// How many jobs to claim beyond the free slots: what `concurrency` slots would start
    /// within the horizon, capped by the limit. Nothing until a job has been timed.
    pub(crate) fn extra(&self, concurrency: usize) -> usize {
        let Some(typical) = self.typical_run else {
            return 0;
        };
        let per_slot = HORIZON.as_nanos() / typical.as_nanos().max(1);
        (per_slot.saturating_mul(concurrency as u128)).min(self.limit as u128) as usize
    }

    /// Jobs waiting in the buffer.
    pub(crate) fn len(&self) -> usize {
        self.buffer.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    /// Adds a claimed job whose queue has priority `rank` (0 is the highest).
    pub(crate) fn push(&mut self, rank: usize, job: Reserved) {
        self.arrivals += 1;
        let now = Instant::now();
        self.by_arrival.insert(self.arrivals, (rank, now));
        self.buffer.insert((rank, self.arrivals), (now, job));
    }

    /// The rank of the job that would start next.
    pub(crate) fn next_rank(&self) -> Option<usize> {
        self.buffer.keys().next().map(|(rank, _)| *rank)
    }

    /// The job to start next: the highest queue's oldest.
    pub(crate) fn pop(&mut self) -> Option<Reserved> {
        let ((_, arrival), (_, job)) = self.buffer.pop_first()?;
        self.by_arrival.remove(&arrival);
        Some(job)
    }

    /// Every buffered job, when the oldest has waited longer than `max_wait`: they are
    /// handed back so their leases never run short before they start.
    pub(crate) fn take_if_stale(&mut self, max_wait: Duration) -> Vec<Reserved> {
        match self.by_arrival.first_key_value() {
            Some((_, (_, at))) if at.elapsed() > max_wait => self.take_all(),
            _ => Vec::new(),
        }
    }

    /// The buffered jobs of the queues in `paused`, to hand back.
    pub(crate) fn take_queues(&mut self, paused: &[String]) -> Vec<Reserved> {
        if paused.is_empty() {
            return Vec::new();
        }
        let keys: Vec<(usize, u64)> = self
            .buffer
            .iter()
            .filter(|(_, (_, job))| paused.contains(&job.job.queue))
            .map(|(key, _)| *key)
            .collect();
        for (_, arrival) in &keys {
            self.by_arrival.remove(arrival);
        }
        keys.iter()
            .filter_map(|key| self.buffer.remove(key))
            .map(|(_, job)| job)
            .collect()
    }

    /// Empties the buffer (on shutdown, the jobs are handed back).
    pub(crate) fn take_all(&mut self) -> Vec<Reserved> {
        self.by_arrival.clear();
        std::mem::take(&mut self.buffer)
            .into_values()
            .map(|(_, job)| job)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_jobs_are_claimed_ahead_up_to_the_limit_and_slow_ones_not_at_all() {
        let mut ahead = ClaimAhead::new(100);
        assert_eq!(
            ahead.extra(4),
            0,
            "nothing is claimed ahead before a job was timed"
        );
        ahead.finished(Duration::from_micros(200));
        assert_eq!(
            ahead.extra(1),
            100,
            "250 fast jobs would fit the horizon: capped at 100"
        );
        let mut slow = ClaimAhead::new(100);
        slow.finished(Duration::from_millis(10));
        assert_eq!(
            slow.extra(2),
            10,
            "two slots of 10 ms jobs start 10 jobs within 50 ms"
        );
        slow.finished(Duration::from_secs(5));
        assert_eq!(
            slow.extra(2),
            0,
            "after a 5-second job, nothing is held ahead"
        );
        assert_eq!(ClaimAhead::new(0).extra(64), 0);
    }

    #[test]
    fn jobs_leave_in_priority_then_claim_order_and_a_stale_buffer_is_handed_back_whole() {
        let mut ahead = ClaimAhead::new(10);
        let (low, high, low2) = (reserved("low"), reserved("high"), reserved("low"));
        let (low_id, high_id) = (low.job.id.clone(), high.job.id.clone());
        ahead.push(2, low);
        ahead.push(0, high);
        ahead.push(2, low2);
        assert!(ahead.take_if_stale(Duration::from_secs(60)).is_empty());
        assert_eq!(ahead.next_rank(), Some(0));
        assert_eq!(ahead.pop().unwrap().job.id, high_id);
        assert_eq!(ahead.pop().unwrap().job.id, low_id);
        assert_eq!(ahead.take_queues(&["low".to_string()]).len(), 1);
        ahead.push(1, reserved("default"));
        assert_eq!(ahead.take_if_stale(Duration::ZERO).len(), 1);
        assert!(ahead.pop().is_none());
    }

    fn reserved(queue: &str) -> Reserved {
        use rakit_job_core::{JobId, Lease, StoredJob};
        let job = StoredJob {
            id: JobId::generate(),
            name: "x".into(),
            queue: queue.into(),
            payload: "{}".into(),
            attempts: 1,
            created_at: 0,
            overlap_key: None,
            unique_key: None,
            last_error: None,
            meta: None,
            cancelled: false,
        };
        let lease = Lease::new(job.id.clone(), &job.queue);
        Reserved { job, lease }
    }
}
