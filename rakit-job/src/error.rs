//! Errors: [`JobError`] for a job's own failure, [`Error`] for everything the framework refuses.

use std::fmt;

/// Why a job run failed. Any `std::error::Error` (that is `Send + Sync`) converts into it
/// with `?`, and a message with `.into()`.
///
/// ```
/// use rakit_job::JobError;
/// fn parse(s: &str) -> Result<u32, JobError> {
///     Ok(s.parse::<u32>()?)
/// }
/// assert!(parse("x").is_err());
/// let e: JobError = "the mail server said no".into();
/// assert_eq!(e.message(), "the mail server said no");
/// let e: JobError = format!("{} rows left", 3).into();
/// assert!(!e.is_permanent());
/// let e = JobError::permanent("the order was deleted");
/// assert!(e.is_permanent());
/// ```
pub struct JobError {
    message: String,
    permanent: bool,
}

impl JobError {
    /// A failure with this message; the job is retried while it has retries left.
    pub fn new(message: impl Into<String>) -> Self {
        JobError {
            message: message.into(),
            permanent: false,
        }
    }

    /// A failure that retrying cannot fix: the job goes straight to the failed store.
    pub fn permanent(message: impl Into<String>) -> Self {
        JobError {
            message: message.into(),
            permanent: true,
        }
    }

    /// True for [`JobError::permanent`] failures.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    /// The failure's text, as stored in the failed-jobs store.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl<E> From<E> for JobError
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn from(e: E) -> Self {
        let e: Box<dyn std::error::Error + Send + Sync> = e.into();
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        JobError::new(message)
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobError({:?})", self.message)
    }
}

/// Everything rakit-job refuses or fails at, each a sentence that says what to do.
///
/// ```
/// let e = rakit_job::Error::Usage("unknown option `--foo`; see `job:runall --help`".into());
/// assert_eq!(e.to_string(), "unknown option `--foo`; see `job:runall --help`");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed or refused.
    #[error(transparent)]
    Driver(#[from] rakit_job_core::DriverError),
    /// The configuration is wrong.
    #[error("{0}")]
    Config(String),
    /// A date or time could not be understood.
    #[error("{0}")]
    InvalidDate(String),
    /// The payload cannot be stored for this job.
    #[error("{0}")]
    InvalidPayload(String),
    /// A unique job with the same key is still pending.
    #[error(
        "a `{name}` job with unique key {key:?} is still pending, so this dispatch was skipped; await `.unique()` to get `None` instead of this error"
    )]
    Duplicate {
        /// The job's name.
        name: String,
        /// The unique key.
        key: String,
    },
    /// A command-line mistake.
    #[error("{0}")]
    Usage(String),
    /// Reading or writing a local file failed.
    #[error("{0}")]
    Io(String),
}

impl Error {
    /// The CLI exit code for this error: 2 for usage mistakes, 1 otherwise.
    ///
    /// ```
    /// assert_eq!(rakit_job::Error::Usage("x".into()).exit_code(), 2);
    /// ```
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }
}
