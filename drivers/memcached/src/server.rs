//! What every operation shares: the connection, key names, a few process-local hints,
//! and the one way a record is changed — read, change, compare-and-swap, retry.

use crate::client::{Mc, Versioned};
use crate::keys::Keys;
use crate::pipeline::{Write, Written};
use crate::record::Record;
use rakit_job_core::{DriverError, JobId};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

/// How many CAS conflicts in a row an update tolerates before reporting contention.
const CAS_TRIES: usize = 64;
/// How many vanished job ids a driver remembers for [`Server::vanished`].
const VANISHED_KEPT: usize = 1_000;

/// The shared state of one driver.
pub(crate) struct Server {
    pub(crate) mc: Mc,
    pub(crate) keys: Keys,
    /// Last head seen per index, to notice a tail counter that was evicted.
    heads: Mutex<HashMap<String, u64>>,
    /// Names this process put in a registry (queues, throughput queues), and when.
    pub(crate) registered: Mutex<HashMap<String, Instant>>,
    /// Jobs found missing from the server, most recent last.
    vanished: Mutex<VecDeque<JobId>>,
}

/// A job record as read: its key, the record parsed, and the CAS token it was read with.
pub(crate) type ReadRecord = (String, Record, u64);

/// What an update did.
pub(crate) enum Change {
    /// Written; the record before and after.
    Done {
        before: Box<Record>,
        after: Box<Record>,
    },
    /// The record is there but the change did not apply to it.
    Refused,
    /// There is no record under the key.
    Missing,
}

impl Server {
    pub(crate) fn new(mc: Mc, keys: Keys) -> Self {
        Server {
            mc,
            keys,
            heads: Mutex::default(),
            registered: Mutex::default(),
            vanished: Mutex::default(),
        }
    }

    /// Reads the record under `key`, lets `change` edit it (returning false to leave it
    /// alone), and writes it back only if nobody wrote it in between; on a conflict it
    /// starts over from a fresh read, so no concurrent update is ever lost.
    pub(crate) fn update(
        &self,
        key: &str,
        change: impl FnMut(&mut Record) -> bool,
    ) -> Result<Change, DriverError> {
        self.update_from(key, None, change)
    }

    /// [`Server::update`], trying first with a value already read (by a multi-get for a
    /// whole batch), so an uncontended change costs one round trip.
    pub(crate) fn update_from(
        &self,
        key: &str,
        mut read: Option<Versioned>,
        mut change: impl FnMut(&mut Record) -> bool,
    ) -> Result<Change, DriverError> {
        for _ in 0..CAS_TRIES {
            let current = match read.take() {
                Some(value) => Some(value),
                None => self.mc.get(key)?,
            };
            let Some((bytes, cas)) = current else {
                return Ok(Change::Missing);
            };
            let before = Record::parse(key, &bytes)?;
            let mut after = before.clone();
            if !change(&mut after) {
                return Ok(Change::Refused);
            }
            if self.mc.cas(key, &after.to_bytes(), 0, cas)? {
                return Ok(Change::Done {
                    before: Box::new(before),
                    after: Box::new(after),
                });
            }
        }
        Err(DriverError::store(format!(
            "the record {key} is too contended; try again"
        )))
    }

    /// [`Server::update_from`] for many records read (and parsed) together: every change
    /// goes out in one batch of compare-and-swaps, so an uncontended batch costs one round
    /// trip; a record changed (or removed) since it was read starts over on its own from a
    /// fresh read. `change` gets each item's place in `items`; one result per item, in order.
    pub(crate) fn update_many(
        &self,
        items: Vec<ReadRecord>,
        change: impl Fn(usize, &mut Record) -> bool,
    ) -> Result<Vec<Change>, DriverError> {
        let mut results: Vec<Option<Change>> = Vec::with_capacity(items.len());
        let mut keys = Vec::with_capacity(items.len());
        let mut swaps = Vec::new();
        for (i, (key, before, cas)) in items.into_iter().enumerate() {
            let mut after = before.clone();
            if change(i, &mut after) {
                swaps.push((i, after.to_bytes(), cas, before, after));
                results.push(None);
            } else {
                results.push(Some(Change::Refused));
            }
            keys.push(key);
        }
        let writes: Vec<Write<'_>> = swaps
            .iter()
            .map(|(i, bytes, cas, _, _)| Write::Swap {
                key: &keys[*i],
                value: bytes,
                cas: *cas,
            })
            .collect();
        let answers = self.mc.write_many(&writes)?;
        for ((i, _, _, before, after), answer) in swaps.into_iter().zip(answers) {
            if answer == Written::Done {
                results[i] = Some(Change::Done {
                    before: Box::new(before),
                    after: Box::new(after),
                });
            }
        }
        results
            .into_iter()
            .enumerate()
            .map(|(i, result)| match result {
                Some(done) => Ok(done),
                None => self.update_from(&keys[i], None, |r| change(i, r)),
            })
            .collect()
    }

    /// Logs a job whose record is gone from the server and remembers its id.
    pub(crate) fn report_vanished(&self, id: &str, queue: &str) {
        tracing::warn!(
            job = id,
            queue,
            "a job vanished from memcached (evicted, flushed or restarted); it is skipped and will not run"
        );
        if let Ok(id) = JobId::parse(id) {
            let mut vanished = self.vanished.lock().unwrap_or_else(|p| p.into_inner());
            if !vanished.contains(&id) {
                if vanished.len() == VANISHED_KEPT {
                    vanished.pop_front();
                }
                vanished.push_back(id);
            }
        }
    }

    pub(crate) fn vanished(&self) -> Vec<JobId> {
        self.vanished
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    pub(crate) fn known_head(&self, index: &str) -> Option<u64> {
        self.heads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(index)
            .copied()
    }

    pub(crate) fn note_head(&self, index: &str, head: u64) {
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        let known = heads.entry(index.to_string()).or_insert(head);
        *known = (*known).max(head);
    }
}
