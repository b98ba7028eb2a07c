//! Names that end up inside a store: job slugs, queue names, table names, urls.
//!
//! Everything a user can type that becomes part of a key, a file name or an SQL
//! identifier is checked here, once, so no driver has to trust its input.

use crate::DriverError;

/// The largest payload, in bytes of JSON, that dispatch accepts.
///
/// It keeps one job well under memcached's 1 MiB item limit and keeps rows small.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Turns a job name into its slug, as Rakit does: `"Send Email"`, `"send_email"` and
/// `"send-email"` all become `"send-email"`. `#[job]` names jobs with the very same code.
///
/// ```
/// assert_eq!(rakit_job_core::slug("Send Email"), "send-email");
/// assert_eq!(rakit_job_core::slug("send_email"), "send-email");
/// assert_eq!(rakit_job_core::slug("  Report: Monthly!! "), "report-monthly");
/// ```
pub fn slug(name: &str) -> String {
    crate::slug::slug(name)
}

/// Checks a queue name: 1 to 64 ASCII letters, digits, `-` or `_`.
///
/// Queue names become Redis keys, folder names and SQL values, so nothing that could
/// escape a keyspace or a folder (`..`, `/`, `:`, `*`) is allowed.
///
/// ```
/// assert!(rakit_job_core::validate_queue("high").is_ok());
/// assert!(rakit_job_core::validate_queue("../etc").is_err());
/// ```
pub fn validate_queue(queue: &str) -> Result<(), DriverError> {
    let ok = !queue.is_empty()
        && queue.len() <= 64
        && queue
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(DriverError::Invalid(format!(
            "the queue name {:?} is invalid; use 1 to 64 letters, digits, `-` or `_`",
            shorten(queue)
        )))
    }
}

/// Checks an SQL table name or key prefix: 1 to 64 ASCII letters, digits or `_`,
/// not starting with a digit (`.` is allowed in a key prefix only, via `allow_dot`).
///
/// ```
/// assert!(rakit_job_core::validate_identifier("rakit_jobs", false).is_ok());
/// assert!(rakit_job_core::validate_identifier("jobs; DROP TABLE x", false).is_err());
/// assert!(rakit_job_core::validate_identifier("rakit.job", true).is_ok());
/// ```
pub fn validate_identifier(name: &str, allow_dot: bool) -> Result<(), DriverError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.as_bytes()[0].is_ascii_digit()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || (allow_dot && b == b'.'));
    if ok {
        Ok(())
    } else {
        let what = if allow_dot {
            "key prefix"
        } else {
            "table name"
        };
        let allowed = if allow_dot {
            "letters, digits, `_` or `.`"
        } else {
            "letters, digits or `_`"
        };
        Err(DriverError::Invalid(format!(
            "the {what} {:?} is invalid; use 1 to 64 {allowed}, not starting with a digit",
            shorten(name)
        )))
    }
}

/// Hides the password in a connection url so it can be printed.
///
/// ```
/// assert_eq!(
///     rakit_job_core::redact_url("postgres://app:s3cret@db:5432/jobs"),
///     "postgres://app:***@db:5432/jobs"
/// );
/// assert_eq!(rakit_job_core::redact_url("redis://:pw@127.0.0.1/"), "redis://:***@127.0.0.1/");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    // The userinfo ends at the last `@`, not at the first `/`: a password written raw may
    // hold `/`, `?`, `#` or `@`, and hiding too much beats showing a secret.
    let Some(at) = rest.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &rest[..at];
    let hidden = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        // No password: a lone user is hidden, an `@` in a path is left alone.
        None if !userinfo.contains('/') => "***".to_string(),
        None => return url.to_string(),
    };
    format!("{}{}{}", &url[..scheme_end + 3], hidden, &rest[at..])
}

fn shorten(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_collapses_separators_and_drops_punctuation() {
        assert_eq!(slug("Send__Email"), "send-email");
        assert_eq!(slug("-x-"), "x");
        assert_eq!(slug("!!!"), "");
    }

    #[test]
    fn queue_names_that_could_escape_are_refused() {
        for bad in ["", "..", "a/b", "a:b", "a*", "a b", &"x".repeat(65)] {
            assert!(validate_queue(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn urls_without_password_are_unchanged() {
        assert_eq!(
            redact_url("sqlite://storage/jobs.db"),
            "sqlite://storage/jobs.db"
        );
        assert_eq!(redact_url("memcache://u@h:1"), "memcache://***@h:1");
    }
}
