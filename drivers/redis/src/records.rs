//! Records in and out of the scripts: a new job as script arguments, and script replies
//! read back into the core's types.

use rakit_job_core::{
    DriverError, JobId, JobInfo, Lease, Millis, NewJob, Reserved, State, StoredJob,
};
use redis::ScriptInvocation;

/// How many values the claim script returns per job.
const CLAIMED_FIELDS: usize = 12;

/// The hash fields admin scripts read of a job (live or failed), in reply order after
/// the job's id, state and place.
pub(crate) const INFO_FIELDS: [&str; 14] = [
    "name",
    "queue",
    "payload",
    "attempts",
    "created_at",
    "due_at",
    "worker",
    "last_error",
    "overlap_key",
    "unique_key",
    "meta",
    "cancelled",
    "error",
    "failed_at",
];

/// How many values a shown job takes in a reply: id, state, place, then its fields.
pub(crate) const INFO_LEN: usize = 3 + INFO_FIELDS.len();

/// Appends what the `store_job` Lua function reads for `job` (see lib_store.lua): id,
/// available_at (0 when due at dispatch), unique mode, unique key, window, then the
/// hash's field/value pairs.
pub(crate) fn job_args(call: &mut ScriptInvocation<'_>, job: &NewJob) {
    let (mode, window) = match (&job.unique_key, job.unique_for) {
        (None, _) => ("none", 0),
        (Some(_), None) => ("key", 0),
        // PX refuses 0: a window always lasts at least a millisecond.
        (Some(_), Some(window)) => ("window", window.max(1)),
    };
    let mut fields = vec![
        ("name", job.name.as_str()),
        ("queue", job.queue.as_str()),
        ("payload", job.payload.as_str()),
        ("attempts", "0"),
    ];
    let created_at = job.created_at.to_string();
    let due_at = job.available_at.to_string();
    fields.push(("created_at", &created_at));
    // A job due when it was dispatched shows its creation time as its due time.
    if job.available_at != job.created_at {
        fields.push(("due_at", &due_at));
    }
    if let Some(key) = &job.overlap_key {
        fields.push(("overlap_key", key));
    }
    if let (Some(key), "key") = (&job.unique_key, mode) {
        fields.push(("unique_key", key));
    }
    if let Some(meta) = &job.meta {
        fields.push(("meta", meta));
    }
    // 0 tells the script the job is due now, so a push of such jobs skips reading the clock.
    let at = if job.available_at == job.created_at {
        0
    } else {
        job.available_at
    };
    call.arg(job.id.as_str())
        .arg(at)
        .arg(mode)
        .arg(job.unique_key.as_deref().unwrap_or(""))
        .arg(window)
        .arg(fields.len() * 2);
    for (field, value) in fields {
        call.arg(field).arg(value);
    }
}

/// What one claim script call returned: the jobs, and how long until the queue's next
/// scheduled job or lease deadline, if it has one.
pub(crate) struct Claimed {
    pub(crate) jobs: Vec<Reserved>,
    pub(crate) next_due_in: Option<Millis>,
}

/// Reads the claim script's reply for `queue`.
pub(crate) fn claimed(queue: &str, reply: Vec<Option<String>>) -> Result<Claimed, DriverError> {
    let mut values = reply.into_iter();
    let next_due_in = values.next().flatten().and_then(|ms| ms.parse().ok());
    let values: Vec<Option<String>> = values.collect();
    if !values.len().is_multiple_of(CLAIMED_FIELDS) {
        return Err(DriverError::store(format!(
            "the claim script returned {} values, not a multiple of {CLAIMED_FIELDS}",
            values.len()
        )));
    }
    let jobs = values
        .chunks(CLAIMED_FIELDS)
        .map(|f| reserved(queue, f))
        .collect::<Result<_, _>>()?;
    Ok(Claimed { jobs, next_due_in })
}

/// Reads a stored value, naming the job and the field when it is missing or malformed.
struct Fields<'a> {
    id: &'a str,
    values: &'a [Option<String>],
}

impl Fields<'_> {
    fn corrupt(&self, reason: String) -> DriverError {
        DriverError::Corrupt {
            id: self.id.to_string(),
            reason,
        }
    }

    fn text(&self, i: usize, what: &str) -> Result<String, DriverError> {
        self.values[i]
            .clone()
            .ok_or_else(|| self.corrupt(format!("it has no {what}")))
    }

    fn number<T: std::str::FromStr>(&self, i: usize, what: &str) -> Result<T, DriverError> {
        self.text(i, what)?
            .parse()
            .map_err(|_| self.corrupt(format!("its {what} is not a number")))
    }

    fn optional(&self, i: usize) -> Option<String> {
        self.values[i].clone()
    }

    fn job_id(&self) -> Result<JobId, DriverError> {
        JobId::parse(self.id).map_err(|_| self.corrupt("its id is not a job id".into()))
    }
}

