//! Reading stored records back: script replies and hashes into the core's job types.

use rakit_job_core::{DriverError, FailedJob, JobId, Lease, Millis, NewJob, Reserved, StoredJob};

/// How many values the claim script returns per job.
const CLAIMED_FIELDS: usize = 10;

/// The fields of a failed job's hash, in the order [`failed_job`] reads them.
pub(crate) const FAILED_FIELDS: [&str; 8] = [
    "name",
    "queue",
    "payload",
    "error",
    "attempts",
    "overlap_key",
    "created_at",
    "failed_at",
];

/// The field/value pairs a new job's hash starts with.
pub(crate) fn job_fields(job: &NewJob) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("name", job.name.clone()),
        ("queue", job.queue.clone()),
        ("payload", job.payload.clone()),
        ("attempts", "0".to_string()),
        ("created_at", job.created_at.to_string()),
    ];
    if let Some(key) = &job.overlap_key {
        fields.push(("overlap_key", key.clone()));
    }
    if let Some(key) = &job.unique_key {
        fields.push(("unique_key", key.clone()));
    }
    fields
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

fn reserved(queue: &str, f: &[Option<String>]) -> Result<Reserved, DriverError> {
    let raw_id = f[0].as_deref().unwrap_or("");
    let corrupt = |reason: &str| DriverError::Corrupt {
        id: raw_id.to_string(),
        reason: reason.to_string(),
    };
    let id = JobId::parse(raw_id).map_err(|_| corrupt("its id is not a job id"))?;
    let required = |i: usize, what: &str| {
        f[i].clone()
            .ok_or_else(|| corrupt(&format!("it has no {what}")))
    };
    let token = required(1, "lease token")?
        .parse()
        .map_err(|_| corrupt("its lease token is not a number"))?;
    let job = StoredJob {
        id: id.clone(),
        name: required(2, "name")?,
        queue: required(3, "queue")?,
        payload: required(4, "payload")?,
        attempts: required(5, "attempt count")?
            .parse()
            .map_err(|_| corrupt("its attempt count is not a number"))?,
        created_at: required(6, "creation time")?
            .parse()
            .map_err(|_| corrupt("its creation time is not a number"))?,
        overlap_key: f[7].clone(),
        unique_key: f[8].clone(),
        last_error: f[9].clone(),
    };
    Ok(Reserved {
        job,
        lease: Lease {
            id,
            queue: queue.to_string(),
            token,
        },
    })
}

/// Reads a failed job's hash (fields in [`FAILED_FIELDS`] order); `None` if it vanished.
pub(crate) fn failed_job(
    id: &JobId,
    f: &[Option<String>],
) -> Result<Option<FailedJob>, DriverError> {
    if f.iter().all(Option::is_none) {
        return Ok(None);
    }
    let corrupt = |reason: String| DriverError::Corrupt {
        id: id.to_string(),
        reason,
    };
    let text = |i: usize| {
        f[i].clone()
            .ok_or_else(|| corrupt(format!("its failed record has no {}", FAILED_FIELDS[i])))
    };
    let number = |i: usize| {
        text(i)?
            .parse::<i64>()
            .map_err(|_| corrupt(format!("its {} is not a number", FAILED_FIELDS[i])))
    };
    Ok(Some(FailedJob {
        id: id.clone(),
        name: text(0)?,
        queue: text(1)?,
        payload: text(2)?,
        error: text(3)?,
        attempts: u32::try_from(number(4)?).unwrap_or(0),
        overlap_key: f[5].clone(),
        created_at: number(6)?,
        failed_at: number(7)?,
    }))
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
        ];
        let got = claimed("default", reply).unwrap();
        assert_eq!(got.next_due_in, Some(1500));
        let r = &got.jobs[0];
        assert_eq!(
            (r.lease.token, r.job.attempts, r.job.unique_key.as_deref()),
            (42, 1, Some("u"))
        );
        assert_eq!(r.lease.id, id);
    }

    #[test]
    fn a_job_without_a_payload_is_corrupt() {
        let id = JobId::generate();
        let mut reply = vec![None, some(id.as_str()), some("1"), some("n"), some("q")];
        reply.extend([None, some("1"), some("1"), None, None, None]);
        let err = claimed("q", reply).err().unwrap();
        assert!(err.to_string().contains("no payload"), "{err}");
    }
}
