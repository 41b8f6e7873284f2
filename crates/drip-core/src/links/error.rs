//! One error enum per link use case. Everything a visitor can get wrong about a link —
//! an unknown, expired, revoked or used-up token, a wrong password — is the one
//! [`VisitError::NotFound`]: no answer tells them which.

use crate::accounts::throttle::Throttled;
use crate::error::BackendError;
use crate::storage::error::{DownloadError, StoreError};

/// Why a link could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CreateLinkError {
    /// The user sees no such file (or folder owner is unknown).
    #[error("file not found")]
    NotFound,
    /// The user sees the file but did not create it.
    #[error("only the creator of a file may make links to it")]
    Forbidden,
    /// An option is out of range (an expiry in the past, a limit of 0).
    #[error("{0}")]
    Invalid(&'static str),
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why the links of a file could not be listed, or a link revoked.
#[derive(Debug, thiserror::Error)]
pub enum ManageLinkError {
    /// The user has no such file or link.
    #[error("not found")]
    NotFound,
    /// The user sees the file but did not create it.
    #[error("only the creator of a file may see its links")]
    Forbidden,
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a visitor's use of a link was refused.
#[derive(Debug, thiserror::Error)]
pub enum VisitError {
    /// Unknown, expired, revoked or used-up token, or a wrong password: one answer.
    #[error("link not found")]
    NotFound,
    /// The link has a password and none was given.
    #[error("this link needs a password")]
    PasswordRequired,
    /// Too many wrong passwords lately.
    #[error(transparent)]
    Throttled(#[from] Throttled),
    /// Infrastructure failure.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a download through a public link failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkDownloadError {
    /// The link refused the visitor.
    #[error(transparent)]
    Visit(#[from] VisitError),
    /// The download could not start.
    #[error(transparent)]
    Download(#[from] DownloadError),
}

impl From<BackendError> for LinkDownloadError {
    fn from(e: BackendError) -> Self {
        Self::Visit(VisitError::Backend(e))
    }
}

/// Why an upload through a drop link failed. Nothing of it is left behind.
#[derive(Debug, thiserror::Error)]
pub enum DropUploadError {
    /// The drop refused the visitor.
    #[error(transparent)]
    Visit(#[from] VisitError),
    /// The drop accepts no more uploads, or not that many bytes.
    #[error("this drop link accepts no more uploads of this size")]
    LimitReached,
    /// The drop limits bytes, so the size must be known before the upload (a
    /// `Content-Length`).
    #[error("the size of the upload must be given")]
    LengthRequired,
    /// Storing failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
