//! Reading option values: whole numbers, queue names, job ids, ages and process counts.
//! Each parser refuses with a [`Refusal`], which [`usage`](super::usage) turns into the
//! command's one-sentence error.

use rakit_job_core::{JobId, validate_queue};
use std::fmt;
use std::time::Duration;

/// Why a value was refused: said of its option (`takes a whole number, not "x"`, printed
/// after the option's name) or a sentence of its own.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Completes "`--retries` …".
    OfOption(String),
    /// Says everything itself.
    Sentence(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::OfOption(text) | Refusal::Sentence(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for Refusal {}

/// A whole number (`--retries=3`).
pub(crate) fn whole<T: std::str::FromStr>(text: &str) -> Result<T, Refusal> {
    text.trim()
        .parse()
        .map_err(|_| Refusal::OfOption(format!("takes a whole number, not {text:?}")))
}

/// A whole number of at least 1 (`--concurrency`, `--sleep`).
pub(crate) fn at_least_one<T>(text: &str) -> Result<T, Refusal>
where
    T: std::str::FromStr + PartialOrd + From<u8>,
{
    let n: T = whole(text)?;
    if n < T::from(1) {
        return Err(Refusal::OfOption(format!(
            "must be at least 1, not {text:?}"
        )));
    }
    Ok(n)
}

/// The most jobs one page of `job:jobs` holds.
const MAX_LIMIT: usize = crate::inspect::MAX_PAGE;

/// A page size, 1 to 1,000 (`--limit`).
pub(crate) fn page_size(text: &str) -> Result<usize, Refusal> {
    match whole::<usize>(text) {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(Refusal::OfOption(format!(
            "takes a whole number from 1 to {MAX_LIMIT}, not {text:?}"
        ))),
    }
}

/// One queue name (`--queue=high` of `job:jobs`, the words of `job:pause`).
pub(crate) fn queue(text: &str) -> Result<String, Refusal> {
    let name = text.trim();
    validate_queue(name).map_err(|e| Refusal::Sentence(e.to_string()))?;
    Ok(name.to_string())
}

/// Queue names in priority order, as `--queue=high,default` gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QueueList(pub(crate) Vec<String>);

/// `high,default`: at least one valid queue name.
pub(crate) fn queue_list(text: &str) -> Result<QueueList, Refusal> {
    let names: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(queue)
        .collect::<Result<_, _>>()?;
    if names.is_empty() {
        return Err(Refusal::OfOption(
            "needs at least one queue name, e.g. `--queue=high,default`".into(),
        ));
    }
    Ok(QueueList(names))
}

/// A job id (`job:show ID`).
pub(crate) fn job_id(text: &str) -> Result<JobId, Refusal> {
    JobId::parse(text).map_err(|e| Refusal::Sentence(e.to_string()))
}

/// What `job:retry` is given: `all`, or one id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RetryTarget {
    /// Every failed job.
    All,
    /// The failed job with this id.
    One(JobId),
}

/// `all` or a job id.
pub(crate) fn retry_target(text: &str) -> Result<RetryTarget, Refusal> {
    if text.trim() == "all" {
        return Ok(RetryTarget::All);
    }
    job_id(text).map(RetryTarget::One)
}

/// An age as given (`7d`) and as a duration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Age {
    /// What was typed, for messages.
    pub(crate) text: String,
    /// How long that is.
    pub(crate) duration: Duration,
}

/// An age such as `30m`, `12h` or `7d` (`--older-than`).
pub(crate) fn age(text: &str) -> Result<Age, Refusal> {
    let refused = || Refusal::OfOption(format!("takes an age like 30m, 12h or 7d, not {text:?}"));
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(refused)?;
    let (number, unit) = trimmed.split_at(split);
    let n: u64 = number.parse().map_err(|_| refused())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(refused()),
    };
    let seconds = n.checked_mul(seconds).ok_or_else(refused)?;
    Ok(Age {
        text: trimmed.to_string(),
        duration: Duration::from_secs(seconds),
    })
}

/// Worker processes per queue, as `--numprocs=high=2,default=4` gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProcessCounts(pub(crate) Vec<(String, u32)>);

/// `high=2,default=4,low=1`: queue=count pairs, each queue once, each count above 0.
pub(crate) fn process_counts(text: &str) -> Result<ProcessCounts, Refusal> {
    let mut counts: Vec<(String, u32)> = Vec::new();
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, n) = part.split_once('=').ok_or_else(|| {
            Refusal::OfOption(format!(
                "takes queue=count pairs like `high=2,default=4`, not {part:?}"
            ))
        })?;
        let name = queue(name)?;
        let n: u32 = n.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            Refusal::Sentence(format!(
                "the process count for `{name}` must be a whole number above 0, not {n:?}"
            ))
        })?;
        if counts.iter().any(|(q, _)| *q == name) {
            return Err(Refusal::OfOption(format!(
                "names the queue `{name}` twice; keep one"
            )));
        }
        counts.push((name, n));
    }
    if counts.is_empty() {
        return Err(Refusal::OfOption(
            "needs at least one queue=count pair, e.g. `high=2`".into(),
        ));
    }
    Ok(ProcessCounts(counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_take_a_unit() {
        assert_eq!(age("30m").unwrap().duration, Duration::from_secs(1_800));
        assert_eq!(age("12h").unwrap().duration, Duration::from_secs(43_200));
        assert_eq!(age("7d").unwrap().duration, Duration::from_secs(604_800));
        assert_eq!(age("2w").unwrap().duration, Duration::from_secs(1_209_600));
        for bad in [
            "7",
            "d",
            "7 days",
            "-1d",
            "1.5h",
            "",
            "99999999999999999999d",
        ] {
            let refusal = age(bad).expect_err(bad).to_string();
            assert!(
                refusal.contains("takes an age like 30m"),
                "{bad}: {refusal}"
            );
        }
    }

    #[test]
    fn queue_lists_keep_their_order_and_refuse_bad_names() {
        assert_eq!(
            queue_list("high, default ,").unwrap(),
            QueueList(vec!["high".into(), "default".into()])
        );
        assert!(
            queue_list(",")
                .unwrap_err()
                .to_string()
                .contains("at least one")
        );
        assert!(
            queue_list("../etc")
                .unwrap_err()
                .to_string()
                .contains("../etc")
        );
    }

    #[test]
    fn numbers_and_ids_are_checked() {
        assert_eq!(whole::<u32>("3").unwrap(), 3);
        assert!(whole::<u32>("-1").is_err());
        assert!(at_least_one::<usize>("0").is_err());
        assert_eq!(page_size("1000").unwrap(), 1000);
        assert!(page_size("1001").is_err() && page_size("0").is_err());
        assert_eq!(retry_target(" all").unwrap(), RetryTarget::All);
        let id = JobId::generate();
        assert_eq!(retry_target(id.as_str()).unwrap(), RetryTarget::One(id));
        assert!(
            retry_target("nope")
                .unwrap_err()
                .to_string()
                .contains("is not a job id")
        );
    }

    #[test]
    fn process_counts_refuse_each_mistake() {
        assert_eq!(
            process_counts("high=2,low=1").unwrap(),
            ProcessCounts(vec![("high".into(), 2), ("low".into(), 1)])
        );
        for (text, expected) in [
            ("", "at least one queue=count pair"),
            ("high", "takes queue=count pairs"),
            ("high=0", "must be a whole number above 0"),
            ("high=2,high=3", "names the queue `high` twice"),
        ] {
            let refusal = process_counts(text).expect_err(text).to_string();
            assert!(refusal.contains(expected), "{text}: {refusal}");
        }
    }
}