fn reserved(queue: &str, values: &[Option<String>]) -> Result<Reserved, DriverError> {
    let f = Fields {
        id: values[0].as_deref().unwrap_or(""),
        values,
    };
    let id = f.job_id()?;
    let job = StoredJob {
        id: id.clone(),
        name: f.text(2, "name")?,
        queue: f.text(3, "queue")?,
        payload: f.text(4, "payload")?,
        attempts: f.number(5, "attempt count")?,
        created_at: f.number(6, "creation time")?,
        overlap_key: f.optional(7),
        unique_key: f.optional(8),
        last_error: f.optional(9),
        meta: f.optional(10),
        cancelled: f.optional(11).as_deref() == Some("1"),
    };
    Ok(Reserved {
        job,
        lease: Lease {
            id,
            queue: queue.to_string(),
            token: f.number(1, "lease token")?,
        },
    })
}

/// A job as the show and list scripts return it, with its place (a list index or a score).
pub(crate) struct Shown {
    pub(crate) info: JobInfo,
    pub(crate) place: i64,
}

/// Reads one shown job: `values` is id, state, place, then [`INFO_FIELDS`].
pub(crate) fn shown(values: &[Option<String>]) -> Result<Shown, DriverError> {
    let id = values[0].as_deref().unwrap_or("");
    let f = Fields {
        id,
        values: &values[3..],
    };
    let state = State::parse(values[1].as_deref().unwrap_or(""))?;
    let place: i64 = Fields { id, values }.number(2, "place in its queue")?;
    let field = |name: &str| INFO_FIELDS.iter().position(|f| *f == name).unwrap_or(0);
    let get = |name: &str| f.optional(field(name));
    let running = state == State::Running;
    let failed = state.is_failed();
    let info = JobInfo {
        id: f.job_id()?,
        name: f.text(field("name"), "name")?,
        queue: f.text(field("queue"), "queue")?,
        state,
        payload: f.text(field("payload"), "payload")?,
        attempts: f.number(field("attempts"), "attempt count")?,
        created_at: f.number(field("created_at"), "creation time")?,
        due_at: match state {
            State::Scheduled => Some(place),
            State::Pending => Some(match get("due_at") {
                Some(_) => f.number(field("due_at"), "due time")?,
                None => f.number(field("created_at"), "creation time")?,
            }),
            _ => None,
        },
        lease_until: running.then_some(place),
        worker: get("worker").filter(|_| running),
        last_error: if failed {
            get("error")
        } else {
            get("last_error")
        },
        failed_at: if failed {
            Some(f.number(field("failed_at"), "failure time")?)
        } else {
            None
        },
        cancel_requested: running && get("cancelled").as_deref() == Some("1"),
        overlap_key: get("overlap_key"),
        unique_key: get("unique_key").filter(|_| !failed),
        meta: get("meta"),
    };
    Ok(Shown { info, place })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn a_claim_reply_becomes_leased_jobs() {
        let id = JobId::generate();
        let reply = vec![
            some("1500"),
            some(id.as_str()),
            some("42"),
            some("mail"),
            some("default"),
            some("{}"),
            some("1"),
            some("1700000000000"),
            None,
            some("u"),
            None,
            some("{\"chain\":[]}"),
            some("1"),
        ];
        let got = claimed("default", reply).unwrap();
        assert_eq!(got.next_due_in, Some(1500));
        let r = &got.jobs[0];
        assert_eq!(
            (r.lease.token, r.job.attempts, r.job.unique_key.as_deref()),
            (42, 1, Some("u"))
        );
        assert_eq!(r.job.meta.as_deref(), Some("{\"chain\":[]}"));
        assert!(r.job.cancelled);
        assert_eq!(r.lease.id, id);
    }

    #[test]
    fn a_job_without_a_payload_is_corrupt() {
        let id = JobId::generate();
        let mut reply = vec![None, some(id.as_str()), some("1"), some("n"), some("q")];
        reply.extend([None, some("1"), some("1"), None, None, None, None, None]);
        let err = claimed("q", reply).err().unwrap();
        assert!(err.to_string().contains("no payload"), "{err}");
    }

    #[test]
    fn a_running_job_shows_its_lease_and_worker_and_a_failed_one_its_error() {
        let id = JobId::generate();
        let mut values = vec![some(id.as_str()), some("running"), some("1700000060000")];
        let fields = [
            some("mail"),
            some("default"),
            some("{}"),
            some("1"),
            some("1700000000000"),
            some("1700000000000"),
            some("w1"),
            None,
            None,
            some("u"),
            None,
            some("1"),
            None,
            None,
        ];
        values.extend(fields.clone());
        let running = shown(&values).unwrap().info;
        assert_eq!(running.lease_until, Some(1_700_000_060_000));
        assert_eq!(running.worker.as_deref(), Some("w1"));
        assert!(running.cancel_requested);
        assert_eq!(running.due_at, None);

        values[1] = some("failed");
        values[3 + 12] = some("it broke");
        values[3 + 13] = some("1700000001000");
        let failed = shown(&values).unwrap().info;
        assert_eq!(failed.last_error.as_deref(), Some("it broke"));
        assert_eq!(failed.failed_at, Some(1_700_000_001_000));
        assert_eq!((failed.worker, failed.unique_key), (None, None));
    }
}
