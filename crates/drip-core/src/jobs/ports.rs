//! The job queue port: durable jobs in the metadata database, claimed with leases.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{Claim, Job, JobState, JobStats, NewJob};
use crate::error::BackendError;
use crate::ids::{ClaimToken, JobId};

/// Durable background jobs, in the same store as the metadata whose changes enqueue them
/// (repositories enqueue a job in the transaction of the change: see
/// [`MediaRepository::delete`](crate::storage::ports::MediaRepository::delete)).
///
/// A job is claimable when it is queued and due (`run_at <= now`), or running with a lease
/// that lapsed (its worker died). Of concurrent claims — also from several processes on
/// one database — each job goes to exactly one; a claim counts an attempt. Only the
/// holder of a job's current claim ([`ClaimToken`]) can complete or fail it: a worker
/// whose lease lapsed and whose job was claimed again is told so (`Ok(false)`), and must
/// not assume its effect is the last.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Adds a job, queued and due at `job.run_at`.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures (an existing id included).
    async fn enqueue(&self, job: &NewJob) -> Result<(), BackendError>;

    /// Claims the claimable job due first (ties by id), marking it running under `token`
    /// until `lease_until` and counting the attempt; `None` when no job is claimable at
    /// `now`.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures (a stored task that does not parse
    /// included).
    async fn claim(
        &self,
        token: &ClaimToken,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<Job>, BackendError>;

    /// Removes a job that succeeded; `false` when `claim` no longer holds it.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    async fn complete(&self, claim: &Claim) -> Result<bool, BackendError>;

    /// Records a failed attempt with its error: queued again, due at `retry_at`, or dead
    /// when `retry_at` is `None`; `false` when `claim` no longer holds it.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    async fn fail(
        &self,
        claim: &Claim,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<bool, BackendError>;

    /// At most `limit` jobs, all or those in `state`, ordered by `run_at` then id.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    async fn list(&self, state: Option<JobState>, limit: u32) -> Result<Vec<Job>, BackendError>;

    /// Queues a dead job again, due at `now`, with its attempts reset; `false` when there
    /// is no dead job with this id.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    async fn retry(&self, id: &JobId, now: DateTime<Utc>) -> Result<bool, BackendError>;

    /// How many jobs of each kind are in each state, and the `run_at` of the oldest
    /// queued one.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    async fn stats(&self) -> Result<JobStats, BackendError>;
}
