//! One error enum per resumable-upload use case.

use crate::error::BackendError;
use crate::storage::error::StoreError;

/// Why an upload could not be created (nothing is kept).
#[derive(Debug, thiserror::Error)]
pub enum CreateUploadError {
    /// Reserving the file failed: name taken, too large, quota, unknown user, ...
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why an upload could not be found, continued or ended.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// No such upload for this user (never was, someone else's, or ended).
    #[error("upload not found")]
    NotFound,
    /// The upload expired; what it stored is being removed.
    #[error("the upload expired")]
    Expired,
    /// The request's offset is not the upload's.
    #[error("the upload is at offset {offset}")]
    OffsetMismatch {
        /// The upload's offset.
        offset: u64,
    },
    /// Another request stored bytes at this offset first.
    #[error("another request continued this upload at the same offset")]
    Conflict,
    /// More bytes than the upload announced.
    #[error("the content goes past the upload's length of {length} bytes")]
    TooLong {
        /// The announced length.
        length: u64,
    },
    /// Too many transfers are running; try again shortly.
    #[error("too many transfers in progress")]
    Busy,
    /// Storing (a part, or the file at the end) failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}
