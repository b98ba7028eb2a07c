//! Listings: the jobs of one state, page by page, without `KEYS` or a full scan.
//!
//! Each queue is walked where the state lives (pending: the ready list by position;
//! scheduled, running, failed and cancelled: their sorted set by score), by the list
//! script, a bounded step at a time; without a queue filter the registered queues are
//! walked in name order. The cursor names the queue, the last job looked at and its place
//! (list index or score), so a walk resumes right after that job even when jobs ahead of
//! it were taken or finished meanwhile.

use crate::RedisDriver;
use crate::records::{self, INFO_LEN, Shown};
use crate::scripts::SCRIPTS;
use rakit_job_core::{DriverError, JobId, JobPage, JobQuery, validate_queue};

/// The most list script calls one page makes; a page that needs more (a name filter over
/// a long backlog) ends early, with a cursor to go on from.
const MAX_STEPS: usize = 20;

/// Where a walk stopped: after job `id`, at `place` in `queue`.
#[derive(Clone, Debug, PartialEq)]
struct Cursor {
    queue: String,
    id: String,
    place: i64,
}

impl Cursor {
    /// The cursor as handed out: the listing it belongs to (its state, its queue filter
    /// or `*`, a fingerprint of its name filter), then `<queue>/<id>/<place>`.
    fn text(&self, query: &JobQuery) -> String {
        format!(
            "{}/{}/{}/{}",
            listing_of(query),
            self.queue,
            self.id,
            self.place
        )
    }

    /// Reads a cursor, refusing one this store did not give for a listing like `query`.
    fn parse(text: &str, query: &JobQuery) -> Result<Cursor, DriverError> {
        let refuse = || {
            DriverError::Invalid(format!(
                "{:?} is not a cursor this store gave for this listing of {} jobs; list again from the first page",
                text.chars().take(80).collect::<String>(),
                query.state.as_str()
            ))
        };
        let listing = listing_of(query);
        let rest = text
            .strip_prefix(&listing)
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(refuse)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let [queue, id, place] = parts.as_slice() else {
            return Err(refuse());
        };
        let right_queue = query.queue.as_deref().is_none_or(|q| q == *queue);
        if validate_queue(queue).is_err() || !right_queue {
            return Err(refuse());
        }
        let id = JobId::parse(id).map_err(|_| refuse())?;
        let place = place.parse().map_err(|_| refuse())?;
        Ok(Cursor {
            queue: queue.to_string(),
            id: id.to_string(),
            place,
        })
    }
}

/// What names a listing in its cursors: `<state>/<queue filter or *>/<name fingerprint>`.
/// The name is fingerprinted (64-bit FNV-1a) so any text fits between the slashes.
fn listing_of(query: &JobQuery) -> String {
    let name = query.name.as_deref().map_or("*".to_string(), |name| {
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("{hash:016x}")
    });
    let queue = query.queue.as_deref().unwrap_or("*");
    format!("{}/{queue}/{name}", query.state.as_str())
}

/// What one list script call found.
struct Step {
    /// The queue was walked to its end.
    at_end: bool,
    /// The last entry looked at, to resume after.
    resume: Option<Cursor>,
    jobs: Vec<Shown>,
}

impl RedisDriver {
    /// One page of `query`.
    pub(crate) async fn page(&self, query: &JobQuery) -> Result<JobPage, DriverError> {
        let limit = query.limit.max(1);
        let after = query
            .after
            .as_deref()
            .map(|text| Cursor::parse(text, query))
            .transpose()?;
        let queues = match &query.queue {
            Some(queue) => {
                validate_queue(queue)?;
                vec![queue.clone()]
            }
            None => self.known_queues().await?,
        };
        let mut found: Vec<(String, Shown)> = Vec::new();
        let mut steps = 0;
        for queue in queues {
            if after.as_ref().is_some_and(|c| queue < c.queue) {
                continue;
            }
            let mut from = after.clone().filter(|c| c.queue == queue);
            loop {
                steps += 1;
                let want = limit + 1 - found.len();
                let step = self.list_step(&queue, query, from.as_ref(), want).await?;
                found.extend(step.jobs.into_iter().map(|s| (queue.clone(), s)));
                if found.len() > limit {
                    found.truncate(limit);
                    let (queue, last) = &found[limit - 1];
                    let next = Cursor {
                        queue: queue.clone(),
                        id: last.info.id.to_string(),
                        place: last.place,
                    };
                    return Ok(page_of(found, Some(next.text(query))));
                }
                if step.at_end {
                    break;
                }
                from = step.resume;
                if steps >= MAX_STEPS {
                    // Not at the end, so the step looked at something to resume after.
                    return Ok(page_of(found, from.map(|c| c.text(query))));
                }
            }
        }
        Ok(page_of(found, None))
    }

