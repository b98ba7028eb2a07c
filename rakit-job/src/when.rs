//! Turning the many ways to say "when" into a stored time.

use crate::error::Error;
use chrono::{DateTime, Local, NaiveDateTime, TimeZone};
use rakit_job_core::Millis;
use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time a job may run at, from any of the forms dispatch accepts.
///
/// Strings are read when the dispatch is awaited, so a bad one is an error there and
/// nothing is stored.
///
/// ```
/// use rakit_job::When;
/// assert!(When::from("2024-12-31 10:00:00").millis().is_ok());
/// assert!(When::from("2024-12-31T10:00:00Z").millis().is_ok());
/// assert!(When::from("tomorrow-ish").millis().is_err());
/// assert!(When::from("2024-02-30 10:00:00").millis().is_err());
/// ```
#[derive(Clone, Debug)]
pub struct When(WhenInner);

#[derive(Clone, Debug)]
enum WhenInner {
    At(Millis),
    Text(String),
}

impl When {
    /// The time in milliseconds since the epoch, or a sentence saying why it cannot be read.
    pub fn millis(&self) -> Result<Millis, Error> {
        match &self.0 {
            WhenInner::At(ms) => Ok(*ms),
            WhenInner::Text(text) => parse(text),
        }
    }
}

fn parse(text: &str) -> Result<Millis, Error> {
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_millis());
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t, format) {
            return local(naive, text);
        }
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return local(date.and_hms_opt(0, 0, 0).expect("midnight exists"), text);
    }
    Err(Error::InvalidDate(format!(
        "cannot read the date {:?}; write it as \"YYYY-MM-DD HH:MM:SS\" (local time) or RFC 3339",
        text.chars().take(60).collect::<String>()
    )))
}

fn local(naive: NaiveDateTime, text: &str) -> Result<Millis, Error> {
    match Local.from_local_datetime(&naive) {
        chrono::LocalResult::Single(dt) => Ok(dt.timestamp_millis()),
        chrono::LocalResult::Ambiguous(first, _) => Ok(first.timestamp_millis()),
        chrono::LocalResult::None => Err(Error::InvalidDate(format!(
            "the local time {text:?} does not exist (a daylight-saving gap); pick another time"
        ))),
    }
}

impl From<&str> for When {
    fn from(text: &str) -> Self {
        When(WhenInner::Text(text.to_string()))
    }
}

impl From<String> for When {
    fn from(text: String) -> Self {
        When(WhenInner::Text(text))
    }
}

impl From<&String> for When {
    fn from(text: &String) -> Self {
        When(WhenInner::Text(text.clone()))
    }
}

impl<Tz: TimeZone> From<DateTime<Tz>> for When {
    fn from(at: DateTime<Tz>) -> Self {
        When(WhenInner::At(at.timestamp_millis()))
    }
}

impl From<NaiveDateTime> for When {
    /// A naive date-time is read as local time, like the strings.
    fn from(at: NaiveDateTime) -> Self {
        let text = at.format("%Y-%m-%d %H:%M:%S").to_string();
        match local(at, &text) {
            Ok(ms) => When(WhenInner::At(ms)),
            Err(_) => When(WhenInner::Text(text)),
        }
    }
}

impl From<SystemTime> for When {
    fn from(at: SystemTime) -> Self {
        let ms = match at.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_millis() as Millis,
            Err(e) => -(e.duration().as_millis() as Millis),
        };
        When(WhenInner::At(ms))
    }
}

/// A time in ms since the Unix epoch as RFC 3339 UTC text with milliseconds, as the JSON
/// of the CLI and the dashboard writes times.
///
/// ```
/// assert_eq!(rakit_job::inspect::utc(0).unwrap(), "1970-01-01T00:00:00.000Z");
/// ```
pub fn utc(ms: Millis) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guide_format_is_local_time() {
        let ms = When::from("2024-12-31 10:00:00").millis().unwrap();
        let expected = Local
            .with_ymd_and_hms(2024, 12, 31, 10, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert_eq!(ms, expected);
    }

    #[test]
    fn impossible_dates_are_refused_with_a_sentence() {
        for bad in [
            "",
            "2024-13-01 00:00:00",
            "2024-12-31 25:00:00",
            "next tuesday",
        ] {
            let err = When::from(bad).millis().unwrap_err().to_string();
            assert!(err.contains("cannot read the date"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn system_time_and_chrono_agree() {
        let now = SystemTime::now();
        let chrono_now: DateTime<chrono::Utc> = now.into();
        assert_eq!(
            When::from(now).millis().unwrap(),
            When::from(chrono_now).millis().unwrap()
        );
    }
}
