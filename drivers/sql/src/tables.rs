//! The validated table names one driver works on.

use rakit_job_core::{DriverError, validate_identifier};

/// The longest table name accepted, so derived names (`<table>_locks`, `<table>_claim`)
/// stay within PostgreSQL's 63-byte identifier limit.
const MAX_TABLE_LEN: usize = 48;

/// The tables of one store; every name is a checked identifier, the only text ever
/// formatted into SQL.
#[derive(Clone, Debug)]
pub(crate) struct Tables {
    /// The jobs table.
    pub jobs: String,
    /// The failed-jobs table.
    pub failed: String,
    /// The no-overlap locks table, named after the jobs table.
    pub locks: String,
}

impl Tables {
    /// Checks both names and derives the locks table.
    pub fn new(jobs: &str, failed: &str) -> Result<Self, DriverError> {
        for name in [jobs, failed] {
            validate_identifier(name, false)?;
            if name.len() > MAX_TABLE_LEN {
                return Err(DriverError::Invalid(format!(
                    "the table name {name:?} is too long; use at most {MAX_TABLE_LEN} characters"
                )));
            }
        }
        let locks = format!("{jobs}_locks");
        if jobs == failed || failed == locks {
            return Err(DriverError::Invalid(format!(
                "the failed-jobs table {failed:?} must differ from the jobs table {jobs:?} and its locks table {locks:?}; set another `failed_table`"
            )));
        }
        Ok(Tables {
            jobs: jobs.to_string(),
            failed: failed.to_string(),
            locks,
        })
    }

    /// The PostgreSQL NOTIFY channel for pushes to the jobs table.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub fn channel(&self) -> String {
        format!("{}_pushed", self.jobs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injection_through_a_table_name_is_refused() {
        assert!(Tables::new("jobs; DROP TABLE users", "failed").is_err());
        assert!(Tables::new("jobs", "failed\"").is_err());
        assert!(Tables::new(&"j".repeat(49), "failed").is_err());
        assert!(Tables::new("jobs", "jobs").is_err());
        let t = Tables::new("rakit_jobs", "rakit_failed_jobs").unwrap();
        assert_eq!(t.locks, "rakit_jobs_locks");
    }
}
