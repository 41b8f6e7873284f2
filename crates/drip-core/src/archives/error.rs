//! One error enum per archive use case: what a caller (the HTTP layer) can act on, and one
//! opaque variant for infrastructure failures.

use crate::error::BackendError;
use crate::storage::error::DownloadError;
use crate::storage::ports::StorageError;

/// Why an archive could not be requested.
#[derive(Debug, thiserror::Error)]
pub enum RequestArchiveError {
    /// The requesting user does not exist (any more).
    #[error("unknown user")]
    UnknownUser,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why an archive could not be shown or deleted.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveLookupError {
    /// No such archive for this user (unknown, another user's, or purged).
    #[error("archive not found")]
    NotFound,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why an archive's content could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveDownloadError {
    /// No such archive for this user (unknown, another user's, or purged).
    #[error("archive not found")]
    NotFound,
    /// It is still being built.
    #[error("the archive is not ready yet")]
    Pending,
    /// It could not be built.
    #[error("the archive could not be built: {reason}")]
    Failed {
        /// Why, in words for its owner.
        reason: String,
    },
    /// It has expired (a job removes it).
    #[error("the archive has expired")]
    Expired,
    /// The requested range starts beyond its end.
    #[error("range not satisfiable")]
    RangeNotSatisfiable {
        /// Its size.
        size: u64,
    },
    /// The stored content or its key failed verification.
    #[error("the stored archive failed integrity verification")]
    Integrity,
    /// Too many transfers are running; try again shortly.
    #[error("too many transfers in progress")]
    Busy,
    /// The object store failed (including a missing object).
    #[error("the object store failed")]
    Storage(#[source] StorageError),
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<DownloadError> for ArchiveDownloadError {
    fn from(e: DownloadError) -> Self {
        match e {
            DownloadError::NotFound => Self::NotFound,
            DownloadError::RangeNotSatisfiable { size } => Self::RangeNotSatisfiable { size },
            DownloadError::Integrity => Self::Integrity,
            DownloadError::Busy => Self::Busy,
            DownloadError::Storage(s) => Self::Storage(s),
            DownloadError::Backend(b) => Self::Backend(b),
        }
    }
}
