//! The port of resumable uploads: their records and the records of their parts.

use async_trait::async_trait;

use super::model::{ResumableUpload, UploadPart};
use crate::error::BackendError;
use crate::ids::UploadId;
use crate::jobs::model::NewJob;
use crate::storage::model::StorageKey;

/// Records of resumable uploads and their parts.
///
/// An upload record goes with its pending file (a file deleted or reclaimed takes its
/// upload with it). Part records do not: they stay until [`UploadRepository::remove_part`],
/// so that the job that ends an upload finds and removes every part object, whatever
/// became of the upload.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UploadRepository: Send + Sync + 'static {
    /// Inserts an upload (offset 0) and enqueues `expiry` (its end) in one transaction.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures, an unknown pending file or a
    /// duplicate id; nothing is inserted then.
    async fn insert(&self, upload: &ResumableUpload, expiry: &NewJob) -> Result<(), BackendError>;

    /// The upload with this id, if it exists.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    async fn find(&self, id: &UploadId) -> Result<Option<ResumableUpload>, BackendError>;

    /// Records a part about to be written (`size` absent).
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures or a duplicate key.
    async fn add_part(&self, part: &UploadPart) -> Result<(), BackendError>;

    /// Commits the part `key` of `size` bytes at `start`: only if the upload exists and
    /// its offset is `start` does the offset become `start + size` and the part count;
    /// of concurrent commits at one offset exactly one wins. Answers whether it did.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    async fn commit_part(
        &self,
        upload: &UploadId,
        key: &StorageKey,
        start: u64,
        size: u64,
    ) -> Result<bool, BackendError>;

    /// Every part recorded for `upload`, committed or not, by start then key.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    async fn parts(&self, upload: &UploadId) -> Result<Vec<UploadPart>, BackendError>;

    /// Forgets a part (its object is gone).
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures; an unknown key is not an error.
    async fn remove_part(&self, key: &StorageKey) -> Result<(), BackendError>;

    /// Removes an upload's record (its parts stay recorded); answers it, `None` if there
    /// was none.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    async fn delete(&self, id: &UploadId) -> Result<Option<ResumableUpload>, BackendError>;
}
