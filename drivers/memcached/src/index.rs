//! An index of job ids that no single value has to hold: numbered slots, one key each.
//!
//! A `tail` counter hands out slot numbers (`incr` is atomic on the server); a slot is
//! written once with `add` and holds `<id> <published_at>`. A `head` counter, moved
//! forward by compare-and-swap, marks where the live part starts: everything before it
//! is finished. A reader walks the slots from the head a page at a time with multi-gets,
//! so every value stays tiny however many jobs the index has seen.
//!
//! A slot is only an entry's claim; the job record says which slot is its current one,
//! so an entry whose record points elsewhere (a job moved, or a push that lost a race) is
//! a leftover and is removed once it is older than [`GRACE_MS`]. A missing slot before
//! any live entry is *closed* with `add` before the head passes it; a push that comes
//! late to a closed slot sees its `add` fail and takes another slot, so no entry is ever
//! written behind the head.

use crate::pipeline::{Write, Written};
use crate::record::{GRACE_MS, Record};
use crate::server::Server;
use rakit_job_core::{DriverError, Millis, now_ms};

/// Slots read per round trip.
pub(crate) const PAGE: u64 = 64;
/// The value of a closed slot.
const CLOSED: &[u8] = b"-";
/// Closed slots expire after a day; nobody writes a slot that long after taking its number.
const CLOSED_TTL: u32 = 24 * 3600;

/// One index: a queue's, or the failed jobs'.
pub(crate) struct Index {
    base: String,
}

/// The live range of an index, as read.
struct Bounds {
    head: u64,
    head_cas: Option<u64>,
    last: u64,
}

/// A live entry: its slot and the record it names.
pub(crate) struct Live {
    pub(crate) slot: u64,
    pub(crate) record: Record,
    pub(crate) cas: u64,
}

/// Whether a walk goes on to the next page.
pub(crate) enum Flow {
    Continue,
    Stop,
}

/// What a walk saw.
#[derive(Default)]
pub(crate) struct Walked {
    /// Slots between the head (after the walk) and the tail.
    pub(crate) window: u64,
    /// The live entry that kept the head from moving further.
    pub(crate) blocker: Option<(u64, Record)>,
}

enum Slot {
    Missing,
    Closed,
    Entry { id: String, published_at: Millis },
}

impl Index {
    /// The index of `queue`.
    pub(crate) fn queue(server: &Server, queue: &str) -> Self {
        Index {
            base: server.keys.queue_index(queue),
        }
    }

    /// The index of the failed store.
    pub(crate) fn failed(server: &Server) -> Self {
        Index {
            base: server.keys.failed_index(),
        }
    }

    fn tail(&self) -> String {
        format!("{}:tail", self.base)
    }

    fn head(&self) -> String {
        format!("{}:head", self.base)
    }

    /// The key of slot `n`.
    pub(crate) fn slot(&self, n: u64) -> String {
        format!("{}:{n}", self.base)
    }

    /// Takes a fresh slot number.
    pub(crate) fn next(&self, server: &Server) -> Result<u64, DriverError> {
        Ok(self.next_many(server, 1)?.start)
    }

    /// Takes `count` fresh slot numbers at once (at least one).
    pub(crate) fn next_many(
        &self,
        server: &Server,
        count: u64,
    ) -> Result<std::ops::Range<u64>, DriverError> {
        let count = count.max(1);
        let mut last = server.mc.incr(&self.tail(), count)?;
        // A counter memcached did not hold is created at 0 and answers 0 without adding:
        // then only slot 0 was taken, so take the batch again.
        while last + 1 < count {
            last = server.mc.incr(&self.tail(), count)?;
        }
        let head = match server.known_head(&self.base) {
            Some(head) => head,
            None => {
                let head = self.read_head(server)?;
                server.note_head(&self.base, head);
                head
            }
        };
        let first = last + 1 - count;
        if first >= head {
            return Ok(first..last + 1);
        }
        // The tail counter was evicted and started again from zero: move it past the head.
        tracing::warn!(
            index = self.base,
            "an index counter was lost in memcached; moving it past the head"
        );
        let last = server.mc.incr(&self.tail(), head - first)?;
        Ok(last + 1 - count..last + 1)
    }

