//! One error enum per storage use case; not-found, forbidden, conflict and invalid
//! variants are distinct so callers (the HTTP layer) can map them.

use crate::error::BackendError;
use crate::storage::model::QuotaExceeded;
use crate::storage::ports::{KeyError, ReserveError, StorageError};

/// Why a file could not be stored. In every case nothing is left behind.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The user already sees a file with this name in this folder.
    #[error("a file with this name already exists in this folder")]
    AlreadyExists,
    /// The content exceeds the upload limit.
    #[error("the file exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The file does not fit in the uploader's quota (checked before the first byte when
    /// its length is known, else as the bytes come).
    #[error(transparent)]
    QuotaExceeded(#[from] QuotaExceeded),
    /// Too many transfers are running; try again shortly.
    #[error("too many transfers in progress")]
    Busy,
    /// The uploader is not a known user.
    #[error("unknown user")]
    UnknownUser,
    /// The content stream failed (e.g. the client went away).
    #[error("the upload stream failed")]
    Input(#[source] std::io::Error),
    /// The object store failed.
    #[error("the object store failed")]
    Storage(#[source] StorageError),
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<ReserveError> for StoreError {
    fn from(e: ReserveError) -> Self {
        match e {
            ReserveError::QuotaExceeded(q) => Self::QuotaExceeded(q),
            ReserveError::Gone => Self::Backend(BackendError::msg("the upload lost its reservation")),
            ReserveError::Backend(b) => Self::Backend(b),
        }
    }
}

/// Why a quota could not be set.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// No user has this name.
    #[error("user not found")]
    UnknownUser,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a download could not start. Failures after it started (integrity, storage)
/// arrive as errors in the content stream.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The user sees no such file.
    #[error("file not found")]
    NotFound,
    /// The requested range starts beyond the end of the file.
    #[error("range not satisfiable")]
    RangeNotSatisfiable {
        /// The file's size.
        size: u64,
    },
    /// The stored content or its key failed verification.
    #[error("the stored content failed integrity verification")]
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

impl From<KeyError> for DownloadError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Integrity => Self::Integrity,
            KeyError::UnknownKey(id) => {
                Self::Backend(BackendError::msg(format!("master key {id:?} is not configured")))
            }
            KeyError::Backend(b) => Self::Backend(b),
        }
    }
}

/// Why a file's metadata could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The user sees no such file.
    #[error("file not found")]
    NotFound,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a change reserved to the creator (move, rename, delete — to the trash or for good —,
/// list shares) failed.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The user sees no such file.
    #[error("file not found")]
    NotFound,
    /// The user sees the file but did not create it.
    #[error("only the creator of a file may change it")]
    Forbidden,
    /// The target folder already holds a file with that name.
    #[error("a file with this name already exists in the target folder")]
    AlreadyExists,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a file could not be shared or unshared.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    /// The user sees no such file.
    #[error("file not found")]
    NotFound,
    /// The user sees the file but did not create it.
    #[error("only the creator of a file may share it")]
    Forbidden,
    /// No user has that username.
    #[error("Couldn't find a user with {0} username.")]
    UserNotFound(String),
    /// The file is already shared with that user.
    #[error("the file is already shared with {0}")]
    AlreadyShared(String),
    /// The file is not shared with that user (unshare).
    #[error("the file is not shared with {0}")]
    NotShared(String),
    /// Sharing with oneself.
    #[error("a file cannot be shared with its creator")]
    SelfShare,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a search could not run.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The expression is not a valid regular expression.
    #[error("invalid regular expression: {0}")]
    InvalidPattern(String),
    /// The expression is too long or compiles too large.
    #[error("the regular expression is too large")]
    PatternTooLarge,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a file could not be restored from the trash.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The user has no such file in their trash (sharees never see another's trash).
    #[error("file not found in the trash")]
    NotFound,
    /// The file's folder already holds a file with the name it would be restored under.
    #[error("a file with this name already exists in this folder")]
    AlreadyExists,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a file could not be purged from the trash.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    /// The user has no such file in their trash.
    #[error("file not found in the trash")]
    NotFound,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a folder could not be moved or renamed.
#[derive(Debug, thiserror::Error)]
pub enum MoveFolderError {
    /// `$` itself cannot move.
    #[error("the root folder cannot be moved")]
    Root,
    /// The target is the folder itself, lies inside it, or holds it.
    #[error("a folder cannot be moved into itself or onto a folder that holds it")]
    Overlaps,
    /// The user has no file of their own in the folder (files shared with them move only
    /// with their creator's folders).
    #[error("you have no files in this folder")]
    NotFound,
    /// The user already has files in the target folder.
    #[error("the target folder already exists")]
    AlreadyExists,
    /// A file's folder would be too long or too deep at the target.
    #[error("the folder's subfolders would be too long or too deep there")]
    TooDeep,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a folder could not be deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteFolderError {
    /// `$` itself cannot be deleted.
    #[error("the root folder cannot be deleted")]
    Root,
    /// The user sees no file in the folder.
    #[error("folder not found")]
    NotFound,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a new version of a file could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    /// The user sees no such file.
    #[error("file not found")]
    NotFound,
    /// The user sees the file but did not create it.
    #[error("only the creator of a file may store a new version of it")]
    Forbidden,
    /// Another version, or a delete, came first while this one uploaded: nothing changed.
    #[error("the file changed while its new version was uploading")]
    Changed,
    /// The upload itself failed (limits, quota, the stream, the object store).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}
