//! [`StoreExt`]: one-job shorthands over the batch methods of [`Store`], written once for
//! every store (tests and tools use them; the worker batches).

use crate::{
    DriverError, Finish, Lease, LeaseState, LockRequest, Locked, Millis, NewJob, PushOutcome, Store,
};

/// Shorthands for one job at a time, on any [`Store`].
///
/// ```
/// use rakit_job_core::{MemoryDriver, NewJob, ReserveRequest, Store, StoreExt};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = MemoryDriver::new();
/// store.push_one(NewJob::now("ping", "default", "{}")).await?;
/// let queues = vec!["default".to_string()];
/// let taken = store.reserve(&ReserveRequest::new(&queues, 1, 30_000, "w1")).await?;
/// assert!(store.ack(&taken[0].lease).await?);
/// # Ok::<(), rakit_job_core::DriverError>(()) }).unwrap();
/// ```
#[async_trait::async_trait]
pub trait StoreExt: Store {
    /// Stores one job.
    async fn push_one(&self, job: NewJob) -> Result<PushOutcome, DriverError> {
        let outcomes = self.push(vec![job]).await?;
        Ok(outcomes
            .into_iter()
            .next()
            .unwrap_or(PushOutcome::Duplicate))
    }

    /// Renews one lease.
    async fn extend_one(&self, lease: &Lease, lease_ms: Millis) -> Result<LeaseState, DriverError> {
        let states = self.extend(std::slice::from_ref(lease), lease_ms).await?;
        Ok(states.into_iter().next().unwrap_or(LeaseState::Lost))
    }

    /// Writes one final outcome.
    async fn complete_one(&self, finish: Finish) -> Result<bool, DriverError> {
        let written = self.complete(std::slice::from_ref(&finish)).await?;
        Ok(written.into_iter().next().unwrap_or(false))
    }

    /// Removes a finished job.
    async fn ack(&self, lease: &Lease) -> Result<bool, DriverError> {
        let then = Vec::new();
        self.complete_one(Finish::Ack {
            lease: lease.clone(),
            then,
        })
        .await
    }

    /// Makes a failed attempt's job wait until `available_at`, keeping `error`.
    async fn retry(
        &self,
        lease: &Lease,
        available_at: Millis,
        error: &str,
    ) -> Result<bool, DriverError> {
        let error = error.to_string();
        self.complete_one(Finish::Retry {
            lease: lease.clone(),
            available_at,
            error,
        })
        .await
    }

    /// Moves a job to the failed store.
    async fn fail(&self, lease: &Lease, error: &str) -> Result<bool, DriverError> {
        let error = error.to_string();
        self.complete_one(Finish::Fail {
            lease: lease.clone(),
            error,
            cancelled: false,
        })
        .await
    }

    /// Hands a job back untouched, due at `available_at`.
    async fn release(&self, lease: &Lease, available_at: Millis) -> Result<bool, DriverError> {
        self.complete_one(Finish::Release {
            lease: lease.clone(),
            available_at,
        })
        .await
    }

    /// Takes or renews the single hold on `key` (a no-overlap lock); true when taken.
    async fn lock_one(&self, key: &str, owner: &str, ttl_ms: Millis) -> Result<bool, DriverError> {
        let request = LockRequest {
            key,
            capacity: 1,
            owner,
            ttl_ms,
        };
        Ok(self.lock(&request).await? == Locked::Taken)
    }
}

impl<T: Store + ?Sized> StoreExt for T {}