    fn read_head(&self, server: &Server) -> Result<u64, DriverError> {
        Ok(server
            .mc
            .get(&self.head())?
            .and_then(|(v, _)| number(&v))
            .unwrap_or(0))
    }

    /// Writes `id` into slot `n`; false when the slot was closed meanwhile.
    pub(crate) fn publish(&self, server: &Server, n: u64, id: &str) -> Result<bool, DriverError> {
        server.mc.add(&self.slot(n), entry(id).as_bytes(), 0)
    }

    /// Takes a fresh slot and writes `id` into it.
    pub(crate) fn append(&self, server: &Server, id: &str) -> Result<u64, DriverError> {
        loop {
            let n = self.next(server)?;
            if self.publish(server, n, id)? {
                return Ok(n);
            }
        }
    }

    /// True when slot `n` holds the entry of job `id`.
    pub(crate) fn holds(&self, server: &Server, n: u64, id: &str) -> Result<bool, DriverError> {
        Ok(server
            .mc
            .get(&self.slot(n))?
            .is_some_and(|(v, _)| match parse_entry(&v) {
                Slot::Entry { id: held, .. } => held == id,
                _ => false,
            }))
    }

    /// Removes a slot whose entry is finished or a leftover.
    pub(crate) fn clear(&self, server: &Server, n: u64) -> Result<(), DriverError> {
        server.mc.delete(&self.slot(n))?;
        Ok(())
    }

    fn bounds(&self, server: &Server) -> Result<Option<Bounds>, DriverError> {
        let keys = [self.head(), self.tail()];
        let got = server.mc.get_many(&keys)?;
        let Some(last) = got.get(&keys[1]).and_then(|(v, _)| number(v)) else {
            return Ok(None);
        };
        let (head, head_cas) = match got.get(&keys[0]) {
            Some((v, cas)) => (number(v).unwrap_or(0), Some(*cas)),
            None => (0, None),
        };
        // The head only moves forward, so one this process saw before is a safe floor
        // when memcached has dropped the head key.
        let head = head.max(server.known_head(&self.base).unwrap_or(0));
        server.note_head(&self.base, head);
        Ok(Some(Bounds {
            head,
            head_cas,
            last,
        }))
    }

    fn advance(&self, server: &Server, bounds: &Bounds, to: u64) -> Result<(), DriverError> {
        if to <= bounds.head {
            return Ok(());
        }
        let value = to.to_string();
        // Losing this race is fine: whoever won moved the head at least as far.
        let moved = match bounds.head_cas {
            Some(cas) => server.mc.cas(&self.head(), value.as_bytes(), 0, cas)?,
            None => server.mc.add(&self.head(), value.as_bytes(), 0)?,
        };
        if moved {
            server.note_head(&self.base, to);
        }
        Ok(())
    }

    fn read_page(
        &self,
        server: &Server,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, Slot)>, DriverError> {
        let keys: Vec<String> = (from..=to).map(|n| self.slot(n)).collect();
        let got = server.mc.get_many(&keys)?;
        Ok((from..=to)
            .zip(keys)
            .map(|(n, key)| {
                let slot = match got.get(&key) {
                    None => Slot::Missing,
                    Some((v, _)) if v.as_slice() == CLOSED => Slot::Closed,
                    Some((v, _)) => parse_entry(v),
                };
                (n, slot)
            })
            .collect())
    }

