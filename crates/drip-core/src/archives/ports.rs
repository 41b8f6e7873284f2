//! The archive repository port: archive records, their build attempts and the jobs each
//! change needs, enqueued in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{Archive, ArchiveContent, FailureReason};
use crate::error::BackendError;
use crate::ids::{ArchiveId, UserId};
use crate::jobs::model::NewJob;
use crate::storage::model::StorageKey;

/// Why an archive could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum InsertArchiveError {
    /// The owner is not a user (any more).
    #[error("unknown owner")]
    UnknownOwner,
    /// Infrastructure failure (an existing id included).
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// What [`ArchiveRepository::start_build`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildStart {
    /// The attempt's key is recorded; `previous` is the key an earlier attempt recorded
    /// (its object, if any, is stale: nothing serves it).
    Started {
        /// The key of the previous attempt.
        previous: Option<StorageKey>,
    },
    /// Another attempt holds the archive: its lease runs past `now` (its node renews it
    /// while it builds).
    Busy,
    /// The archive is ready or failed already: nothing to build.
    Finished,
    /// No archive has this id (deleted, purged, or its owner's account closed).
    Gone,
}

/// Prepared archives: one record per request, only ever shown to its owner.
///
/// A pending archive records the object key of its current build attempt
/// ([`ArchiveRepository::start_build`]); it becomes ready with that key only
/// ([`ArchiveRepository::mark_ready`]), so an object written by an earlier or a concurrent
/// attempt is never served. Records go with their owner (`ON DELETE CASCADE`): the jobs
/// enqueued with them still remove their objects.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ArchiveRepository: Send + Sync + 'static {
    /// Records a new (pending) archive and enqueues `build` and `purge` in the same
    /// transaction: either all three happen or none does.
    ///
    /// # Errors
    /// - [`InsertArchiveError::UnknownOwner`] when the owner is not a user (nothing
    ///   enqueued);
    /// - [`InsertArchiveError::Backend`] otherwise (an existing id or job id included).
    async fn insert(
        &self,
        archive: &Archive,
        build: &NewJob,
        purge: &NewJob,
    ) -> Result<(), InsertArchiveError>;

    /// The archive with this id, whoever owns it (the service decides who sees it).
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures; unknown is `Ok(None)`.
    async fn find(&self, id: &ArchiveId) -> Result<Option<Archive>, BackendError>;

    /// At most `limit` archives `owner` asked for, newest first (`created_at`, then id,
    /// descending).
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures only.
    async fn list_by_owner(&self, owner: &UserId, limit: u32) -> Result<Vec<Archive>, BackendError>;

    /// Records `key` as the object of a new build attempt of a pending archive, holding it
    /// until `lease_until`, and enqueues `then` (the removal of that object at the
    /// archive's expiry) in the same transaction; answers the key it replaced. Of
    /// concurrent starts exactly one wins; the others find it busy.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures. An archive whose current attempt's
    /// lease runs past `now` is `Ok(BuildStart::Busy)`, a ready or failed one
    /// `Ok(BuildStart::Finished)`, an unknown one `Ok(BuildStart::Gone)`; none of them
    /// records or enqueues anything.
    async fn start_build(
        &self,
        id: &ArchiveId,
        key: &StorageKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        then: &NewJob,
    ) -> Result<BuildStart, BackendError>;

    /// Extends the lease of the build attempt `key` of a pending archive to `until`;
    /// `false` when it is no longer the current attempt (the archive is gone, finished, or
    /// attempted again).
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    async fn renew_attempt(
        &self,
        id: &ArchiveId,
        key: &StorageKey,
        until: DateTime<Utc>,
    ) -> Result<bool, BackendError>;

    /// Marks a pending archive ready with `content` (its key recorded as the ready
    /// object's), if the attempt that wrote `content.storage_key` is still its current one;
    /// whether it did.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures; an unknown, finished or re-attempted
    /// archive is `Ok(false)`.
    async fn mark_ready(&self, id: &ArchiveId, content: &ArchiveContent) -> Result<bool, BackendError>;

    /// Marks a pending archive failed with `reason` (keeping `key` as its attempt's), if
    /// `key` is still its current attempt's; whether it did.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures; an unknown, finished or re-attempted
    /// archive is `Ok(false)`.
    async fn mark_failed(
        &self,
        id: &ArchiveId,
        key: &StorageKey,
        reason: &FailureReason,
    ) -> Result<bool, BackendError>;

    /// Deletes an archive; answers it as it was. Its objects are the caller's to remove
    /// (the attempts' removal jobs, enqueued by [`ArchiveRepository::start_build`], remove
    /// them at the archive's expiry in any case).
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures; an unknown id is `Ok(None)`.
    async fn delete(&self, id: &ArchiveId) -> Result<Option<Archive>, BackendError>;
}
