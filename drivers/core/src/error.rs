//! The one error type drivers return.

/// What went wrong inside a store; each message is one sentence saying what to do.
#[derive(Clone, Debug, thiserror::Error)]
pub enum DriverError {
    /// The store could not be reached (network, file system, server down).
    #[error(
        "cannot reach the job store {store}: {reason}; check that it is running and the url is right"
    )]
    Unreachable {
        /// The store, with any password redacted.
        store: String,
        /// The underlying cause.
        reason: String,
    },
    /// The jobs tables (or folders) do not exist yet.
    #[error(
        "the job tables are missing in {store}; run `job:table` and then `migrate` to create them"
    )]
    MissingSchema {
        /// The store, with any password redacted.
        store: String,
    },
    /// A caller passed something the store cannot hold.
    #[error("{0}")]
    Invalid(String),
    /// A stored record could not be read back.
    #[error("stored job {id} is corrupt ({reason}); inspect it or remove it by hand")]
    Corrupt {
        /// The job id, or the storage key when no id could be read.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store refused in a way that waiting cannot mend: tables of another dialect or
    /// version, a missing column, a value out of range, a permission denied. A worker that
    /// meets it stops instead of retrying.
    #[error("the job store {store} cannot be used as it is: {reason}")]
    Broken {
        /// The store, with any password redacted.
        store: String,
        /// What is wrong and how to mend it, as one clause.
        reason: String,
    },
    /// Any other failure reported by the store.
    #[error("the job store failed: {0}")]
    Store(String),
}

impl DriverError {
    /// Builds a [`DriverError::Store`] from anything printable.
    ///
    /// ```
    /// let e = rakit_job_core::DriverError::store("disk full");
    /// assert_eq!(e.to_string(), "the job store failed: disk full");
    /// ```
    pub fn store(reason: impl std::fmt::Display) -> Self {
        DriverError::Store(reason.to_string())
    }

    /// True when the store was unreachable, so a caller may retry later.
    ///
    /// ```
    /// let e = rakit_job_core::DriverError::store("x");
    /// assert!(!e.is_unreachable());
    /// ```
    pub fn is_unreachable(&self) -> bool {
        matches!(self, DriverError::Unreachable { .. })
    }

    /// True when waiting cannot mend the error (a missing or wrong schema, a broken
    /// store), so a worker should stop and say so rather than try again.
    ///
    /// ```
    /// let e = rakit_job_core::DriverError::MissingSchema { store: "sqlite jobs.db".into() };
    /// assert!(e.is_permanent());
    /// assert!(!rakit_job_core::DriverError::store("timeout").is_permanent());
    /// ```
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            DriverError::MissingSchema { .. } | DriverError::Broken { .. }
        )
    }
}