    /// Walks the live part of the index a page at a time, handing each page's live
    /// entries to `visit`, and moves the head past every finished entry at its start.
    ///
    /// `is_live(record, slot)` says whether a record counts as named by that slot.
    /// An entry whose record is gone from the server is reported as vanished and dropped.
    pub(crate) fn walk(
        &self,
        server: &Server,
        queue_of_entries: &str,
        is_live: impl Fn(&Record, u64) -> bool,
        mut visit: impl FnMut(Vec<Live>) -> Result<Flow, DriverError>,
    ) -> Result<Walked, DriverError> {
        let Some(bounds) = self.bounds(server)? else {
            return Ok(Walked::default());
        };
        let now = now_ms();
        let mut open = true;
        let mut head = bounds.head;
        let mut blocker = None;
        let mut from = bounds.head;
        while from <= bounds.last {
            let to = bounds.last.min(from + PAGE - 1);
            let page = self.read_page(server, from, to)?;
            let record_keys: Vec<String> = page
                .iter()
                .filter_map(|(_, s)| match s {
                    Slot::Entry { id, .. } => Some(server.keys.job(id)),
                    _ => None,
                })
                .collect();
            let records = server.mc.get_many(&record_keys)?;
            let mut live = Vec::new();
            let mut to_close = Vec::new();
            for (n, slot) in page {
                let finished = match slot {
                    Slot::Closed => true,
                    // Not written yet, or finished: close it so a late writer moves on
                    // (all of a page's closes go together, below).
                    Slot::Missing => {
                        if open {
                            to_close.push(n);
                        }
                        open
                    }
                    Slot::Entry { id, published_at } => {
                        let key = server.keys.job(&id);
                        let young = now.saturating_sub(published_at) < GRACE_MS;
                        match records.get(&key) {
                            None => self.vanished(server, n, &id, queue_of_entries)?,
                            Some((bytes, cas)) => match Record::parse(&key, bytes) {
                                Ok(record) if record.id == id && is_live(&record, n) => {
                                    if open {
                                        blocker = Some((n, record.clone()));
                                    }
                                    open = false;
                                    live.push(Live {
                                        slot: n,
                                        record,
                                        cas: *cas,
                                    });
                                    false
                                }
                                // A move or a failed race in progress: leave it for now.
                                Ok(_) if young => false,
                                Ok(_) => {
                                    self.clear(server, n)?;
                                    true
                                }
                                Err(e) => {
                                    tracing::warn!("{e}; the job is skipped");
                                    !young
                                }
                            },
                        }
                    }
                };
                if !finished {
                    open = false;
                }
                if open {
                    head = n + 1;
                }
            }
            // A slot written since it was read cannot be closed: the head stops there.
            if let Some(written) = self.close_all(server, &to_close)? {
                head = head.min(written);
                open = false;
            }
            let flow = visit(live)?;
            from = to + 1;
            if matches!(flow, Flow::Stop) {
                break;
            }
        }
        self.advance(server, &bounds, head)?;
        Ok(Walked {
            window: (bounds.last + 1).saturating_sub(head),
            blocker,
        })
    }

    /// Closes the slots `numbers` in one round trip; the first that could not be closed,
    /// because an entry was written into it meanwhile. Closing a slot past that one is
    /// harmless: a late writer of it takes another.
    fn close_all(&self, server: &Server, numbers: &[u64]) -> Result<Option<u64>, DriverError> {
        let keys: Vec<String> = numbers.iter().map(|n| self.slot(*n)).collect();
        let adds: Vec<Write<'_>> = keys
            .iter()
            .map(|key| Write::Add {
                key,
                value: CLOSED,
                ttl: CLOSED_TTL,
            })
            .collect();
        let answers = server.mc.write_many(&adds)?;
        Ok(numbers
            .iter()
            .zip(answers)
            .find(|(_, answer)| *answer != Written::Done)
            .map(|(n, _)| *n))
    }

    /// An entry whose record is missing: finished in the meantime, or evicted. Every
    /// step of the driver removes an entry before its record, so an entry still there
    /// after a second look names a record memcached dropped.
    fn vanished(
        &self,
        server: &Server,
        n: u64,
        id: &str,
        queue: &str,
    ) -> Result<bool, DriverError> {
        if self.holds(server, n, id)? {
            server.report_vanished(id, queue);
            self.clear(server, n)?;
        }
        Ok(true)
    }
}

/// What a slot holds for job `id`: its id and when the entry was written.
pub(crate) fn entry(id: &str) -> String {
    format!("{id} {}", now_ms())
}

fn parse_entry(v: &[u8]) -> Slot {
    let text = String::from_utf8_lossy(v);
    let mut parts = text.split(' ');
    let id = parts.next().unwrap_or_default().to_string();
    let published_at = parts.next().and_then(|t| t.parse().ok()).unwrap_or(0);
    Slot::Entry { id, published_at }
}

fn number(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}