    /// Runs the list script once on `queue`, resuming after `from`.
    async fn list_step(
        &self,
        queue: &str,
        query: &JobQuery,
        from: Option<&Cursor>,
        want: usize,
    ) -> Result<Step, DriverError> {
        let mut call = self.on_queue(&SCRIPTS.list, &self.keys.queue(queue)?);
        call.arg(query.state.as_str())
            .arg(from.map_or("", |c| c.id.as_str()))
            .arg(from.map_or(0, |c| c.place))
            .arg(want)
            .arg(query.name.as_deref().unwrap_or(""));
        let reply: Vec<Option<String>> = self.run(&call).await?;
        let malformed = || {
            DriverError::store(format!(
                "{}: the list script answered {} values",
                self.store,
                reply.len()
            ))
        };
        let (head, rows) = reply.split_at_checked(3).ok_or_else(malformed)?;
        if !rows.len().is_multiple_of(INFO_LEN) {
            return Err(malformed());
        }
        let resume = match (&head[1], &head[2]) {
            (Some(id), Some(place)) if !id.is_empty() => Some(Cursor {
                queue: queue.to_string(),
                id: id.clone(),
                place: place.parse().map_err(|_| malformed())?,
            }),
            _ => None,
        };
        Ok(Step {
            at_end: head[0].as_deref() == Some("1"),
            resume,
            jobs: rows
                .chunks(INFO_LEN)
                .map(records::shown)
                .collect::<Result<_, _>>()?,
        })
    }
}

fn page_of(found: Vec<(String, Shown)>, next: Option<String>) -> JobPage {
    JobPage {
        jobs: found.into_iter().map(|(_, shown)| shown.info).collect(),
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rakit_job_core::State;

    #[test]
    fn a_cursor_reads_back_as_written() {
        let query = JobQuery::new(State::Scheduled, 10);
        let cursor = Cursor {
            queue: "high".into(),
            id: JobId::generate().to_string(),
            place: 1_700_000_000_000,
        };
        assert_eq!(Cursor::parse(&cursor.text(&query), &query).unwrap(), cursor);
    }

    #[test]
    fn a_cursor_of_another_listing_or_tampered_is_refused() {
        let query = JobQuery::new(State::Pending, 10)
            .on_queue("high")
            .named("mail");
        let cursor = Cursor {
            queue: "high".into(),
            id: JobId::generate().to_string(),
            place: 3,
        };
        let good = cursor.text(&query);
        assert!(Cursor::parse(&good, &query).is_ok());
        let others = [
            JobQuery::new(State::Failed, 10)
                .on_queue("high")
                .named("mail"),
            JobQuery::new(State::Pending, 10)
                .on_queue("low")
                .named("mail"),
            JobQuery::new(State::Pending, 10).named("mail"),
            JobQuery::new(State::Pending, 10)
                .on_queue("high")
                .named("sms"),
            JobQuery::new(State::Pending, 10).on_queue("high"),
        ];
        for other in others {
            assert!(
                Cursor::parse(&good, &other).is_err(),
                "{other:?} took {good}"
            );
        }
        let id = &cursor.id;
        let listing = listing_of(&query);
        let tampered = [
            "not a cursor; DROP TABLE jobs".to_string(),
            format!("{listing}/a:b/{id}/3"),
            format!("{listing}/high/not-an-id/3"),
            format!("{listing}/high/{id}/three"),
            format!("{listing}/high/{id}/3/4"),
            format!("{listing}/low/{id}/3"),
        ];
        for text in tampered {
            let err = Cursor::parse(&text, &query).unwrap_err();
            assert!(matches!(err, DriverError::Invalid(_)), "{text}: {err}");
        }
    }
}
