//! Claiming ahead: jobs reserved beyond the free slots, so a busy worker claims a batch
//! per round trip instead of one job per finished job.
//!
//! How far ahead is bounded by time, not only by count: each claim asks for about
//! [`HORIZON`] of work beyond what is running, judged from how long recent jobs took (with
//! two claims in flight, the buffer holds at most about twice that).
//! Fast jobs are claimed in batches; slow jobs are claimed as slots free up, so they are
//! never parked here while another worker idles.

use rakit_job_core::Reserved;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How much work, in time, may wait in the buffer.
const HORIZON: Duration = Duration::from_millis(50);

pub(crate) struct ClaimAhead {
    limit: usize,
    buffer: VecDeque<(Instant, Reserved)>,
    /// Moving average of how long a job occupies a slot, outcome written; `None` before the first.
    typical_run: Option<Duration>,
}

impl ClaimAhead {
    /// A buffer holding at most `limit` claimed jobs (0 turns claiming ahead off).
    pub(crate) fn new(limit: usize) -> Self {
        ClaimAhead {
            limit,
            buffer: VecDeque::new(),
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

    pub(crate) fn push(&mut self, job: Reserved) {
        self.buffer.push_back((Instant::now(), job));
    }

    pub(crate) fn pop(&mut self) -> Option<Reserved> {
        self.buffer.pop_front().map(|(_, job)| job)
    }

    /// Every buffered job, when the oldest has waited longer than `max_wait`: they are
    /// handed back so their leases never run short before they start.
    pub(crate) fn take_if_stale(&mut self, max_wait: Duration) -> Vec<Reserved> {
        match self.buffer.front() {
            Some((at, _)) if at.elapsed() > max_wait => self.take_all(),
            _ => Vec::new(),
        }
    }

    /// Empties the buffer (on shutdown, the jobs are handed back).
    pub(crate) fn take_all(&mut self) -> Vec<Reserved> {
        self.buffer.drain(..).map(|(_, job)| job).collect()
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
    fn a_stale_buffer_is_handed_back_whole_and_order_is_kept() {
        let mut ahead = ClaimAhead::new(10);
        let (first, second) = (reserved(), reserved());
        let first_id = first.job.id.clone();
        ahead.push(first);
        ahead.push(second);
        assert!(ahead.take_if_stale(Duration::from_secs(60)).is_empty());
        assert_eq!(ahead.pop().unwrap().job.id, first_id);
        let stale = ahead.take_if_stale(Duration::ZERO);
        assert_eq!(stale.len(), 1);
        assert!(ahead.pop().is_none());
    }

    fn reserved() -> Reserved {
        use rakit_job_core::{JobId, Lease, StoredJob};
        let job = StoredJob {
            id: JobId::generate(),
            name: "x".into(),
            queue: "default".into(),
            payload: "{}".into(),
            attempts: 1,
            created_at: 0,
            overlap_key: None,
            unique_key: None,
            last_error: None,
        };
        let lease = Lease::new(job.id.clone(), &job.queue);
        Reserved { job, lease }
    }
}
