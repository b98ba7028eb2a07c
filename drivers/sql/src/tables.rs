//! The validated table names one store works on.

use rakit_job_core::{DriverError, validate_identifier};

/// The longest table name accepted, so derived names (`<table>_throughput`, index names)
/// stay within PostgreSQL's 63-byte identifier limit.
const MAX_TABLE_LEN: usize = 48;

/// The tables of one store; every name is a checked identifier, the only text ever
/// formatted into SQL. Besides the jobs and failed tables, four are named after the jobs
/// table.
#[derive(Clone, Debug)]
pub(crate) struct Tables {
    /// The jobs table.
    pub jobs: String,
    /// The failed-jobs table (cancelled jobs included).
    pub failed: String,
    /// Capacity locks: one row per hold.
    pub locks: String,
    /// Unique keys held for a time window.
    pub windows: String,
    /// Control entries: worker heartbeats, paused queues.
    pub entries: String,
    /// Finished jobs per queue and minute.
    pub throughput: String,
}

impl Tables {
    /// Checks both names and derives the others from the jobs table's.
    pub fn new(jobs: &str, failed: &str) -> Result<Self, DriverError> {
        for name in [jobs, failed] {
            validate_identifier(name, false)?;
            if name.len() > MAX_TABLE_LEN {
                return Err(DriverError::Invalid(format!(
                    "the table name {name:?} is too long; use at most {MAX_TABLE_LEN} characters"
                )));
            }
        }
        let derived = |suffix: &str| format!("{jobs}_{suffix}");
        let tables = Tables {
            jobs: jobs.to_string(),
            failed: failed.to_string(),
            locks: derived("locks"),
            windows: derived("windows"),
            entries: derived("entries"),
            throughput: derived("throughput"),
        };
        if tables.all()[2..].contains(&failed) || jobs == failed {
            return Err(DriverError::Invalid(format!(
                "the failed-jobs table {failed:?} must differ from the jobs table {jobs:?} and the tables named after it; set another `failed_table`"
            )));
        }
        Ok(tables)
    }

    /// Every table, in the order the DDL creates them.
    pub fn all(&self) -> [&str; 6] {
        [
            &self.jobs,
            &self.failed,
            &self.locks,
            &self.windows,
            &self.entries,
            &self.throughput,
        ]
    }

    /// The unique index on the jobs' unique keys.
    pub fn unique_index(&self) -> String {
        format!("{}_unique", self.jobs)
    }
}
